/**
 * Scores fan-out benchmark (`npm run bench:scores`, `BENCH_QUICK=1 npm run bench:scores`).
 *
 * Two targets in one run, on this machine, each a child process on 127.0.0.1 with the same load:
 *   - ours: `node dist/main.js`. A posted event (`POST /admin/scores/matches/:id/events`) is one
 *     statement (match row, timeline row, outbox row; ScoresService.postEvent); the outbox relay
 *     publishes it to the `scores` feed (Redis XADD + PUBLISH), and every instance writes the frame,
 *     encoded once, to its subscribers of that match;
 *   - baseline: `baseline.ts`, bare node:http + pg: one autocommit INSERT per event, then the frame,
 *     encoded once, written to every subscriber of the match. It is the floor for a scores server
 *     that never loses a score (persist, then tell); an in-memory fan-out would be allowed to lose
 *     them, and would mostly measure the absence of a commit.
 * For each: M matches kicked off, N SSE subscribers (subscriber i follows match i mod M) held by a
 * separate load process (load.ts), a warm-up, then
 *   1. sustained: closed loop, each match posts its next goal as soon as the last one is answered,
 *      for a fixed window: events/s, and frames delivered by the window's end + grace;
 *   2. latency: open loop at a fixed rate (half of ours' sustained rate, the same for both):
 *      p50/p99 from the POST being sent to the frame being read by each subscriber.
 * Writes bench/results/scores.json (or BENCH_OUT) and prints a markdown table.
 * Env: BENCH_QUICK=1, BENCH_SUBSCRIBERS (default 2,000; QUICK 1,000), BENCH_MATCHES (20),
 * BENCH_TARGETS=ours,baseline, BENCH_OUT.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { httpJson } from '../ticker/publisher.js';
import {
  dataStorePids,
  dropRedisPrefix,
  readCpuMs,
  readMachineCpuMs,
  readRssBytes,
  sumCpuMs,
} from '../ticker/targets.js';
import { ADMIN_API_KEY, ADMIN_HEADERS, eventsPath, matchesPath, sleep } from './common.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { appArgs, freePort, stopper, waitReady } from '../processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const PLAN = QUICK
  ? { warmupMs: 1_000, sustainMs: 4_000, latencyMs: 3_000, graceMs: 500, hardLimitMs: 4 * 60_000 }
  : { warmupMs: 2_000, sustainMs: 10_000, latencyMs: 10_000, graceMs: 500, hardLimitMs: 12 * 60_000 };
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? (QUICK ? 1_000 : 2_000));
const MATCHES = Number(process.env.BENCH_MATCHES ?? 20);
const PASS_RATIO = 0.95;
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
const DATABASES = { ours: 'livefeed_bench_scores', baseline: 'livefeed_bench_scores_bare' } as const;
type Target = keyof typeof DATABASES;
const TARGETS: Target[] = ['ours', 'baseline'];

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const children = new Set<ChildProcess>();
const killAll = () => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL'));

/** The checkout to measure: the working directory npm runs scripts in. */
function repoRoot(): string {
  const cwd = process.cwd();
  if (JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')).name !== 'live-feed-backend') {
    throw new Error('run from the repository root (npm run bench:scores)');
  }
  return cwd;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
  tail(): string;
}

function spawnServer(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): { child: ChildProcess; tail(): string } {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, tail: () => tail };
}

async function startOurs(root: string, redisPrefix: string): Promise<Server> {
  await admin(`DROP DATABASE IF EXISTS ${DATABASES.ours} WITH (FORCE)`);
  const port = await freePort();
  const { child, tail } = spawnServer(
    appArgs(root),
    {
      NODE_ENV: 'production',
      // Feed clients read without credentials (feed access by plan: the anonymous plan reads everything).
      FEED_ANONYMOUS_ACCESS: 'all',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `${PG_URL}/${DATABASES.ours}`,
      REDIS_KEY_PREFIX: redisPrefix,
      ADMIN_API_KEY,
      JWT_SECRET: 'bench-jwt-secret-0123456789-0123456789',
      LOG_LEVEL: 'warn',
      ...BENCH_RATE_LIMITS,
      DEMO_MODE: 'false',
      MAX_SSE_CONNECTIONS: '50000',
    },
    root,
  );
  await waitReady(port, child, tail, 'ours');
  return { pid: child.pid!, port, stop: stopper(child), tail };
}

