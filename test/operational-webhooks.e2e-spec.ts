/**
 * Operational webhooks end to end (two app instances): `delivery.exhausted`, `endpoint.recovered`,
 * `inbound.rejected.spike` and `outbox.dead_lettered`, each from its real condition, reach an
 * endpoint subscribed to them through the normal outbound path, signed (checked here with the
 * `standardwebhooks` library against the endpoint's secret); and none is recorded about an
 * operational event, so none loops.
 */
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Webhook } from 'standardwebhooks';
import type { DataSource } from 'typeorm';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { newStandardSecret, send, signStandard } from './helpers/inbound-signing.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';
import { type ReceivedRequest, type ReplyFn, WebhookReceiver } from './helpers/webhook-receiver.js';

const ACME = newStandardSecret();
const OTHER = newStandardSecret();
const THRESHOLD = 3;
const WINDOW_SECONDS = 30;

/** A handler that fails on events asking for it, and on every `outbox.dead_lettered` (for the no-loop test). */
@Injectable()
class BrokenHandler implements OnModuleInit {
  constructor(private readonly relay: OutboxRelay) {}

  onModuleInit() {
    this.relay.register('test-broken', '*', async (events) => {
      for (const event of events) {
        if (event.data.breakMe === true || event.type === 'outbox.dead_lettered') {
          throw new Error(`broken on purpose (${event.type} ${event.id})`);
        }
      }
    });
  }
}

@Module({ providers: [BrokenHandler] })
class BrokenModule {}

