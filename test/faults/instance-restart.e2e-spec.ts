/**
 * Instances restart under connected SSE clients (real processes, `npm run build` first). Two
 * instances A and B; ticker and scores subscribers on both; events keep being posted through
 * whichever instance is up. A is stopped with SIGTERM (a deploy) and started again; then B is
 * killed with SIGKILL (a crash) and started again. Each client, like an EventSource behind a load
 * balancer, resumes on a live instance with its Last-Event-ID: it ends up with every acknowledged
 * event exactly once, in order, with one snapshot and no reset.
 */
import { query } from '../helpers/databases.js';
import { type AppProcess, spawnApp } from '../helpers/processes.js';
import { ResumingSse } from '../helpers/resuming-sse.js';
import { type TestEnv, api, createTestEnv, sleep, waitFor } from '../helpers/test-app.js';

const SYMBOLS = ['AAPL', 'MSFT'];

/** Posts one thing at a time to `target()` until stopped; keeps what was acknowledged, in order. */
class Poster<T> {
  readonly acked: T[] = [];
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly target: () => string,
    private readonly post: (base: string, n: number) => Promise<T | string>,
    private readonly gapMs: number,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    for (let n = 1; this.running;) {
      const attempt = this.post(this.target(), n).catch((error: Error) => `error: ${error.message}`);
      this.inFlight = attempt;
      const result = await attempt;
      if (typeof result === 'string') this.failures.push(result);
      else {
        this.acked.push(result);
        n++;
      }
      await sleep(this.gapMs);
    }
  }

  /** Waits for the post in flight (sent before a change of target) to be answered. */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Stream id part of a cursor (`epoch:ms-seq`) as a comparable pair. */
const streamId = (cursor: string) => cursor.split(':')[1].split('-').map(BigInt) as [bigint, bigint];
const increasing = (ids: string[]) =>
  ids.every((id, i) => {
    if (i === 0) return true;
    const [am, as] = streamId(ids[i - 1]);
    const [bm, bs] = streamId(id);
    return bm > am || (bm === am && bs > as);
  });

