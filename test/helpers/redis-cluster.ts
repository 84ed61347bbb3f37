/**
 * A Redis Cluster of the test's own: three masters (real `redis-server --cluster-enabled yes`
 * processes on free ports, no persistence, no replicas), slots spread by `redis-cli --cluster
 * create`. `restartEmpty(i)` kills master i and starts it again with no data and the same slots
 * (a shard that lost its data); `stop()` kills them all and removes the tmp dir.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, portOpen, stopProcesses, until } from './processes.js';

const run = promisify(execFile);

export interface RedisClusterSet {
  /** `127.0.0.1:<port>,…` of the masters, as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  ports: number[];
  /** The port of the master serving a key's (or channel's) slot. */
  portOf(key: string): Promise<number>;
  /** Kills master `port` and starts it again empty, serving the same slots. */
  restartEmpty(port: number): Promise<void>;
  stop(): Promise<void>;
}

export async function redisCluster(masters = 3): Promise<RedisClusterSet> {
  const dir = mkdtempSync(join(tmpdir(), 'lf-cluster-'));
  const ports: number[] = [];
  // Each node's cluster bus on a free port of its own: the default, port + 10,000, can pass 65,535.
  const busPorts = new Map<number, number>();
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    ports.push(port);
    busPorts.set(port, await freePort());
  }
  const procs = new Map<number, ChildProcess>();
  const start = async (port: number) => {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--save', '', '--appendonly', 'no'];
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000');
    args.push('--cluster-port', String(busPorts.get(port)));
    procs.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
    await until(() => portOpen(port), 10_000, `redis-server on ${port} did not start`);
  };
  const client = (port: number) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: true });
  const clusterOk = async () => {
    for (const port of ports) {
      const c = client(port);
      try {
        await c.connect();
        const info = (await c.call('CLUSTER', 'INFO')) as string;
        if (!info.includes('cluster_state:ok')) return false;
      } finally {
        c.disconnect();
      }
    }
    return true;
  };
  const set: RedisClusterSet = {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    async portOf(key: string) {
      const c = client(ports[0]);
      try {
        await c.connect();
        const slot = (await c.call('CLUSTER', 'KEYSLOT', key)) as number;
        const ranges = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (!owner) throw new Error(`no node serves slot ${slot}`);
        return Number(owner[2][1]);
      } finally {
        c.disconnect();
      }
    },
    async restartEmpty(port: number) {
      const proc = procs.get(port);
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
      // nodes.conf stays: the node comes back with its id and slots, and no keys.
      await start(port);
      await until(clusterOk, 20_000, 'the cluster did not recover after the restart');
    },
    async stop() {
      await stopProcesses(procs.values());
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) await start(port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await until(clusterOk, 20_000, 'the cluster did not reach cluster_state:ok');
  } catch (error) {
    await set.stop();
    throw error;
  }
  return set;
}
