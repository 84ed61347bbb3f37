/**
 * Puts deliveries on the BullMQ queue. The queue only schedules: Postgres says what is pending, and
 * every method here is safe to repeat (deterministic job ids).
 */
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { type DeliverJobData, JOBS, type SequenceJobData, deliveryJobId, sequenceJobId } from './outbound.constants.js';

export interface DeliveryRef {
  deliveryId: string;
  endpointId: string;
  messageId: string;
  delayMs?: number;
}

@Injectable()
export class DeliveryQueue {
  constructor(
    @InjectQueue(QUEUES.outbound) readonly queue: Queue,
    private readonly redis: RedisService,
  ) {}

  async enqueueDeliveries(refs: DeliveryRef[]): Promise<void> {
    if (refs.length === 0) return;
    await this.queue.addBulk(
      refs.map((ref) => ({
        name: JOBS.deliver,
        data: { deliveryId: ref.deliveryId, endpointId: ref.endpointId, messageId: ref.messageId } as DeliverJobData,
        opts: { jobId: deliveryJobId(ref.endpointId, ref.messageId), delay: Math.max(0, Math.round(ref.delayMs ?? 0)) },
      })),
    );
  }

  /** Makes sure the endpoint's sequence job exists; `promote` wakes one waiting out a delay. */
  async kickSequence(endpointId: string, promote = false): Promise<void> {
    const jobId = sequenceJobId(endpointId);
    await this.queue.add(JOBS.sequence, { endpointId } as SequenceJobData, { jobId });
    if (promote) await this.promote(jobId);
  }

  /** Moves a delayed job to waiting; nothing when it is not delayed (or gone). */
  async promote(jobId: string): Promise<void> {
    const job = await this.queue.getJob(jobId);
    if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
  }

  /** Which of these job ids exist in Redis (any state), one round trip. */
  async existing(jobIds: string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const pipeline = this.redis.command.pipeline();
    for (const id of jobIds) pipeline.exists(this.queue.toKey(id));
    const results = (await pipeline.exec()) ?? [];
    return new Set(jobIds.filter((_, i) => results[i]?.[1] === 1));
  }

  /** Waiting/active/delayed counts for the queue-depth gauge. */
  counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  }
}
