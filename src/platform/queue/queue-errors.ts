/**
 * Gives every BullMQ queue of the app (`BullModule.registerQueue`, in any module) an `error`
 * listener. A queue without one hands each Redis connection error to an `EventEmitter` with no
 * listener, and BullMQ then prints it to the console as "Unhandled error" (every reconnect attempt
 * while Redis is down or failing over: "All sentinels are unreachable", ECONNRESET, …). Here each
 * distinct error is logged once per outage, like the workers' (base.processor.ts), and forgotten when
 * the shared command connection is ready again.
 */
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Queue } from 'bullmq';
import { RedisService } from '#src/platform/redis/redis.service.js';

@Injectable()
export class QueueErrorLog implements OnModuleInit {
  private readonly logger = new Logger('Queue');
  /** Queue name → the last error logged for it (this outage). */
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly redis: RedisService,
  ) {}

  /** Every provider exists by now (Nest instantiates all of them before the first init hook). */
  onModuleInit(): void {
    const queues = new Set<Queue>();
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.instance instanceof Queue) queues.add(wrapper.instance);
    }
    for (const queue of queues) queue.on('error', (error: Error) => this.log(queue.name, error));
    this.redis.command.on('ready', () => this.logged.clear());
  }

  private log(queue: string, error: Error): void {
    if (this.logged.get(queue) === error.message) return;
    this.logged.set(queue, error.message);
    this.logger.warn(`queue ${queue}: ${error.message}`);
  }
}
