/**
 * The admin routes the operator console reads (issue 20): the instance heartbeat registry over two
 * instances (connections per transport, rates, the most buffered connections, history), a feed's
 * tail, the outbox backlog, an endpoint's delivery log filters and timeline, inbound counts, chat's
 * online users. Real Postgres and Redis; each route's bad input is a 4xx.
 */
import { connect } from 'node:net';
import { type ChatClient, connectChat, createUser } from './helpers/socket-chat.js';
import { send, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { type SseClient, openSse } from './helpers/sse-client.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';
import { type WsFeedClient, openWsFeed } from './helpers/ws-feed.js';

const STRIPE_SECRET = 'whsec_console_api_test_secret_0123456789';

describe('admin routes of the console (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    env = await createTestEnv({
      INSTANCE_HEARTBEAT_MS: '200',
      MAX_TICKS_PER_BATCH: '5000',
      // A budget above what a fan-out batch writes: the stalled client's bytes pile up in the kernel, then in the app.
      SSE_CONNECTION_BUDGET_BYTES: '4194304',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
    });
    a = await startTestApp(env, { env: { INSTANCE_ID: 'console-a' } });
    b = await startTestApp(env, { env: { INSTANCE_ID: 'console-b' } });
    receiver = await WebhookReceiver.start();
    for (const symbol of ['AAPL', 'MSFT', 'TSLA']) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
  });
  afterEach(() => closers.splice(0).forEach((close) => close()));
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await receiver?.close();
    await env?.cleanup();
  });

  const instance = async (app: TestApp, id: string) =>
    ((await api(app.url, 'GET', '/admin/instances')).body.instances as any[]).find((i) => i.id === id);
  const sse = async (url: string, headers: Record<string, string> = {}): Promise<SseClient> => {
    const client = await openSse(url, headers);
    closers.push(() => client.close());
    return client;
  };

  it('every admin route of the console needs the admin key', async () => {
    const routes = [
      '/admin/instances',
      '/admin/instances/history',
      '/admin/outbox/stats',
      '/admin/feeds/ticker/tail?topic=AAPL',
      '/admin/webhooks/inbound/stats',
      '/admin/chat/stats',
    ];
    for (const path of routes) {
      expect((await api(a.url, 'GET', path, undefined, {})).status).toBe(401);
      expect((await api(a.url, 'GET', path, undefined, { authorization: 'Bearer wrong-key' })).status).toBe(401);
    }
  });

  it('the registry lists both instances, each with what it has open, as any instance reads it', async () => {
    const listed = await waitFor(async () => {
      const res = await api(b.url, 'GET', '/admin/instances');
      const ids = (res.body.instances as { id: string }[]).map((i) => i.id);
      return ids.includes('console-a') && ids.includes('console-b') ? res.body : undefined;
    });
    expect(listed.intervalMs).toBe(200);
    const one = listed.instances.find((i: any) => i.id === 'console-a');
    expect(one).toMatchObject({ pid: process.pid, node: process.version });
    expect(Date.parse(one.lastSeenAt)).toBeGreaterThan(Date.now() - 5_000);
    expect(one.connections).toEqual({ sse: 0, ndjson: 0, ws: 0, longPoll: 0, chat: 0 });
    expect(one.subscribers).toEqual({ ticker: 0, scores: 0 });
    expect(one.rates).toMatchObject({ chatMessages: 0, outboundSucceeded: 0, inboundRejected: 0 });
  });

  it('a stalled SSE client shows among the slowest connections, beside NDJSON and WebSocket ones, with rates', async () => {
    // A client that sends its request and never reads a byte of the answer.
    const stalled = connect(Number(new URL(a.url).port), '127.0.0.1');
    stalled.pause();
    closers.push(() => stalled.destroy());
    stalled.write(`GET /ticker/stream HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n`);
    const ndjson = await sse(`${a.url}/ticker/stream?symbols=AAPL`, { accept: 'application/x-ndjson' });
    const ws: WsFeedClient = await openWsFeed(a.url);
    closers.push(() => ws.close());
    await ws.request({ op: 'subscribe', feed: 'scores' });
    expect(ndjson.status).toBe(200);

    // The kernel takes a few MB before the app's buffer grows: many symbols, so few frames are conflated.
    const symbols = Array.from({ length: 100 }, (_, i) => `S${i}`);
    for (const symbol of symbols) await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol });
    let n = 0;
    const seen = await waitFor(async () => {
      const ticks = Array.from({ length: 5_000 }, () => ({ symbol: symbols[n % 100], price: 1000 + ++n }));
      expect((await api(b.url, 'POST', '/admin/ticker/ticks', { ticks })).status).toBe(202);
      const found = await instance(b, 'console-a');
      return found?.slowest[0]?.bufferedBytes > 0 ? found : undefined;
    }, 30_000);
    expect(seen.slowest[0]).toMatchObject({ transport: 'sse', feeds: ['ticker'], topics: null });
    expect(seen.slowest[0].ageSeconds).toBeGreaterThanOrEqual(0);
    expect(seen.connections).toMatchObject({ sse: 1, ndjson: 1, ws: 1 });
    expect(seen.subscribers).toEqual({ ticker: 2, scores: 1 });
    const transports = (seen.slowest as { transport: string }[]).map((c) => c.transport).sort();
    expect(transports).toEqual(['ndjson', 'sse', 'ws']);
    expect(seen.slowest.find((c: any) => c.transport === 'ws')).toMatchObject({ feeds: ['scores'], topics: null });
    // A published on nothing, wrote frames; B published the ticks.
    const busy = await waitFor(async () => {
      const [onA, onB] = await Promise.all([instance(a, 'console-a'), instance(a, 'console-b')]);
      return onA?.rates.framesWritten.ticker > 0 && onB?.rates.feedEvents.ticker > 0 ? onA : undefined;
    }, 10_000);
    expect(busy.rates.feedEvents.ticker ?? 0).toBe(0);
  });

  it('history: one point per interval summed over instances, oldest first; bad minutes → 400', async () => {
    const res = (await waitFor(async () => {
      const r = await api(a.url, 'GET', '/admin/instances/history?minutes=1');
      return r.body.points?.length >= 3 ? r : undefined;
    }))!;
    expect(res.body.intervalMs).toBe(200);
    const points = res.body.points as { at: string; instances: number; connections: object; rates: object }[];
    const times = points.map((p) => Date.parse(p.at));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(new Set(times).size).toBe(times.length);
    expect(times[0]).toBeGreaterThan(Date.now() - 70_000);
    expect(points.at(-2)!.instances).toBe(2);
    expect(points.at(-2)!.connections).toMatchObject({ chat: 0 });
    for (const minutes of ['0', '31', 'x', '1.5']) {
      expect((await api(a.url, 'GET', `/admin/instances/history?minutes=${minutes}`)).status).toBe(400);
    }
  });

  it('tail: the head without a cursor, then only the topic’s events after it; bad input → 4xx', async () => {
    const head = await api(a.url, 'GET', '/admin/feeds/ticker/tail?topic=AAPL');
    expect(head.status).toBe(200);
    expect(head.body.events).toEqual([]);
    await api(b.url, 'POST', '/admin/ticker/ticks', {
      ticks: [
        { symbol: 'AAPL', price: 1 },
        { symbol: 'MSFT', price: 2 },
        { symbol: 'AAPL', price: 3 },
      ],
    });
    const next = await api(
      a.url,
      'GET',
      `/admin/feeds/ticker/tail?topic=AAPL&cursor=${encodeURIComponent(head.body.cursor)}`,
    );
    expect(next.body.events.map((e: any) => [e.type, e.topic, e.data.price])).toEqual([
      ['tick', 'AAPL', 1],
      ['tick', 'AAPL', 3],
    ]);
    const again = await api(
      a.url,
      'GET',
      `/admin/feeds/ticker/tail?topic=AAPL&cursor=${encodeURIComponent(next.body.cursor)}`,
    );
    expect(again.body.events).toEqual([]);
    const foreign = await api(a.url, 'GET', '/admin/feeds/ticker/tail?topic=AAPL&cursor=nope');
    expect(foreign.body.events.map((e: any) => e.type)).toEqual(['reset']);
    expect((await api(a.url, 'GET', '/admin/feeds/nothing/tail?topic=AAPL')).status).toBe(404);
    expect((await api(a.url, 'GET', '/admin/feeds/ticker/tail')).status).toBe(400);
    expect((await api(a.url, 'GET', '/admin/feeds/ticker/tail?topic=a%20b')).status).toBe(400);
  });

  it('an endpoint’s delivery log filters by type and time; its timeline counts attempts; bad input → 400', async () => {
    const endpoint = await api(a.url, 'POST', '/admin/webhooks/endpoints', {
      url: receiver.route('/console-api'),
      eventTypes: ['match.*'],
    });
    expect(endpoint.status).toBe(201);
    const id = endpoint.body.id as string;
    const started = new Date(Date.now() - 1_000).toISOString();
    expect((await api(a.url, 'POST', `/admin/webhooks/endpoints/${id}/test`)).status).toBe(202);
    await waitFor(async () => {
      const r = await api(a.url, 'GET', `/admin/webhooks/endpoints/${id}/deliveries?status=succeeded`);
      return r.body.total === 1;
    }, 15_000);
    const list = (query: string) => api(a.url, 'GET', `/admin/webhooks/endpoints/${id}/deliveries?${query}`);
    expect((await list('eventType=webhook.test')).body.total).toBe(1);
    expect((await list('eventType=match.created')).body.total).toBe(0);
    expect((await list(`since=${started}`)).body.total).toBe(1);
    expect((await list(`until=${started}`)).body.total).toBe(0);
    expect((await list(`since=${started}&until=${new Date(Date.now() + 60_000).toISOString()}`)).body.total).toBe(1);
    for (const bad of ['since=yesterday', 'until=2026-13-01T00:00:00Z', `eventType=${'x'.repeat(101)}`]) {
      expect((await list(bad)).status).toBe(400);
    }

    const timeline = await api(a.url, 'GET', `/admin/webhooks/endpoints/${id}/timeline?hours=1`);
    expect(timeline.status).toBe(200);
    expect(timeline.body.bucketSeconds).toBe(60);
    expect(timeline.body.points).toHaveLength(1);
    expect(timeline.body.points[0]).toMatchObject({ attempts: 1, succeeded: 1, failed: 0 });
    expect(timeline.body.points[0].p95LatencyMs).toBeGreaterThanOrEqual(0);
    for (const hours of ['0', '169', 'x']) {
      expect((await api(a.url, 'GET', `/admin/webhooks/endpoints/${id}/timeline?hours=${hours}`)).status).toBe(400);
    }
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await api(a.url, 'GET', `/admin/webhooks/endpoints/${missing}/timeline`)).status).toBe(404);
    // The attempt shows in the sender's rates.
    await waitFor(
      async () =>
        (await instance(a, 'console-a'))?.rates.outboundSucceeded > 0 ||
        (await instance(a, 'console-b'))?.rates.outboundSucceeded > 0,
      10_000,
    );
  });

  it('inbound counts by provider, status and type; refusals show as rates by reason', async () => {
    const event = stripeEvent('customer.created', { id: 'cus_console' });
    expect((await send(a.url, signStripe(JSON.stringify(event), STRIPE_SECRET))).status).toBe(200);
    expect((await send(a.url, signStripe(JSON.stringify(event), 'whsec_wrong_secret_0123456789'))).status).toBe(400);
    const groups = await waitFor(async () => {
      const r = await api(a.url, 'GET', '/admin/webhooks/inbound/stats?hours=1');
      return r.body.groups?.length > 0 ? r.body.groups : undefined;
    });
    expect(groups).toEqual([expect.objectContaining({ provider: 'stripe', type: 'customer.created', count: 1 })]);
    const rejected = await waitFor(async () => {
      const found = await instance(b, 'console-a');
      return found?.rates.inboundRejected > 0 ? found.rates : undefined;
    });
    expect(Object.keys(rejected.inboundRejectedByReason)).toHaveLength(1);
    for (const hours of ['0', '721']) {
      expect((await api(a.url, 'GET', `/admin/webhooks/inbound/stats?hours=${hours}`)).status).toBe(400);
    }
  });

  it('outbox backlog and chat’s online users', async () => {
    const outbox = await api(a.url, 'GET', '/admin/outbox/stats');
    expect(outbox.status).toBe(200);
    expect(outbox.body).toEqual({
      pending: expect.any(Number),
      oldestPendingSeconds: outbox.body.pending > 0 ? expect.any(Number) : null,
      deadLettered: 0,
    });
    const before = (await api(a.url, 'GET', '/admin/chat/stats')).body.onlineUsers as number;
    const alice = await createUser(a.url, 'Alice');
    const chat: ChatClient = await connectChat(b.url, alice.token);
    closers.push(() => chat.socket.disconnect());
    await waitFor(async () => (await api(a.url, 'GET', '/admin/chat/stats')).body.onlineUsers === before + 1);
    const withChat = await waitFor(async () => {
      const found = await instance(a, 'console-b');
      return found?.connections.chat === 1 ? found : undefined;
    });
    expect(withChat.connections.chat).toBe(1);
  });

  it('an instance that stops leaves the list at once', async () => {
    await b.close();
    const ids = ((await api(a.url, 'GET', '/admin/instances')).body.instances as { id: string }[]).map((i) => i.id);
    expect(ids).toEqual(['console-a']);
    b = await startTestApp(env, { env: { INSTANCE_ID: 'console-b' } });
  });
});
