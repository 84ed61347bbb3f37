/**
 * The BullMQ worker of the outbound queue (QueueWorkers: options from the validated config, here
 * a lock longer than the longest HTTP attempt, see outbound-timing.ts). Its concurrency is how many
 * endpoints' pumps run at once here (OUTBOUND_CONCURRENCY; their requests share that many send slots,
 * see DeliveryProcessor). Started once the app is up, closed before the database goes away.
 */
import { InjectQueue } from '@nestjs/bullmq';
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue, Worker } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { DeliveryProcessor } from './delivery.processor.js';
import { JOBS, type PumpJobData } from './outbound.constants.js';
import { outboundTiming } from './outbound-timing.js';

@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeliveryWorker.name);
  private worker?: Worker;

  constructor(
    @InjectQueue(QUEUES.outbound) private readonly queue: Queue,
    private readonly workers: QueueWorkers,
    private readonly processor: DeliveryProcessor,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const { lockDurationMs, stalledIntervalMs } = outboundTiming(this.config);
    this.worker = this.workers.start(this.queue, (job, token) => this.processor.process(job, token), {
      concurrency: this.config.outbound.concurrency,
      lockDuration: lockDurationMs,
      stalledInterval: stalledIntervalMs,
      // A pump cut off by a crash is retried; past this many crashes it fails and the reconciler
      // (Postgres still says pending) kicks it again.
      maxStalledCount: 5,
    });
    this.worker.on('completed', (job) => {
      if (job.name !== JOBS.pump) return;
      this.processor.afterPump((job.data as PumpJobData).endpointId).catch((error: Error) => {
        this.logger.warn(`after pump: ${error.message}`);
      });
    });
    this.worker.on('failed', (job, error) => {
      this.logger.warn(`outbound job ${job?.id ?? '?'} failed: ${error.message}`);
    });
  }

  /** Lets running attempts finish for a while (what is cut off is retried), then the buffered records. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.workers.close(this.worker);
    await this.processor.flush();
  }
}
