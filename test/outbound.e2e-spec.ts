/**
 * Outbound webhooks end to end, two app instances on one database and Redis prefix, a local receiver
 * that verifies every request with the `standardwebhooks` library. Domain events are produced through
 * `emitEvent` (OutboxService.record in a transaction), as the scores feature will produce them.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { DOMAIN_EVENT_TYPES } from '#src/platform/events/domain-event.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { DeliveryQueue } from '#src/outbound/delivery-queue.js';
import { MessageIntake } from '#src/outbound/message-intake.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { query } from './helpers/databases.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';
import { type ReceivedRequest, type ReplyFn, WebhookReceiver } from './helpers/webhook-receiver.js';

/** Records a domain event the way a feature does (swap for the scores admin API once it exists). */
async function emitEvent(app: TestApp, type: string, data: Record<string, unknown>) {
  const dataSource = app.app.get<DataSource>(getDataSourceToken());
  const [event] = await dataSource.transaction((manager) => app.app.get(OutboxService).record(manager, { type, data }));
  return event;
}

describe('outbound webhooks (e2e)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let n = 0;

  beforeAll(async () => {
    env = await createTestEnv({
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '1,1,1',
      OUTBOUND_CONNECT_TIMEOUT_MS: '1000',
      OUTBOUND_REQUEST_TIMEOUT_MS: '3000',
      OUTBOUND_RECONCILE_INTERVAL_MS: '2000',
      OUTBOX_POLL_INTERVAL_MS: '200',
    });
    a = await startTestApp(env);
    b = await startTestApp(env);
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await receiver?.close();
    await env?.cleanup();
  });

  afterEach(async () => {
    // Each test owns its endpoints; deleting them (and their deliveries) keeps tests apart.
    await query(env.databaseUrl, 'DELETE FROM webhook_endpoints');
  });

  const sql = <T = any>(text: string, params: unknown[] = []) => query<T>(env.databaseUrl, text, params);

  /** Creates an endpoint on a fresh receiver route; the receiver verifies with its secret. */
  async function endpoint(body: Record<string, unknown>, reply?: ReplyFn) {
    const path = `/hook-${++n}`;
    const url = receiver.route(path, { reply });
    const res = await api(a.url, 'POST', '/admin/webhooks/endpoints', { url, ...body });
    expect(res.status).toBe(201);
    receiver.route(path, { secrets: [res.body.secret] });
    return { id: res.body.id as string, secret: res.body.secret as string, path, url, body: res.body };
  }

  const seqs = (requests: ReceivedRequest[]) => requests.map((r) => r.payload?.data?.seq);
  const deliveries = async (id: string, status = '') =>
    (await api(a.url, 'GET', `/admin/webhooks/endpoints/${id}/deliveries?limit=100${status && `&status=${status}`}`))
      .body;

  describe('catalog and admin API', () => {
    it('GET /webhooks/event-types lists the catalog, without auth', async () => {
      const res = await api(a.url, 'GET', '/webhooks/event-types', undefined, {});
      expect(res.status).toBe(200);
      expect(res.body.items.map((i: { type: string }) => i.type)).toEqual(Object.keys(DOMAIN_EVENT_TYPES));
      expect(res.body.items[0]).toEqual({ type: expect.any(String), description: expect.any(String) });
    });

    it('creates an endpoint with a whsec_ secret shown only on creation and through GET …/secret', async () => {
      const created = await endpoint({ eventTypes: ['score.*', 'score.updated', 'score.*'], description: 'partner' });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);
      expect(created.body).toMatchObject({
        status: 'active',
        ordered: false,
        rateLimitPerSecond: null,
        eventTypes: ['score.*', 'score.updated'],
        description: 'partner',
      });

      const got = await api(a.url, 'GET', `/admin/webhooks/endpoints/${created.id}`);
      expect(got.status).toBe(200);
      expect(got.body.secret).toBeUndefined();
      const list = await api(a.url, 'GET', '/admin/webhooks/endpoints');
      expect(list.body).toMatchObject({ page: 1, limit: 20, total: 1 });
      expect(JSON.stringify(list.body)).not.toContain(created.secret);
      const secret = await api(a.url, 'GET', `/admin/webhooks/endpoints/${created.id}/secret`);
      expect(secret.body).toEqual({ secret: created.secret, previousSecretsExpireAt: [] });
      const unauthorized = await api(a.url, 'GET', `/admin/webhooks/endpoints/${created.id}/secret`, undefined, {});
      expect(unauthorized.status).toBe(401);
    });

    it('refuses bad input with a clear 4xx and creates nothing', async () => {
      const url = receiver.route('/never');
      const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ eventTypes: ['score.*'] }, 400, /url must be a string/],
        [{ url, eventTypes: [] }, 400, /eventTypes must contain at least 1 elements/],
        [{ url, eventTypes: ['Score.*'] }, 400, /eventTypes must be event types or patterns/],
        [{ url, eventTypes: ['scor.*'] }, 422, /eventTypes\[0\]: "scor\.\*" matches no event type/],
        [{ url, eventTypes: ['score.updated', 'nope'] }, 422, /eventTypes\[1\]: "nope" matches no event type/],
        [
          { url, eventTypes: ['score.*'], rateLimitPerSecond: 0 },
          400,
          /rateLimitPerSecond must be an integer from 1 to/,
        ],
        [{ url, eventTypes: ['score.*'], ordered: 'yes' }, 400, /ordered must be a boolean/],
        [{ url, eventTypes: ['score.*'], extra: 1 }, 400, /property extra should not exist/],
        [{ url: 'not a url', eventTypes: ['score.*'] }, 422, /url must be an absolute http or https URL/],
      ];
      for (const [body, status, message] of cases) {
        const res = await api(a.url, 'POST', '/admin/webhooks/endpoints', body);
        expect({ body, status: res.status }).toEqual({ body, status });
        expect(res.body).toEqual({
          statusCode: status,
          error: expect.any(String),
          message: expect.stringMatching(message),
        });
      }
      expect((await sql('SELECT count(*)::int AS c FROM webhook_endpoints'))[0].c).toBe(0);

      const unknown = '00000000-0000-4000-8000-000000000000';
      expect((await api(a.url, 'GET', `/admin/webhooks/endpoints/${unknown}`)).status).toBe(404);
      expect((await api(a.url, 'GET', '/admin/webhooks/endpoints/not-a-uuid')).status).toBe(400);
      expect((await api(a.url, 'POST', `/admin/webhooks/deliveries/${unknown}/retry`)).status).toBe(404);
      expect((await api(a.url, 'GET', '/admin/webhooks/endpoints?status=gone')).status).toBe(400);
    });

    it('PATCH changes what it is given (checked like creation); DELETE removes; pause of a disabled one is a 409', async () => {
      const e = await endpoint({ eventTypes: ['score.*'], rateLimitPerSecond: 5, description: 'x' });
      const patched = await api(a.url, 'PATCH', `/admin/webhooks/endpoints/${e.id}`, {
        eventTypes: ['match.*'],
        rateLimitPerSecond: null,
        description: null,
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ eventTypes: ['match.*'], rateLimitPerSecond: null, description: null });
      const bad = await api(a.url, 'PATCH', `/admin/webhooks/endpoints/${e.id}`, { url: 'http://10.1.2.3/hook' });
      expect(bad.status).toBe(422);
      expect(bad.body.message).toMatch(/10\.1\.2\.3 is a private address/);
      expect((await api(a.url, 'PATCH', `/admin/webhooks/endpoints/${e.id}`, { url: null })).status).toBe(400);
      expect((await api(a.url, 'GET', `/admin/webhooks/endpoints/${e.id}`)).body.url).toBe(e.url);

      await sql(`UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = $1`, [e.id]);
      const pause = await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/pause`);
      expect(pause.status).toBe(409);
      expect(pause.body.message).toMatch(/disabled \(test\); resume it instead/);

      expect((await api(a.url, 'DELETE', `/admin/webhooks/endpoints/${e.id}`)).status).toBe(204);
      expect((await api(a.url, 'GET', `/admin/webhooks/endpoints/${e.id}`)).status).toBe(404);
      expect((await api(a.url, 'DELETE', `/admin/webhooks/endpoints/${e.id}`)).status).toBe(404);
    });
  });

  it('POST …/test sends a signed webhook.test to that endpoint alone, with its delivery in the log; 404 unknown, 409 disabled', async () => {
    const target = await endpoint({ eventTypes: ['score.*'] });
    const everything = await endpoint({ eventTypes: ['*'] });
    const sent = await api(b.url, 'POST', `/admin/webhooks/endpoints/${target.id}/test`);
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ eventId: expect.any(String), type: 'webhook.test' });
    const got = await waitFor(() => receiver.succeeded(target.path)[0]);
    expect(got.verifiedWith).toEqual([target.secret]);
    expect(got.payload).toMatchObject({ type: 'webhook.test', data: { endpointId: target.id, url: target.url } });
    const log = await waitFor(async () => {
      const page = await deliveries(target.id);
      return page.items.some((d: any) => d.status === 'succeeded') && page;
    });
    expect(log.items).toHaveLength(1);
    expect(log.items[0].attempts).toHaveLength(1);
    // Not by subscription: the endpoint subscribed to everything got nothing of it.
    await sleep(300);
    expect(receiver.received(everything.path)).toEqual([]);
    expect((await deliveries(everything.id)).items).toEqual([]);

    const unknown = await api(a.url, 'POST', '/admin/webhooks/endpoints/00000000-0000-4000-8000-000000000000/test');
    expect(unknown.status).toBe(404);
    expect((await api(a.url, 'POST', '/admin/webhooks/endpoints/not-a-uuid/test')).status).toBe(400);
    await sql(`UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = $1`, [target.id]);
    const disabled = await api(a.url, 'POST', `/admin/webhooks/endpoints/${target.id}/test`);
    expect(disabled.status).toBe(409);
    expect(disabled.body.message).toMatch(/disabled \(test\); resume it first/);
    const events = await sql(`SELECT count(*)::int AS n FROM outbox_events WHERE type = 'webhook.test'`);
    expect(events[0].n).toBe(1);
  });

  describe('delivery', () => {
    it('a score event reaches score.* and score.updated endpoints, verified; a payment.succeeded endpoint gets nothing', async () => {
      const wildcard = await endpoint({ eventTypes: ['score.*'] });
      const exact = await endpoint({ eventTypes: ['score.updated'] });
      const payments = await endpoint({ eventTypes: ['payment.succeeded'] });
      // The real path: an admin posts a goal through the scores API; its transaction records
      // `score.updated` in the outbox, and the relay hands it to the outbound intake.
      const match = await api(a.url, 'POST', '/admin/scores/matches', {
        sport: 'football',
        homeTeam: 'Home',
        awayTeam: 'Away',
        startsAt: new Date().toISOString(),
      });
      expect(match.status).toBe(201);
      expect(
        (await api(b.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, { kind: 'kickoff' })).status,
      ).toBe(201);
      const goal = await api(a.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, {
        kind: 'score',
        team: 'home',
      });
      expect(goal.status).toBe(201);
      const [row] = await sql(
        `SELECT id::text AS id, type, data, occurred_at FROM outbox_events WHERE type = 'score.updated' AND data->>'matchId' = $1`,
        [match.body.id],
      );
      const event = { id: row.id, type: row.type, data: row.data, occurredAt: row.occurred_at as Date };

      await waitFor(
        () => receiver.succeeded(wildcard.path).length === 1 && receiver.succeeded(exact.path).length === 1,
      );
      for (const e of [wildcard, exact]) {
        const [request] = receiver.received(e.path);
        expect(request.verifiedWith).toEqual([e.secret]);
        expect(request.webhookId).toMatch(/^msg_[0-9a-f]{32}$/);
        expect(Number(request.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -2);
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.payload).toEqual({
          type: 'score.updated',
          timestamp: new Date(event.occurredAt).toISOString(),
          data: expect.objectContaining({
            matchId: match.body.id,
            home: 1,
            away: 0,
            status: 'live',
            event: expect.objectContaining({ kind: 'score', team: 'home', seq: 2 }),
          }),
        });
      }
      // One message for the event, shared by both deliveries (same webhook-id), with two instances running.
      expect(receiver.received(wildcard.path)[0].webhookId).toBe(receiver.received(exact.path)[0].webhookId);
      const messages = await sql('SELECT count(*)::int AS c FROM webhook_messages WHERE event_id = $1', [event.id]);
      expect(messages[0].c).toBe(1);

      // The relay hands an event over again (after a crash, say): no second message, nothing re-sent.
      await a.app.get(MessageIntake).take([{ ...event, key: '' }]);
      await sleep(1_000);
      expect((await sql('SELECT count(*)::int AS c FROM webhook_messages WHERE event_id = $1', [event.id]))[0].c).toBe(
        1,
      );
      expect(receiver.received(wildcard.path)).toHaveLength(1);
      expect(receiver.received(payments.path)).toEqual([]);
      expect(await deliveries(payments.id)).toMatchObject({ total: 0 });

      await emitEvent(b, 'payment.succeeded', { seq: 2 });
      await waitFor(() => receiver.succeeded(payments.path).length === 1);
      expect(receiver.received(payments.path)[0].verifiedWith).toEqual([payments.secret]);
      await sleep(500);
      expect(receiver.received(wildcard.path)).toHaveLength(1);
    });

    it('a receiver failing twice with 500 gets the event on the third attempt; the log shows both 500s', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] }, (_, nth) =>
        nth <= 2 ? { status: 500, body: `boom ${nth} ${'x'.repeat(10_000)}` } : { status: 204 },
      );
      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1, 15_000);

      const requests = receiver.received(e.path);
      expect(requests.map((r) => r.status)).toEqual([500, 500, 204]);
      expect(new Set(requests.map((r) => r.webhookId)).size).toBe(1);
      expect(requests.every((r) => r.verifiedWith.length === 1)).toBe(true);
      // ~1 s apart (schedule 1 s ± 20 %)
      expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(700);
      expect(requests[2].at - requests[1].at).toBeGreaterThanOrEqual(700);

      const log = await waitFor(async () => {
        const body = await deliveries(e.id);
        return body.items[0]?.status === 'succeeded' ? body : undefined;
      });
      const [delivery] = log.items;
      expect(delivery).toMatchObject({ attemptCount: 3, lastStatusCode: 204, eventType: 'score.updated' });
      expect(delivery.webhookId).toBe(requests[0].webhookId);
      expect(delivery.attempts.map((t: any) => [t.outcome, t.statusCode])).toEqual([
        ['failed', 500],
        ['failed', 500],
        ['succeeded', 204],
      ]);
      expect(delivery.attempts[0].error).toBe('HTTP 500');
      expect(delivery.attempts[0].responseExcerpt).toMatch(/^boom 1 x+$/);
      expect(Buffer.byteLength(delivery.attempts[0].responseExcerpt)).toBe(4096);
      expect(delivery.attempts[0].latencyMs).toEqual(expect.any(Number));
    });

    it('GET /admin/webhooks/deliveries/:id shows the delivery with every attempt, numbered and in order', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] }, (_, nth) =>
        nth === 1 ? { status: 503, body: 'busy, come back' } : { status: 200, body: 'thanks' },
      );
      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1, 15_000);
      const id: string = (await deliveries(e.id)).items[0].id;

      const got = await waitFor(async () => {
        const res = await api(b.url, 'GET', `/admin/webhooks/deliveries/${id}`);
        return res.body.status === 'succeeded' && res.body.attempts?.length === 2 ? res : undefined;
      });
      expect(got!.status).toBe(200);
      expect(got!.body).toMatchObject({
        id,
        endpointId: e.id,
        status: 'succeeded',
        attemptCount: 2,
        lastStatusCode: 200,
      });
      const [first, second] = got!.body.attempts;
      expect(first).toEqual({
        number: 1,
        attemptedAt: expect.any(String),
        outcome: 'failed',
        statusCode: 503,
        latencyMs: expect.any(Number),
        error: 'HTTP 503',
        responseExcerpt: 'busy, come back',
      });
      expect(second).toEqual({
        number: 2,
        attemptedAt: expect.any(String),
        outcome: 'succeeded',
        statusCode: 200,
        latencyMs: expect.any(Number),
        error: null,
        responseExcerpt: 'thanks',
      });
      expect(Date.parse(second.attemptedAt)).toBeGreaterThan(Date.parse(first.attemptedAt));
      // The same attempts as the endpoint's delivery list shows.
      expect((await deliveries(e.id)).items[0].attempts).toEqual(got!.body.attempts);

      // /docs describes that answer, attempts included.
      const docs = (await api(a.url, 'GET', '/docs-json')).body;
      const ok = docs.paths['/admin/webhooks/deliveries/{id}'].get.responses['200'];
      expect(ok.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/DeliveryDto' });
      expect(docs.components.schemas.DeliveryDto.properties.attempts).toMatchObject({
        type: 'array',
        items: { $ref: '#/components/schemas/DeliveryAttemptDto' },
      });
      expect(Object.keys(docs.components.schemas.DeliveryAttemptDto.properties)).toEqual(Object.keys(first));

      const unknown = '00000000-0000-4000-8000-000000000000';
      expect((await api(a.url, 'GET', `/admin/webhooks/deliveries/${unknown}`)).body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: `delivery ${unknown} not found`,
      });
    });

    it('a redirect is not followed (3xx is a failure) and a hung receiver times out', async () => {
      const target = receiver.route('/redirect-target');
      const redirect = await endpoint({ eventTypes: ['match.started'] }, () => ({
        status: 302,
        headers: { location: target },
      }));
      const hung = await endpoint({ eventTypes: ['match.started'] }, () => 'hang');
      await emitEvent(a, 'match.started', { seq: 1 });
      const first = async (id: string) => (await deliveries(id)).items[0]?.attempts[0];
      const redirected = await waitFor(() => first(redirect.id));
      expect(redirected).toMatchObject({ outcome: 'failed', statusCode: 302, error: 'HTTP 302' });
      expect(receiver.received('/redirect-target')).toEqual([]);
      const timedOut = await waitFor(() => first(hung.id), 15_000);
      expect(timedOut).toMatchObject({ outcome: 'failed', statusCode: null, error: expect.stringMatching(/timeout/) });
      expect(timedOut.latencyMs).toBeGreaterThanOrEqual(2_900); // OUTBOUND_REQUEST_TIMEOUT_MS = 3000
      receiver.releaseHanging();
    });

    it('410 disables the endpoint at once and records endpoint.disabled (delivered to a subscriber of it)', async () => {
      const watcher = await endpoint({ eventTypes: ['endpoint.disabled'] });
      const gone = await endpoint({ eventTypes: ['score.updated'] }, () => ({ status: 410 }));
      await emitEvent(a, 'score.updated', { seq: 1 });

      await waitFor(() => receiver.succeeded(watcher.path).length === 1, 15_000);
      const notice = receiver.received(watcher.path)[0];
      expect(notice.verifiedWith).toEqual([watcher.secret]);
      expect(notice.payload).toMatchObject({
        type: 'endpoint.disabled',
        data: { endpointId: gone.id, url: gone.url, reason: expect.stringMatching(/^410 Gone/) },
      });
      expect(receiver.received(gone.path)).toHaveLength(1); // not retried
      const got = await api(a.url, 'GET', `/admin/webhooks/endpoints/${gone.id}`);
      expect(got.body).toMatchObject({ status: 'disabled', disabledReason: expect.stringMatching(/^410 Gone/) });

      // A disabled endpoint gets no new deliveries.
      await emitEvent(a, 'score.updated', { seq: 2 });
      await sleep(1_500);
      expect(receiver.received(gone.path)).toHaveLength(1);
      expect((await deliveries(gone.id)).total).toBe(1);
    });

    it('429 with Retry-After: 2 is retried after about 2 s (not the 1 s schedule step)', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] }, (_, nth) =>
        nth === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
      );
      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1, 15_000);
      const [first, second] = receiver.received(e.path);
      expect(first.status).toBe(429);
      const gap = second.at - first.at;
      expect(gap).toBeGreaterThanOrEqual(1_900);
      expect(gap).toBeLessThan(3_500);
      expect(second.webhookId).toBe(first.webhookId);
    });

    it('a burst of 300 events to one endpoint goes out through a handful of BullMQ jobs, not one per delivery', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] });
      // BullMQ's event stream of the outbound queue (shared by both instances) says which jobs were added.
      const { queue } = a.app.get(DeliveryQueue);
      const redis = a.app.get(RedisService).command;
      const [last] = await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
      const dataSource = a.app.get<DataSource>(getDataSourceToken());
      await dataSource.transaction(async (manager) => {
        for (let seq = 1; seq <= 300; seq++) {
          await a.app.get(OutboxService).record(manager, { type: 'score.updated', data: { seq } });
        }
      });
      await waitFor(() => receiver.succeeded(e.path).length === 300, 30_000);
      expect(new Set(receiver.received(e.path).map((r) => r.webhookId)).size).toBe(300);
      expect(new Set(seqs(receiver.received(e.path)))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
      await waitFor(async () => (await deliveries(e.id, 'succeeded')).total === 300);

      const entries = await redis.xrange(queue.keys.events, last ? `(${last[0]}` : '-', '+');
      const added = entries
        .map(([, fields]) => {
          const event: Record<string, string> = {};
          for (let i = 0; i < fields.length; i += 2) event[fields[i]] = fields[i + 1];
          return event;
        })
        .filter((event) => event.event === 'added');
      expect(added.length).toBeGreaterThan(0);
      // Every job added was this endpoint's pump (each time it had finished and was kicked again).
      expect(added.every((event) => event.jobId === `pump_${e.id}`)).toBe(true);
      expect(added.length).toBeLessThanOrEqual(30); // one per delivery would be 300
    });

    it('a failing delivery is retried at its next attempt time while the endpoint’s others, and new ones, go on', async () => {
      let failed = false;
      const e = await endpoint({ eventTypes: ['score.updated'] }, (request) => {
        if (request.payload.data.seq !== 1 || failed) return { status: 200 };
        failed = true;
        return { status: 429, headers: { 'retry-after': '2' } };
      });
      const dataSource = a.app.get<DataSource>(getDataSourceToken());
      await dataSource.transaction(async (manager) => {
        for (let seq = 1; seq <= 3; seq++) {
          await a.app.get(OutboxService).record(manager, { type: 'score.updated', data: { seq } });
        }
      });
      await waitFor(() => receiver.succeeded(e.path).length === 2, 10_000);
      // The pump now waits for the retry (about 2 s); a new delivery must not wait behind it.
      await emitEvent(b, 'score.updated', { seq: 4 });
      await waitFor(() => receiver.succeeded(e.path).length === 4, 15_000);
      const requests = receiver.received(e.path);
      const answered = (r: ReceivedRequest) => [r.payload.data.seq, r.status];
      // One batch (sent concurrently, so in any order), then the new one, then the retry.
      expect(requests.slice(0, 3).map(answered).sort()).toEqual([
        [1, 429],
        [2, 200],
        [3, 200],
      ]);
      expect(requests.slice(3).map(answered)).toEqual([
        [4, 200],
        [1, 200],
      ]);
      const [first, retry] = requests.filter((r) => r.payload.data.seq === 1);
      expect(retry.at - first.at).toBeGreaterThanOrEqual(1_900);
      expect(retry.at - first.at).toBeLessThan(3_500);
      expect(retry.webhookId).toBe(first.webhookId);
    });

    it('jobs of an older release (one per delivery, one per ordered endpoint) left in Redis hand over to the pump', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] });
      await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/pause`);
      await emitEvent(a, 'score.updated', { seq: 1 });
      const [held] = (await waitFor(async () => {
        const rows = await sql(
          `SELECT id, message_id::text AS "messageId" FROM webhook_deliveries WHERE endpoint_id = $1`,
          [e.id],
        );
        return rows.length > 0 ? rows : undefined;
      }))!;
      // Active again behind the app's back (no kick): only the old jobs can start it before the reconciler.
      await sql(`UPDATE webhook_endpoints SET status = 'active' WHERE id = $1`, [e.id]);
      const { queue } = a.app.get(DeliveryQueue);
      const redis = a.app.get(RedisService).command;
      const [last] = await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
      const legacy = [
        {
          name: 'deliver',
          id: `${e.id}_${held.messageId}`,
          data: { deliveryId: held.id, endpointId: e.id, messageId: held.messageId },
        },
        { name: 'sequence', id: `seq_${e.id}`, data: { endpointId: e.id } },
      ];
      for (const job of legacy) await queue.add(job.name, job.data, { jobId: job.id });
      await waitFor(() => receiver.succeeded(e.path).length === 1, 10_000);
      const finished = await waitFor(async () => {
        const entries = await redis.xrange(queue.keys.events, last ? `(${last[0]}` : '-', '+');
        const events = entries.map(([, fields]) => {
          const event: Record<string, string> = {};
          for (let i = 0; i < fields.length; i += 2) event[fields[i]] = fields[i + 1];
          return event;
        });
        const done = events.filter((ev) => ev.event === 'completed' && legacy.some((job) => job.id === ev.jobId));
        return done.length === 2 ? done : undefined;
      });
      expect(finished!.map((ev) => JSON.parse(ev.returnvalue))).toEqual(['handed to pump', 'handed to pump']);
      await sleep(500);
      expect(receiver.received(e.path)).toHaveLength(1);
    });

    it('exhausted → failed and visible; POST …/retry sends it again', async () => {
      let healthy = false;
      const e = await endpoint({ eventTypes: ['score.updated'] }, () => ({ status: healthy ? 200 : 503 }));
      await emitEvent(a, 'score.updated', { seq: 1 });
      const failed = await waitFor(async () => (await deliveries(e.id, 'failed')).items[0], 20_000);
      expect(failed.attemptCount).toBe(4); // first attempt + 3 retries
      expect(failed.nextAttemptAt).toBeNull();
      expect(failed.attempts.map((t: any) => t.statusCode)).toEqual([503, 503, 503, 503]);
      expect(receiver.received(e.path)).toHaveLength(4);
      await sleep(1_500);
      expect(receiver.received(e.path)).toHaveLength(4);

      healthy = true;
      const retried = await api(a.url, 'POST', `/admin/webhooks/deliveries/${failed.id}/retry`);
      expect(retried.status).toBe(202);
      expect(retried.body).toMatchObject({ id: failed.id, status: 'pending', attemptCount: 0 });
      await waitFor(() => receiver.succeeded(e.path).length === 1);
      expect(receiver.received(e.path)[4].webhookId).toBe(receiver.received(e.path)[0].webhookId);
      const after = await waitFor(async () => (await deliveries(e.id, 'succeeded')).items[0]);
      expect(after.attempts).toHaveLength(5);
    });

    it('paused: 3 events are held and nothing is sent; resumed: all 3 arrive, in order', async () => {
      const e = await endpoint({ eventTypes: ['score.*'] });
      const paused = await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/pause`);
      expect(paused.body.status).toBe('paused');
      for (let seq = 1; seq <= 3; seq++) await emitEvent(seq % 2 ? a : b, 'score.updated', { seq });
      await waitFor(async () => (await deliveries(e.id, 'pending')).total === 3);
      await sleep(2_500); // longer than the reconcile interval: the reconciler must not send them either
      expect(receiver.received(e.path)).toEqual([]);

      const resumed = await api(b.url, 'POST', `/admin/webhooks/endpoints/${e.id}/resume`);
      expect(resumed.body.status).toBe('active');
      await waitFor(() => receiver.succeeded(e.path).length === 3);
      expect(seqs(receiver.received(e.path))).toEqual([1, 2, 3]);
      expect(receiver.received(e.path).every((r) => r.verifiedWith.length === 1)).toBe(true);

      // Back to normal afterwards.
      await emitEvent(a, 'score.updated', { seq: 4 });
      await waitFor(() => receiver.succeeded(e.path).length === 4);
    });

    it('ordered endpoint: 50 events, the 10th fails twice → received in exactly event order', async () => {
      const failures = new Map([[10, 2]]);
      const e = await endpoint({ eventTypes: ['score.updated'], ordered: true }, (request) => {
        const seq = request.payload.data.seq as number;
        const left = failures.get(seq) ?? 0;
        if (left > 0) {
          failures.set(seq, left - 1);
          return { status: 500 };
        }
        return { status: 200 };
      });
      for (let seq = 1; seq <= 50; seq++) await emitEvent(seq % 2 ? a : b, 'score.updated', { seq });

      await waitFor(() => receiver.succeeded(e.path).length === 50, 40_000);
      const expected = [...Array(50).keys()].map((i) => i + 1);
      expect(seqs(receiver.succeeded(e.path))).toEqual(expected);
      // Never more than one in flight: nothing after 10 was even tried before 10 succeeded.
      expect(seqs(receiver.received(e.path))).toEqual([...expected.slice(0, 10), 10, 10, ...expected.slice(10)]);
      expect(receiver.received(e.path).every((r) => r.verifiedWith.length === 1)).toBe(true);
    });

    it('ordered endpoint: an exhausted head stops blocking; the rest follow in order', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'], ordered: true }, (request) => ({
        status: request.payload.data.seq === 2 ? 500 : 200,
      }));
      for (let seq = 1; seq <= 4; seq++) await emitEvent(a, 'score.updated', { seq });
      await waitFor(() => receiver.succeeded(e.path).length === 3, 20_000);
      // 2 is tried 4 times (first attempt + 3 retries), and 3 only after the last of them.
      expect(seqs(receiver.received(e.path))).toEqual([1, 2, 2, 2, 2, 3, 4]);
      expect((await deliveries(e.id, 'failed')).items.map((d: any) => d.attemptCount)).toEqual([4]);
    });

    it('paused ordered endpoint: held, then sent in order on resume', async () => {
      const e = await endpoint({ eventTypes: ['match.*'], ordered: true });
      await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/pause`);
      for (let seq = 1; seq <= 5; seq++) await emitEvent(b, 'match.started', { seq });
      await waitFor(async () => (await deliveries(e.id, 'pending')).total === 5);
      await sleep(1_000);
      expect(receiver.received(e.path)).toEqual([]);
      await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/resume`);
      await waitFor(() => receiver.succeeded(e.path).length === 5);
      expect(seqs(receiver.received(e.path))).toEqual([1, 2, 3, 4, 5]);
    });

    it('rate limit per endpoint holds across both instances', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'], rateLimitPerSecond: 4 });
      for (let seq = 1; seq <= 12; seq++) await emitEvent(seq % 2 ? a : b, 'score.updated', { seq });
      await waitFor(() => receiver.succeeded(e.path).length === 12, 20_000);
      const times = receiver.received(e.path).map((r) => r.at);
      // GCRA slots are 250 ms apart: at most 4 in any second, with a little slack for delivery jitter.
      for (const start of times)
        expect(times.filter((t) => t >= start && t < start + 1_000).length).toBeLessThanOrEqual(5);
      expect(times[times.length - 1] - times[0]).toBeGreaterThanOrEqual(2_400);
    });

    it('rotate-secret: both secrets sign during the grace period', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] });
      const rotated = await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/rotate-secret`);
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(e.secret);
      expect(Date.parse(rotated.body.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3_600_000);
      receiver.route(e.path, { secrets: [e.secret, rotated.body.secret] });

      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1);
      const [request] = receiver.received(e.path);
      expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(request.verifiedWith).toEqual([e.secret, rotated.body.secret]);
      const secret = await api(a.url, 'GET', `/admin/webhooks/endpoints/${e.id}/secret`);
      expect(secret.body).toEqual({
        secret: rotated.body.secret,
        previousSecretsExpireAt: [rotated.body.previousSecretExpiresAt],
      });
    });

    it('replay re-sends everything since a time, in order, with the same webhook-ids', async () => {
      const e = await endpoint({ eventTypes: ['match.*'] });
      await emitEvent(a, 'match.started', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1);
      const since = new Date().toISOString();
      await sleep(20);
      for (let seq = 2; seq <= 4; seq++) await emitEvent(a, seq === 4 ? 'match.finished' : 'match.started', { seq });
      await waitFor(() => receiver.succeeded(e.path).length === 4);
      // The receiver answers before the attempt is recorded: wait for Postgres to say so.
      await waitFor(async () => (await deliveries(e.id, 'succeeded')).total === 4);
      const idBySeq = new Map(receiver.received(e.path).map((r) => [r.payload.data.seq, r.webhookId]));

      expect(
        (await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/replay`, { since: 'yesterday' })).status,
      ).toBe(400);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect((await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/replay`, { since: future })).status).toBe(
        422,
      );
      const replay = await api(a.url, 'POST', `/admin/webhooks/endpoints/${e.id}/replay`, { since });
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual({ replayed: 3 });
      await waitFor(() => receiver.succeeded(e.path).length === 7);
      const again = receiver.received(e.path).slice(4);
      expect(seqs(again)).toEqual([2, 3, 4]);
      expect(again.map((r) => r.webhookId)).toEqual([2, 3, 4].map((seq) => idBySeq.get(seq)));
    });

    it('stats per endpoint: success rate, last success, p95 latency, deliveries by status', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] }, (_, nth) => ({ status: nth === 1 ? 500 : 200 }));
      await emitEvent(a, 'score.updated', { seq: 1 });
      await emitEvent(a, 'score.updated', { seq: 2 });
      await waitFor(() => receiver.succeeded(e.path).length === 2, 10_000);
      const stats = await waitFor(async () => {
        const res = await api(a.url, 'GET', `/admin/webhooks/endpoints/${e.id}/stats`);
        return res.body.deliveries?.succeeded === 2 ? res.body : undefined;
      });
      expect(stats).toMatchObject({
        endpointId: e.id,
        windowHours: 24,
        attempts: 3,
        succeededAttempts: 2,
        successRate: 0.6667,
        p95LatencyMs: expect.any(Number),
        lastSuccessAt: expect.any(String),
        deliveries: { pending: 0, succeeded: 2, failed: 0 },
      });
      expect(Date.now() - Date.parse(stats.lastSuccessAt)).toBeLessThan(10_000);
    });

    it('auto-disable: an endpoint failing for the whole window is disabled and endpoint.disabled is recorded', async () => {
      const watcher = await endpoint({ eventTypes: ['endpoint.disabled'] });
      const e = await endpoint({ eventTypes: ['score.updated'] }, () => ({ status: 500 }));
      // It has been failing since before the window (OUTBOUND_DISABLE_AFTER_HOURS, default 120 h).
      await sql(`UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours' WHERE id = $1`, [e.id]);
      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(watcher.path).length === 1, 15_000);
      expect(receiver.received(watcher.path)[0].payload.data).toMatchObject({
        endpointId: e.id,
        reason: expect.stringMatching(/^every delivery failed since /),
      });
      const got = await api(a.url, 'GET', `/admin/webhooks/endpoints/${e.id}`);
      expect(got.body.status).toBe('disabled');
      await sleep(1_500);
      expect(receiver.received(e.path)).toHaveLength(1); // no retries once disabled

      // A success clears the failing mark: a healthy endpoint is never disabled by old failures.
      const healthy = await endpoint({ eventTypes: ['score.updated'] });
      await sql(`UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours' WHERE id = $1`, [
        healthy.id,
      ]);
      await emitEvent(a, 'score.updated', { seq: 2 });
      await waitFor(() => receiver.succeeded(healthy.path).length === 1);
      const row = await waitFor(
        async () =>
          (await sql(`SELECT status FROM webhook_endpoints WHERE id = $1 AND failing_since IS NULL`, [healthy.id]))[0],
      );
      expect(row.status).toBe('active');
    });

    it('metrics: deliveries by outcome, attempt latency, queue depth, endpoints by status', async () => {
      const e = await endpoint({ eventTypes: ['score.updated'] });
      await emitEvent(a, 'score.updated', { seq: 1 });
      await waitFor(() => receiver.succeeded(e.path).length === 1);
      await sql(`UPDATE webhook_endpoints SET status = 'disabled' WHERE id = $1`, [e.id]);
      const texts = await Promise.all([a, b].map((app) => fetch(`${app.url}/metrics`).then((r) => r.text())));
      const all = texts.join('\n');
      expect(all).toMatch(/outbound_deliveries_total\{outcome="succeeded"\} [1-9]/);
      expect(all).toMatch(/outbound_attempt_duration_seconds_count\{class="2xx"\} [1-9]/);
      expect(all).toMatch(/outbound_queue_jobs\{state="waiting"\} \d+/);
      expect(all).toMatch(/outbound_endpoints\{status="disabled"\} 1/);
    });
  });
});
