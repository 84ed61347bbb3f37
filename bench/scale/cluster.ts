/**
 * The processes of one scale run: a private redis-server (so that `INFO commandstats` counts our
 * instances only, not the other jobs on the shared Redis; a private Redis Cluster is in
 * redis-cluster.ts) and K `node dist/main.js` instances on one fresh database and key prefix.
 * Everything listens on 127.0.0.1, is tracked here and is stopped by the driver (killAll when it dies).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { adminSql, databaseUrl as benchDatabaseUrl, freePort, stopper, waitReady } from '../processes.js';

export const ADMIN_API_KEY = 'bench-admin-key-0123456789';
export const JWT_SECRET = 'bench-jwt-secret-0123456789-abcdefghijkl';

const live = new Set<ChildProcess>();
/** Last resort when the driver dies: nothing it started may outlive it. */
export function killAll(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Spawns a child the driver must not leave behind; `tail()` is the last 3,000 characters of its output. */
export function track(command: string, args: string[], env: Record<string, string>): ChildProcess & { tail(): string } {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { tail(): string };
  live.add(child);
  child.once('exit', () => live.delete(child));
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-3000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.tail = () => tail;
  return child;
}

/**
 * Counts what an app instance logs (it runs with LOG_LEVEL=warn, so every line is a warning or an
 * error): pino JSON lines by their `msg`, anything else by its first 160 characters.
 */
function countLines(child: ChildProcess): () => Record<string, number> {
  const counts = new Map<string, number>();
  const partial = { stdout: '', stderr: '' };
  const on = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const lines = (partial[stream] + chunk.toString()).split('\n');
    partial[stream] = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let text = line.slice(0, 160);
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: unknown };
        if (typeof entry.msg === 'string') text = `${entry.level ?? '?'} ${entry.msg.slice(0, 160)}`;
      } catch {
        // not JSON: counted as it is
      }
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
  };
  child.stdout!.on('data', on('stdout'));
  child.stderr!.on('data', on('stderr'));
  return () => Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

export interface PrivateRedis {
  /** One node (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
  mode: 'single' | 'cluster';
  /** What it is, for the log: the URL, or the masters' addresses. */
  url: string;
  /** The environment that points an app instance at it. */
  env: Record<string, string>;
  /**
   * The driver's own connections, one per node (per master on a cluster): INFO commandstats,
   * PUBSUB and SCAN, nothing on the measured path.
   */
  nodes: Redis[];
  /** Whether it is a private server (else the shared one, whose command counts include other jobs). */
  private: boolean;
  stop(): Promise<void>;
}

/** A redis-server of our own on a free loopback port, no persistence; the shared one if there is no binary. */
export async function startRedis(): Promise<PrivateRedis> {
  const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) => existsSync(path));
  if (!binary || process.env.BENCH_REDIS_URL) {
    const url = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const client = new Redis(url, { maxRetriesPerRequest: 2 });
    return {
      mode: 'single',
      url,
      env: { REDIS_URL: url },
      nodes: [client],
      private: false,
      stop: async () => void client.disconnect(),
    };
  }
  const port = await freePort();
  const child = track(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    {},
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 2, retryStrategy: (n) => (n > 50 ? null : 100) });
  client.on('error', () => undefined); // refused until the server listens; ping() below waits for it
  await client.ping().catch((error: Error) => {
    throw new Error(`private redis-server did not answer: ${error.message}\n${child.tail()}`);
  });
  const stop = stopper(child);
  return {
    mode: 'single',
    url,
    env: { REDIS_URL: url },
    nodes: [client],
    private: true,
    stop: async () => {
      client.disconnect();
      await stop();
    },
  };
}

export interface Instance {
  index: number;
  id: string;
  url: string;
  port: number;
  pid: number;
  /** The last 3,000 characters of its stdout and stderr (LOG_LEVEL=warn: warnings and errors). */
  tail(): string;
  /** Every line it logged so far, counted by message (`<pino level> <msg>`), most frequent first. */
  logged(): Record<string, number>;
  stop(): Promise<void>;
}

export interface Cluster {
  instances: Instance[];
  databaseUrl: string;
  prefix: string;
  stop(): Promise<void>;
}

/**
 * K instances on database `name` (created and migrated by the first) and key prefix `prefix`, with
 * `redisEnv` (PrivateRedis.env) saying which Redis; `meanwhile` (seeding) runs against the first
 * while the others boot.
 */
export async function startCluster(
  root: string,
  k: number,
  name: string,
  prefix: string,
  redisEnv: Record<string, string>,
  meanwhile: (first: { url: string; databaseUrl: string }) => Promise<void>,
): Promise<Cluster> {
  const databaseUrl = benchDatabaseUrl(name);
  const instances: Instance[] = [];
  const stopAll = async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await adminSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  };
  const boot = async (index: number) => {
    const port = await freePort();
    const id = `${name}-${index}`;
    const child = track(process.execPath, [join(root, 'dist', 'main.js')], {
      NODE_ENV: 'production',
      // Feed clients read without credentials (feed access by plan: the anonymous plan reads everything).
      FEED_ANONYMOUS_ACCESS: 'all',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: '5',
      ...redisEnv,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_API_KEY,
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      ...BENCH_RATE_LIMITS,
      DEMO_MODE: 'false',
      CHAT_MESSAGES_PER_MINUTE: '100000',
      // Presence refreshes every socket's entry each TTL/4: a cost per socket and interval, not per
      // message. An hour's TTL keeps that refresh out of the measured windows.
      CHAT_PRESENCE_TTL_SECONDS: '3600',
      INSTANCE_ID: id,
    });
    const instance: Instance = {
      index,
      id,
      url: `http://127.0.0.1:${port}`,
      port,
      pid: child.pid!,
      tail: child.tail,
      logged: countLines(child),
      stop: stopper(child),
    };
    instances.push(instance);
    await waitReady(port, child, child.tail, `instance ${id}`);
  };
  try {
    // The first alone: it creates and migrates the database; the others then boot side by side.
    await boot(0);
    await Promise.all([
      meanwhile({ url: instances[0].url, databaseUrl }),
      ...Array.from({ length: k - 1 }, (_, i) => boot(i + 1)),
    ]);
  } catch (error) {
    await stopAll();
    throw error;
  }
  instances.sort((a, b) => a.index - b.index);
  return { instances, databaseUrl, prefix, stop: stopAll };
}

/** Removes the keys of one run's prefix (streams, presence, queues), node by node (one key per UNLINK on a cluster). */
export async function dropPrefix(redis: PrivateRedis, prefix: string): Promise<void> {
  for (const node of redis.nodes) {
    let cursor = '0';
    do {
      // Hash-tagged keys on a cluster start with `{` + the prefix.
      const [next, keys] = await node.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (redis.mode === 'single') await node.del(...keys);
      else await Promise.all(keys.map((key) => node.unlink(key)));
    } while (cursor !== '0');
  }
}
