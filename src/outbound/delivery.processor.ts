/**
 * What a worker does with an outbound job: run one endpoint's pump.
 *
 * Each active endpoint with pending deliveries has exactly one job, `pump_<endpointId>` (BullMQ has
 * no per-group concurrency outside Pro; a unique job id gives one runner per endpoint across every
 * instance), and Postgres is its cursor. BullMQ does what it is good at: waking an endpoint when it
 * has work (the intake kicks it), at its next due time (a retry's schedule: the job delays itself),
 * and handing a killed instance's job to another (stalled-job check; the deliveries it had leased come
 * free when their lease, as long as the lock, runs out). It does not carry one job per delivery.
 *
 * Unordered endpoint: one statement claims up to a window of due deliveries (DeliveryStore.claimDue),
 * they are sent concurrently over the keep-alive pool, and each attempt is recorded through the
 * batched record path. The window is the endpoint's share (EndpointGate: a slow endpoint gets only a
 * few in flight) and the instance's send slots (SendSlots: OUTBOUND_CONCURRENCY requests in flight in
 * all, first come first served between pumps); a rate-limited endpoint's batch has its slots reserved
 * in one call and each delivery goes at its slot. A fast endpoint without a rate limit reads ahead:
 * up to two windows claimed, the next claim once no more than one is outstanding, each delivery
 * taking its send slot when it goes, so a claim's round trip overlaps the sending. A slow or
 * rate-limited one claims only what it has slots for, once half its window has its answers. When
 * nothing is due the job delays itself until the endpoint's next due time (its earliest retry, or a lease running out), and completes when nothing
 * is pending; the `completed` hook checks once more (a delivery committed as it finished could not
 * kick it: same id), and a delay is followed by the same check. A failed attempt is just recorded with
 * its next attempt time: the pump takes it again when it is due, while the rest go on. Held deliveries
 * of a drain (after a resume or a replay) go one at a time in message order (see claimDue).
 *
 * Ordered endpoint: each step reads the head (the lowest pending message), sends it, and only then
 * reads the next: one in flight, strictly in message order. A failing head is not skipped: the job
 * delays itself until the head's next attempt, so the rest wait until it succeeds or is exhausted.
 *
 * Either kind yields after a bounded run (delays itself by 0: same job, same id), so one busy endpoint
 * cannot hold a worker slot for ever. Jobs of an older release (`deliver`, `sequence`) just kick
 * their endpoint's pump (a rolling deploy leaves some in Redis).
 */
import { Injectable } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { AppConfig } from '#src/config/app-config.js';
import { DeliveryAttemptsService, type Outcome } from './delivery-attempts.service.js';
import { type ClaimedDelivery, DeliveryStore } from './delivery-store.js';
import { DeliveryQueue } from './delivery-queue.js';
import { EndpointGate } from './endpoint-gate.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { JOBS, type PumpJobData } from './outbound.constants.js';
import { RateLimiter, intervalMs } from './rate-limiter.js';
import { SendSlots } from './send-slots.js';

/** A pump run yields after this many sends or this long, whichever comes first. */
const RUN_SENDS = 1_000;
const RUN_MS = 2_000;
/** Deliveries one claim statement takes at most. */
const MAX_CLAIM = 200;
/** A pump waits in-process for its rate-limit slots up to this long, else it delays itself. */
const MAX_INLINE_WAIT_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a pump run ends: a result (the job completes), or a delay (the same job runs again then). */
type RunEnd = { result: string } | { delayMs: number; recheck?: boolean };

@Injectable()
export class DeliveryProcessor {
  /** Holds slow endpoints to their share of this instance's slots (endpoint-gate.ts). */
  private readonly gate: EndpointGate;
  /** OUTBOUND_CONCURRENCY requests in flight on this instance, over every endpoint. */
  private readonly slots: SendSlots;
  /** Attempts running here (with their records), for shutdown. */
  private readonly running = new Set<Promise<Outcome>>();

  constructor(
    private readonly attempts: DeliveryAttemptsService,
    private readonly store: DeliveryStore,
    private readonly queue: DeliveryQueue,
    private readonly limiter: RateLimiter,
    private readonly metrics: OutboundMetrics,
    config: AppConfig,
  ) {
    this.gate = new EndpointGate(config.outbound.slowEndpointMs, config.outbound.slowEndpointInFlight);
    this.slots = new SendSlots(config.outbound.concurrency);
  }