describe('operational webhooks (e2e)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let n = 0;

  beforeAll(async () => {
    env = await createTestEnv({
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '0,0',
      OUTBOUND_RECONCILE_INTERVAL_MS: '2000',
      OUTBOX_POLL_INTERVAL_MS: '200',
      OUTBOX_MAX_ATTEMPTS: '2',
      STANDARD_WEBHOOK_SOURCES: `acme=${ACME},other=${OTHER}`,
      INBOUND_REJECTION_SPIKE_THRESHOLD: String(THRESHOLD),
      INBOUND_REJECTION_SPIKE_WINDOW_SECONDS: String(WINDOW_SECONDS),
    });
    a = await startTestApp(env, { imports: [BrokenModule] });
    b = await startTestApp(env, { imports: [BrokenModule] });
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await receiver?.close();
    await env?.cleanup();
  });

  afterEach(async () => {
    await query(env.databaseUrl, 'DELETE FROM webhook_endpoints');
  });

  const sql = <T = any>(text: string, params: unknown[] = []) => query<T>(env.databaseUrl, text, params);
  /** Outbox events of a type whose data field `field` is `value`. */
  const recorded = (type: string, field: string, value: string) =>
    sql<{ id: string; data: any }>(`SELECT id, data FROM outbox_events WHERE type = $1 AND data->>$2 = $3`, [
      type,
      field,
      value,
    ]);

  async function emitEvent(app: TestApp, type: string, data: Record<string, unknown>) {
    const dataSource = app.app.get<DataSource>(getDataSourceToken());
    const [event] = await dataSource.transaction((manager) =>
      app.app.get(OutboxService).record(manager, { type, data }),
    );
    return event;
  }

  async function endpoint(eventTypes: string[], reply?: ReplyFn) {
    const path = `/ops-${++n}`;
    const url = receiver.route(path, { reply });
    const res = await api(a.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, secret: res.body.secret as string, path, url };
  }

  /** The request's payload once its signature verifies against `secret` (throws otherwise). */
  function verified(request: ReceivedRequest, secret: string): any {
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
    return new Webhook(secret).verify(request.body, headers);
  }

  const deliveriesOf = async (endpointId: string) =>
    (await api(a.url, 'GET', `/admin/webhooks/endpoints/${endpointId}/deliveries?limit=100`)).body.items;

  it('the event type catalog lists the operational events with descriptions', async () => {
    const res = await api(a.url, 'GET', '/webhooks/event-types', undefined, {});
    expect(res.status).toBe(200);
    for (const type of [
      'endpoint.disabled',
      'endpoint.recovered',
      'delivery.exhausted',
      'inbound.rejected.spike',
      'outbox.dead_lettered',
    ]) {
      expect(res.body.items).toContainEqual({ type, description: expect.stringMatching(/\w{3,}/) });
    }
    const subscribed = await api(a.url, 'POST', '/admin/webhooks/endpoints', {
      url: receiver.route('/ops-any'),
      eventTypes: ['delivery.*', 'outbox.dead_lettered'],
    });
    expect(subscribed.status).toBe(201);
  });

  it('delivery.exhausted: a delivery that used up its retries is reported, signed; none about a delivery of it', async () => {
    const watcher = await endpoint(['delivery.exhausted']);
    // Fails every delivery.exhausted too: without the rule each would report the last one, for ever.
    const sink = await endpoint(['delivery.exhausted'], () => ({ status: 500 }));
    const dead = await endpoint(['match.started'], () => ({ status: 500, body: 'down' }));
    await emitEvent(a, 'match.started', { seq: 1 });

    await waitFor(() => receiver.succeeded(watcher.path).length >= 1, 15_000);
    expect(receiver.received(dead.path)).toHaveLength(3); // OUTBOUND_RETRY_SCHEDULE 0,0: three attempts
    const [failed] = await deliveriesOf(dead.id);
    expect(failed.status).toBe('failed');
    const payload = verified(receiver.received(watcher.path)[0], watcher.secret);
    expect(payload).toEqual({
      type: 'delivery.exhausted',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        deliveryId: failed.id,
        endpointId: dead.id,
        url: dead.url,
        messageId: failed.messageId,
        eventType: 'match.started',
        attempts: 3,
        lastStatusCode: 500,
        lastError: 'HTTP 500',
      },
    });

    // The sink's delivery of that notice is exhausted as well, and reports nothing.
    await waitFor(async () => (await deliveriesOf(sink.id))[0]?.status === 'failed', 15_000);
    expect(receiver.received(sink.path)).toHaveLength(3);
    await sleep(1_500);
    expect(await recorded('delivery.exhausted', 'endpointId', sink.id)).toEqual([]);
    expect(await recorded('delivery.exhausted', 'endpointId', dead.id)).toHaveLength(1);
    expect(receiver.received(watcher.path)).toHaveLength(1);
  });

  it('endpoint.recovered: the first success after failures is reported once; a recovery on a delivery of it is not', async () => {
    // The watcher fails its first request: its own recovery (on a delivery of endpoint.recovered) must stay silent.
    const watcher = await endpoint(['endpoint.recovered'], (_, nth) => ({ status: nth === 1 ? 503 : 200 }));
    const flaky = await endpoint(['match.started'], (_, nth) => ({ status: nth <= 2 ? 500 : 200 }));
    await emitEvent(b, 'match.started', { seq: 1 });

    await waitFor(() => receiver.succeeded(watcher.path).length >= 1, 15_000);
    expect(receiver.received(flaky.path).map((r) => r.status)).toEqual([500, 500, 200]);
    const [first, second] = receiver.received(watcher.path);
    expect(first.status).toBe(503);
    expect(second.webhookId).toBe(first.webhookId); // the retry of the same message
    const payload = verified(second, watcher.secret);
    expect(payload).toMatchObject({
      type: 'endpoint.recovered',
      data: {
        endpointId: flaky.id,
        url: flaky.url,
        failingSince: expect.stringMatching(/Z$/),
        recoveredAt: expect.stringMatching(/Z$/),
        failedAttempts: 2,
      },
    });
    expect(Date.parse(payload.data.recoveredAt)).toBeGreaterThanOrEqual(Date.parse(payload.data.failingSince));
    const got = await api(a.url, 'GET', `/admin/webhooks/endpoints/${flaky.id}`);
    expect(got.body.failingSince).toBeNull();

    await sleep(1_500);
    const watcherState = await api(a.url, 'GET', `/admin/webhooks/endpoints/${watcher.id}`);
    expect(watcherState.body.failingSince).toBeNull(); // it did recover: silently
    expect(await recorded('endpoint.recovered', 'endpointId', watcher.id)).toEqual([]);
    expect(await recorded('endpoint.recovered', 'endpointId', flaky.id)).toHaveLength(1);
    expect(receiver.received(watcher.path)).toHaveLength(2);
  });

  it('endpoint.recovered: a disabled endpoint, resumed, is reported on its first success', async () => {
    const watcher = await endpoint(['endpoint.recovered', 'endpoint.disabled']);
    const gone = await endpoint(['match.started'], (_, nth) => ({ status: nth === 1 ? 410 : 200 }));
    await emitEvent(a, 'match.started', { seq: 1 });
    await waitFor(() => receiver.succeeded(watcher.path).length === 1, 15_000);
    expect(verified(receiver.received(watcher.path)[0], watcher.secret).type).toBe('endpoint.disabled');

    const resumed = await api(b.url, 'POST', `/admin/webhooks/endpoints/${gone.id}/resume`);
    expect(resumed.body).toMatchObject({ status: 'active', failingSince: expect.any(String) });
    await waitFor(() => receiver.succeeded(watcher.path).length === 2, 15_000);
    expect(receiver.received(gone.path).map((r) => r.status)).toEqual([410, 200]);
    const payload = verified(receiver.received(watcher.path)[1], watcher.secret);
    expect(payload).toMatchObject({ type: 'endpoint.recovered', data: { endpointId: gone.id, url: gone.url } });
  });

  it('inbound.rejected.spike: bad signatures over the threshold, counted across instances, are reported once per window', async () => {
    const watcher = await endpoint(['inbound.rejected.spike']);
    // All of it inside one fixed window (they are aligned to the epoch).
    const intoWindow = Date.now() % (WINDOW_SECONDS * 1000);
    if (intoWindow > (WINDOW_SECONDS - 5) * 1000) await sleep(WINDOW_SECONDS * 1000 - intoWindow + 100);

    const forged = () => signStandard('acme', JSON.stringify({ type: 'invoice.paid' }), newStandardSecret());
    for (let i = 0; i < THRESHOLD + 2; i++) {
      const res = await send(i % 2 ? b.url : a.url, forged());
      expect(res.status).toBe(400);
    }
    // Below the threshold for another source: nothing about it.
    for (let i = 0; i < THRESHOLD - 1; i++) {
      expect((await send(b.url, signStandard('other', '{}', newStandardSecret()))).status).toBe(400);
    }
    // A good signature is no rejection.
    expect((await send(a.url, signStandard('acme', JSON.stringify({ type: 'invoice.paid' }), ACME))).status).toBe(200);

    await waitFor(() => receiver.succeeded(watcher.path).length >= 1, 15_000);
    const payload = verified(receiver.received(watcher.path)[0], watcher.secret);
    const windowStart = Math.floor(Date.now() / (WINDOW_SECONDS * 1000)) * WINDOW_SECONDS * 1000;
    expect(payload).toMatchObject({
      type: 'inbound.rejected.spike',
      data: {
        source: 'acme',
        count: THRESHOLD,
        threshold: THRESHOLD,
        windowSeconds: WINDOW_SECONDS,
        windowStart: new Date(windowStart).toISOString(),
        lastReason: 'bad_signature',
      },
    });
    await sleep(1_500);
    expect(receiver.received(watcher.path)).toHaveLength(1);
    expect(await recorded('inbound.rejected.spike', 'source', 'acme')).toHaveLength(1);
    expect(await recorded('inbound.rejected.spike', 'source', 'other')).toEqual([]);
  });

  it('outbox.dead_lettered: a handler out of attempts is reported; its failing on that report is not', async () => {
    const watcher = await endpoint(['outbox.dead_lettered']);
    const event = await emitEvent(a, 'match.started', { breakMe: true });

    await waitFor(() => receiver.succeeded(watcher.path).length >= 1, 15_000);
    const payload = verified(receiver.received(watcher.path)[0], watcher.secret);
    expect(payload).toMatchObject({
      type: 'outbox.dead_lettered',
      data: {
        eventId: event.id,
        eventType: 'match.started',
        handler: 'test-broken',
        attempts: 2, // OUTBOX_MAX_ATTEMPTS
        lastError: expect.stringMatching(/^test-broken: broken on purpose/),
      },
    });

    // The broken handler fails on the report too, until it is dead-lettered: no report of that.
    const [notice] = await recorded('outbox.dead_lettered', 'eventId', event.id);
    await waitFor(
      async () =>
        (
          await sql(
            `SELECT 1 FROM outbox_handled WHERE event_id = $1 AND handler = 'test-broken' AND outcome = 'dead'`,
            [notice.id],
          )
        ).length === 1,
      15_000,
    );
    await sleep(1_500);
    expect(await recorded('outbox.dead_lettered', 'eventId', notice.id)).toEqual([]);
    expect((await sql(`SELECT id FROM outbox_events WHERE type = 'outbox.dead_lettered'`)).length).toBe(1);
    expect(receiver.received(watcher.path)).toHaveLength(1);
  });
});
