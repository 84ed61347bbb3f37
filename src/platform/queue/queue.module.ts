import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import type { Cluster } from 'ioredis';
import { RedisService, redisOptions } from '#src/platform/redis/redis.service.js';
import { QueueErrorLog } from './queue-errors.js';

/**
 * BullMQ root: one connection config (the app's Redis mode: workers follow a Sentinel failover),
 * one key prefix (under the app's Redis prefix), default job options. @nestjs/bullmq closes workers on shutdown; `Worker.close()` lets running jobs finish,
 * and a job cut off by a hard kill is picked up again by the stalled-job check. Every queue's Redis
 * errors are logged (queue-errors.ts), not printed as unhandled.
 */
@Global()
@Module({
  imports: [
    DiscoveryModule,
    BullModule.forRootAsync({
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => ({
        // BullMQ's blocking connections need maxRetriesPerRequest: null. On a cluster BullMQ takes a
        // Cluster instance (it duplicates it for its blocking reads) and a hash-tagged prefix, so
        // each queue's keys share a slot, as BullMQ documents for clusters.
        connection:
          redis.mode === 'cluster'
            ? (redis.bullConnection() as Cluster)
            : (redisOptions(config.redis, { maxRetriesPerRequest: null }) as BullRedisOptions),
        prefix: redis.tagged('bull'),
        defaultJobOptions: {
          attempts: config.queue.attempts,
          backoff: { type: 'exponential', delay: config.queue.backoffMs },
          removeOnComplete: { count: config.queue.keepCompleted },
          removeOnFail: { count: config.queue.keepFailed },
        },
      }),
    }),
  ],
  providers: [QueueErrorLog],
  exports: [BullModule],
})
export class QueueModule {}
