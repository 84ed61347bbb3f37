/**
 * The BullMQ worker of the outbound queue. Built here rather than with `@Processor` because its
 * options come from the validated config: concurrency, and a lock longer than the longest HTTP
 * attempt (see outbound-timing.ts), which a decorator cannot read. Started once the app is up,
 * closed before the database goes away.
 */
import { InjectQueue } from '@nestjs/bullmq';
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { type ConnectionOptions, type Queue, Worker } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { DeliveryProcessor } from './delivery.processor.js';
import { JOBS, type SequenceJobData } from './outbound.constants.js';
import { outboundTiming } from './outbound-timing.js';

@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeliveryWorker.name);
  private worker?: Worker;
  private lastError = '';

  constructor(
    @InjectQueue(QUEUES.outbound) private readonly queue: Queue,
    private readonly processor: DeliveryProcessor,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const { lockDurationMs, stalledIntervalMs } = outboundTiming(this.config);
    this.worker = new Worker(QUEUES.outbound, (job, token) => this.processor.process(job, token), {
      connection: this.queue.opts.connection as ConnectionOptions,
      prefix: this.queue.opts.prefix,
      concurrency: this.config.outbound.concurrency,
      lockDuration: lockDurationMs,
      stalledInterval: stalledIntervalMs,
      // A job cut off by a crash is retried; past this many crashes it fails and the reconciler
      // (Postgres still says pending) enqueues it again.
      maxStalledCount: 5,
    });
    this.worker.on('completed', (job) => {
      if (job.name !== JOBS.sequence) return;
      this.processor.afterSequence((job.data as SequenceJobData).endpointId).catch((error: Error) => {
        this.logger.warn(`after sequence: ${error.message}`);
      });
    });
    this.worker.on('failed', (job, error) => {
      this.logger.warn(`outbound job ${job?.id ?? '?'} failed: ${error.message}`);
    });
    this.worker.on('error', (error) => {
      if (error.message !== this.lastError) this.logger.warn(`worker: ${error.message}`);
      this.lastError = error.message;
    });
    this.worker.on('ready', () => (this.lastError = ''));
  }

  /** Lets running attempts finish for a while; what is cut off is retried (stalled-job check). */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.worker) return;
    const worker = this.worker;
    let timer: NodeJS.Timeout | undefined;
    const graceful = worker.close().then(() => true);
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(500, this.config.app.shutdownTimeoutMs / 2));
    });
    const closed = await Promise.race([graceful, timeout]);
    clearTimeout(timer);
    if (!closed) await worker.close(true).catch(() => undefined);
    await this.processor.flush();
  }
}
