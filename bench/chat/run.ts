/**
 * Chat benchmark driver (`npm run bench:chat`, `BENCH_QUICK=1 npm run bench:chat`).
 *
 * In one run, on this machine:
 *   1. raw: the rate of single-row INSERTs into `messages` through a pg pool as large as the two
 *      app instances' pools together (the persistence floor: one commit per message), measured
 *      before and after ours;
 *   2. ours: two `node dist/main.js` instances (Postgres, Redis adapter); 1,000 users in 500 direct
 *      conversations, each pair split over the two instances, connected from a separate client
 *      process; ramp the total send rate (doubling, then bisecting) while it is sustained; then
 *      send→receive p50/p99 at half the sustained rate;
 *   3. relay: the same with a bare socket.io relay (same Redis adapter, no persistence, relay.ts).
 * A step is sustained when the client sent what was due, every send was acked `ok`, ≥ 95 % of the
 * messages reached their recipient by the window's end + 500 ms, the recipient's lag did not grow
 * (second-half p50 ≤ first-half p50 + max(20 ms, 25 %)) and p99 ≤ 250 ms (no standing queue).
 * Writes bench/results/chat.json and prints a markdown table.
 * Env: BENCH_QUICK=1 (short steps), BENCH_USERS=1000, BENCH_TARGETS=ours,relay, BENCH_OUT=path,
 * BENCH_PROFILE_DIR=dir (CPU profiles of the app instances).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import { dataStorePids, readCpuMs, readMachineCpuMs, repoRoot, sumCpuMs } from '../ticker/targets.js';
import { type UserSpec, sleep } from './common.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { adminSql, appArgs, databaseUrl as benchDatabaseUrl, freePort } from '../processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const PLAN = QUICK
  ? { stepMs: 1_500, measureMs: 2_000, rawMs: 1_500, refine: 1, startRate: 400 }
  : { stepMs: 3_000, measureMs: 5_000, rawMs: 3_000, refine: 2, startRate: 250 };
const USERS = Number(process.env.BENCH_USERS ?? 1000);
const POOL_PER_INSTANCE = 10;
const INSTANCES = 2;
const WARMUP_MS = 400;
const ON_TIME_GRACE_MS = 500;
const PASS_RATIO = 0.95;
const LAG_GROWTH_MS = 20;
const LAG_GROWTH_SHARE = 0.25;
const P99_LIMIT_MS = 250;
const MAX_RATE = 20_000;
const HARD_LIMIT_MS = (QUICK ? 4 : 10) * 60_000;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_API_KEY = 'bench-admin-key-0123456789';
const JWT_SECRET = 'bench-jwt-secret-0123456789-abcdefghijkl';
const TARGETS = ['ours', 'relay'] as const;
type Target = (typeof TARGETS)[number];

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const children = new Set<ChildProcess>();
const killAll = () => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL'));

interface Server {
  pids: number[];
  urls: string[];
  stop(): Promise<void>;
}

function spawnTracked(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-3000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  (child as ChildProcess & { tail: () => string }).tail = () => tail;
  return child;
}

async function stopAll(list: ChildProcess[]): Promise<void> {
  await Promise.all(
    list.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

async function startOurs(root: string, databaseUrl: string, prefix: string): Promise<Server> {
  const list: ChildProcess[] = [];
  const urls: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const port = await freePort();
    // BENCH_PROFILE_DIR=dir: V8 CPU profiles of the app instances, written when they exit.
    const profile = process.env.BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [];
    const child = spawnTracked([...profile, ...appArgs(root)], {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: String(POOL_PER_INSTANCE),
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_API_KEY,
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      ...BENCH_RATE_LIMITS,
      DEMO_MODE: 'false',
      CHAT_MESSAGES_PER_MINUTE: '100000',
      INSTANCE_ID: `bench-${i}`,
    });
    list.push(child);
    urls.push(`http://127.0.0.1:${port}`);
    // One at a time: the first creates and migrates the database.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ours exited:\n${(child as any).tail()}`);
      if (Date.now() > deadline) throw new Error(`ours not ready:\n${(child as any).tail()}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health/ready`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      await sleep(200);
    }
  }
  return { pids: list.map((c) => c.pid!), urls, stop: () => stopAll(list) };
}

async function startRelay(prefix: string): Promise<Server> {
  const list: ChildProcess[] = [];
  const urls: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const child = spawnTracked([fileURLToPath(new URL('./relay.js', import.meta.url))], {
      PORT: '0',
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
    });
    list.push(child);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('relay not ready')), 20_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        const match = /READY (\d+)/.exec(chunk.toString());
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    urls.push(`http://127.0.0.1:${port}`);
  }
  return { pids: list.map((c) => c.pid!), urls, stop: () => stopAll(list) };
}

/** 1,000 users in 500 direct conversations, straight into the database; tokens signed here. */
async function seed(databaseUrl: string): Promise<UserSpec[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const names = Array.from({ length: USERS }, (_, i) => `bench-${i}`);
    const { rows } = await client.query<{ id: string }>(
      'INSERT INTO users (name) SELECT unnest($1::varchar[]) RETURNING id',
      [names],
    );
    const ids = rows.map((row) => row.id);
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < ids.length; i += 2) pairs.push([ids[i], ids[i + 1]]);
    const { rows: conversations } = await client.query<{ id: string }>(
      `INSERT INTO conversations (type, direct_key) SELECT 'direct', unnest($1::varchar[]) RETURNING id`,
      [pairs.map((p) => [...p].sort().join(':'))],
    );
    await client.query(
      `INSERT INTO conversation_members (conversation_id, user_id)
       SELECT unnest($1::uuid[]), unnest($2::uuid[]) UNION ALL SELECT unnest($1::uuid[]), unnest($3::uuid[])`,
      [conversations.map((c) => c.id), pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    const key = new TextEncoder().encode(JWT_SECRET);
    const specs: UserSpec[] = [];
    for (let p = 0; p < pairs.length; p++) {
      for (const [self, peer] of [pairs[p], [pairs[p][1], pairs[p][0]]]) {
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject(self)
          .setIssuedAt()
          .setExpirationTime('2h')
          .sign(key);
        specs.push({ id: self, token, conversationId: conversations[p].id, peerId: peer });
      }
    }
    return specs;
  } finally {
    await client.end();
  }
}

