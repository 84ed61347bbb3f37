/**
 * The built app as a process, killed with SIGKILL in the middle of a burst of signed Stripe events:
 * after a restart, every event that got a 2xx is stored and processed exactly once (its domain
 * event recorded once), and so is every other event once the provider has retried it.
 * Needs `npm run build` (npm test does it).
 */
import { query } from './helpers/databases.js';
import { send, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { type AppProcess, spawnApp } from './helpers/processes.js';
import { type TestEnv, createTestEnv, waitFor } from './helpers/test-app.js';

const SECRET = 'whsec_crash_test_secret';
const TOTAL = 400;
const KILL_AFTER = 150; // acknowledged events before the kill
const CONCURRENCY = 16;

describe('inbound webhooks: kill -9 during a burst (e2e)', () => {
  let env: TestEnv;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    env = await createTestEnv({
      STRIPE_WEBHOOK_SECRETS: SECRET,
      LOG_LEVEL: 'warn',
      INBOUND_JOB_LOCK_MS: '2000', // a job the killed worker held is taken up again within seconds
      INBOUND_RECONCILE_INTERVAL_MS: '500',
      INBOUND_RECONCILE_AFTER_MS: '1000',
      QUEUE_DEFAULT_BACKOFF_MS: '200',
    });
  });
  afterAll(async () => {
    app?.kill();
    await app?.exited;
    await env?.cleanup();
  });

  const ids = Array.from({ length: TOTAL }, (_, i) => `evt_crash_${i}`);
  const bodies = ids.map((id, i) =>
    JSON.stringify(stripeEvent('payment_intent.succeeded', { id: `pi_${i}`, amount: i, currency: 'eur' }, id)),
  );

  /** Sends `which` with CONCURRENCY requests in flight; returns the ids that got a 2xx. */
  async function burst(base: string, which: number[], onAck?: (acked: number) => void): Promise<Set<string>> {
    const acked = new Set<string>();
    let next = 0;
    let refused = false;
    const lane = async () => {
      while (next < which.length && !refused) {
        const i = which[next++];
        try {
          const response = await send(base, signStripe(bodies[i], SECRET));
          if (response.status === 200) {
            acked.add(ids[i]);
            onAck?.(acked.size);
          }
        } catch {
          refused = true; // the app is gone: this one and the rest get no answer
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    return acked;
  }

  const processedCounts = async () =>
    query<{ external_id: string; status: string; domain_events: string }>(
      env.databaseUrl,
      `SELECT e.external_id, e.status,
              (SELECT count(*) FROM outbox_events o
               WHERE o.type = 'payment.succeeded' AND o.data->>'stripeEventId' = e.external_id) AS domain_events
       FROM inbound_events e WHERE e.provider = 'stripe'`,
    );

  it('every acknowledged event is stored and processed exactly once after restart', async () => {
    app = await spawnApp(env.env);
    const first = app;
    const acked = await burst(
      first.url,
      ids.map((_, i) => i),
      (count) => {
        if (count === KILL_AFTER) first.kill('SIGKILL');
      },
    );
    await first.exited;
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(acked.size).toBeLessThan(TOTAL); // the kill did land mid-burst

    // Nothing acknowledged was lost: each has its row, even before the restart.
    const stored = new Set((await processedCounts()).map((row) => row.external_id));
    for (const id of acked) expect(stored.has(id)).toBe(true);

    app = await spawnApp(env.env);
    await waitFor(
      async () => {
        const rows = await processedCounts();
        return [...acked].every((id) => rows.some((row) => row.external_id === id && row.status === 'processed'));
      },
      45_000,
      250,
    );

    // The provider retries whatever got no 2xx (and, harmlessly, some that did).
    const retried = await burst(
      app.url,
      ids.map((_, i) => i),
    );
    expect(retried.size).toBe(TOTAL);
    const rows = await waitFor(
      async () => {
        const all = await processedCounts();
        return all.length === TOTAL && all.every((row) => row.status === 'processed') ? all : undefined;
      },
      45_000,
      250,
    );
    expect(rows!.filter((row) => Number(row.domain_events) !== 1)).toEqual([]);
    const [{ n }] = await query<{ n: string }>(
      env.databaseUrl,
      `SELECT count(*) AS n FROM outbox_events WHERE type = 'payment.succeeded'`,
    );
    expect(Number(n)).toBe(TOTAL);
  }, 150_000);
});