async function startBaseline(root: string): Promise<Server> {
  await admin(`DROP DATABASE IF EXISTS ${DATABASES.baseline} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${DATABASES.baseline}`);
  const file = fileURLToPath(new URL('./baseline.js', import.meta.url));
  const { child, tail } = spawnServer([file], { PORT: '0', DATABASE_URL: `${PG_URL}/${DATABASES.baseline}` }, root);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baseline did not print READY:\n${tail()}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /READY (\d+)/.exec(chunk.toString());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`baseline exited (${code}):\n${tail()}`)));
  });
  return { pid: child.pid!, port, stop: stopper(child), tail };
}

/** The load process, spoken to over IPC. */
class Load {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly pid: number;

  constructor() {
    this.child = fork(fileURLToPath(new URL('./load.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pid = this.child.pid!;
    children.add(this.child);
    this.child.on('message', (msg: any) => {
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    });
    this.child.once('exit', (code) => {
      children.delete(this.child);
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load process exited (${code})`));
    });
  }

  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load: ${cmd} timed out`)), timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.call('exit', {}, 5_000).catch(() => undefined);
    await Promise.race([exited, sleep(3_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** CPU of the server, the load process, Postgres + Redis and everything else, in % of one core. */
function cpuMeter(serverPid: number, loadPid: number) {
  const stores = dataStorePids();
  const t0 = {
    wall: Date.now(),
    machine: readMachineCpuMs().busy,
    server: readCpuMs(serverPid),
    load: readCpuMs(loadPid),
    driver: process.cpuUsage(),
    stores: sumCpuMs(stores),
  };
  return () => {
    const wall = Date.now() - t0.wall;
    const pct = (ms: number) => Math.round((ms / wall) * 100);
    const driver = process.cpuUsage(t0.driver);
    const cpu = {
      server: pct(readCpuMs(serverPid) - t0.server),
      load: pct(readCpuMs(loadPid) - t0.load),
      redisPg: pct(sumCpuMs(stores) - t0.stores),
      other: 0,
    };
    const all = pct(readMachineCpuMs().busy - t0.machine);
    cpu.other = Math.max(0, all - cpu.server - cpu.load - cpu.redisPg - pct((driver.user + driver.system) / 1000));
    return cpu;
  };
}

async function measure(target: Target, root: string, latencyRate: () => number): Promise<Record<string, unknown>> {
  const redisPrefix = `bench:scores:${randomBytes(4).toString('hex')}:`;
  log(`${target}: starting`);
  const server = target === 'ours' ? await startOurs(root, redisPrefix) : await startBaseline(root);
  const load = new Load();
  try {
    const matchIds: string[] = [];
    for (let i = 0; i < MATCHES; i++) {
      const created = await httpJson(
        'POST',
        server.port,
        matchesPath,
        { sport: 'football', homeTeam: `Home ${i}`, awayTeam: `Away ${i}`, startsAt: new Date().toISOString() },
        ADMIN_HEADERS,
      );
      if (created.status !== 201) throw new Error(`create match: ${created.status} ${JSON.stringify(created.body)}`);
      matchIds.push(created.body.id);
      const kickoff = await httpJson(
        'POST',
        server.port,
        eventsPath(created.body.id),
        { kind: 'kickoff' },
        ADMIN_HEADERS,
      );
      if (kickoff.status !== 201) throw new Error(`kickoff: ${kickoff.status} ${JSON.stringify(kickoff.body)}`);
    }
    await load.call('setup', {
      port: server.port,
      headers: ADMIN_HEADERS,
      matchIds,
      nextSeq: matchIds.map(() => 2),
    });
    const rssBefore = readRssBytes(server.pid);
    const conn = await load.call('connect', { n: SUBSCRIBERS });
    log(
      `${target}: ${conn.ok}/${SUBSCRIBERS} subscribers in ${conn.ms} ms${conn.failed ? ` ${JSON.stringify(conn.errors)}` : ''}`,
    );
    if (conn.ok === 0) throw new Error(`no subscriber connected: ${JSON.stringify(conn.errors)}`);
    const rssConnected = readRssBytes(server.pid);

    await load.call('phase', { mode: 'closed', warmupMs: 0, windowMs: PLAN.warmupMs, graceMs: PLAN.graceMs });
    let cpu = cpuMeter(server.pid, load.pid);
    const sustained = await load.call('phase', {
      mode: 'closed',
      warmupMs: 300,
      windowMs: PLAN.sustainMs,
      graceMs: PLAN.graceMs,
    });
    const sustainedCpu = cpu();
    const rssLoaded = readRssBytes(server.pid);
    const keptUp = sustained.onTimeRatio >= PASS_RATIO && sustained.errors === 0;
    // Events whose frames all reached their subscribers in time, per second.
    const deliveredEventsPerSec = keptUp
      ? sustained.eventsPerSec
      : Math.round(sustained.eventsPerSec * sustained.onTimeRatio);
    log(
      `${target}: sustained ${sustained.eventsPerSec} events/s posted, ${sustained.framesPerSec} frames/s on time ` +
        `(${(sustained.onTimeRatio * 100).toFixed(1)} %), p50 ${sustained.p50Ms} p99 ${sustained.p99Ms} ms; ` +
        `cpu % server ${sustainedCpu.server} load ${sustainedCpu.load} redis+pg ${sustainedCpu.redisPg} other ${sustainedCpu.other}` +
        `${sustained.errors ? `; ${sustained.errors} errors: ${sustained.firstError}` : ''}`,
    );

    const rate = latencyRate() || Math.max(10, Math.round(deliveredEventsPerSec / 2));
    cpu = cpuMeter(server.pid, load.pid);
    const latency = await load.call('phase', {
      mode: 'open',
      rate,
      warmupMs: 300,
      windowMs: PLAN.latencyMs,
      graceMs: PLAN.graceMs,
    });
    const latencyCpu = cpu();
    log(
      `${target}: latency at ${rate} events/s: p50 ${latency.p50Ms} p99 ${latency.p99Ms} ms, ` +
        `${(latency.onTimeRatio * 100).toFixed(1)} % on time${latency.skipped ? `, ${latency.skipped} skipped` : ''}`,
    );
    return {
      subscribers: conn.ok,
      matches: MATCHES,
      eventsPerSec: deliveredEventsPerSec,
      postedEventsPerSec: sustained.eventsPerSec,
      keptUp,
      framesPerSec: sustained.framesPerSec,
      sustainedP50Ms: sustained.p50Ms,
      sustainedP99Ms: sustained.p99Ms,
      latencyEventsPerSec: rate,
      p50Ms: latency.p50Ms,
      p99Ms: latency.p99Ms,
      latencyOnTimeRatio: latency.onTimeRatio,
      rssBeforeMb: Number((rssBefore / 1_048_576).toFixed(1)),
      rssConnectedMb: Number((rssConnected / 1_048_576).toFixed(1)),
      rssMb: Number((rssLoaded / 1_048_576).toFixed(1)),
      cpuPct: { sustained: sustainedCpu, latency: latencyCpu },
      integrity: { dropped: latency.dropped, duplicates: latency.duplicates, gaps: latency.gaps },
      phases: { sustained, latency },
    };
  } finally {
    await load.exit();
    await server.stop();
    if (target === 'ours') await dropRedisPrefix(redisPrefix).catch(() => undefined);
    await admin(`DROP DATABASE IF EXISTS ${DATABASES[target]} WITH (FORCE)`).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = repoRoot();
  const wanted = (process.env.BENCH_TARGETS?.split(',') ?? TARGETS) as Target[];
  const notes: string[] = [];
  const scenarios: Record<string, any> = {};
  log(`${QUICK ? 'QUICK ' : ''}run: ${SUBSCRIBERS} subscribers over ${MATCHES} matches; targets ${wanted.join(', ')}`);
  let latencyRate = 0;
  for (const target of TARGETS.filter((t) => wanted.includes(t))) {
    if (
      target === 'ours' &&
      (!existsSync(join(root, 'dist', 'main.js')) || !existsSync(join(root, 'dist', 'scores')))
    ) {
      notes.push('ours skipped: dist/scores missing (run `npm run build`)');
      continue;
    }
    try {
      scenarios[target] = await measure(target, root, () => latencyRate);
      // The latency load is half of ours' sustained rate, the same for the baseline.
      if (!latencyRate) latencyRate = scenarios[target].latencyEventsPerSec;
    } catch (error) {
      log(`${target}: FAILED ${(error as Error).message}`);
      scenarios[target] = { error: (error as Error).message };
      notes.push(`${target} failed: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  const o = scenarios.ours;
  const b = scenarios.baseline;
  const ratio = (x?: number | null, y?: number | null) => (x == null || !y ? null : Number((x / y).toFixed(2)));
  for (const [name, s] of Object.entries(scenarios)) {
    if (s.error) continue;
    if (!s.keptUp)
      notes.push(`${name}: delivery fell behind the posts at full speed (${s.phases.sustained.onTimeRatio} on time)`);
    if (s.integrity.duplicates || s.integrity.gaps || s.integrity.dropped)
      notes.push(
        `${name}: ${s.integrity.duplicates} repeated, ${s.integrity.gaps} skipped seqs, ${s.integrity.dropped} streams dropped`,
      );
    if (Math.max(s.cpuPct.sustained.other, s.cpuPct.latency.other) > 25)
      notes.push(
        `${name}: other processes used up to ${Math.max(s.cpuPct.sustained.other, s.cpuPct.latency.other)} % of a core; numbers suspect`,
      );
  }
  const result = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memMb: Math.round(os.totalmem() / 1_048_576),
      kernel: `${os.type()} ${os.release()}`,
    },
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    durationS: Math.round((Date.now() - started) / 1000),
    method: {
      load: `${SUBSCRIBERS} SSE subscribers, subscriber i on match i mod ${MATCHES}; one post in flight per match`,
      baseline:
        'bare node:http + pg: one autocommit INSERT per event, then one encoded Buffer written to each subscriber',
      sustained: `closed loop for ${PLAN.sustainMs} ms: events/s whose frames reached every subscriber by the window end + ${PLAN.graceMs} ms (if < ${PASS_RATIO * 100} % did, events/s × the on-time share)`,
      framesPerSec: 'frames of the sustained window read by the subscribers by its end + grace, per second',
      latency: `open loop for ${PLAN.latencyMs} ms at half of ours' sustained events/s (same rate for the baseline): POST sent → frame read, p50/p99 over every frame`,
      rssMb: 'VmRSS of the server after the sustained phase',
    },
    notes,
    scenarios,
    ratios: {
      eventsPerSec: ratio(o?.eventsPerSec, b?.eventsPerSec),
      framesPerSec: ratio(o?.framesPerSec, b?.framesPerSec),
      p50Ms: ratio(o?.p50Ms, b?.p50Ms),
      p99Ms: ratio(o?.p99Ms, b?.p99Ms),
    },
  };
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'results', 'scores.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    '\n| target | events/s | × baseline | frames/s | latency load events/s | p50 ms | p99 ms | RSS MB | server CPU % |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, s] of Object.entries(scenarios)) {
    if (s.error) console.log(`| ${name} | failed: ${s.error.split('\n')[0]} | | | | | | | |`);
    else
      console.log(
        `| ${name} | ${s.eventsPerSec} | ${ratio(s.eventsPerSec, b?.eventsPerSec) ?? '–'}× | ${s.framesPerSec} | ${s.latencyEventsPerSec} | ${s.p50Ms} | ${s.p99Ms} | ${s.rssMb} | ${s.cpuPct.sustained.server} |`,
      );
  }
  if (notes.length) console.log(`\nnotes:\n- ${notes.join('\n- ')}`);
  log(`wrote ${out} (${result.durationS} s)`);
}

const watchdog = setTimeout(() => {
  console.error(`bench:scores: hard time limit (${PLAN.hardLimitMs / 60_000} min) reached; stopping`);
  killAll();
  process.exit(2);
}, PLAN.hardLimitMs);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}
main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    killAll();
    process.exit(1);
  },
);
