/**
 * Every BullMQ queue, and the job options of each, in one table. A feature registers its queue with
 * `registerQueue(name)`, which takes the options from here (and from the validated config).
 */
import { BullModule } from '@nestjs/bullmq';
import type { DefaultJobOptions } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';

export const QUEUES = {
  inbound: 'inbound-webhooks',
  outbound: 'outbound-deliveries',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export function jobOptions(config: AppConfig): Record<QueueName, DefaultJobOptions> {
  return {
    // A stored inbound event's processing: retried with backoff, the last ones kept to look at.
    [QUEUES.inbound]: {
      attempts: config.queue.attempts,
      backoff: { type: 'exponential', delay: config.queue.backoffMs },
      removeOnComplete: { count: config.queue.keepCompleted },
      removeOnFail: { count: config.queue.keepFailed },
    },
    // Postgres keeps the outbound log; a finished pump job is removed so its deterministic id (one
    // per endpoint) can be used again by the next kick. A job that throws (Postgres down) is
    // retried, then removed and put back by the reconciler.
    [QUEUES.outbound]: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: true,
    },
    // Periodic work (job schedulers): a failed run is logged; the next run comes on schedule.
    [QUEUES.maintenance]: { attempts: 1, removeOnComplete: true, removeOnFail: { count: 100 } },
  };
}

/** The one way to register a queue: its job options from the table above. */
export function registerQueue(name: QueueName) {
  return BullModule.registerQueueAsync({
    name,
    inject: [AppConfig],
    useFactory: (config: AppConfig) => ({ defaultJobOptions: jobOptions(config)[name] }),
  });
}
