/**
 * Inbound webhook intake benchmark (`npm run bench:inbound`, `BENCH_QUICK=1 npm run bench:inbound`).
 *
 * Targets, in this order, each a child process on 127.0.0.1 against the same Postgres:
 *   - bare: `baseline-bare.ts`, a Fastify route that checks the same Stripe HMAC with node:crypto
 *     and inserts the same row with `pg` (no Nest, no ORM, no queue, no processing);
 *   - ours: `node dist/main.js`, `POST /webhooks/stripe` (stripe library verification, insert,
 *     BullMQ job), which also processes every event in the background (a transaction that records
 *     `payment.succeeded`, then the outbox relay): that work shares the machine with the intake.
 * For each: warm up; sustained rate = closed loop with C connections for a fixed time; wait until
 * ours has processed its backlog; latency = open loop at half the bare route's sustained rate, p50/p99
 * from each request's scheduled time. Both databases are recreated at the start, so both start empty.
 * Writes bench/results/inbound.json (or BENCH_OUT) and prints a markdown table.
 * Env: BENCH_QUICK=1, BENCH_CONNECTIONS (default 32), BENCH_OUT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dataStorePids, dropRedisPrefix, readCpuMs, readMachineCpuMs, sumCpuMs } from '../ticker/targets.js';
import { LoadGenerator, type LoadResult } from './load.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { appArgs, freePort, stopper, waitReady } from '../processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const PLAN = QUICK
  ? { rounds: 1, warmupMs: 1_000, sustainMs: 4_000, latencyMs: 4_000, hardLimitMs: 150_000 }
  : { rounds: 3, warmupMs: 3_000, sustainMs: 10_000, latencyMs: 10_000, hardLimitMs: 600_000 };
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECRET = 'whsec_bench_inbound_0123456789';
const PG = 'postgres://postgres@127.0.0.1:5432';
const DATABASES = { bare: 'livefeed_bench_inbound_bare', ours: 'livefeed_bench_inbound' } as const;
const REDIS_PREFIX = `bench:inbound:${process.pid}:`;
type Target = keyof typeof DATABASES;
const TARGETS: Target[] = ['bare', 'ours'];

/** The checkout to measure: npm runs scripts from the package root. */
function root(): string {
  const cwd = process.cwd();
  const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { name?: string };
  if (pkg.name !== 'live-feed-backend') throw new Error('run from the repository root (npm run bench:inbound)');
  return cwd;
}

