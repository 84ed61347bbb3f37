import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { AppConfig } from '#src/config/app-config.js';
import type { Cluster } from 'ioredis';
import { tracingEnabled } from '#src/platform/observability/tracing.js';
import { RedisService, redisOptions } from '#src/platform/redis/redis.service.js';
import { QueueErrorLog } from './queue-errors.js';
import { QUEUES, registerQueue } from './queue.constants.js';
import { QueueWorkers } from './workers.js';

/**
 * BullMQ root: one connection config (the app's Redis mode: workers follow a Sentinel failover),
 * one key prefix (under the app's Redis prefix). Queues are registered with `registerQueue` (their
 * job options in one table, queue.constants.ts), workers run through `QueueWorkers` (workers.ts:
 * options from the config, graceful close, periodic work as job schedulers); a job cut off by a
 * hard kill is picked up again by the stalled-job check. Every queue's Redis errors are logged
 * (queue-errors.ts), not printed as unhandled. With tracing on, BullMQ's own OpenTelemetry
 * integration (`bullmq-otel`, maintained by BullMQ's authors) makes the spans of adding and
 * processing jobs; its `telemetry` goes to every queue here and to every worker (workers.ts).
 */
@Global()
@Module({
  imports: [
    DiscoveryModule,
    BullModule.forRootAsync({
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => ({
        // BullMQ's blocking connections need maxRetriesPerRequest: null. They auto-pipeline (the
        // one kind of connection that does: redis.service.ts says why the others do not): a job is
        // several scripts from a queue and a worker, issued together, and written one by one they
        // cost a syscall each; in the inbound bench auto-pipelining took ours from 0.43-0.48× bare
        // to 0.56-0.64×, and p99 at half the bare rate from ~400 ms (fell behind) to 41-108 ms.
        // On a cluster BullMQ takes a Cluster instance (it duplicates it for its blocking reads)
        // and a hash-tagged prefix, so each queue's keys share a slot, as BullMQ documents for
        // clusters; that one does not auto-pipeline (not measured there).
        connection:
          redis.mode === 'cluster'
            ? (redis.bullConnection() as Cluster)
            : (redisOptions(config.redis, {
                maxRetriesPerRequest: null,
                enableAutoPipelining: true,
              }) as BullRedisOptions),
        prefix: redis.tagged('bull'),
        ...(tracingEnabled() ? { telemetry: bullTelemetry() } : {}),
      }),
    }),
    registerQueue(QUEUES.maintenance),
  ],
  providers: [QueueErrorLog, QueueWorkers],
  exports: [BullModule, QueueWorkers],
})
export class QueueModule {}

let telemetry: BullMQOtel | undefined;

/** One BullMQ telemetry for the process (queues and workers), made once tracing is on. */
function bullTelemetry(): BullMQOtel {
  return (telemetry ??= new BullMQOtel({ tracerName: 'live-feed-backend' }));
}