  async process(job: Job<PumpJobData>, token?: string): Promise<string> {
    if (job.name !== JOBS.pump) {
      // An older release's job (one per delivery, or an ordered endpoint's): the pump does that now.
      if (!job.data?.endpointId) return 'skipped';
      await this.queue.kick([job.data.endpointId]);
      return 'handed to pump';
    }
    const target = await this.store.target(job.data.endpointId);
    if (!target) return 'idle'; // paused, disabled or gone: a resume kicks it again
    if (target.ordered) return this.sequence(job, token);
    return this.batches(job, token, target.rate);
  }

  /** Attempts still running here (shutdown waits for them and their records). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** After a pump job completes: start it again if a delivery slipped in as it finished. */
  async afterPump(endpointId: string): Promise<void> {
    if (await this.store.needsPump(endpointId)) await this.queue.kick([endpointId]);
  }

  /** An unordered endpoint's run: claim a window, send it concurrently, claim again, until none is due. */
  private async batches(job: Job<PumpJobData>, token: string | undefined, rate: number | null): Promise<string> {
    const { endpointId } = job.data;
    const run = new InFlight();
    let end: RunEnd;
    try {
      end = await this.fill(endpointId, rate, run);
    } finally {
      await run.settled(); // every attempt this run started is recorded before the job moves on
    }
    if (run.error) throw run.error; // BullMQ retries the job; unrecorded leases run out and go again
    if ('result' in end) return end.result;
    await job.moveToDelayed(Date.now() + Math.max(0, Math.round(end.delayMs)), token);
    // A delivery committed after the last look could not wake the job (it was still active). The job
    // is delayed already: if this check fails, the reconciler wakes it instead.
    if (end.recheck) {
      const due = await this.store.nextWake(endpointId).catch(() => null);
      if (due === 0) await this.queue.kick([endpointId]).catch(() => undefined);
    }
    throw new DelayedError();
  }

  private async fill(endpointId: string, rate: number | null, run: InFlight): Promise<RunEnd> {
    const began = Date.now();
    let claimed = 0;
    let misses = 0;
    let full = false;
    for (;;) {
      if (run.error) return { result: 'failed' };
      if (claimed >= RUN_SENDS || Date.now() - began >= RUN_MS) return { delayMs: 0 }; // yield
      const window = Math.min(
        this.gate.share(endpointId),
        this.slots.size,
        MAX_CLAIM,
        rate ? Math.max(1, Math.floor(rate)) : Infinity, // a rate-limited batch: a second's worth
      );
      // A fast endpoint without a rate limit reads ahead: up to two windows claimed, so the next claim
      // is on its way while a window is being sent, and each delivery takes its send slot when it
      // goes (first come, first served). A slow or rate-limited one claims only what it can send now.
      const ahead = rate === null && !this.gate.isSlow(endpointId);
      let batch: ClaimedDelivery[];
      if (ahead) {
        if (run.sending > window) {
          await run.answered();
          continue;
        }
        batch = await this.store.claimDue(endpointId, 2 * window - run.sending);
      } else {
        const room = window - run.sending;
        if (room <= 0 || (run.sending > 0 && room < Math.ceil(window / 2))) {
          if (room <= 0 && full && this.gate.isSlow(endpointId)) this.metrics.heldBack.inc();
          await run.answered();
          continue;
        }
        const granted = await this.slots.take(room);
        try {
          batch = await this.store.claimDue(endpointId, granted);
        } catch (error) {
          this.slots.give(granted);
          throw error;
        }
        this.slots.give(granted - batch.length);
        full = batch.length === granted;
      }
      if (batch.length === 0) {
        // Records still on their way may free more (a drain's next held delivery): look again after them.
        if (run.size > 0) {
          await run.settled();
          continue;
        }
        const waitMs = await this.store.nextWake(endpointId);
        if (waitMs === null) return { result: 'idle' };
        if (waitMs > 0) return { delayMs: waitMs, recheck: true };
        // Due but not claimable (locked by another transaction, or the endpoint just became ordered).
        if (++misses > 3) return { delayMs: 200 };
        continue;
      }
      misses = 0;
      claimed += batch.length;
      batch.sort((x, y) => (BigInt(x.messageId) < BigInt(y.messageId) ? -1 : 1));
      let firstAt = 0;
      let spacing = 0;
      const limit = batch[0].rate;
      if (limit && ahead) {
        // Rate-limited since the run began: hand these back and start over with the limit.
        await this.store.release(batch.map((d) => d.id));
        return { delayMs: 0 };
      }
      if (limit) {
        try {
          firstAt = await this.limiter.reserve(endpointId, limit, batch.length);
        } catch (error) {
          this.slots.give(batch.length); // the leases run out by themselves
          throw error;
        }
        if (firstAt > MAX_INLINE_WAIT_MS) {
          this.slots.give(batch.length);
          await this.store.release(batch.map((d) => d.id));
          return { delayMs: firstAt };
        }
        spacing = intervalMs(limit);
      }
      if (ahead) batch.forEach((delivery) => run.start((onAnswer) => this.sendInTurn(delivery, onAnswer)));
      else batch.forEach((delivery, i) => run.start((onAnswer) => this.send(delivery, onAnswer, firstAt + i * spacing)));
    }
  }

