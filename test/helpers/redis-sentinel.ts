/**
 * A master, a replica and one sentinel of the test's own (real `redis-server` processes on free
 * ports, no persistence), for specs that fail Redis over. `stop()` kills them all and removes the
 * tmp dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, portOpen } from './processes.js';

export const SENTINEL_NAME = 'mymaster';

export interface RedisSentinelSet {
  /** `127.0.0.1:<port>` of the sentinel, as REDIS_SENTINELS takes it. */
  sentinels: string;
  masterPort: number;
  replicaPort: number;
  /** `host:port` of the master the sentinel reports now. */
  master(): Promise<string>;
  /** `SENTINEL FAILOVER`, then waits until the sentinel reports the other node as master. */
  failover(timeoutMs?: number): Promise<string>;
  /** `kill -9` of the current master, then waits until the sentinel reports the other node as master. */
  crash(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function redisSentinel(): Promise<RedisSentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'lf-sentinel-'));
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const procs = new Map<number, ChildProcess>();
  const server = async (port: number, args: string[]) => {
    procs.set(
      port,
      spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], {
        stdio: 'ignore',
      }),
    );
    await until(() => portOpen(port), 10_000, `redis-server on ${port} did not start`);
  };
  const data = ['--save', '', '--appendonly', 'no'];
  const config = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file (it must be writable), so it is generated per run.
  writeFileSync(
    config,
    [
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      '',
    ].join('\n'),
  );
  const sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  const promoted = async (before: string, timeoutMs: number) => {
    let now = before;
    await until(async () => (now = await set.master()) !== before, timeoutMs, 'the sentinel kept the old master');
    return now;
  };
  const set: RedisSentinelSet = {
    sentinels: `127.0.0.1:${sentinelPort}`,
    masterPort,
    replicaPort,
    async master() {
      const [host, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME)) as string[];
      return `${host}:${port}`;
    },
    async failover(timeoutMs = 20_000) {
      const before = await set.master();
      // Refused (NOGOODSLAVE) until the sentinel has seen the replica in sync: retry until it takes.
      await until(
        () =>
          sentinel.call('SENTINEL', 'FAILOVER', SENTINEL_NAME).then(
            () => true,
            () => false,
          ),
        timeoutMs,
        'SENTINEL FAILOVER was refused',
      );
      return promoted(before, timeoutMs);
    },
    async crash(timeoutMs = 30_000) {
      const before = await set.master();
      procs.get(Number(before.split(':')[1]))?.kill('SIGKILL');
      return promoted(before, timeoutMs);
    },
    async stop() {
      sentinel.disconnect();
      await Promise.all(
        [...procs.values()].map(async (proc) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = new Promise((resolve) => proc.once('exit', resolve));
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(timer);
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server(masterPort, data);
    await server(replicaPort, [...data, '--replicaof', '127.0.0.1', String(masterPort)]);
    await server(sentinelPort, [config, '--sentinel']);
    await sentinel.connect();
    // Ready when the sentinel knows the master and has discovered the replica (from the master's INFO).
    await until(
      async () => {
        const replicas = (await sentinel.call('SENTINEL', 'replicas', SENTINEL_NAME)) as string[][];
        return replicas.length > 0 && (await set.master()) === `127.0.0.1:${masterPort}`;
      },
      20_000,
      'the sentinel did not see the master and its replica',
    );
  } catch (error) {
    await set.stop();
    throw error;
  }
  return set;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(message);
}
