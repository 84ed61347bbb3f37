/**
 * Outbound webhooks benchmark driver (`npm run bench:outbound`, `BENCH_QUICK=1 npm run bench:outbound`).
 *
 * Same run, same sink, same concurrency C, two senders:
 *   raw  — a raw undici loop (raw-loop.ts): in-memory queue, C workers, sign + POST, nothing else;
 *   ours — `node dist/main.js`: domain events of 64 matches recorded in the outbox (Postgres),
 *          keyed by match as the scores feature keys them; the relay and intake turn them into
 *          messages + deliveries, endpoint pumps (BullMQ, concurrency C) sign and POST, and every
 *          attempt is written back to Postgres.
 * A third sender, `bullmq` (bullmq-loop.ts), does the raw loop's work inside BullMQ jobs: the gap to
 * raw is the queue's cost, the gap to ours is Postgres bookkeeping's. After a warm-up of each, bursts
 * go in rounds (raw, bullmq, ours; ROUNDS times) so that load from outside the bench hits all alike;
 * each burst enqueues N messages at once and gives sustained deliveries/s = N / (last receipt -
 * enqueue start). Ratios are the median of per-round ratios. Then a latency window
 * at a fixed rate (half of ours' median burst rate, the same for both) gives enqueue→receive p50/p99
 * measured by the sink against `data.t0`. Writes bench/results/outbound.json and prints a markdown
 * table. Env: BENCH_QUICK=1, BENCH_CONCURRENCY (default 32), BENCH_N, BENCH_ROUNDS, BENCH_OUT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { dataStorePids, dropRedisPrefix, readCpuMs, readMachineCpuMs, sumCpuMs } from '../ticker/targets.js';
import { Helper, eventData, sleep } from './common.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { appArgs } from '../processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const N = Number(process.env.BENCH_N ?? (QUICK ? 2_000 : 10_000));
const WARMUP = QUICK ? 300 : 1_000;
const LATENCY_MS = QUICK ? 3_000 : 10_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const HARD_LIMIT_MS = (QUICK ? 5 : 15) * 60_000;
const ADMIN_API_KEY = 'bench-admin-key-0123456789';
const BENCH_DB = 'livefeed_bench_outbound';
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';

/** The app under test, killed with the helpers if the driver has to give up. */
let appProcess: ChildProcess | undefined;
const killEverything = () => {
  Helper.killAll();
  if (appProcess?.exitCode === null) appProcess.kill('SIGKILL');
};

/** The round with the median deliveries/s. */
function median(phases: Phase[]): Phase {
  const sorted = [...phases].sort((x, y) => (x.deliveriesPerSec ?? 0) - (y.deliveriesPerSec ?? 0));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** The checkout to benchmark: the working directory npm runs scripts in. */
function repoRoot(): string {
  const cwd = process.cwd();
  const name = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')).name;
  if (name !== 'live-feed-backend') throw new Error('run from the repository root');
  return cwd;
}

interface Phase {
  deliveries: number;
  deliveriesPerSec?: number;
  ratePerSec?: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errors?: number;
  cpuPct?: Record<string, number>;
}

/** CPU of each party over a phase, in % of one core. */
function cpuMeter(pids: Record<string, number>) {
  const stores = dataStorePids();
  const t0 = Date.now();
  const m0 = readMachineCpuMs().busy;
  const c0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, readCpuMs(pid)]));
  const s0 = sumCpuMs(stores);
  const d0 = process.cpuUsage();
  return () => {
    const wall = Date.now() - t0;
    const pct = (ms: number) => Math.round((ms / wall) * 100);
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(pids)) out[k] = pct(readCpuMs(pid) - c0[k]);
    out.redisPg = pct(sumCpuMs(stores) - s0);
    const d = process.cpuUsage(d0);
    out.driver = pct((d.user + d.system) / 1000);
    const known = Object.values(out).reduce((a, b) => a + b, 0);
    out.other = Math.max(0, pct(readMachineCpuMs().busy - m0) - known);
    return out;
  };
}