  /** An ordered endpoint's run: the head, then the next head, one in flight. */
  private async sequence(job: Job<PumpJobData>, token?: string): Promise<string> {
    const { endpointId } = job.data;
    const began = Date.now();
    let misses = 0;
    for (let sent = 0; sent < RUN_SENDS && Date.now() - began < RUN_MS;) {
      const head = await this.store.head(endpointId);
      if (!head) return 'idle';
      if (head.waitMs > 0) return delay(job, token, head.waitMs); // the head blocks the rest
      if (head.rate) {
        const wait = await this.limiter.reserve(endpointId, head.rate);
        if (wait > MAX_INLINE_WAIT_MS) return delay(job, token, wait);
        if (wait > 0) await sleep(wait);
      }
      await this.slots.take(1);
      let delivery: ClaimedDelivery | null;
      try {
        delivery = await this.store.claim(head.id);
      } catch (error) {
        this.slots.give(1);
        throw error;
      }
      if (!delivery) {
        this.slots.give(1);
        // Taken or changed between the two reads; look again, but do not spin.
        if (++misses > 3) return delay(job, token, 200);
        continue;
      }
      misses = 0;
      sent++;
      const outcome = await this.send(delivery);
      if (outcome.kind === 'disabled') return 'endpoint disabled';
      if (outcome.kind === 'retry') return delay(job, token, outcome.delayMs);
    }
    return delay(job, token, 0); // yield; same job, same id
  }

  /** A read-ahead delivery: waits for its send slot, then goes. */
  private async sendInTurn(delivery: ClaimedDelivery, onAnswer: () => void): Promise<Outcome> {
    await this.slots.take(1);
    return this.send(delivery, onAnswer);
  }

  /**
   * One attempt, holding one send slot that the caller took: given back as soon as the request has
   * its answer (the record is still on its way), which also teaches the gate the endpoint's latency.
   */
  private send(delivery: ClaimedDelivery, onAnswer?: () => void, waitMs = 0): Promise<Outcome> {
    let holding = true;
    const answered = (latencyMs?: number) => {
      if (!holding) return;
      holding = false;
      this.slots.give(1);
      if (latencyMs !== undefined) this.gate.observe(delivery.endpointId, latencyMs);
      onAnswer?.();
    };
    const attempt = (async () => {
      try {
        if (waitMs > 0) await sleep(waitMs);
        return await this.attempts.attempt(delivery, answered);
      } finally {
        answered();
      }
    })();
    this.running.add(attempt);
    const forget = () => this.running.delete(attempt);
    attempt.then(forget, forget);
    return attempt;
  }
}

/**
 * The attempts one pump run has started: how many still wait for their answer (`sending`), a wait
 * for the next answer, and a wait for all of them to be recorded. The first error is kept for the run.
 */
class InFlight {
  sending = 0;
  error: unknown;
  private readonly tasks = new Set<Promise<void>>();
  private wake?: () => void;

  get size(): number {
    return this.tasks.size;
  }

  start(attempt: (onAnswer: () => void) => Promise<Outcome>): void {
    this.sending++;
    let waiting = true;
    const onAnswer = () => {
      if (!waiting) return;
      waiting = false;
      this.sending--;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    const task = attempt(onAnswer)
      .then(
        () => undefined,
        (error: unknown) => {
          this.error ??= error;
        },
      )
      .finally(() => {
        onAnswer();
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  /** Until one more request has its answer (or ends without one). */
  answered(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  /** Until every attempt started is done, recorded or failed. */
  async settled(): Promise<void> {
    await Promise.all([...this.tasks]);
  }
}

/** Re-schedules the running job (same id) and tells BullMQ it was not a failure. */
async function delay(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), token);
  throw new DelayedError();
}
