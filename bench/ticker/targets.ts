/**
 * The servers under test, each started as its own child process on 127.0.0.1, and what the driver
 * reads from them: readiness, RSS and CPU time (from /proc/<pid>, the same way for all of them).
 * Targets: `bare` and `better-sse` (the SSE baselines), `ours` (the app, read over SSE) and `ours-ws`
 * (the same app process and env, read over the feed WebSocket `/feeds/ws`: only the client differs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpJson } from './publisher.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { appArgs, freePort, stopper } from '../processes.js';

export type TargetName = 'bare' | 'better-sse' | 'ours' | 'ours-ws';
/** Run order at each N: bare first (its sustained rate sets everyone's latency load). */
export const TARGETS: TargetName[] = ['bare', 'better-sse', 'ours', 'ours-ws'];

/** The targets served by the app (`node dist/main.js`). */
export const isOurs = (target: TargetName): target is 'ours' | 'ours-ws' => target === 'ours' || target === 'ours-ws';

/** How the load client reads a target: SSE streams, or the feed WebSocket. */
export const transportOf = (target: TargetName): 'sse' | 'ws' => (target === 'ours-ws' ? 'ws' : 'sse');

export const ADMIN_API_KEY = 'bench-admin-key-0123456789';

export interface RunningServer {
  target: TargetName;
  pid: number;
  port: number;
  /** Where ticks are POSTed, and with which headers. */
  publishPath: string;
  publishHeaders: Record<string, string>;
  /** Server-side connection count, where the server reports one. */
  connections(): Promise<number | undefined>;
  stop(): Promise<void>;
  /** Last lines the process wrote, for error messages. */
  output(): string;
}

/** The repository root: the nearest folder above this file (or else the cwd) whose package.json is ours. */
export function repoRoot(): string {
  const isRoot = (dir: string) => {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'live-feed-backend';
    } catch {
      return false;
    }
  };
  for (let dir = fileURLToPath(new URL('.', import.meta.url)); ; dir = dirname(dir)) {
    if (isRoot(dir)) return dir;
    if (dirname(dir) === dir) break;
  }
  if (isRoot(process.cwd())) return process.cwd();
  throw new Error('run from the repository root (package.json "live-feed-backend" not found)');
}

export function oursAvailable(root: string): boolean {
  return existsSync(join(root, 'dist', 'main.js')) && existsSync(join(root, 'dist', 'ticker'));
}

export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** utime + stime of the process (all its threads), in ms. */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks (USER_HZ = 100).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Busy and total CPU time of the whole machine since boot, in ms (summed over cores). */
export function readMachineCpuMs(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const v = values.map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - v[3] - v[4]) * 10, total: total * 10 };
}

/** Pids of the data stores the app leans on (their CPU is reported apart from "other load"). */
export function dataStorePids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'redis-server' || comm === 'postgres') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU ms of several pids; vanished ones count as 0. */
export function sumCpuMs(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += readCpuMs(pid);
    } catch {
      // exited
    }
  }
  return sum;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function collect(child: ChildProcess): { tail: () => string; lines: (fn: (line: string) => void) => void } {
  let tail = '';
  const listeners: ((line: string) => void)[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-4000);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) for (const fn of listeners) fn(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return { tail: () => tail, lines: (fn) => listeners.push(fn) };
}

const live = new Set<ChildProcess>();
/** Last resort when the driver exits abnormally: no server may outlive it. */
export function killAll(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

async function startBaseline(target: 'bare' | 'better-sse'): Promise<RunningServer> {
  const file = fileURLToPath(
    new URL(target === 'bare' ? './baseline-bare.js' : './baseline-better-sse.js', import.meta.url),
  );
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, PORT: '0' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  const out = collect(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target} did not print READY in 15 s:\n${out.tail()}`)), 15_000);
    out.lines((line) => {
      const match = /^READY (\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${target} exited (${code}) before READY:\n${out.tail()}`)));
  });
  return {
    target,
    pid: child.pid!,
    port,
    publishPath: '/publish',
    publishHeaders: {},
    connections: async () => (await httpJson('GET', port, '/stats')).body?.connections,
    stop: stopper(child),
    output: out.tail,
  };
}

async function startOurs(
  target: 'ours' | 'ours-ws',
  root: string,
  symbols: readonly string[],
): Promise<RunningServer & { redisPrefix: string }> {
  const port = await freePort();
  const redisPrefix = `bench:${randomBytes(4).toString('hex')}:`;
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    // Feed clients read without credentials (feed access by plan: the anonymous plan reads everything,
    // SSE and WebSocket alike). Its maxStreams (100,000 per client address) is above any N here, and
    // every stream of the one address 127.0.0.1 counts against it, on either transport.
    FEED_ANONYMOUS_ACCESS: 'all',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/livefeed_bench',
    REDIS_KEY_PREFIX: redisPrefix,
    ADMIN_API_KEY,
    JWT_SECRET: 'bench-jwt-secret-0123456789-0123456789',
    LOG_LEVEL: 'warn',
    ...BENCH_RATE_LIMITS,
    DEMO_MODE: 'false',
    MAX_SSE_CONNECTIONS: '20000',
  };
  const child = spawn(process.execPath, appArgs(root), {
    cwd: root,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(child);
  const out = collect(child);
  const stop = stopper(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ours exited (${child.exitCode}) while booting:\n${out.tail()}`);
    const ready = await httpJson('GET', port, '/health/ready').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ours not ready after 60 s:\n${out.tail()}`);
    }
    await sleep(250);
  }
  const auth = { Authorization: `Bearer ${ADMIN_API_KEY}` };
  for (const symbol of symbols) {
    const res = await httpJson('POST', port, '/admin/ticker/instruments', { symbol, name: `${symbol} (bench)` }, auth);
    // 409: the bench database (or an earlier target of this run) already has it.
    if (res.status !== 201 && res.status !== 409) {
      await stop();
      throw new Error(`POST /admin/ticker/instruments ${symbol} → ${res.status} ${JSON.stringify(res.body)}`);
    }
  }
  return {
    target,
    pid: child.pid!,
    port,
    publishPath: '/admin/ticker/ticks',
    publishHeaders: auth,
    connections: async () => undefined,
    stop,
    output: out.tail,
    redisPrefix,
  };
}

export function startTarget(target: TargetName, root: string, symbols: readonly string[]): Promise<RunningServer> {
  return isOurs(target) ? startOurs(target, root, symbols) : startBaseline(target);
}

/** Deletes the Redis keys of one `ours` run (its stream and queues live under a random prefix). */
export async function dropRedisPrefix(prefix: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  let removed = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}
