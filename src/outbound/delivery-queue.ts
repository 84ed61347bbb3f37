/**
 * Puts endpoints' pumps on the BullMQ queue. The queue only schedules (when an endpoint runs):
 * Postgres says what is pending, and every method here is safe to repeat (one deterministic job id
 * per endpoint).
 */
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { JOBS, type PumpJobData, pumpJobId } from './outbound.constants.js';

/** Where an endpoint's pump job is: none, waiting out a delay, or anything else (waiting, active). */
export type PumpState = 'missing' | 'delayed' | 'queued';

@Injectable()
export class DeliveryQueue {
  constructor(
    @InjectQueue(QUEUES.outbound) readonly queue: Queue,
    private readonly redis: RedisService,
  ) {}

  /**
   * Makes sure each endpoint's pump runs soon: added when it has no job (one `addBulk`), promoted
   * when its job waits out a delay (a retry's time, say), so a new delivery is not held behind it.
   * Nothing when it is already waiting or running: the running pump claims what is due.
   */
  async kick(endpointIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(endpointIds)];
    if (ids.length === 0) return;
    const jobs = await this.queue.addBulk(
      ids.map((endpointId) => ({
        name: JOBS.pump,
        data: { endpointId } as PumpJobData,
        opts: { jobId: pumpJobId(endpointId) },
      })),
    );
    // Refused (not delayed) for a job just added or already waiting/active: that is the common case.
    await Promise.all(jobs.map((job) => job.promote().catch(() => undefined)));
  }

  /** The state of each endpoint's pump job, in one round trip. */
  async pumpStates(endpointIds: string[]): Promise<Map<string, PumpState>> {
    const states = new Map<string, PumpState>();
    if (endpointIds.length === 0) return states;
    const pipeline = this.redis.command.pipeline();
    for (const id of endpointIds) {
      pipeline.exists(this.queue.toKey(pumpJobId(id)));
      pipeline.zscore(this.queue.toKey('delayed'), pumpJobId(id));
    }
    const results = (await pipeline.exec()) ?? [];
    endpointIds.forEach((id, i) => {
      const exists = results[2 * i]?.[1] === 1;
      const delayed = results[2 * i + 1]?.[1] !== null && results[2 * i + 1]?.[1] !== undefined;
      states.set(id, !exists ? 'missing' : delayed ? 'delayed' : 'queued');
    });
    return states;
  }

  /** Waiting/active/delayed counts for the queue-depth gauge. */
  counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  }
}