const children = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function sql<T = Record<string, unknown>>(database: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: `${PG}/${database}` });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function recreateDatabases(): Promise<void> {
  for (const name of Object.values(DATABASES)) {
    await sql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
  output(): string;
}

function spawnServer(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

async function start(target: Target, repo: string): Promise<Running> {
  const port = await freePort();
  const here = dirname(fileURLToPath(import.meta.url));
  const { child, output } =
    target === 'bare'
      ? spawnServer(
          [join(here, 'baseline-bare.js')],
          { PORT: String(port), DATABASE_URL: `${PG}/${DATABASES.bare}`, STRIPE_SECRET: SECRET, POOL_SIZE: '20' },
          repo,
        )
      : spawnServer(
          appArgs(repo),
          {
            NODE_ENV: 'production',
            PORT: String(port),
            HOST: '127.0.0.1',
            DATABASE_URL: `${PG}/${DATABASES.ours}`,
            DATABASE_POOL_SIZE: '20',
            REDIS_KEY_PREFIX: REDIS_PREFIX,
            ADMIN_API_KEY: 'bench-admin-key-0123456789',
            JWT_SECRET: 'bench-jwt-secret-0123456789-0123456789',
            LOG_LEVEL: 'warn',
            ...BENCH_RATE_LIMITS,
            DEMO_MODE: 'false',
            STRIPE_WEBHOOK_SECRETS: SECRET,
          },
          repo,
        );
  await waitReady(port, child, output);
  return { pid: child.pid!, port, stop: stopper(child), output };
}

interface Phase extends LoadResult {
  serverCpuPct: number;
  dataStoresCpuPct: number;
  driverCpuPct: number;
  /** Everything else on the machine (other users of the 2 cores), in % of one core. */
  otherCpuPct: number;
}

interface Measured {
  /** The round with the median rate (closed loop). */
  sustained: Phase;
  /** The round with the median p99 (open loop at the latency load). */
  latency: Phase & { rate: number };
  rounds: { sustained: Phase[]; latency: Phase[] };
  stored: number;
  acknowledged: number;
  /** ours: seconds after each sustained round until every stored event was processed. */
  backlogDrainS?: number[];
}

async function phase(server: Running, run: () => Promise<LoadResult>): Promise<Phase> {
  const stores = new Map(dataStorePids().map((pid) => [pid, sumCpuMs([pid])]));
  const before = {
    server: readCpuMs(server.pid),
    driver: process.cpuUsage(),
    machine: readMachineCpuMs().busy,
  };
  const result = await run();
  const wallMs = result.durationS * 1000;
  const driver = process.cpuUsage(before.driver);
  const pct = (ms: number) => Math.round((ms / wallMs) * 100);
  const serverMs = readCpuMs(server.pid) - before.server;
  // Postgres backends of other clients come and go: count the ones alive at both ends.
  let storesMs = 0;
  for (const [pid, ms] of stores) {
    const now = sumCpuMs([pid]);
    if (now >= ms) storesMs += now - ms;
  }
  const driverMs = (driver.user + driver.system) / 1000;
  const machineMs = readMachineCpuMs().busy - before.machine;
  return {
    ...result,
    serverCpuPct: pct(serverMs),
    dataStoresCpuPct: pct(storesMs),
    driverCpuPct: pct(driverMs),
    otherCpuPct: Math.max(0, pct(machineMs - serverMs - storesMs - driverMs)),
  };
}

const median = <T>(items: T[], key: (item: T) => number): T =>
  [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];

/**
 * Both servers stay up; phases alternate between them (bare first in odd rounds, ours first in
 * even ones) so that a change in the machine's other load hits both alike. Medians are reported.
 */
async function measureBoth(repo: string): Promise<Record<Target, Measured>> {
  const servers = { bare: await start('bare', repo), ours: await start('ours', repo) };
  const loads = {
    bare: new LoadGenerator(servers.bare.port, SECRET, CONNECTIONS),
    ours: new LoadGenerator(servers.ours.port, SECRET, CONNECTIONS),
  };
  const rounds = {
    bare: { sustained: [] as Phase[], latency: [] as Phase[] },
    ours: { sustained: [] as Phase[], latency: [] as Phase[] },
  };
  const drains: number[] = [];
  try {
    for (const target of TARGETS) {
      await loads[target].closedLoop(CONNECTIONS, PLAN.warmupMs);
      await drain(target);
    }
    const order = (round: number): Target[] => (round % 2 === 0 ? ['bare', 'ours'] : ['ours', 'bare']);
    for (let round = 0; round < PLAN.rounds; round++) {
      for (const target of order(round)) {
        rounds[target].sustained.push(
          await phase(servers[target], () => loads[target].closedLoop(CONNECTIONS, PLAN.sustainMs)),
        );
        const drainStarted = Date.now();
        await drain(target);
        if (target === 'ours') drains.push(Math.round((Date.now() - drainStarted) / 100) / 10);
      }
    }
    const rate = Math.max(1, Math.round(median(rounds.bare.sustained, (r) => r.eventsPerSec).eventsPerSec / 2));
    for (let round = 0; round < PLAN.rounds; round++) {
      for (const target of order(round)) {
        rounds[target].latency.push(await phase(servers[target], () => loads[target].openLoop(rate, PLAN.latencyMs)));
        await drain(target);
      }
    }
    const results = {} as Record<Target, Measured>;
    for (const target of TARGETS) {
      const [{ n }] = await sql<{ n: string }>(DATABASES[target], 'SELECT count(*) AS n FROM inbound_events');
      const r = rounds[target];
      results[target] = {
        sustained: median(r.sustained, (p) => p.eventsPerSec),
        latency: { ...median(r.latency, (p) => p.p99Ms), rate },
        rounds: r,
        stored: Number(n),
        acknowledged: [...r.sustained, ...r.latency].reduce((sum, p) => sum + p.ok, 0),
        backlogDrainS: target === 'ours' ? drains : undefined,
      };
    }
    return results;
  } finally {
    for (const target of TARGETS) {
      await loads[target].close();
      await servers[target].stop();
    }
  }
}

/** ours: wait until no stored event is still waiting to be processed (bounded). */
async function drain(target: Target): Promise<void> {
  if (target !== 'ours') return;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [{ n }] = await sql<{ n: string }>(
      DATABASES.ours,
      `SELECT count(*) AS n FROM inbound_events WHERE status = 'received'`,
    );
    if (Number(n) === 0) return;
    await sleep(250);
  }
}

function table(results: Record<Target, Measured>): string {
  const bare = results.bare;
  const rows = (['bare', 'ours'] as const).map((target) => {
    const r = results[target];
    return `| ${target} | ${r.sustained.eventsPerSec.toLocaleString('en')} | ${(r.sustained.eventsPerSec / bare.sustained.eventsPerSec).toFixed(2)}× | ${r.sustained.p50Ms} | ${r.sustained.p99Ms} | ${r.latency.rate.toLocaleString('en')} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.sustained.serverCpuPct} % | ${r.sustained.dataStoresCpuPct} % | ${r.sustained.otherCpuPct} % |`;
  });
  return [
    `| target | sustained events/s | × bare | p50 ms (sustained) | p99 ms (sustained) | latency load events/s | p50 ms | p99 ms | server CPU | Postgres+Redis CPU | other CPU |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const repo = root();
  if (!existsSync(join(repo, 'dist', 'main.js')) || !existsSync(join(repo, 'dist', 'inbound'))) {
    throw new Error('dist/ has no inbound module: run `npm run build` first');
  }
  const hardLimit = setTimeout(() => {
    console.error(`bench:inbound hit its time limit (${PLAN.hardLimitMs / 1000} s)`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(2);
  }, PLAN.hardLimitMs);
  hardLimit.unref();

  await recreateDatabases();
  let results: Record<Target, Measured>;
  try {
    results = await measureBoth(repo);
  } finally {
    await dropRedisPrefix(REDIS_PREFIX).catch(() => undefined);
  }
  const latencyRate = results.bare.latency.rate;

  const notes: string[] = [];
  for (const target of ['bare', 'ours'] as const) {
    const r = results[target];
    if (r.sustained.errors || r.latency.errors) {
      notes.push(
        `${target}: ${r.sustained.errors + r.latency.errors} non-2xx (${r.sustained.firstError ?? r.latency.firstError})`,
      );
    }
    if (r.latency.skipped)
      notes.push(`${target}: fell behind the latency load (${r.latency.skipped} requests not sent)`);
    if (r.stored < r.acknowledged)
      notes.push(`${target}: ${r.acknowledged - r.stored} acknowledged events are not stored!`);
    const spread = r.rounds.sustained.map((p) => p.eventsPerSec);
    if (Math.max(...spread) > 1.3 * Math.min(...spread)) {
      notes.push(`${target}: the sustained rate varied across rounds (${spread.join(', ')} events/s)`);
    }
    const other = Math.max(...[...r.rounds.sustained, ...r.rounds.latency].map((p) => p.otherCpuPct));
    if (other > 25) notes.push(`${target}: other processes used up to ${other} % of a core during a phase: suspect`);
  }
  const ratio = results.ours.sustained.eventsPerSec / results.bare.sustained.eventsPerSec;
  const output = {
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
      event:
        'Stripe payment_intent.succeeded, about 1 KB, new id per request, signed with stripe.webhooks.generateTestHeaderString',
      connections: CONNECTIONS,
      warmupMs: PLAN.warmupMs,
      rounds: `${PLAN.rounds}, alternating bare/ours; the median round is reported`,
      sustained: `closed loop: ${CONNECTIONS} keep-alive connections (undici), each sending its next request on the answer, ${PLAN.sustainMs} ms`,
      latency: `open loop at half the bare route's sustained rate for ${PLAN.latencyMs} ms; latency from each request's scheduled send time`,
      ours: 'also processes every event in the background (BullMQ job → transaction with payment.succeeded → outbox relay)',
    },
    notes,
    targets: results,
    ratios: {
      sustainedEventsPerSec: Math.round(ratio * 100) / 100,
      latencyP99: Math.round((results.ours.latency.p99Ms / Math.max(results.bare.latency.p99Ms, 0.1)) * 100) / 100,
    },
    goals: {
      eventsPerSecVsBare: { goal: '>= 0.7', value: Math.round(ratio * 100) / 100, met: ratio >= 0.7 },
      p99AtLoadMs: { goal: '<= 100', value: results.ours.latency.p99Ms, met: results.ours.latency.p99Ms <= 100 },
    },
  };
  const out = process.env.BENCH_OUT ?? join(repo, 'bench', 'results', 'inbound.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(output, null, 2)}\n`);
  console.log(table(results));
  console.log(
    `\nours/bare sustained: ${ratio.toFixed(2)}× (goal ≥ 0.7); ours p99 at ${latencyRate} events/s: ${results.ours.latency.p99Ms} ms (goal ≤ 100)`,
  );
  if (notes.length) console.log(`notes:\n- ${notes.join('\n- ')}`);
  console.log(`wrote ${out} in ${output.durationS} s`);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  },
);
