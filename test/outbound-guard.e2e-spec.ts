/**
 * The outbound network guard end to end: refused at creation (422), and refused again at connect time
 * for an endpoint that passed creation but whose name now resolves to a refused address.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

async function emitEvent(app: TestApp, type: string, data: Record<string, unknown>) {
  const dataSource = app.app.get<DataSource>(getDataSourceToken());
  await dataSource.transaction((manager) => app.app.get(OutboxService).record(manager, { type, data }));
}

describe('outbound network guard (e2e)', () => {
  let env: TestEnv;
  let receiver: WebhookReceiver;
  let app: TestApp | undefined;

  beforeAll(async () => {
    env = await createTestEnv({
      OUTBOUND_RETRY_SCHEDULE: '60',
      OUTBOUND_CONNECT_TIMEOUT_MS: '1000',
      OUTBOUND_REQUEST_TIMEOUT_MS: '3000',
      OUTBOX_POLL_INTERVAL_MS: '200',
    });
    receiver = await WebhookReceiver.start();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await query(env.databaseUrl, 'DELETE FROM webhook_endpoints');
  });
  afterAll(async () => {
    await receiver?.close();
    await env?.cleanup();
  });

  it('refuses at creation (422) metadata, private, IPv4-mapped/-compatible private, loopback and non-http URLs', async () => {
    app = await startTestApp(env, { env: { OUTBOUND_ALLOWED_CIDRS: '' } });
    const cases: [string, RegExp][] = [
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata address/],
      ['http://10.0.0.1/hook', /10\.0\.0\.1 is a private address/],
      ['http://[::ffff:10.0.0.1]/hook', /::ffff:a00:1 is a private \(IPv4-mapped\) address/],
      ['ftp://example.com/hook', /url must use http or https \(got ftp\)/],
      [`http://127.0.0.1:${receiver.port}/hook`, /127\.0\.0\.1 is a loopback address/],
      [`http://localhost:${receiver.port}/hook`, /localhost resolves to 127\.0\.0\.1, which is a loopback address/],
      ['http://[::1]/hook', /::1 is a loopback address/],
      ['http://100.64.0.1/hook', /100\.64\.0\.1 is a CGNAT address/],
      ['http://0.0.0.0/hook', /0\.0\.0\.0 is an unspecified address/],
      // IPv4-compatible IPv6 is judged by the IPv4 address it carries (the URL parser writes ::7f00:1).
      [`http://[::127.0.0.1]:${receiver.port}/hook`, /::7f00:1 is a loopback \(IPv4-compatible\) address/],
      [`http://[::7f00:1]:${receiver.port}/hook`, /::7f00:1 is a loopback \(IPv4-compatible\) address/],
      ['http://[::a9fe:a9fe]/latest/meta-data/', /::a9fe:a9fe is a cloud metadata \(IPv4-compatible\) address/],
    ];
    for (const [url, message] of cases) {
      const res = await api(app.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
      expect({ url, status: res.status }).toEqual({ url, status: 422 });
      expect(res.body).toEqual({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: expect.stringMatching(message),
      });
    }
    expect((await query(env.databaseUrl, 'SELECT id FROM webhook_endpoints')).length).toBe(0);
    // A public address is fine.
    const ok = await api(app.url, 'POST', '/admin/webhooks/endpoints', {
      url: 'http://93.184.216.34/hook',
      eventTypes: ['score.*'],
    });
    expect(ok.status).toBe(201);
  });

  it('a hostname that resolves to a private address is refused at connect time', async () => {
    // Registered while the operator allowed loopback…
    const permissive = await startTestApp(env, { env: { OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8' } });
    const byName = receiver.route('/by-name');
    const byAddress = receiver.route('/by-address');
    const compatible = receiver.route('/compatible').replace('127.0.0.1', '[::7f00:1]');
    const urls = [byName.replace('127.0.0.1', 'localhost'), byAddress, compatible];
    for (const url of urls) {
      const res = await api(permissive.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
      expect(res.status).toBe(201);
    }
    await permissive.close();

    // …and sent by an instance that allows nothing private: the name resolves to 127.0.0.1 now.
    app = await startTestApp(env, { env: { OUTBOUND_ALLOWED_CIDRS: '' } });
    await emitEvent(app, 'score.updated', { seq: 1 });
    const attempts = await waitFor(async () => {
      const rows = await query<{ url: string; error: string; status_code: number | null }>(
        env.databaseUrl,
        `SELECT e.url, a.error, a.status_code FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
         ORDER BY e.url`,
      );
      return rows.length === 3 ? rows : undefined;
    }, 15_000);
    const byUrl = Object.fromEntries(attempts!.map((row) => [row.url, row]));
    expect(byUrl[urls[0]]).toEqual({
      url: urls[0],
      status_code: null,
      error: 'blocked: localhost resolves to 127.0.0.1, a loopback address',
    });
    expect(byUrl[urls[1]]).toEqual({
      url: urls[1],
      status_code: null,
      error: 'blocked: 127.0.0.1 is a loopback address',
    });
    expect(byUrl[urls[2]]).toEqual({
      url: urls[2],
      status_code: null,
      error: 'blocked: ::7f00:1 is a loopback (IPv4-compatible) address',
    });
    await sleep(500);
    expect(receiver.requests).toEqual([]);
    // Still pending (a refused connect is a failed attempt like any other), never sent.
    const pending = await query(env.databaseUrl, `SELECT id FROM webhook_deliveries WHERE status = 'pending'`);
    expect(pending).toHaveLength(3);
  });

  it('in production, plain http is refused except towards an allowed range', async () => {
    app = await startTestApp(env, { env: { NODE_ENV: 'production', OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8' } });
    const create = (url: string) =>
      api(app!.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
    const http = await create('http://93.184.216.34/hook');
    expect(http.status).toBe(422);
    expect(http.body.message).toMatch(/url must use https/);
    expect((await create('https://93.184.216.34/hook')).status).toBe(201);
    expect((await create(receiver.route('/prod'))).status).toBe(201);
  });
});
