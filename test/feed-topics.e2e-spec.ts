/**
 * Topic-scoped feed fan-out (e2e, three instances on one Redis): an instance receives from Redis
 * only the topics its local subscribers hold (per-instance `feed_events_received_total`), a new
 * topic subscription misses nothing published while it starts, and everything-subscribers (no
 * topic list) still get every event, each once, beside topic subscribers on the same instance.
 */
import { Redis } from 'ioredis';
import { type SseClient, type SseFrame, openSse } from './helpers/sse-client.js';
import {
  REDIS_URL,
  type TestApp,
  type TestEnv,
  api,
  createTestEnv,
  sleep,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';

const ticksOf = (frames: SseFrame[]) => frames.filter((f) => f.event === 'tick');
const scoresOf = (frames: SseFrame[]) => frames.filter((f) => f.event === 'score');
const symbol = (i: number) => `S${String(i).padStart(3, '0')}`;

async function metric(app: TestApp, name: string, feed: string): Promise<number> {
  const text = await fetch(`${app.url}/metrics`).then((r) => r.text());
  const match = new RegExp(`^${name}\\{feed="${feed}"\\} (\\d+)`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

describe('topic-scoped feed fan-out (e2e, three instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let c: TestApp;
  let redis: Redis;
  const open: SseClient[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ TICKER_LOG_LENGTH: '1000000' });
    [a, b, c] = [await startTestApp(env), await startTestApp(env), await startTestApp(env)];
    redis = new Redis(REDIS_URL);
    for (let i = 0; i < 100; i++) {
      const res = await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: symbol(i), name: symbol(i) });
      expect(res.status).toBe(201);
    }
  });
  afterEach(() => open.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    redis?.disconnect();
    for (const app of [a, b, c]) await app?.close();
    await env?.cleanup();
  });

  const sse = async (url: string) => {
    const client = await openSse(url);
    open.push(client);
    expect(client.status).toBe(200);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    return client;
  };
  const publish = async (ticks: { symbol: string; price: number }[]) => {
    const res = await api(a.url, 'POST', '/admin/ticker/ticks', { ticks });
    expect(res.status).toBe(202);
  };

  it('ticks for 100 symbols, a subscriber of one symbol on C only: C receives only that symbol’s, A and B none', async () => {
    const x = symbol(42);
    const client = await sse(`${c.url}/ticker/stream?symbols=${x}`);
    const before = await Promise.all([a, b, c].map((app) => metric(app, 'feed_events_received_total', 'ticker')));
    const bytesBefore = await Promise.all([a, b].map((app) => metric(app, 'feed_bytes_received_total', 'ticker')));

    const rounds = 5;
    for (let round = 1; round <= rounds; round++) {
      await publish(Array.from({ length: 100 }, (_, i) => ({ symbol: symbol(i), price: round * 1000 + i })));
    }
    await client.waitFor((f) => ticksOf(f).length >= rounds);
    await sleep(300); // anything else on its way would be here by now

    expect(ticksOf(client.frames).map((f) => f.data.price)).toEqual([1042, 2042, 3042, 4042, 5042]);
    const after = await Promise.all([a, b, c].map((app) => metric(app, 'feed_events_received_total', 'ticker')));
    expect(after[2] - before[2]).toBe(rounds);
    expect(after[0] - before[0]).toBe(0);
    expect(after[1] - before[1]).toBe(0);
    const bytesAfter = await Promise.all([a, b].map((app) => metric(app, 'feed_bytes_received_total', 'ticker')));
    expect(bytesAfter).toEqual(bytesBefore);
    expect(await metric(c, 'feed_channels_subscribed', 'ticker')).toBe(1);
    expect(await metric(a, 'feed_channels_subscribed', 'ticker')).toBe(0);

    // The last subscriber gone, C unsubscribes (after a short delay) and receives nothing more.
    client.close();
    await waitFor(async () => (await metric(c, 'feed_channels_subscribed', 'ticker')) === 0, 15_000, 200);
    await publish(Array.from({ length: 100 }, (_, i) => ({ symbol: symbol(i), price: 9000 + i })));
    await sleep(300);
    expect(await metric(c, 'feed_events_received_total', 'ticker')).toBe(after[2]);
  }, 30_000);

  it('adding a topic misses nothing: streams opened on C while their symbols tick get every tick after their cursor, in order', async () => {
    const symbols = Array.from({ length: 20 }, (_, i) => symbol(60 + i));
    let price = 0;
    let running = true;
    // Several publishers at once, so ticks land while each stream is starting.
    const publisher = async () => {
      while (running) {
        price++;
        await publish([...symbols.map((s) => ({ symbol: s, price })), { symbol: symbol(1), price }]);
      }
    };
    const loop = Promise.all([publisher(), publisher(), publisher(), publisher()]);
    try {
      const clients: SseClient[] = [];
      for (const s of symbols) {
        await waitFor(() => price > 3);
        clients.push(await sse(`${c.url}/ticker/stream?symbols=${s}`));
      }
      await sleep(200);
      running = false;
      await loop;
      const logKey = `${env.prefix}feed:ticker:log`;
      for (const [i, client] of clients.entries()) {
        const snapshot = client.frames.find((f) => f.event === 'snapshot')!;
        const after = snapshot.id!.split(':')[1];
        const log = (await redis.xrange(logKey, `(${after}`, '+')) as [string, string[]][];
        const expected = log.filter(([, fields]) => fields[fields.indexOf('k') + 1] === symbols[i]).map(([id]) => id);
        expect(expected.length).toBeGreaterThan(0);
        await client.waitFor((f) => ticksOf(f).length >= expected.length).catch(() => undefined);
        await sleep(50);
        expect(ticksOf(client.frames).map((f) => f.id!.split(':')[1])).toEqual(expected);
      }
    } finally {
      running = false;
      await loop;
    }
  });

  it('scores: an everything-subscriber on B gets every event; one-match subscribers on B and C get that match’s, each once', async () => {
    const matches: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api(a.url, 'POST', '/admin/scores/matches', {
        sport: 'football',
        homeTeam: `Home ${i}`,
        awayTeam: `Away ${i}`,
        startsAt: new Date(Date.now() + 60_000).toISOString(),
      });
      expect(res.status).toBe(201);
      matches.push(res.body.id as string);
    }
    const [m1] = matches;
    const all = await sse(`${b.url}/scores/stream`);
    const oneOnB = await sse(`${b.url}/scores/stream?matches=${m1}`);
    const oneOnC = await sse(`${c.url}/scores/stream?matches=${m1}`);
    const before = await Promise.all([a, b, c].map((app) => metric(app, 'feed_events_received_total', 'scores')));

    const post = (id: string, body: Record<string, unknown>) =>
      api(a.url, 'POST', `/admin/scores/matches/${id}/events`, body).then((res) => expect(res.status).toBe(201));
    for (const id of matches) await post(id, { kind: 'kickoff' });
    for (let round = 0; round < 3; round++) for (const id of matches) await post(id, { kind: 'score', team: 'home' });
    const total = matches.length * 4;

    await all.waitFor((f) => scoresOf(f).length >= total);
    await oneOnB.waitFor((f) => scoresOf(f).length >= 4);
    await oneOnC.waitFor((f) => scoresOf(f).length >= 4);
    await sleep(300);

    const got = scoresOf(all.frames);
    expect(got).toHaveLength(total);
    expect(new Set(got.map((f) => f.id)).size).toBe(total);
    for (const id of matches) {
      expect(got.filter((f) => f.data.matchId === id).map((f) => f.data.home)).toEqual([0, 1, 2, 3]);
    }
    for (const client of [oneOnB, oneOnC]) {
      const mine = scoresOf(client.frames);
      expect(mine.map((f) => [f.data.matchId, f.data.home])).toEqual([
        [m1, 0],
        [m1, 1],
        [m1, 2],
        [m1, 3],
      ]);
    }
    // Ids match the everything-stream's (same events), and each instance counted each event once.
    expect(scoresOf(oneOnC.frames).map((f) => f.id)).toEqual(got.filter((f) => f.data.matchId === m1).map((f) => f.id));
    const after = await Promise.all([a, b, c].map((app) => metric(app, 'feed_events_received_total', 'scores')));
    expect(after[1] - before[1]).toBe(total);
    expect(after[2] - before[2]).toBe(4);
    expect(after[0] - before[0]).toBe(0);
    expect(await metric(b, 'feed_channels_subscribed', 'scores')).toBe(2);
    expect(await metric(c, 'feed_channels_subscribed', 'scores')).toBe(1);
  });
});