/** Single-row INSERTs, autocommit, through a pool the size of both instances' pools: rows/s. */
async function rawInsertRate(databaseUrl: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_PER_INSTANCE * INSTANCES });
  // An idle client that the server ends (the database is dropped WITH (FORCE) right after) must not
  // crash the driver with an unhandled 'error'.
  pool.on('error', () => undefined);
  try {
    const {
      rows: [{ id: sender }],
    } = await pool.query<{ id: string }>(`INSERT INTO users (name) VALUES ('bench-raw') RETURNING id`);
    const {
      rows: [{ id: conversation }],
    } = await pool.query<{ id: string }>(
      `INSERT INTO conversations (type, title) VALUES ('group', 'raw') RETURNING id`,
    );
    let seq = 0;
    let done = 0;
    const warmEnd = Date.now() + 300;
    const run = async (until: number, count: boolean) => {
      while (Date.now() < until) {
        const s = ++seq;
        await pool.query(
          'INSERT INTO messages (conversation_id, seq, sender_id, body, client_msg_id) VALUES ($1, $2, $3, $4, $5)',
          [conversation, s, sender, String(performance.now()), `raw-${s}`],
        );
        if (count) done++;
      }
    };
    await Promise.all(Array.from({ length: POOL_PER_INSTANCE * INSTANCES }, () => run(warmEnd, false)));
    const started = Date.now();
    await Promise.all(Array.from({ length: POOL_PER_INSTANCE * INSTANCES }, () => run(started + PLAN.rawMs, true)));
    return Math.round(done / ((Date.now() - started) / 1000));
  } finally {
    await pool.end();
  }
}

class Client {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (msg: any) => void>();

