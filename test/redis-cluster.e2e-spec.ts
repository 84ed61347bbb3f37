/**
 * Redis Cluster (issue 16, item 1): two app instances on a 3-master cluster of the test's own
 * (`REDIS_CLUSTER_NODES`, no REDIS_URL), with a representative flow of each feature across them:
 * ticker (SSE on B, ticks posted to A, resume from a cursor), scores (SSE on A, events posted to
 * B, snapshot and outbound webhook), chat (a direct and a group conversation spanning both
 * instances: order, no repeat, receipts, typing, a member added live), inbound (a signed webhook
 * on B processed by a BullMQ worker), outbound (a delivery exactly once, verified). Readiness
 * names each master. The keys land on more than one master (the hash tags spread them).
 * Feeds run over FEED_SHARDS = 3 logs: a stream over topics of two logs resumes from its composite
 * cursor with exactly what it missed; and, last (it empties a master), a master restarted empty
 * resets only the subscribers of its logs' topics while the others go on with no gap.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { query } from './helpers/databases.js';
import { newStandardSecret, send, signStandard } from './helpers/inbound-signing.js';
import { type RedisClusterSet, redisCluster } from './helpers/redis-cluster.js';
import { ChatView, bearer, connectChat, createUser } from './helpers/socket-chat.js';
import { type SseClient, openSse } from './helpers/sse-client.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';
import { ResumingSse } from './helpers/resuming-sse.js';
import { topicShard } from '#src/platform/realtime/feed.js';

const PARTNER = newStandardSecret();
const SHARDS = 3;

/** A symbol of each log, by name order (SYM0, SYM1, …). */
function symbolsByShard(): string[] {
  const bySymbol: string[] = [];
  for (let i = 0; bySymbol.filter(Boolean).length < SHARDS; i++) {
    const symbol = `SYM${i}`;
    bySymbol[topicShard(symbol, SHARDS)] ??= symbol;
  }
  return bySymbol;
}