async function waitForCount(sink: Helper, count: number, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let rep = await sink.call('report');
  while (rep.count < count && Date.now() < deadline) {
    await sleep(50);
    rep = await sink.call('report');
  }
  return rep;
}

async function httpJson(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// ---------------------------------------------------------------------------------------------- raw

async function startRaw(sink: Helper, sinkUrl: string) {
  const raw = new Helper(here('./raw-loop.js'));
  try {
    await sink.call('reset');
    await raw.call('burst', { url: sinkUrl, n: WARMUP, concurrency: CONCURRENCY, run: 'raw-warm' });
    await waitForCount(sink, WARMUP, 10_000);
  } catch (error) {
    await raw.exit();
    throw error;
  }
  return {
    burst: async (round: number): Promise<Phase> => {
      await sink.call('reset');
      const meter = cpuMeter({ sender: raw.pid, sink: sink.pid });
      const burst = await raw.call('burst', { url: sinkUrl, n: N, concurrency: CONCURRENCY, run: `raw-${round}` });
      const rep = await waitForCount(sink, N, 60_000);
      const phase: Phase = {
        deliveries: rep.count,
        deliveriesPerSec: Math.round(rep.count / ((rep.lastAt - burst.startedAt) / 1000)),
        p50Ms: rep.p50Ms,
        p99Ms: rep.p99Ms,
        errors: burst.errors,
        cpuPct: meter(),
      };
      log(`raw burst ${round}: ${phase.deliveriesPerSec}/s (${rep.count}/${N}), cpu ${JSON.stringify(phase.cpuPct)}`);
      return phase;
    },
    latency: async (rate: number): Promise<Phase> => {
      await sink.call('reset');
      const r = await raw.call('rate', {
        url: sinkUrl,
        rate,
        durationMs: LATENCY_MS,
        concurrency: CONCURRENCY,
        run: 'raw-rate',
      });
      const rep = await waitForCount(sink, r.produced, 10_000);
      log(`raw latency @${rate}/s: p50 ${rep.p50Ms} ms, p99 ${rep.p99Ms} ms (${rep.count}/${r.produced})`);
      return { deliveries: rep.count, ratePerSec: rate, p50Ms: rep.p50Ms, p99Ms: rep.p99Ms, errors: r.errors };
    },
    stop: () => raw.exit(),
  };
}

async function startBullmq(sink: Helper, sinkUrl: string) {
  const bq = new Helper(here('./bullmq-loop.js'));
  const burst = async (round: number | string, n: number): Promise<Phase> => {
    await sink.call('reset');
    const meter = cpuMeter({ sender: bq.pid, sink: sink.pid });
    const r = await bq.call('burst', { url: sinkUrl, n, concurrency: CONCURRENCY, run: `bq-${round}` });
    const rep = await waitForCount(sink, n, 60_000);
    return {
      deliveries: rep.count,
      deliveriesPerSec: Math.round(rep.count / ((rep.lastAt - r.startedAt) / 1000)),
      p50Ms: rep.p50Ms,
      p99Ms: rep.p99Ms,
      cpuPct: meter(),
    };
  };
  await burst('warm', WARMUP);
  return {
    burst: async (round: number): Promise<Phase> => {
      const phase = await burst(round, N);
      log(
        `bullmq burst ${round}: ${phase.deliveriesPerSec}/s (${phase.deliveries}/${N}), cpu ${JSON.stringify(phase.cpuPct)}`,
      );
      return phase;
    },
    stop: async () => {
      await bq.call('cleanup').catch(() => undefined);
      await bq.exit();
    },
  };
}

// --------------------------------------------------------------------------------------------- ours

async function startOurs(
  root: string,
): Promise<{ child: ChildProcess; port: number; prefix: string; tail: () => string }> {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const child = spawn(process.execPath, appArgs(root), {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `${PG_URL}/${BENCH_DB}`,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: prefix,
      ADMIN_API_KEY,
      JWT_SECRET: 'bench-jwt-secret-0123456789-0123456789',
      LOG_LEVEL: 'warn',
      ...BENCH_RATE_LIMITS,
      DEMO_MODE: 'false',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_CONCURRENCY: String(CONCURRENCY),
      OUTBOUND_CONNECTIONS_PER_ORIGIN: String(CONCURRENCY),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  appProcess = child;
  let tail = '';
  let warnings = 0;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      // The app logs at warn: anything it says during a run is worth seeing.
      if (warnings++ < 20) log(`ours says: ${line.slice(0, 300)}`);
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ours exited (${child.exitCode}) while booting:\n${tail}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ours not ready after 60 s:\n${tail}`);
    }
    await sleep(250);
  }
  return { child, port, prefix, tail: () => tail };
}

/** The app's own key → outbox partition hash (dist/platform/events/domain-event.js), loaded with the app. */
let partitionOf: (key: string) => number = () => 0;

/**
 * Records events the way a feature does (outbox row keyed by its match, then NOTIFY), `count` rows per
 * statement. The key matters: the relay keeps each key's events in order and runs keys in parallel.
 */
async function emit(db: pg.Client, first: number, count: number, run: string): Promise<void> {
  const t0 = Date.now();
  const events = Array.from({ length: count }, (_, i) => eventData(first + i, t0, run));
  const keys = events.map((event) => `match:${event.matchId}`);
  await db.query(
    `INSERT INTO outbox_events (type, data, partition_key, partition)
     SELECT 'score.updated', d, k, p FROM unnest($1::jsonb[], $2::varchar[], $3::smallint[]) AS t(d, k, p)`,
    [events.map((event) => JSON.stringify(event)), keys, keys.map((key) => partitionOf(key))],
  );
  await db.query(`SELECT pg_notify('outbox_events', '')`);
}

/**
 * A fresh bench database each run (the app creates and migrates it). Dropped before the app starts:
 * emptying tables under a running app would wait on its outbox relay's open transaction.
 */
async function freshDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

async function prepareOurs(root: string, sink: Helper, sinkUrl: string) {
  ({ partitionOf } = await import(pathToFileURL(join(root, 'dist/platform/events/domain-event.js')).href));
  await freshDatabase();
  const app = await startOurs(root);
  const db = new pg.Client({ connectionString: `${PG_URL}/${BENCH_DB}` });
  await db.connect();
  const stop = async () => {
    await db.end().catch(() => undefined);
    if (app.child.exitCode === null) {
      const exited = new Promise((resolve) => app.child.once('exit', resolve));
      app.child.kill('SIGTERM');
      await Promise.race([exited, sleep(12_000)]);
      if (app.child.exitCode === null) app.child.kill('SIGKILL');
    }
    await dropRedisPrefix(app.prefix).catch(() => 0);
  };
  try {
    const created = await httpJson(app.port, 'POST', '/admin/webhooks/endpoints', {
      url: sinkUrl,
      eventTypes: ['score.*'],
    });
    if (created.status !== 201) throw new Error(`create endpoint → ${created.status} ${JSON.stringify(created.body)}`);

    await sink.call('reset');
    await emit(db, 0, WARMUP, 'ours-warm');
    await waitForCount(sink, WARMUP, 30_000);
    await sleep(500);
    let next = WARMUP;
    return {
      burst: async (round: number): Promise<Phase> => {
        await sink.call('reset');
        const meter = cpuMeter({ sender: app.child.pid!, sink: sink.pid });
        const startedAt = Date.now();
        for (let i = 0; i < N; i += 500) await emit(db, next + i, Math.min(500, N - i), `ours-${round}`);
        next += N;
        const enqueuedMs = Date.now() - startedAt;
        const rep = await waitForCount(sink, N, 180_000);
        const phase: Phase = {
          deliveries: rep.count,
          deliveriesPerSec: Math.round(rep.count / ((rep.lastAt - startedAt) / 1000)),
          p50Ms: rep.p50Ms,
          p99Ms: rep.p99Ms,
          cpuPct: meter(),
        };
        log(
          `ours burst ${round}: ${phase.deliveriesPerSec}/s (${rep.count}/${N}; enqueue took ${enqueuedMs} ms), cpu ${JSON.stringify(phase.cpuPct)}`,
        );
        await sleep(300); // the last records land
        return phase;
      },
      latency: async (rate: number): Promise<Phase> => {
        await sink.call('reset');
        const start = Date.now();
        let produced = 0;
        while (Date.now() - start < LATENCY_MS) {
          const due = Math.floor(((Date.now() - start) / 1000) * rate);
          if (due > produced) {
            await emit(db, next + produced, due - produced, 'ours-rate');
            produced = due;
          }
          await sleep(5);
        }
        next += produced;
        const rep = await waitForCount(sink, produced, 30_000);
        log(`ours latency @${rate}/s: p50 ${rep.p50Ms} ms, p99 ${rep.p99Ms} ms (${rep.count}/${produced})`);
        return { deliveries: rep.count, ratePerSec: rate, p50Ms: rep.p50Ms, p99Ms: rep.p99Ms };
      },
      /** Deliveries not succeeded in Postgres (should be 0 once everything arrived). */
      notSucceeded: async (): Promise<number> =>
        (await db.query(`SELECT count(*)::int AS c FROM webhook_deliveries WHERE status <> 'succeeded'`)).rows[0].c,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// --------------------------------------------------------------------------------------------- main

async function main() {
  const root = repoRoot();
  const started = Date.now();
  const notes: string[] = [];
  const sink = new Helper(here('./sink.js'));
  const { port } = await sink.call('listen');
  const sinkUrl = `http://127.0.0.1:${port}/sink`;
  log(`sink on ${port}; N = ${N}, concurrency = ${CONCURRENCY}${QUICK ? ' (QUICK)' : ''}`);

  const result: any = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    n: N,
    concurrency: CONCURRENCY,
    method:
      'bursts in rounds (raw, bullmq, ours); each: N messages enqueued at once, deliveries/s = N / (last receipt - ' +
      'enqueue start); burst = the median round, ratios = the median of per-round ratios. latency: ' +
      "enqueue→receive (sink clock - data.t0) at a fixed rate of half ours' median burst rate, the same for both",
    notes,
    rounds: ROUNDS,
    scenarios: {} as Record<string, { burst?: Phase; rounds?: Phase[]; latency?: Phase; error?: string }>,
  };

  const raw = await startRaw(sink, sinkUrl);
  const bullmq = await startBullmq(sink, sinkUrl);
  const haveOurs = existsSync(join(root, 'dist', 'main.js')) && existsSync(join(root, 'dist', 'outbound'));
  if (!haveOurs) notes.push('ours skipped: run `npm run build` first');
  let ours: Awaited<ReturnType<typeof prepareOurs>> | undefined;
  try {
    if (haveOurs) ours = await prepareOurs(root, sink, sinkUrl);
    const rawBursts: Phase[] = [];
    const bullmqBursts: Phase[] = [];
    const oursBursts: Phase[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      rawBursts.push(await raw.burst(round));
      bullmqBursts.push(await bullmq.burst(round));
      if (ours) oursBursts.push(await ours.burst(round));
    }
    result.scenarios.raw = { burst: median(rawBursts), rounds: rawBursts };
    result.scenarios.bullmq = { burst: median(bullmqBursts), rounds: bullmqBursts };
    if (ours) {
      result.scenarios.ours = { burst: median(oursBursts), rounds: oursBursts };
      const rate = Math.max(50, Math.round((result.scenarios.ours.burst.deliveriesPerSec ?? 0) / 2));
      result.scenarios.raw.latency = await raw.latency(rate);
      result.scenarios.ours.latency = await ours.latency(rate);
      await sleep(500);
      const left = await ours.notSucceeded();
      if (left > 0) notes.push(`ours: ${left} deliveries not succeeded in Postgres at the end`);
    }
  } catch (error) {
    result.scenarios.ours = { error: (error as Error).message };
    notes.push(`failed: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    await ours?.stop();
    await bullmq.stop();
    await raw.stop();
    await sink.exit();
  }

  const r = result.scenarios.raw ?? {};
  const o = result.scenarios.ours;
  const ratio = (x?: number | null, y?: number | null) => (x == null || !y ? null : Number((x / y).toFixed(2)));
  const b = result.scenarios.bullmq;
  /**
   * Throughput ratios are the median of per-round ratios: the bursts of one round run back to back,
   * so load from outside the bench, which swings a lot on a shared machine, hits them alike.
   */
  const roundRatio = (x?: Phase[], y?: Phase[]) => {
    if (!x?.length || !y?.length) return null;
    const each = x
      .map((p, i) => (p.deliveriesPerSec ?? 0) / (y[i]?.deliveriesPerSec || Infinity))
      .sort((m, n) => m - n);
    return Number(each[Math.floor((each.length - 1) / 2)].toFixed(2));
  };
  result.ratios = {
    bullmqVsRaw: { deliveriesPerSec: roundRatio(b?.rounds, r.rounds) },
    oursVsBullmq: { deliveriesPerSec: roundRatio(o?.rounds, b?.rounds) },
    oursVsRaw: {
      deliveriesPerSec: roundRatio(o?.rounds, r.rounds),
      p50Ms: ratio(o?.latency?.p50Ms, r.latency?.p50Ms),
      p99Ms: ratio(o?.latency?.p99Ms, r.latency?.p99Ms),
    },
  };
  result.goals = {
    deliveriesPerSecVsRaw: {
      want: '>= 0.5',
      got: result.ratios.oursVsRaw.deliveriesPerSec,
      met: result.ratios.oursVsRaw.deliveriesPerSec === null ? null : result.ratios.oursVsRaw.deliveriesPerSec >= 0.5,
    },
  };
  for (const [name, s] of Object.entries(result.scenarios) as [string, any][]) {
    if ((s.burst?.cpuPct?.other ?? 0) > 25) notes.push(`${name}: other load ${s.burst.cpuPct.other} % of a core`);
  }
  result.durationS = Math.round((Date.now() - started) / 1000);

  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'results', 'outbound.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

  const row = (name: string, s: any, x: string) =>
    `| ${name} | ${s?.burst?.deliveriesPerSec ?? '–'} | ${x} | ${s?.latency?.ratePerSec ?? '–'} | ${s?.latency?.p50Ms ?? '–'} | ${s?.latency?.p99Ms ?? '–'} | ${s?.burst?.cpuPct?.sender ?? '–'} | ${s?.burst?.cpuPct?.redisPg ?? '–'} |`;
  console.log('');
  console.log(
    `Outbound webhooks, N = ${N}, concurrency ${CONCURRENCY}${QUICK ? ' (QUICK)' : ''}, ${result.durationS} s`,
  );
  console.log('');
  console.log('| sender | deliveries/s | × raw | latency load /s | p50 ms | p99 ms | sender CPU % | Redis+PG CPU % |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(row('raw undici loop', r, '1.00×'));
  console.log(row('same loop in BullMQ jobs', b, `${result.ratios.bullmqVsRaw.deliveriesPerSec ?? '–'}×`));
  console.log(row('ours', o, `${result.ratios.oursVsRaw.deliveriesPerSec ?? '–'}×`));
  if (notes.length) console.log(`\nnotes: ${notes.join('; ')}`);
  console.log(`\nwrote ${out}`);
}

const timer = setTimeout(() => {
  console.error('bench: hard time limit reached');
  killEverything();
  process.exit(2);
}, HARD_LIMIT_MS);
timer.unref();

main()
  .then(() => process.exit(0))
  .catch((error) => {
    console.error(error);
    killEverything();
    process.exit(1);
  });
