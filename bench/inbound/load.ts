/**
 * The load generator, the same for every target: signed Stripe events POSTed over keep-alive
 * connections (undici). Each event is new (unique id) and signed with the stripe library just
 * before it is sent. Two shapes:
 *   - closed loop: C connections, each sending the next request when the last one answered, for a
 *     fixed time → the sustained rate;
 *   - open loop: a fixed rate for a fixed time, latency measured from each request's scheduled send
 *     time (so a slow server cannot hide its queue) → p50/p99 at a given load.
 */
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { Pool } from 'undici';

export interface LoadResult {
  sent: number;
  ok: number;
  errors: number;
  /** Requests not sent because MAX_IN_FLIGHT was reached (open loop only): the target fell behind. */
  skipped: number;
  durationS: number;
  eventsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  firstError?: string;
}

const MAX_IN_FLIGHT = 512;
const run = randomBytes(4).toString('hex');
let seq = 0;

/** A realistic `payment_intent.succeeded` (about 1 KB), new id each time. */
export function nextEvent(): string {
  const n = seq++;
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    id: `evt_bench_${run}_${n}`,
    object: 'event',
    api_version: '2024-06-20',
    created: now,
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_${run}_${n}`, idempotency_key: `ik_${run}_${n}` },
    type: 'payment_intent.succeeded',
    data: {
      object: {
        id: `pi_${run}_${n}`,
        object: 'payment_intent',
        amount: 2000 + (n % 1000),
        amount_received: 2000 + (n % 1000),
        currency: 'eur',
        customer: `cus_${n % 997}`,
        status: 'succeeded',
        capture_method: 'automatic',
        confirmation_method: 'automatic',
        created: now,
        description: 'Live-feed Pro subscription',
        latest_charge: `ch_${run}_${n}`,
        livemode: false,
        metadata: { userId: `user-${n % 997}`, plan: 'pro' },
        payment_method: `pm_${run}_${n}`,
        payment_method_types: ['card'],
        receipt_email: 'someone@example.com',
      },
    },
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

class Recorder {
  private samples = new Float64Array(1 << 16);
  private count = 0;
  sent = 0;
  ok = 0;
  errors = 0;
  skipped = 0;
  firstError?: string;

  add(ms: number): void {
    if (this.count === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.count++] = ms;
  }

  result(durationS: number): LoadResult {
    const sorted = this.samples.slice(0, this.count).sort();
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      sent: this.sent,
      ok: this.ok,
      errors: this.errors,
      skipped: this.skipped,
      durationS,
      eventsPerSec: Math.round(this.ok / durationS),
      p50Ms: round(percentile(sorted, 50)),
      p90Ms: round(percentile(sorted, 90)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted[sorted.length - 1] ?? 0),
      firstError: this.firstError,
    };
  }
}

export class LoadGenerator {
  private readonly pool: Pool;

  constructor(
    port: number,
    private readonly secret: string,
    connections: number,
  ) {
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  private async post(recorder: Recorder, startedAt: number): Promise<void> {
    const body = nextEvent();
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: this.secret });
    recorder.sent++;
    try {
      const response = await this.pool.request({
        method: 'POST',
        path: '/webhooks/stripe',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body,
      });
      const text = await response.body.text();
      if (response.statusCode === 200) {
        recorder.ok++;
        recorder.add(performance.now() - startedAt);
      } else {
        recorder.errors++;
        recorder.firstError ??= `${response.statusCode} ${text.slice(0, 200)}`;
      }
    } catch (error) {
      recorder.errors++;
      recorder.firstError ??= (error as Error).message;
    }
  }

  /** `lanes` requests in flight at all times, for `ms`. */
  async closedLoop(lanes: number, ms: number): Promise<LoadResult> {
    const recorder = new Recorder();
    const started = performance.now();
    const end = started + ms;
    const lane = async () => {
      while (performance.now() < end) await this.post(recorder, performance.now());
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    return recorder.result((performance.now() - started) / 1000);
  }

  /** `rate` requests/s for `ms`; latency from each request's scheduled time. */
  async openLoop(rate: number, ms: number): Promise<LoadResult> {
    const recorder = new Recorder();
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    let scheduled = 0;
    while (performance.now() - started < ms) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (scheduled < due) {
        const at = started + (scheduled / rate) * 1000;
        scheduled++;
        if (inFlight.size >= MAX_IN_FLIGHT) {
          recorder.skipped++;
          continue;
        }
        const request = this.post(recorder, at).finally(() => inFlight.delete(request));
        inFlight.add(request);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(inFlight);
    return recorder.result(ms / 1000);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
