/**
 * What a worker does with an outbound job.
 *
 * `deliver` (unordered endpoints): one delivery, any number in flight per endpoint. The job keeps its
 * id for its whole life: a retry moves the same job to "delayed" (`moveToDelayed` + `DelayedError`),
 * so the deterministic id keeps deduplicating.
 *
 * `sequence` (ordered endpoints, and drains of unordered ones): BullMQ has no per-group concurrency
 * outside Pro, so each such endpoint has exactly one job, `seq_<endpointId>`, and Postgres is its
 * cursor. Each step reads the endpoint's head (the lowest pending message), sends it, and only then
 * reads the next: one in flight, strictly in message order. A failing head is not skipped: the job
 * moves itself to "delayed" until the head's next attempt, so the rest wait until it succeeds or is
 * exhausted (then the next message becomes the head). Because the job id is unique, two instances
 * can never run the same endpoint's sequence at once; a killed worker's job is retried by BullMQ's
 * stalled-job check, and its delivery lease (same length as the lock) has expired by then. After a
 * bounded number of sends the job yields (delays itself by 0) so one busy endpoint cannot hold a
 * worker slot for ever. When the job finds nothing it completes, and the `completed` hook checks
 * once more (a delivery committed while the job was finishing could not enqueue it: same id).
 *
 * A drain is the same loop for an unordered endpoint that was paused (or disabled) or replayed: the
 * held deliveries up to `drain_up_to` go one at a time in order, so "resumed: all arrive, in order"
 * holds; a failure there does not block: that delivery continues as its own `deliver` job.
 */
import { Injectable } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { DeliveryAttemptsService, type Outcome } from './delivery-attempts.service.js';
import { DeliveryStore } from './delivery-store.js';
import { DeliveryQueue } from './delivery-queue.js';
import { EndpointGate } from './endpoint-gate.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { type DeliverJobData, JOBS, type SequenceJobData } from './outbound.constants.js';
import { RateLimiter } from './rate-limiter.js';

/** Sends per sequence-job run before it yields its worker slot. */
const SEQUENCE_BATCH = 100;
/** A sequence job waits in-process for a rate-limit slot up to this long, else it delays itself. */
const MAX_INLINE_WAIT_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
export class DeliveryProcessor {
  /** Holds slow endpoints to their share of this instance's slots (endpoint-gate.ts). */
  private readonly gate: EndpointGate;

  constructor(
    private readonly attempts: DeliveryAttemptsService,
    private readonly store: DeliveryStore,
    private readonly queue: DeliveryQueue,
    private readonly limiter: RateLimiter,
    private readonly metrics: OutboundMetrics,
    config: AppConfig,
  ) {
    this.gate = new EndpointGate(config.outbound.slowEndpointMs, config.outbound.slowEndpointInFlight);
  }

  process(job: Job, token?: string): Promise<unknown> {
    if (job.name === JOBS.sequence) return this.sequence(job as Job<SequenceJobData>, token);
    return this.deliver(job as Job<DeliverJobData>, token);
  }

  /** Records still being written (shutdown waits for them). */
  flush(): Promise<void> {
    return this.attempts.flush();
  }

  /** After a sequence job completes: start it again if a delivery slipped in as it finished. */
  async afterSequence(endpointId: string): Promise<void> {
    if (await this.store.needsSequence(endpointId)) await this.queue.kickSequence(endpointId);
  }

  private async deliver(job: Job<DeliverJobData>, token?: string): Promise<string> {
    const { endpointId } = job.data;
    const wait = this.gate.enter(endpointId);
    if (wait > 0) {
      this.metrics.heldBack.inc();
      return delay(job, token, wait);
    }
    const sent: { latencyMs?: number } = {};
    try {
      return await this.deliverNow(job, token, sent);
    } finally {
      this.gate.leave(endpointId, sent.latencyMs);
    }
  }

  private async deliverNow(job: Job<DeliverJobData>, token: string | undefined, sent: { latencyMs?: number }) {
    const { deliveryId, endpointId } = job.data;
    const delivery = await this.store.claim(deliveryId, { sequence: false });
    if (!delivery) {
      const state = await this.store.state(deliveryId);
      // Gone, done, or its endpoint is paused/disabled: nothing to do (a resume enqueues again).
      if (!state || state.status !== 'pending' || state.endpointStatus !== 'active') return 'skipped';
      if (state.ordered) {
        await this.queue.kickSequence(endpointId);
        return 'handed to sequence';
      }
      return delay(job, token, Math.max(state.waitMs, 100));
    }
    if (delivery.rate) {
      const slot = job.data.slot;
      const haveSlot = slot?.attempt === delivery.attempts && Date.now() >= slot.at - 20;
      if (!haveSlot) {
        const wait = await this.limiter.reserve(delivery.endpointId, delivery.rate);
        if (wait > 20) {
          await this.store.release(delivery.id);
          await job.updateData({ ...job.data, slot: { attempt: delivery.attempts, at: Date.now() + wait } });
          return delay(job, token, wait);
        }
      }
    }
    const startedAt = Date.now();
    const outcome = await this.attempts.attempt(delivery, { recordSuccessLater: true });
    sent.latencyMs = Date.now() - startedAt;
    if (outcome.kind === 'retry') return delay(job, token, outcome.delayMs);
    return outcome.kind;
  }

  private async sequence(job: Job<SequenceJobData>, token?: string): Promise<string> {
    const { endpointId } = job.data;
    let misses = 0;
    for (let sent = 0; sent < SEQUENCE_BATCH;) {
      const head = await this.store.head(endpointId);
      if (!head) {
        if (await this.store.finishDrain(endpointId)) return 'idle';
        // A replay widened the drain, or the last held delivery is leased by a `deliver` job.
        if (++misses > 3) return delay(job, token, 500);
        continue;
      }
      if (head.waitMs > 0) return delay(job, token, head.waitMs); // the head blocks the rest
      if (head.rate) {
        const wait = await this.limiter.reserve(endpointId, head.rate);
        if (wait > MAX_INLINE_WAIT_MS) return delay(job, token, wait);
        if (wait > 0) await sleep(wait);
      }
      const delivery = await this.store.claim(head.id, { sequence: true, freshOnly: !head.ordered });
      if (!delivery) {
        // Taken or changed between the two reads; look again, but do not spin.
        if (++misses > 3) return delay(job, token, 200);
        continue;
      }
      misses = 0;
      sent++;
      const outcome: Outcome = await this.attempts.attempt(delivery);
      if (outcome.kind === 'disabled') return 'endpoint disabled';
      if (outcome.kind === 'retry') {
        if (head.ordered) return delay(job, token, outcome.delayMs);
        await this.queue.enqueueDeliveries([{ ...delivery, deliveryId: delivery.id, delayMs: outcome.delayMs }]);
      }
    }
    return delay(job, token, 0); // yield; same job, same id
  }
}

/** Re-schedules the running job (same id) and tells BullMQ it was not a failure. */
async function delay(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), token);
  throw new DelayedError();
}
