/**
 * The one way to run BullMQ work. `start()` builds a queue's worker with options from the validated
 * config (which a `@Processor` decorator cannot read), on the queue's own connection and prefix,
 * with its Redis errors logged once per outage; `close()` lets running jobs finish for a while.
 * `every()` runs periodic work on one instance per run: a BullMQ job scheduler on the `maintenance`
 * queue (replacing a timer per instance plus a lock). Schedulers live in Redis, so each instance
 * checks every interval that its schedulers still exist (a flushed or replaced Redis loses them,
 * and the reconcilers are what repair exactly that) and puts back a missing one. It also puts back
 * one whose next run is long overdue: BullMQ adds a scheduler's next job from the worker, just
 * after the current one became active, so an instance killed in between leaves the scheduler with
 * no next job at all (found by test/inbound-crash.e2e-spec.ts: the reconciler stopped).
 */
import { InjectQueue } from '@nestjs/bullmq';
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { type ConnectionOptions, type Job, type Processor, type Queue, Worker, type WorkerOptions } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from './queue.constants.js';

export type WorkerSettings = Pick<
  WorkerOptions,
  'concurrency' | 'lockDuration' | 'stalledInterval' | 'maxStalledCount'
>;

/** A scheduler whose next run is this late (and 3 intervals late) has no next job. */
const OVERDUE_MIN_MS = 5_000;

interface Periodic {
  everyMs: number;
  run: () => Promise<unknown>;
}

@Injectable()
export class QueueWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Queue');
  private readonly periodic = new Map<string, Periodic>();
  private maintenance?: Worker;
  private watchdog?: NodeJS.Timeout;

  constructor(
    @InjectQueue(QUEUES.maintenance) private readonly maintenanceQueue: Queue,
    private readonly config: AppConfig,
  ) {}

  /** A worker for `queue`, running `process` under these settings. */
  start(queue: Queue, process: Processor, settings: WorkerSettings): Worker {
    const worker = new Worker(queue.name, process, {
      connection: queue.opts.connection as ConnectionOptions,
      prefix: queue.opts.prefix,
      telemetry: queue.opts.telemetry,
      ...settings,
    });
    let lastError = '';
    worker.on('error', (error) => {
      if (error.message !== lastError) this.logger.warn(`worker ${queue.name}: ${error.message}`);
      lastError = error.message;
    });
    worker.on('ready', () => (lastError = ''));
    return worker;
  }

  /** Lets running jobs finish for up to half the shutdown timeout; what is cut off is retried (stalled-job check). */
  async close(worker: Worker | undefined): Promise<void> {
    if (!worker) return;
    let timer: NodeJS.Timeout | undefined;
    const graceful = worker.close().then(() => true);
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(500, this.config.app.shutdownTimeoutMs / 2));
    });
    const closed = await Promise.race([graceful, timeout]);
    clearTimeout(timer);
    if (!closed) await worker.close(true).catch(() => undefined);
  }

  /** Periodic work, on one instance per run. Register in `onModuleInit`; `name` must be stable. */
  every(name: string, everyMs: number, run: () => Promise<unknown>): void {
    if (this.periodic.has(name)) throw new Error(`periodic job ${name} is already registered`);
    this.periodic.set(name, { everyMs, run });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.periodic.size === 0) return;
    this.maintenance = this.start(
      this.maintenanceQueue,
      async (job: Job) => {
        const periodic = this.periodic.get(job.name);
        if (!periodic) return; // a scheduler of another release: ignored
        await periodic.run();
      },
      { concurrency: this.periodic.size },
    );
    this.maintenance.on('failed', (job, error) => this.logger.warn(`periodic ${job?.name ?? '?'}: ${error.message}`));
    await this.ensureSchedulers().catch((error: Error) => this.logger.warn(`job schedulers: ${error.message}`));
    const check = Math.min(...[...this.periodic.values()].map((p) => p.everyMs));
    this.watchdog = setInterval(() => void this.ensureSchedulers().catch(() => undefined), Math.max(check, 1_000));
    this.watchdog.unref();
  }

  /** Puts back each scheduler Redis does not have, has with another interval, or has stopped. */
  private async ensureSchedulers(): Promise<void> {
    await Promise.all(
      [...this.periodic].map(async ([name, { everyMs }]) => {
        const existing = await this.maintenanceQueue.getJobScheduler(name);
        const overdue = Date.now() - Number(existing?.next ?? Date.now()) > Math.max(3 * everyMs, OVERDUE_MIN_MS);
        if (existing && Number(existing.every) === everyMs && !overdue) return;
        await this.maintenanceQueue.upsertJobScheduler(name, { every: everyMs }, { name });
      }),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    await this.close(this.maintenance);
  }
}
