import { InjectQueue } from '@nestjs/bullmq';
import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue, Worker } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { InboundProcessingService, type ProcessOutcome } from './inbound-processing.service.js';
import type { InboundJobData } from './inbound.jobs.js';
import { SpanKind, inSpan, tracingEnabled } from '#src/platform/observability/tracing.js';

/** Runs each stored event's job; retries (attempts, backoff) are the queue's (queue.constants.ts). */
@Injectable()
export class InboundProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker?: Worker;

  constructor(
    @InjectQueue(QUEUES.inbound) private readonly queue: Queue<InboundJobData>,
    private readonly workers: QueueWorkers,
    private readonly processing: InboundProcessingService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.worker = this.workers.start(this.queue, (job: Job<InboundJobData>) => this.process(job), {
      concurrency: this.config.inbound.workerConcurrency,
      lockDuration: this.config.inbound.jobLockMs,
      stalledInterval: this.config.inbound.jobLockMs,
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.workers.close(this.worker);
  }

  process(job: Job<InboundJobData>): Promise<ProcessOutcome> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!tracingEnabled()) return this.processing.process(job.data.id, lastAttempt);
    // The span continues the receiving request's trace; the events it records carry it on.
    return inSpan(
      'inbound.process',
      {
        kind: SpanKind.CONSUMER,
        parents: [job.data.trace],
        attributes: { 'inbound.event_id': job.data.id, 'messaging.message.id': job.id ?? '' },
      },
      () => this.processing.process(job.data.id, lastAttempt),
    );
  }
}
