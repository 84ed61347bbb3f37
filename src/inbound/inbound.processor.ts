import { Processor } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { BaseProcessor } from '#src/platform/queue/base.processor.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { InboundProcessingService, type ProcessOutcome } from './inbound-processing.service.js';
import type { InboundJobData } from './inbound.jobs.js';

/**
 * Worker options come from the config, which exists only once the app is built; @nestjs/bullmq
 * reads this object when it creates the worker (after the providers are constructed), so the
 * constructor fills it in.
 */
const workerOptions: { concurrency?: number; lockDuration?: number; stalledInterval?: number } = {};

/** Runs each stored event's job; retries (attempts, backoff) are the queue's defaults. */
@Processor(QUEUES.inbound, workerOptions)
export class InboundProcessor extends BaseProcessor {
  constructor(
    private readonly processing: InboundProcessingService,
    config: AppConfig,
  ) {
    super();
    Object.assign(workerOptions, {
      concurrency: config.inbound.workerConcurrency,
      lockDuration: config.inbound.jobLockMs,
      stalledInterval: config.inbound.jobLockMs,
    });
  }

  async process(job: Job<InboundJobData>): Promise<ProcessOutcome> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.processing.process(job.data.id, lastAttempt);
  }
}
