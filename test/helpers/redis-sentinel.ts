/**
 * A master, a replica and three sentinels (quorum 2) of the test's own (real `redis-server`
 * processes on free ports, no persistence), for specs that fail Redis over. A crashed master is
 * only promoted away once two sentinels agree it is down and a majority elects a leader, as in
 * production. `stop()` kills them all and removes the tmp dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type HeldPort, holdPort } from './port-guard.js';
import { freePort, portOpen, stopProcesses, until } from './processes.js';

export const SENTINEL_NAME = 'mymaster';
const SENTINELS = 3;
const QUORUM = 2;

export interface RedisSentinelSet {
  /** `127.0.0.1:<port>,…` of the three sentinels, as REDIS_SENTINELS takes it. */
  sentinels: string;
  sentinelPorts: number[];
  masterPort: number;
  replicaPort: number;
  /** `host:port` of the master the first sentinel reports now. */
  master(): Promise<string>;
  /**
   * Once the master has a replica in sync: `SENTINEL FAILOVER`, then waits until every sentinel
   * reports the other node as master.
   */
  failover(timeoutMs?: number): Promise<string>;
  /**
   * Once the master has a replica in sync: `kill -9` of it (its port then held until `stop()`),
   * then waits until every sentinel reports the other node as master.
   */
  crash(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function redisSentinel(): Promise<RedisSentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'lf-sentinel-'));
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  const sentinelPorts: number[] = [];
  for (let i = 0; i < SENTINELS; i++) sentinelPorts.push(await freePort());
  const procs = new Map<number, ChildProcess>();
  const held: HeldPort[] = [];
  const server = async (port: number, args: string[]) => {
    procs.set(
      port,
      spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], {
        stdio: 'ignore',
      }),
    );
    await until(() => portOpen(port), 10_000, `redis-server on ${port} did not start`);
  };
  // No persistence; the full sync to a new replica starts at once (Redis waits 5 s by default).
  const data = ['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
  // Sentinel rewrites its config file (it must be writable), so each one's is generated per run.
  const configs = sentinelPorts.map((port) => {
    const config = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      config,
      [
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} ${QUORUM}`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
        '',
      ].join('\n'),
    );
    return config;
  });
  const clients = sentinelPorts.map(
    (port) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 }),
  );
  const [sentinel] = clients;
  const masterOf = async (client: Redis) => {
    const [host, port] = (await client.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME)) as string[];
    return `${host}:${port}`;
  };
  /** Whether the master at `address` has a replica that finished its sync (`state=online`). */
  const replicaInSync = async (address: string) => {
    const node = new Redis({
      port: Number(address.split(':')[1]),
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    try {
      await node.connect();
      return /^slave\d+:.*state=online/m.test(await node.info('replication'));
    } finally {
      node.disconnect();
    }
  };
  const promoted = async (before: string, timeoutMs: number) => {
    let now = before;
    await until(
      async () => {
        const seen = await Promise.all(clients.map(masterOf));
        now = seen[0];
        return seen.every((master) => master === seen[0] && master !== before);
      },
      timeoutMs,
      'the sentinels kept the old master (or do not agree on the new one)',
    );
    return now;
  };
  const set: RedisSentinelSet = {
    sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
    sentinelPorts,
    masterPort,
    replicaPort,
    master: () => masterOf(sentinel),
    async failover(timeoutMs = 20_000) {
      const before = await set.master();
      await until(() => replicaInSync(before), timeoutMs, 'the master has no replica in sync');
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
      await until(() => replicaInSync(before), timeoutMs, 'the master has no replica in sync');
      const port = Number(before.split(':')[1]);
      const proc = procs.get(port);
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
      // The dead master's port stays taken (every connection reset), so that on a shared machine no
      // other test's server can start there and pass for it (port-guard.ts).
      held.push(await holdPort(port));
      return promoted(before, timeoutMs);
    },
    async stop() {
      for (const client of clients) client.disconnect();
      await Promise.all(held.splice(0).map((port) => port.release()));
      await stopProcesses(procs.values());
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server(masterPort, data);
    await server(replicaPort, [...data, '--replicaof', '127.0.0.1', String(masterPort)]);
    for (const [i, port] of sentinelPorts.entries()) await server(port, [configs[i], '--sentinel']);
    await Promise.all(clients.map((client) => client.connect()));
    // Ready when the replica is in sync (a failover before that would promote an empty node), and
    // every sentinel knows the master, has discovered the replica (from the master's INFO) and the
    // other sentinels (from the master's hello channel): only then can they agree.
    await until(
      async () => {
        if (!(await replicaInSync(`127.0.0.1:${masterPort}`))) return false;
        for (const client of clients) {
          const replicas = (await client.call('SENTINEL', 'replicas', SENTINEL_NAME)) as string[][];
          const others = (await client.call('SENTINEL', 'sentinels', SENTINEL_NAME)) as string[][];
          if (replicas.length === 0 || others.length < SENTINELS - 1) return false;
          if ((await masterOf(client)) !== `127.0.0.1:${masterPort}`) return false;
        }
        return true;
      },
      20_000,
      'the sentinels did not see the master, its replica and each other',
    );
  } catch (error) {
    await set.stop();
    throw error;
  }
  return set;
}