describe('Redis Cluster, two instances (e2e)', () => {
  let cluster: RedisClusterSet;
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  const streams: SseClient[] = [];

  beforeAll(async () => {
    cluster = await redisCluster(3);
    env = await createTestEnv({
      // Nothing listens there: in Cluster mode REDIS_URL is not used.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: cluster.nodes,
      STANDARD_WEBHOOK_SOURCES: `partner=${PARTNER}`,
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      FEED_SHARDS: String(SHARDS),
    });
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    receiver = await WebhookReceiver.start();
  }, 90_000);
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await Promise.all([a?.close(), b?.close()]);
    await receiver?.close();
    await env?.cleanup();
  });
  // A hook of its own: it runs even when an app's close fails or times out.
  afterAll(() => cluster?.stop());

  const sse = async (url: string, headers: Record<string, string> = {}) => {
    const client = await openSse(url, headers);
    streams.push(client);
    return client;
  };

  it('readiness names each master of the cluster', async () => {
    for (const app of [a, b]) {
      const res = await api(app.url, 'GET', '/health/ready');
      if (res.status !== 200) console.log(JSON.stringify(res.body));
      expect(res.status).toBe(200);
      expect(res.body.details.redis).toEqual({
        status: 'up',
        mode: 'cluster',
        nodes: Object.fromEntries(cluster.ports.map((port) => [`127.0.0.1:${port}`, 'up'])),
      });
    }
  });

  it('ticker: ticks posted to A reach an SSE subscriber on B, and a resume from a cursor gets what it missed', async () => {
    for (const symbol of ['CLA', 'CLB']) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
    const onB = await sse(`${b.url}/ticker/stream?symbols=CLA`);
    await onB.waitFor((frames) => frames.some((f) => f.event === 'snapshot'));
    for (let i = 1; i <= 5; i++) {
      const res = await api(a.url, 'POST', '/admin/ticker/ticks', {
        ticks: [
          { symbol: 'CLA', price: i },
          { symbol: 'CLB', price: 100 + i },
        ],
      });
      expect(res.status).toBe(202);
    }
    const ticks = (frames: { id?: string; event?: string; data?: any }[]) => frames.filter((f) => f.event === 'tick');
    await onB.waitFor((frames) => ticks(frames).length === 5);
    expect(ticks(onB.frames).map((f) => [f.data.symbol, f.data.price])).toEqual([1, 2, 3, 4, 5].map((p) => ['CLA', p]));
    const third = ticks(onB.frames)[2];
    onB.close();
    // Resume on A from the third tick's id: the fourth and fifth, nothing else, no reset.
    const again = await sse(`${a.url}/ticker/stream?symbols=CLA`, { 'last-event-id': third.id! });
    await again.waitFor((frames) => ticks(frames).length === 2);
    expect(ticks(again.frames).map((f) => f.data.price)).toEqual([4, 5]);
    expect(again.frames.some((f) => f.event === 'reset')).toBe(false);
  });

  it('scores: events posted to B reach an SSE subscriber on A in order, and an outbound webhook exactly once', async () => {
    const path = '/cluster-scores';
    const url = receiver.route(path);
    const endpoint = await api(a.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
    expect(endpoint.status).toBe(201);
    receiver.route(path, { secrets: [endpoint.body.secret] });
    const match = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Home',
      awayTeam: 'Away',
      startsAt: new Date().toISOString(),
    });
    expect(match.status).toBe(201);
    const id = match.body.id as string;
    const onA = await sse(`${a.url}/scores/stream?matches=${id}`);
    await onA.waitFor((frames) => frames.some((f) => f.event === 'snapshot'));
    expect((await api(b.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' })).status).toBe(201);
    for (const team of ['home', 'away', 'home']) {
      expect((await api(b.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'score', team })).status).toBe(
        201,
      );
    }
    const scores = (frames: { event?: string; data?: any }[]) => frames.filter((f) => f.event === 'score');
    await onA.waitFor((frames) => scores(frames).length >= 4);
    const seqs = scores(onA.frames).map((f) => f.data.event.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    // The score.updated webhooks (three goals), each exactly once and verified.
    await waitFor(() => receiver.succeeded(path).length >= 3, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const received = receiver.received(path);
    expect(received.every((r) => r.verifiedWith?.[0] === endpoint.body.secret)).toBe(true);
    expect(new Set(received.map((r) => r.webhookId)).size).toBe(received.length);
  });

  it('chat: a direct and a group conversation across A and B, in order, no repeats, receipts, typing, a member added live', async () => {
    const [ann, ben, cat] = await Promise.all(['Ann', 'Ben', 'Cat'].map((n) => createUser(a.url, n)));
    const annOnA = await connectChat(a.url, ann.token);
    const benView = new ChatView();
    const catView = new ChatView();
    const benOnB = await connectChat(b.url, ben.token, { onMessage: benView.apply });
    const catOnB = await connectChat(b.url, cat.token, { onMessage: catView.apply });
    try {
      const pair = await api(
        a.url,
        'POST',
        '/chat/conversations',
        { type: 'direct', userId: ben.id },
        bearer(ann.token),
      );
      expect(pair.status).toBe(201);
      for (let i = 1; i <= 10; i++) expect(await annOnA.send(pair.body.id, `d${i}`)).toMatchObject({ ok: true });
      await benOnB.waitFor(() => benView.of(pair.body.id).length === 10);
      expect(benView.of(pair.body.id).map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(await benOnB.request('message:read', { conversationId: pair.body.id, seq: 10 })).toMatchObject({
        ok: true,
      });
      await annOnA.waitFor((c) => c.events.some((e) => e.event === 'message:receipt' && e.data.readSeq === 10));
      expect(await benOnB.request('typing', { conversationId: pair.body.id })).toEqual({ ok: true, relayed: true });
      await annOnA.waitFor((c) => c.events.some((e) => e.event === 'typing'));

      const group = await api(
        a.url,
        'POST',
        '/chat/conversations',
        { type: 'group', title: 'cluster', memberIds: [ben.id] },
        bearer(ann.token),
      );
      expect(group.status).toBe(201);
      expect(await annOnA.send(group.body.id, 'before cat')).toMatchObject({ ok: true });
      const added = await api(
        a.url,
        'POST',
        `/chat/conversations/${group.body.id}/members`,
        { userIds: [cat.id] },
        bearer(ann.token),
      );
      expect(added.status).toBe(200);
      for (let i = 1; i <= 5; i++) expect(await annOnA.send(group.body.id, `g${i}`)).toMatchObject({ ok: true });
      await catOnB.waitFor(() => catView.of(group.body.id).length === 5);
      await benOnB.waitFor(() => benView.of(group.body.id).length === 6);
      expect(catView.of(group.body.id).map((m) => m.body)).toEqual(['g1', 'g2', 'g3', 'g4', 'g5']);
      expect(benView.repeats + catView.repeats).toBe(0);
      expect(benView.gaps).toEqual([]);
    } finally {
      for (const client of [annOnA, benOnB, catOnB]) client.close();
    }
  });

  it('chat: the per-user rate limits hold on the cluster when several users send at once (keys of many slots)', async () => {
    const users = await Promise.all(['Dan', 'Eve', 'Fay', 'Gus'].map((n) => createUser(a.url, n)));
    const [dan, ...others] = users;
    const pairs = await Promise.all(
      others.map((o) => api(a.url, 'POST', '/chat/conversations', { type: 'direct', userId: dan.id }, bearer(o.token))),
    );
    const sockets = await Promise.all(others.map((o) => connectChat(a.url, o.token)));
    try {
      // CHAT_MESSAGES_PER_MINUTE is 120: a burst of 130 from each leaves some of each refused, none failing otherwise.
      const acks = await Promise.all(
        sockets.map((socket, i) =>
          Promise.all(Array.from({ length: 130 }, (_, n) => socket.send(pairs[i].body.id, `burst ${n}`))),
        ),
      );
      for (const own of acks) {
        const refused = own.filter((ack) => !ack.ok);
        expect(refused.length).toBeGreaterThanOrEqual(5);
        for (const ack of refused) expect(ack.error?.code).toBe('rate_limited');
      }
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it('inbound: a signed webhook posted to B is processed by its BullMQ worker', async () => {
    const request = signStandard(
      'partner',
      JSON.stringify({ type: 'invoice.paid', data: { id: randomUUID() } }),
      PARTNER,
    );
    expect((await send(b.url, request)).status).toBe(200);
    await waitFor(async () => {
      const [row] = await query<{ status: string }>(
        env.databaseUrl,
        'SELECT status FROM inbound_events WHERE provider = $1 AND external_id = $2',
        ['partner', request.headers['webhook-id']],
      );
      return row?.status === 'processed' || row?.status === 'ignored';
    }, 20_000);
  });

  it('the keys are spread over the masters, each feature on its hash tag', async () => {
    const counts = await Promise.all(
      cluster.ports.map(async (port) => {
        const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
        try {
          await node.connect();
          return (await node.keys(`*${env.env.REDIS_KEY_PREFIX}*`)).length;
        } finally {
          node.disconnect();
        }
      }),
    );
    expect(counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  const ticksOf = (frames: { event?: string; data?: any }[], symbol: string) =>
    frames.filter((f) => f.event === 'tick' && f.data.symbol === symbol).map((f) => f.data.price as number);
  const postTicks = async (ticks: { symbol: string; price: number }[]) => {
    const res = await api(a.url, 'POST', '/admin/ticker/ticks', { ticks });
    expect(res.status).toBe(202);
  };

  it('feeds over three logs: a stream of topics in two logs resumes from its composite cursor with exactly what it missed', async () => {
    const [s0, s1] = symbolsByShard();
    for (const symbol of [s0, s1]) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
    const first = await sse(`${b.url}/ticker/stream?symbols=${s0},${s1}`);
    await first.waitFor((frames) => frames.some((f) => f.event === 'snapshot'));
    await postTicks([
      { symbol: s0, price: 1 },
      { symbol: s1, price: 1 },
    ]);
    await postTicks([{ symbol: s1, price: 2 }]);
    await first.waitFor((frames) => ticksOf(frames, s0).length === 1 && ticksOf(frames, s1).length === 2);
    const last = first.frames.filter((f) => f.event === 'tick').at(-1)!;
    expect(last.id!.split('.')).toHaveLength(SHARDS); // a position in each log
    first.close();
    // Missed while away, in both logs.
    await postTicks([
      { symbol: s0, price: 2 },
      { symbol: s1, price: 3 },
    ]);
    await postTicks([{ symbol: s0, price: 3 }]);
    const again = await sse(`${a.url}/ticker/stream?symbols=${s0},${s1}`, { 'last-event-id': last.id! });
    await again.waitFor((frames) => ticksOf(frames, s0).length === 2 && ticksOf(frames, s1).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect({ s0: ticksOf(again.frames, s0), s1: ticksOf(again.frames, s1) }).toEqual({ s0: [2, 3], s1: [3] });
    expect(again.frames.some((f) => f.event === 'reset' || f.event === 'snapshot')).toBe(false);
    // A long poll from the same cursor agrees.
    const poll = await api(a.url, 'GET', `/ticker/poll?symbols=${s0},${s1}&cursor=${encodeURIComponent(last.id!)}`);
    expect(poll.status).toBe(200);
    expect(poll.body.events.map((e: any) => `${e.data.symbol}=${e.data.price}`).sort()).toEqual(
      [`${s0}=2`, `${s0}=3`, `${s1}=3`].sort(),
    );
  });

  it("a master restarted empty: only subscribers of its logs' topics get reset and a snapshot; the others go on with no gap", async () => {
    const symbols = symbolsByShard();
    const ports = await Promise.all(
      symbols.map((_, shard) => cluster.portOf(`{${env.env.REDIS_KEY_PREFIX}feed:ticker:${shard}}:log`)),
    );
    // A log whose master we restart, and one on another master.
    const lost = 0;
    const kept = ports.findIndex((port) => port !== ports[lost]);
    expect(kept).toBeGreaterThan(0); // the logs' hash tags spread them over at least two masters
    for (const symbol of symbols) {
      await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol }); // 201, or 409 if made above
    }
    const onLost = await new ResumingSse(`/ticker/stream?symbols=${symbols[lost]}`, () => b.url).start();
    const onKept = await new ResumingSse(`/ticker/stream?symbols=${symbols[kept]}`, () => b.url).start();
    try {
      await onLost.waitFor((frames) => frames.some((f) => f.event === 'snapshot'));
      await onKept.waitFor((frames) => frames.some((f) => f.event === 'snapshot'));
      await postTicks([
        { symbol: symbols[lost], price: 10 },
        { symbol: symbols[kept], price: 10 },
      ]);
      await onLost.waitFor((frames) => ticksOf(frames, symbols[lost]).includes(10));
      await onKept.waitFor((frames) => ticksOf(frames, symbols[kept]).includes(10));

      await cluster.restartEmpty(ports[lost]);
      // Posted until the restarted master serves its slots again (503s meanwhile).
      for (let price = 11; price <= 13; price++) {
        await waitFor(
          async () =>
            (
              await api(a.url, 'POST', '/admin/ticker/ticks', {
                ticks: [
                  { symbol: symbols[lost], price },
                  { symbol: symbols[kept], price },
                ],
              })
            ).status === 202,
          20_000,
          200,
        );
      }
      await onKept.waitFor((frames) => ticksOf(frames, symbols[kept]).includes(13), 20_000);
      const resetThenSnapshot = (frames: { event?: string }[]) => {
        const at = frames.findIndex((f) => f.event === 'reset');
        return at >= 0 && frames[at + 1]?.event === 'snapshot';
      };
      await onLost.waitFor(resetThenSnapshot, 20_000);
      // The kept log's subscriber: every tick once, in order, on one connection, never reset.
      expect(ticksOf(onKept.frames, symbols[kept]).filter((p) => p >= 10)).toEqual([10, 11, 12, 13]);
      expect(onKept.of('reset')).toEqual([]);
      expect(onKept.connections).toBe(1);
      // The lost log's subscriber: its stream ended, it resumed into a reset and a fresh snapshot.
      expect(resetThenSnapshot(onLost.frames)).toBe(true);
      expect(onLost.connections).toBeGreaterThanOrEqual(2);
    } finally {
      onLost.close();
      onKept.close();
    }
  }, 60_000);
});
