/**
 * Redis behind Sentinel (issue 16, item 2): one app instance on a master + replica + sentinel of
 * its own. Ticks, a BullMQ-processed inbound event and a chat message work before a failover and,
 * on the same app instance without a restart, after it (graceful, then by kill -9 of the master);
 * readiness names the new master.
 */
import { randomUUID } from 'node:crypto';
import { query } from './helpers/databases.js';
import { newStandardSecret, send, signStandard } from './helpers/inbound-signing.js';
import { type RedisSentinelSet, redisSentinel } from './helpers/redis-sentinel.js';
import { type ChatClient, bearer, clientMsgId, connectChat, createUser } from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

const PARTNER = newStandardSecret();

describe('Redis Sentinel failover (e2e)', () => {
  let redis: RedisSentinelSet;
  let env: TestEnv;
  let t: TestApp;
  let alice: ChatClient;
  let bob: ChatClient;
  let conversation: string;

  beforeAll(async () => {
    redis = await redisSentinel();
    env = await createTestEnv({
      // Nothing listens there: in Sentinel mode REDIS_URL is not used.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: redis.sentinels,
      STANDARD_WEBHOOK_SOURCES: `partner=${PARTNER}`,
    });
    t = await startTestApp(env);
    expect((await api(t.url, 'POST', '/admin/ticker/instruments', { symbol: 'SNTL', name: 'Sentinel' })).status).toBe(
      201,
    );
    const [a, b] = [await createUser(t.url, 'Alice'), await createUser(t.url, 'Bob')];
    const created = await api(t.url, 'POST', '/chat/conversations', { type: 'direct', userId: b.id }, bearer(a.token));
    conversation = created.body.id;
    alice = await connectChat(t.url, a.token);
    bob = await connectChat(t.url, b.token);
  }, 60_000);
  afterAll(async () => {
    alice?.close();
    bob?.close();
    await t?.close();
    await env?.cleanup();
  });
  // A hook of its own: it runs even when the app's close fails or times out.
  afterAll(() => redis?.stop());

  const health = async () => ((await api(t.url, 'GET', '/health/ready')).body as any).details?.redis;

  /** A tick published now arrives on a long poll (retried while Redis settles after a failover). */
  const tickArrives = (price: number) =>
    waitFor(
      async () => {
        const start = await api(t.url, 'GET', '/ticker/poll?symbols=SNTL');
        if (start.status !== 200) return false;
        const held = api(
          t.url,
          'GET',
          `/ticker/poll?symbols=SNTL&cursor=${encodeURIComponent(start.body.cursor)}&timeoutMs=3000`,
        );
        if ((await api(t.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'SNTL', price }] })).status !== 202)
          return false;
        const answer = await held;
        return answer.body.events?.some((event: any) => event.type === 'tick' && event.data.price === price);
      },
      20_000,
      200,
    );

  /** A signed Standard Webhooks event is accepted and processed by its BullMQ worker. */
  const inboundProcessed = async () => {
    const request = signStandard(
      'partner',
      JSON.stringify({ type: 'invoice.paid', data: { id: randomUUID() } }),
      PARTNER,
    );
    await waitFor(async () => (await send(t.url, request)).status === 200, 20_000, 200);
    await waitFor(
      async () => {
        const [row] = await query<{ status: string }>(
          env.databaseUrl,
          'SELECT status FROM inbound_events WHERE provider = $1 AND external_id = $2',
          ['partner', request.headers['webhook-id']],
        );
        // Handled by the worker (a source without a handler for the type ends `ignored`).
        return row?.status === 'processed' || row?.status === 'ignored';
      },
      20_000,
      200,
    );
  };

  /** Alice's message reaches Bob's socket (the send retried with the same id while Redis settles). */
  const chatDelivered = async (body: string) => {
    const id = clientMsgId();
    await waitFor(
      async () => (await alice.send(conversation, body, id).catch(() => undefined))?.ok === true,
      20_000,
      200,
    );
    await bob.waitFor((client) => client.received.some((message) => message.body === body), 20_000);
  };

  it('serves ticks, inbound jobs and chat before and after SENTINEL FAILOVER and a kill -9 of the master, on the same instance', async () => {
    expect(await health()).toEqual({ status: 'up', mode: 'sentinel', master: `127.0.0.1:${redis.masterPort}` });
    await tickArrives(1);
    await inboundProcessed();
    await chatDelivered('before the failover');

    const promoted = await redis.failover();
    expect(promoted).toBe(`127.0.0.1:${redis.replicaPort}`);
    await waitFor(async () => (await health())?.master === promoted, 20_000, 200);

    await tickArrives(2);
    await inboundProcessed();
    await chatDelivered('after the failover');

    // A crash this time: the promoted node dies with kill -9, and the old master (its replica now) takes over.
    const survivor = await redis.crash();
    expect(survivor).toBe(`127.0.0.1:${redis.masterPort}`);
    await waitFor(async () => (await health())?.master === survivor, 20_000, 200);
    await tickArrives(3);
    await inboundProcessed();
    await chatDelivered('after the crash');

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^redis_failovers_total 2$/m);
    expect(metrics).toMatch(/^redis_reconnects_total\{connection="subscriber"\} [1-9]/m);
  });
});