describe('fault: an instance restarts under connected SSE clients (e2e, real processes)', () => {
  let env: TestEnv;
  const apps = new Map<'A' | 'B', AppProcess>();
  const clients: ResumingSse[] = [];
  let posters: Poster<unknown>[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ LOG_LEVEL: 'warn', OUTBOX_POLL_INTERVAL_MS: '200', SHUTDOWN_TIMEOUT_MS: '5000' });
    await Promise.all(['A', 'B'].map((name) => start(name as 'A' | 'B')));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(posters.map((poster) => poster.stop()));
    clients.forEach((client) => client.close());
    for (const app of apps.values()) app.kill();
    await Promise.all([...apps.values()].map((app) => app.exited));
    await env?.cleanup();
  });

  const urlOf = (name: 'A' | 'B') => apps.get(name)!.url;
  /** A restarted instance comes back on a new port, like a new pod behind the balancer. */
  async function start(name: 'A' | 'B'): Promise<void> {
    apps.set(name, await spawnApp(env.env, { readyTimeoutMs: 60_000 }));
  }

  it('SIGTERM of A, then SIGKILL of B: every client resumes elsewhere with no gap, no duplicate, no reset', async () => {
    const a = urlOf('A');
    for (const symbol of SYMBOLS) {
      expect((await api(a, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
    const match = await api(a, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Restart United',
      awayTeam: 'Crash City',
      startsAt: new Date().toISOString(),
    });
    expect(match.status).toBe(201);
    const matchId = match.body.id as string;

    // The "load balancer": clients reconnect to a live instance, round robin.
    const live = new Set<'A' | 'B'>(['A', 'B']);
    let turn = 0;
    const pick = () => urlOf([...live][turn++ % live.size]);
    const ticker: { client: ResumingSse; symbols: string[] }[] = [];
    const scores: ResumingSse[] = [];
    for (const home of ['A', 'B'] as const) {
      for (const symbols of [['AAPL'], SYMBOLS]) {
        const client = await new ResumingSse(`/ticker/stream?symbols=${symbols.join(',')}`, pick, urlOf(home)).start();
        ticker.push({ client, symbols });
      }
      for (const path of [`/scores/stream?matches=${matchId}`, '/scores/stream']) {
        scores.push(await new ResumingSse(path, pick, urlOf(home)).start());
      }
    }
    clients.push(...ticker.map((t) => t.client), ...scores);
    for (const client of clients) await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));

    // Posts go through an instance that stays up during each phase.
    let postTo: 'A' | 'B' = 'A';
    const ticks = new Poster<number>(
      () => urlOf(postTo),
      async (base, n) => {
        const res = await api(base, 'POST', '/admin/ticker/ticks', {
          ticks: SYMBOLS.map((symbol) => ({ symbol, price: n })),
        });
        return res.status === 202 ? n : `HTTP ${res.status}`;
      },
      20,
    );
    expect((await api(a, 'POST', `/admin/scores/matches/${matchId}/events`, { kind: 'kickoff' })).status).toBe(201);
    const goals = new Poster<number>(
      () => urlOf(postTo),
      async (base, n) => {
        const res = await api(base, 'POST', `/admin/scores/matches/${matchId}/events`, {
          kind: 'score',
          team: n % 2 ? 'home' : 'away',
        });
        return res.status === 201 ? (res.body.event.seq as number) : `HTTP ${res.status}`;
      },
      40,
    );
    posters = [ticks, goals];
    const progress = async (count: number) => {
      const [t, g] = [ticks.acked.length + count, goals.acked.length + Math.ceil(count / 2)];
      await waitFor(() => ticks.acked.length >= t && goals.acked.length >= g, 30_000);
    };
    await progress(20);

    // Deploy: A drains (SIGTERM ends its streams), its clients go to B while posts go through B.
    const [firstA, firstB] = [urlOf('A'), urlOf('B')];
    postTo = 'B';
    live.delete('A');
    await Promise.all([ticks.settle(), goals.settle()]);
    apps.get('A')!.kill('SIGTERM');
    const drained = await apps.get('A')!.exited;
    expect(drained.code === 0 || drained.signal === 'SIGTERM').toBe(true); // not the shutdown watchdog
    await progress(20);
    await start('A');
    live.add('A');
    await progress(10);

    // Crash: B dies mid-stream; its clients go to A while posts go through A.
    postTo = 'A';
    live.delete('B');
    await Promise.all([ticks.settle(), goals.settle()]);
    apps.get('B')!.kill('SIGKILL');
    expect((await apps.get('B')!.exited).signal).toBe('SIGKILL');
    await progress(20);
    await start('B');
    live.add('B');
    await progress(10);
    await ticks.stop();
    await goals.stop();
    expect(ticks.failures).toEqual([]);
    expect(goals.failures).toEqual([]);

    const lastTick = ticks.acked.at(-1)!;
    const lastGoal = goals.acked.at(-1)!;
    for (const { client } of ticker) {
      await client.waitFor((f) => f.some((x) => x.event === 'tick' && x.data.price === lastTick), 30_000);
    }
    for (const client of scores) {
      await client.waitFor((f) => f.some((x) => x.event === 'score' && x.data.event.seq === lastGoal), 30_000);
    }

    // Every client moved at least once: the ones first on A during the deploy, all of them by the crash.
    for (const client of clients) {
      expect(client.connections).toBeGreaterThanOrEqual(2);
      expect(client.of('snapshot')).toHaveLength(1);
      expect(client.of('reset')).toEqual([]);
      expect(increasing(client.frames.filter((f) => f.id).map((f) => f.id!))).toBe(true);
    }
    expect(ticker[0].client.served.slice(0, 2)).toEqual([firstA, firstB]);

    // Ticker: each symbol's ticks are exactly the acknowledged ones, once each, in order.
    for (const { client, symbols } of ticker) {
      for (const symbol of SYMBOLS) {
        const prices = client
          .of('tick')
          .filter((f) => f.data.symbol === symbol)
          .map((f) => f.data.price);
        expect({ symbol, prices }).toEqual({ symbol, prices: symbols.includes(symbol) ? ticks.acked : [] });
      }
    }

    // Scores: every acknowledged goal once, in timeline order (kickoff is seq 1). A crash between the
    // feed publish and the outbox commit may publish an event again (at least once): the client skips
    // a seq it has, and such a repeat must be the very same event.
    const timeline = await query<{ id: string; seq: number }>(
      env.databaseUrl,
      'SELECT id, seq FROM match_events WHERE match_id = $1 ORDER BY seq',
      [matchId],
    );
    expect(timeline.map((e) => e.seq)).toEqual([1, ...goals.acked]);
    for (const client of scores) {
      const seen = new Map<number, string>();
      const order: number[] = [];
      for (const frame of client.of('score')) {
        const { seq, id } = frame.data.event;
        if (seen.has(seq)) {
          expect(seen.get(seq)).toBe(id);
          continue;
        }
        seen.set(seq, id);
        order.push(seq);
      }
      expect(order).toEqual(timeline.map((e) => e.seq));
      expect([...seen.values()]).toEqual(timeline.map((e) => e.id));
    }
  }, 240_000);
});
