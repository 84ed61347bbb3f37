/**
 * The processes of one scale run: a private redis-server (so that `INFO commandstats` counts our
 * instances only, not the other jobs on the shared Redis) and K `node dist/main.js` instances on one
 * fresh database and key prefix. Everything listens on 127.0.0.1 and is stopped by the driver.
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

function track(command: string, args: string[], env: Record<string, string>): ChildProcess & { tail(): string } {
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

export interface PrivateRedis {
  url: string;
  /** The driver's own connection: INFO commandstats, PUBSUB and SCAN, nothing on the measured path. */
  client: Redis;
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
    return { url, client, private: false, stop: async () => void client.disconnect() };
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
    url,
    client,
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
  stop(): Promise<void>;
}

export interface Cluster {
  instances: Instance[];
  databaseUrl: string;
  prefix: string;
  stop(): Promise<void>;
}

/**
 * K instances on database `name` (created and migrated by the first) and key prefix `prefix`;
 * `meanwhile` (seeding) runs against the first while the others boot.
 */
export async function startCluster(
  root: string,
  k: number,
  name: string,
  prefix: string,
  redisUrl: string,
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
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: '5',
      REDIS_URL: redisUrl,
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
    const instance = { index, id, url: `http://127.0.0.1:${port}`, port, pid: child.pid!, stop: stopper(child) };
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

/** Removes the keys of one run's prefix (streams, presence, queues). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
