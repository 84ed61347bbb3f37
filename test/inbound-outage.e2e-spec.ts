/**
 * Inbound webhooks while a store is down, with servers of the test's own: Postgres stopped → 503
 * (never a 2xx without a row) and the provider's retry is stored and processed once it is back;
 * Redis down when an event arrives → still a 2xx, and the reconciler queues the event once Redis
 * is back, empty.
 */
import { query } from './helpers/databases.js';
import { send, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { type PostgresProcess, type RedisProcess, privatePostgres, privateRedis } from './helpers/processes.js';
import { type TestApp, type TestEnv, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

const SECRET = 'whsec_outage_test_secret';

const payment = (id: string) =>
  JSON.stringify(stripeEvent('payment_intent.succeeded', { id: `pi_${id}`, amount: 100, currency: 'eur' }, id));

async function processedOnce(databaseUrl: string, eventId: string): Promise<boolean> {
  const [row] = await query<{ status: string; attempts: number }>(
    databaseUrl,
    `SELECT status, attempts FROM inbound_events WHERE provider = 'stripe' AND external_id = $1`,
    [eventId],
  );
  if (row?.status !== 'processed') return false;
  const events = await query(
    databaseUrl,
    `SELECT 1 FROM outbox_events WHERE type = 'payment.succeeded' AND data->>'stripeEventId' = $1`,
    [eventId],
  );
  expect(events).toHaveLength(1);
  return true;
}

describe('inbound webhooks: Postgres stopped (e2e)', () => {
  let pg: PostgresProcess;
  let env: TestEnv;
  let t: TestApp;
  let databaseUrl: string;

  beforeAll(async () => {
    pg = await privatePostgres();
    databaseUrl = pg.url('livefeed_outage');
    env = await createTestEnv({
      DATABASE_URL: databaseUrl,
      DATABASE_CREATE: 'true',
      STRIPE_WEBHOOK_SECRETS: SECRET,
      INBOUND_STORE_TIMEOUT_MS: '2000',
      QUEUE_DEFAULT_BACKOFF_MS: '100',
    });
    t = await startTestApp(env);
  }, 90_000);
  afterAll(async () => {
    if (pg && !pg.running) await pg.start();
    await t?.close();
    await pg?.destroy();
    await env?.cleanup();
  });

  it('→ 503 quickly, nothing acknowledged; after it returns, the retry is stored and processed', async () => {
    const before = signStripe(payment('evt_pg_before'), SECRET);
    expect((await send(t.url, before)).status).toBe(200);
    await waitFor(() => processedOnce(databaseUrl, 'evt_pg_before'), 15_000);

    await pg.stop();
    const during = signStripe(payment('evt_pg_during'), SECRET);
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const response = await send(t.url, during);
      expect(response.status).toBe(503);
      expect(response.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'the event could not be stored; retry later',
      });
      expect(Date.now() - started).toBeLessThan(3_000);
    }

    await pg.start();
    // The provider retries the same request until it gets a 2xx.
    const retried = await waitFor(async () => (await send(t.url, during)).status === 200, 20_000, 250);
    expect(retried).toBe(true);
    await waitFor(() => processedOnce(databaseUrl, 'evt_pg_during'), 20_000);
    expect(await processedOnce(databaseUrl, 'evt_pg_before')).toBe(true);
    const [{ n }] = await query<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM inbound_events');
    expect(Number(n)).toBe(2);
  }, 90_000);
});

describe('inbound webhooks: Redis down when the event arrives (e2e)', () => {
  let redis: RedisProcess;
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    redis = await privateRedis();
    env = await createTestEnv({
      REDIS_URL: redis.url,
      STRIPE_WEBHOOK_SECRETS: SECRET,
      INBOUND_RECONCILE_INTERVAL_MS: '500',
      INBOUND_RECONCILE_AFTER_MS: '1000',
    });
    t = await startTestApp(env);
  });
  afterAll(async () => {
    if (redis && !redis.running) await redis.start();
    await t?.close();
    await redis?.stop();
    await env?.cleanup();
  });

  it('→ still 2xx once stored; when Redis is back (empty), the reconciler queues it and it is processed once', async () => {
    expect((await send(t.url, signStripe(payment('evt_redis_before'), SECRET))).status).toBe(200);
    await waitFor(() => processedOnce(env.databaseUrl, 'evt_redis_before'), 15_000);

    await redis.stop();
    // Wait for the app to notice, so the request below meets a Redis that is down.
    await waitFor(async () => (await fetch(`${t.url}/health/ready`)).status === 503, 10_000);
    const response = await send(t.url, signStripe(payment('evt_redis_during'), SECRET));
    expect(response).toEqual({ status: 200, body: { received: true, id: expect.any(String), duplicate: false } });
    const [stored] = await query<{ status: string }>(
      env.databaseUrl,
      `SELECT status FROM inbound_events WHERE external_id = 'evt_redis_during'`,
    );
    expect(stored.status).toBe('received');

    await redis.start(); // no persistence: every job and key is gone
    await waitFor(() => processedOnce(env.databaseUrl, 'evt_redis_during'), 30_000);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/inbound_webhook_enqueue_failures_total [1-9]/);
    expect(metrics).toMatch(/inbound_webhooks_reconciled_total [1-9]/);
  }, 60_000);
});
