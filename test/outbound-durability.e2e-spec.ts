/**
 * Outbound deliveries survive the worker dying mid-delivery (kill -9 of the built app, `npm run build`
 * first) and Redis losing all its data (FLUSHALL of a Redis of the test's own): Postgres is the
 * source of truth and the same webhook-id is sent again.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { type AppProcess, type RedisProcess, privateRedis, spawnApp } from './helpers/processes.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

const OUTBOUND_ENV = {
  OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
  OUTBOUND_CONNECT_TIMEOUT_MS: '500',
  OUTBOUND_REQUEST_TIMEOUT_MS: '2000',
  OUTBOUND_RECONCILE_INTERVAL_MS: '1000',
  OUTBOX_POLL_INTERVAL_MS: '200',
};

/**
 * A domain event recorded the way OutboxService.record does it (row + NOTIFY in one transaction),
 * for an app running as a separate process.
 */
async function emitEventSql(databaseUrl: string, type: string, data: Record<string, unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO outbox_events (type, data) VALUES ($1, $2)', [type, JSON.stringify(data)]);
    await client.query(`SELECT pg_notify('outbox_events', '')`);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function emitEvent(app: TestApp, type: string, data: Record<string, unknown>) {
  const dataSource = app.app.get<DataSource>(getDataSourceToken());
  await dataSource.transaction((manager) => app.app.get(OutboxService).record(manager, { type, data }));
}

describe('outbound durability (e2e)', () => {
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(() => receiver?.close());

  describe('kill -9 mid-delivery', () => {
    let env: TestEnv;
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      env = await createTestEnv({ ...OUTBOUND_ENV, OUTBOUND_RETRY_SCHEDULE: '1,1,1', LOG_LEVEL: 'warn' });
    });
    afterAll(async () => {
      for (const app of apps) app.kill();
      await Promise.all(apps.map((app) => app.exited));
      await env?.cleanup();
    });

    it('the delivery completes after restart, with the same webhook-id', async () => {
      const first = await spawnApp(env.env);
      apps.push(first);
      const url = receiver.route('/crash', { reply: (_, nth) => (nth === 1 ? 'hang' : { status: 200 }) });
      const created = await api(first.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
      expect(created.status).toBe(201);
      receiver.route('/crash', { secrets: [created.body.secret] });

      await emitEventSql(env.databaseUrl, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.received('/crash').length === 1, 15_000);
      first.kill('SIGKILL'); // the receiver is still holding the request: the attempt is mid-flight
      expect((await first.exited).signal).toBe('SIGKILL');
      receiver.releaseHanging();

      const [before] = await query<{ status: string; attempts: number }>(
        env.databaseUrl,
        'SELECT status, attempts FROM webhook_deliveries',
      );
      expect(before).toEqual({ status: 'pending', attempts: 0 });

      const second = await spawnApp(env.env);
      apps.push(second);
      // The dead worker's lock expires (the HTTP timeout + margin), the stalled-job check hands it over.
      await waitFor(() => receiver.succeeded('/crash').length === 1, 40_000, 100);
      const [cut, done] = receiver.received('/crash');
      expect(done.webhookId).toBe(cut.webhookId);
      expect(done.body).toBe(cut.body);
      expect(done.verifiedWith).toEqual([created.body.secret]);
      const after = await waitFor(async () => {
        const [row] = await query<{ status: string; attempts: number }>(
          env.databaseUrl,
          'SELECT status, attempts FROM webhook_deliveries',
        );
        return row?.status === 'succeeded' ? row : undefined;
      });
      expect(after!.attempts).toBe(1);
      expect(receiver.received('/crash')).toHaveLength(2);
    });
  });

  describe('Redis loses everything', () => {
    let redis: RedisProcess;
    let env: TestEnv;
    let app: TestApp;

    beforeAll(async () => {
      redis = await privateRedis();
      env = await createTestEnv({ ...OUTBOUND_ENV, OUTBOUND_RETRY_SCHEDULE: '3,3,3,3', REDIS_URL: redis.url });
      app = await startTestApp(env);
    });
    afterAll(async () => {
      await app?.close();
      await env?.cleanup();
      await redis?.stop();
    });

    it('FLUSHALL: pending deliveries are re-enqueued from Postgres and delivered', async () => {
      let healthy = false;
      const url = receiver.route('/flush', { reply: () => ({ status: healthy ? 200 : 500 }) });
      const created = await api(app.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
      expect(created.status).toBe(201);
      receiver.route('/flush', { secrets: [created.body.secret] });
      for (let seq = 1; seq <= 3; seq++) await emitEvent(app, 'score.updated', { seq });
      // Each delivery failed once and waits (as a delayed job) for its retry in ~3 s.
      await waitFor(async () => {
        const rows = await query(env.databaseUrl, `SELECT id FROM webhook_deliveries WHERE attempts = 1`);
        return rows.length === 3;
      });

      const client = new Redis(redis.url);
      try {
        await client.flushall();
        expect(await client.dbsize()).toBe(0);
      } finally {
        client.disconnect();
      }
      healthy = true;

      await waitFor(() => receiver.succeeded('/flush').length === 3, 30_000);
      const firstIds = new Set(
        receiver
          .received('/flush')
          .filter((r) => r.status === 500)
          .map((r) => r.webhookId),
      );
      expect(new Set(receiver.succeeded('/flush').map((r) => r.webhookId))).toEqual(firstIds);
      const metrics = await fetch(`${app.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/outbound_reconciled_total [1-9]/);
      const statuses = await waitFor(async () => {
        const rows = await query<{ status: string }>(env.databaseUrl, 'SELECT status FROM webhook_deliveries');
        return rows.every((row) => row.status === 'succeeded') ? rows : undefined;
      });
      expect(statuses).toHaveLength(3);
    });
  });
});