  constructor() {
    this.child = fork(fileURLToPath(new URL('./client.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.child);
    this.child.once('exit', () => children.delete(this.child));
    this.child.on('message', (msg: any) => {
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client ${cmd} timed out`)), timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        if (msg.ok) resolve(msg);
        else reject(new Error(msg.error));
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  async exit(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.call('exit', {}, 5_000).catch(() => undefined);
    await Promise.race([exited, sleep(3_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

interface Step {
  rate: number;
  due: number;
  acked: number;
  ackErrors: number;
  delivered: number;
  onTime: number;
  deliveredPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  ackP50Ms: number | null;
  ackP99Ms: number | null;
  firstHalfP50Ms: number | null;
  secondHalfP50Ms: number | null;
  cpuPct: { servers: number; client: number; redisPg: number; other: number };
  pass: boolean;
  why?: string;
  latency?: boolean;
}

async function step(target: Target, server: Server, client: Client, rate: number, windowMs: number): Promise<Step> {
  const start = Date.now() + WARMUP_MS;
  const end = start + windowMs;
  const stores = dataStorePids();
  const cpu0 = {
    wall: Date.now(),
    machine: readMachineCpuMs().busy,
    servers: sumCpuMs(server.pids),
    client: readCpuMs(client.pid),
    stores: sumCpuMs(stores),
    driver: process.cpuUsage(),
  };
  await client.call('window', { start, mid: start + windowMs / 2, end, onTimeBy: end + ON_TIME_GRACE_MS, rate });
  await sleep(end + ON_TIME_GRACE_MS - Date.now());
  let rep = await client.call('report');
  // Let late deliveries land (they count for latency, not as on time).
  for (let last = -1, i = 0; i < 20 && rep.delivered < rep.acked && rep.delivered !== last; i++) {
    last = rep.delivered;
    await sleep(150);
    rep = await client.call('report');
  }
  const wall = Date.now() - cpu0.wall;
  const pct = (ms: number) => Math.round((ms / wall) * 100);
  const driver = process.cpuUsage(cpu0.driver);
  const cpu = {
    servers: pct(sumCpuMs(server.pids) - cpu0.servers),
    client: pct(readCpuMs(client.pid) - cpu0.client),
    redisPg: pct(sumCpuMs(stores) - cpu0.stores),
    other: 0,
  };
  cpu.other = Math.max(
    0,
    pct(readMachineCpuMs().busy - cpu0.machine) -
      cpu.servers -
      cpu.client -
      cpu.redisPg -
      pct((driver.user + driver.system) / 1000),
  );
  const why: string[] = [];
  if (rep.sent < PASS_RATIO * rep.due) why.push(`client behind (${rep.sent}/${rep.due} sent)`);
  if (rep.ackErrors > 0) why.push(`${rep.ackErrors} error acks (${rep.firstError})`);
  if (rep.acked < PASS_RATIO * rep.due) why.push(`acked ${rep.acked}/${rep.due}`);
  if (rep.onTime < PASS_RATIO * rep.due)
    why.push(`on time ${((rep.onTime / Math.max(1, rep.due)) * 100).toFixed(1)} %`);
  const first = rep.firstHalfP50Ms ?? 0;
  if ((rep.secondHalfP50Ms ?? 0) - first > Math.max(LAG_GROWTH_MS, LAG_GROWTH_SHARE * first)) {
    why.push(`lag growing (p50 ${rep.firstHalfP50Ms} → ${rep.secondHalfP50Ms} ms)`);
  }
  if ((rep.p99Ms ?? Infinity) > P99_LIMIT_MS) why.push(`p99 ${rep.p99Ms} ms > ${P99_LIMIT_MS}`);
  const result: Step = {
    rate,
    due: rep.due,
    acked: rep.acked,
    ackErrors: rep.ackErrors,
    delivered: rep.delivered,
    onTime: rep.onTime,
    deliveredPerSec: Math.round(rep.onTime / (windowMs / 1000)),
    p50Ms: rep.p50Ms,
    p99Ms: rep.p99Ms,
    ackP50Ms: rep.ackP50Ms,
    ackP99Ms: rep.ackP99Ms,
    firstHalfP50Ms: rep.firstHalfP50Ms,
    secondHalfP50Ms: rep.secondHalfP50Ms,
    cpuPct: cpu,
    pass: why.length === 0,
    ...(why.length > 0 ? { why: why.join('; ') } : {}),
  };
  log(
    `  ${target} ${rate} msg/s: ${result.deliveredPerSec} delivered/s on time, p50 ${result.p50Ms} p99 ${result.p99Ms} ms, ` +
      `ack p50 ${result.ackP50Ms} p99 ${result.ackP99Ms} ms; cpu % servers ${cpu.servers} client ${cpu.client} ` +
      `redis+pg ${cpu.redisPg} other ${cpu.other}${result.pass ? '' : `  FAIL: ${result.why}`}`,
  );
  return result;
}

async function scenario(target: Target, server: Server, users: UserSpec[]) {
  const client = new Client();
  try {
    const conn = await client.call('connect', {
      urls: server.urls,
      users,
      auth: target === 'ours' ? 'token' : 'userId',
    });
    log(
      `${target}: ${conn.connected}/${users.length} connected in ${conn.ms} ms${conn.failed ? ` ${JSON.stringify(conn.errors)}` : ''}`,
    );
    if (conn.connected < users.length) throw new Error(`only ${conn.connected} of ${users.length} connected`);
    await sleep(3_000); // let the connects' own work (inbox check, presence) settle
    await step(target, server, client, 100, 1_000); // warm-up, not judged
    const steps: Step[] = [];
    let best: Step | undefined;
    let failRate: number | undefined;
    const run = async (rate: number) => {
      const s = await step(target, server, client, rate, PLAN.stepMs);
      steps.push(s);
      if (s.pass) best = s;
      else {
        failRate = rate;
        await sleep(1_500);
      }
      return s.pass;
    };
    let rate = PLAN.startRate;
    while ((await run(rate)) && rate < MAX_RATE) rate = Math.min(MAX_RATE, rate * 2);
    for (let i = 0; !best && i < 3 && rate > 25; i++) {
      rate = Math.round(rate / 2);
      await run(rate);
    }
    for (let i = 0; i < PLAN.refine && best && failRate; i++) {
      const mid = Math.round(Math.sqrt(best.rate * failRate));
      if (mid <= best.rate || mid >= failRate) break;
      await run(mid);
    }
    const sustained = best?.rate ?? null;
    const latencyRate = Math.max(10, Math.round((sustained ?? 100) / 2));
    log(`${target}: sustained ${sustained ?? 'none'} msg/s; latency at ${latencyRate} msg/s`);
    const latency = await step(target, server, client, latencyRate, PLAN.measureMs);
    return {
      target,
      users: users.length,
      sustainedMsgsPerSec: sustained,
      sustainedDeliveredPerSec: best?.deliveredPerSec ?? null,
      capped: sustained === MAX_RATE,
      latencyMsgsPerSec: latencyRate,
      p50Ms: latency.p50Ms,
      p99Ms: latency.p99Ms,
      ackP50Ms: latency.ackP50Ms,
      ackP99Ms: latency.ackP99Ms,
      latencyOnTimeRatio: Number((latency.onTime / Math.max(1, latency.due)).toFixed(4)),
      // CPU of the two servers per message at the latency step: less sensitive to a busy machine than rates.
      serverCpuMsPerMsg: Number(((latency.cpuPct.servers * 10) / latencyRate).toFixed(2)),
      maxOtherCpuPct: Math.max(...[...steps, latency].map((s) => s.cpuPct.other)),
      steps: [...steps, { ...latency, latency: true }],
    };
  } finally {
    await client.exit();
  }
}

/**
 * The checkout being measured: the working directory when it is the repository (npm scripts run
 * there; with node_modules shared between checkouts, the compiled bench sits under another one).
 */
function benchRoot(): string {
  try {
    if (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).name === 'live-feed-backend') {
      return process.cwd();
    }
  } catch {
    // not the repository
  }
  return repoRoot();
}

async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = benchRoot();
  const wanted = (process.env.BENCH_TARGETS?.split(',') ?? [...TARGETS]) as Target[];
  const notes: string[] = [];
  if (!existsSync(join(root, 'dist', 'chat', 'chat.gateway.js'))) {
    throw new Error('dist/chat is missing: run `npm run build` first');
  }
  const id = randomBytes(4).toString('hex');
  const database = `livefeed_bench_chat_${id}`;
  const databaseUrl = benchDatabaseUrl(database);
  const prefix = `bench:chat:${id}:`;
  log(`${QUICK ? 'QUICK ' : ''}run: ${USERS} users, targets ${wanted.join(', ')}, database ${database}`);
  const scenarios: Record<string, unknown> = {};
  const raw: number[] = [];
  let users: UserSpec[];
  let ours: Server | undefined;
  try {
    ours = await startOurs(root, databaseUrl, prefix);
    users = await seed(databaseUrl);
    raw.push(await rawInsertRate(databaseUrl));
    log(`raw: ${raw[0]} single-row inserts/s (pool of ${POOL_PER_INSTANCE * INSTANCES})`);
    if (wanted.includes('ours')) {
      try {
        scenarios.ours = await scenario('ours', ours, users);
      } catch (error) {
        log(`ours: FAILED ${(error as Error).message}`);
        scenarios.ours = { error: (error as Error).message };
      }
    }
    await ours.stop();
    ours = undefined;
    raw.push(await rawInsertRate(databaseUrl));
    log(`raw (after): ${raw[1]} single-row inserts/s`);
    if (wanted.includes('relay')) {
      const relay = await startRelay(`${prefix}relay:`);
      try {
        scenarios.relay = await scenario('relay', relay, users);
      } catch (error) {
        log(`relay: FAILED ${(error as Error).message}`);
        scenarios.relay = { error: (error as Error).message };
      } finally {
        await relay.stop();
      }
    }
  } finally {
    await ours?.stop();
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await dropPrefix(prefix).catch(() => undefined);
  }

  const rawRate = Math.round(raw.reduce((a, b) => a + b, 0) / raw.length);
  const o = scenarios.ours as
    { sustainedMsgsPerSec: number | null; p99Ms: number | null; maxOtherCpuPct: number } | undefined;
  const r = scenarios.relay as { sustainedMsgsPerSec: number | null } | undefined;
  for (const [name, s] of Object.entries(scenarios) as [string, { maxOtherCpuPct?: number }][]) {
    if ((s.maxOtherCpuPct ?? 0) > 25)
      notes.push(`${name}: other processes used up to ${s.maxOtherCpuPct} % of a core; numbers suspect`);
  }
  const ratio = (a?: number | null, b?: number | null) => (a && b ? Number((a / b).toFixed(2)) : null);
  const result = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memMb: Math.round(os.totalmem() / 1048576) },
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    durationS: Math.round((Date.now() - started) / 1000),
    method: {
      users: `${USERS} users in ${USERS / 2} direct conversations, user i on instance i mod 2 (each pair spans both)`,
      raw: `single-row INSERT INTO messages, autocommit, ${POOL_PER_INSTANCE * INSTANCES} concurrent (the two instances' pools), ${PLAN.rawMs} ms, before and after ours; mean`,
      sustained: `highest total send rate where sent ≥ ${PASS_RATIO * 100} % of due, every ack ok, ≥ ${PASS_RATIO * 100} % received by window end + ${ON_TIME_GRACE_MS} ms, lag not growing, p99 ≤ ${P99_LIMIT_MS} ms; ${PLAN.stepMs} ms steps, doubling from ${PLAN.startRate}, then ${PLAN.refine} bisections`,
      latency: `send→receive at the other user, p50/p99, at half the target's own sustained rate, ${PLAN.measureMs} ms`,
    },
    notes,
    rawInsertsPerSec: { before: raw[0] ?? null, after: raw[1] ?? null, mean: rawRate },
    scenarios,
    ratios: {
      oursVsRawInserts: ratio(o?.sustainedMsgsPerSec, rawRate),
      oursVsRelay: ratio(o?.sustainedMsgsPerSec, r?.sustainedMsgsPerSec),
    },
    goals: {
      sustainedVsRawInserts: {
        goal: '>= 0.7',
        value: ratio(o?.sustainedMsgsPerSec, rawRate),
        met: (ratio(o?.sustainedMsgsPerSec, rawRate) ?? 0) >= 0.7,
      },
      p99AtHalfSustained: { goal: '<= 100 ms', value: o?.p99Ms ?? null, met: o?.p99Ms != null && o.p99Ms <= 100 },
    },
  };
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'results', 'chat.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

  console.log(
    '\n| target | sustained msg/s | × raw inserts | latency load msg/s | p50 ms | p99 ms | ack p50 ms | ack p99 ms | server CPU ms/msg |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| raw inserts (pool ${POOL_PER_INSTANCE * INSTANCES}) | ${rawRate} | 1.00× | | | | | | |`);
  for (const [name, s] of Object.entries(scenarios) as [string, any][]) {
    if (s.error) {
      console.log(`| ${name} | failed: ${s.error} | | | | | | | |`);
      continue;
    }
    console.log(
      `| ${name} | ${s.capped ? '≥ ' : ''}${s.sustainedMsgsPerSec ?? 'none'} | ${ratio(s.sustainedMsgsPerSec, rawRate) ?? '–'}× | ${s.latencyMsgsPerSec} | ${s.p50Ms} | ${s.p99Ms} | ${s.ackP50Ms} | ${s.ackP99Ms} | ${s.serverCpuMsPerMsg} |`,
    );
  }
  console.log(`\ngoals: ${JSON.stringify(result.goals)}`);
  log(`wrote ${out} (${result.durationS} s)`);
}

const watchdog = setTimeout(() => {
  console.error(`bench: hard time limit (${HARD_LIMIT_MS / 60_000} min) reached; stopping`);
  killAll();
  process.exit(2);
}, HARD_LIMIT_MS);
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
