/**
 * Redis stops and comes back empty under live ticker feeds. Two instances, a Redis of the test's
 * own, subscribers on both, ticks posted all along. While Redis is away nothing is acknowledged
 * that could be lost silently; when it is back, every instance ends its streams (its pub/sub may
 * have missed events), each client resumes with its Last-Event-ID, is told `reset` (the log and its
 * epoch are gone) with a fresh snapshot, and is live again: every tick acknowledged before the stop
 * and after the restart arrives once, in order.
 */
import { outage } from '../helpers/port-guard.js';
import { type RedisProcess, privateRedis } from '../helpers/processes.js';
import { ResumingSse } from '../helpers/resuming-sse.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from '../helpers/test-app.js';

describe('fault: Redis stops and restarts empty during live ticker feeds (e2e)', () => {
  let redis: RedisProcess;
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const clients: ResumingSse[] = [];

  beforeAll(async () => {
    redis = await privateRedis();
    env = await createTestEnv({ REDIS_URL: redis.url, SSE_RETRY_MS: '200' });
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterAll(async () => {
    clients.forEach((client) => client.close());
    if (redis && !redis.running) await redis.start();
    await a?.close();
    await b?.close();
    await redis?.stop();
    await env?.cleanup();
  });

  it('clients get reset + snapshot, then live again; every acknowledged tick arrives once, in order', async () => {
    for (const symbol of ['AAPL', 'MSFT']) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
    let turn = 0;
    const pick = () => [a.url, b.url][turn++ % 2];
    for (const app of [a, b]) {
      for (const path of ['/ticker/stream?symbols=AAPL', '/ticker/stream?symbols=AAPL,MSFT']) {
        clients.push(await new ResumingSse(path, pick, app.url).start());
      }
    }
    for (const client of clients) await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));

    /**
     * Each tick's price is its sequence number; `phase` says when it was acknowledged: `outage` is
     * from the stop until every client is live again (including anything in flight across a change).
     */
    const acked: { price: number; phase: 'before' | 'outage' | 'after' }[] = [];
    let refused = 0;
    const statuses = new Set<number>();
    let phase: 'before' | 'outage' | 'after' = 'before';
    let price = 0;
    let running = true;
    const poster = (async () => {
      while (running) {
        const sentIn = phase;
        const p = ++price;
        const res = await api(p % 2 ? a.url : b.url, 'POST', '/admin/ticker/ticks', {
          ticks: [{ symbol: 'AAPL', price: p }],
        }).catch(() => ({ status: 0 }));
        if (res.status === 202) acked.push({ price: p, phase: sentIn === phase ? phase : 'outage' });
        else {
          refused++;
          statuses.add(res.status);
        }
        await sleep(15);
      }
    })();
    const ackedIn = (which: string) => acked.filter((t) => t.phase === which).length;

    await waitFor(() => ackedIn('before') >= 30, 20_000);
    phase = 'outage';
    await outage(redis, async () => {
      // Readiness reports it, and the API refuses ticks rather than pretending.
      await waitFor(async () => (await fetch(`${a.url}/health/ready`)).status === 503, 10_000);
      await waitFor(() => refused >= 5, 30_000);
    });
    // Back to ready (ioredis reconnects with a backoff of at most 3 s), and every client has been
    // through its reset: from here on, every tick must arrive live.
    for (const app of [a, b]) {
      await waitFor(async () => (await fetch(`${app.url}/health/ready`)).status === 200, 60_000, 200);
    }
    const resetDone = (client: ResumingSse) => {
      const events = client.frames.map((f) => f.event);
      return events.includes('reset') && events.indexOf('snapshot', events.indexOf('reset')) > 0;
    };
    await waitFor(() => clients.every(resetDone), 30_000);
    phase = 'after';
    await waitFor(() => ackedIn('after') >= 30, 30_000);
    running = false;
    await poster;

    // Refused with 503 (retry later), never accepted and dropped.
    expect([...statuses]).toEqual([503]);
    const must = acked.filter((t) => t.phase !== 'outage').map((t) => t.price);
    const last = acked.at(-1)!.price;
    for (const client of clients) {
      await client.waitFor((f) => f.some((x) => x.event === 'tick' && x.data.price === last), 20_000);
      const ticks = client.of('tick').map((f) => f.data.price as number);
      // Once each, in order: never a repeat or an older price after a newer one.
      expect(ticks.every((p, i) => i === 0 || p > ticks[i - 1])).toBe(true);
      // Nothing acknowledged outside the outage is missing.
      expect(must.filter((p) => !ticks.includes(p))).toEqual([]);
      // A tick acknowledged between the stop and the client's resume arrived, or the snapshot after
      // the reset already carried it or a newer price: for a ticker only the latest matters.
      const snapshots = client.of('snapshot').map((f) => f.data.quotes.find((q: any) => q.symbol === 'AAPL')?.price);
      for (const { price: p } of acked.filter((t) => t.phase === 'outage')) {
        expect(ticks.includes(p) || snapshots.some((s) => s !== undefined && s >= p)).toBe(true);
      }
      // The resume went through reset + snapshot (Redis lost the log), then live ticks again.
      const events = client.frames.map((f) => f.event);
      const reset = events.indexOf('reset');
      expect(reset).toBeGreaterThan(0);
      expect(events[reset + 1]).toBe('snapshot');
      expect(events.slice(reset + 2)).toContain('tick');
      expect(client.connections).toBeGreaterThanOrEqual(2);
    }
  }, 180_000);
});
