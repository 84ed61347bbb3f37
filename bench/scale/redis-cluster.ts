/**
 * A private Redis Cluster for the scale bench's Redis-mode comparison: three masters (real
 * `redis-server --cluster-enabled yes` processes on free loopback ports, no persistence, no
 * replicas), slots spread by `redis-cli --cluster create`, ready once every master reports
 * cluster_state:ok; as test/helpers/redis-cluster.ts does for the e2e tests. The cluster bus port of
 * each master is a free port of its own (`--cluster-port`), not port + 10,000, which can be taken or
 * past 65,535. The servers are tracked by cluster.ts (killAll when the driver dies); `stop()` ends
 * them and removes their directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, stopper } from '../processes.js';
import { type PrivateRedis, track } from './cluster.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const binary = (name: string) => [`/usr/bin/${name}`, `/usr/local/bin/${name}`].find((path) => existsSync(path));

/** Why a private cluster cannot be started here (a missing binary), or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  const missing = ['redis-server', 'redis-cli'].filter((name) => !binary(name));
  return missing.length > 0 ? `${missing.join(' and ')} not found in /usr/bin or /usr/local/bin` : undefined;
}

/** Starts `masters` cluster nodes and joins them; the app instances get REDIS_CLUSTER_NODES (all masters as seeds). */
export async function startRedisCluster(masters = 3): Promise<PrivateRedis> {
  const server = binary('redis-server');
  const cli = binary('redis-cli');
  if (!server || !cli) throw new Error(`no private Redis Cluster: ${clusterUnavailable()}`);
  const dir = mkdtempSync(join(tmpdir(), 'lf-bench-cluster-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir); // also when the driver stops on its watchdog or a signal
  const stops: (() => Promise<void>)[] = [];
  const nodes: Redis[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const node of nodes) node.disconnect();
    await Promise.all(stops.map((s) => s()));
    removeDir();
  };
  try {
    const used = new Set<number>();
    const pick = async () => {
      for (;;) {
        const port = await freePort();
        if (used.has(port)) continue;
        used.add(port);
        return port;
      }
    };
    const tails: (() => string)[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await pick();
      const busPort = await pick();
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir, { recursive: true });
      const child = track(
        server,
        [
          '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', nodeDir,
          '--save', '', '--appendonly', 'no',
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort),
          '--cluster-node-timeout', '2000',
        ], // prettier-ignore
        {},
      );
      stops.push(stopper(child));
      tails.push(child.tail);
      ports.push(port);
      const node = new Redis({
        host: '127.0.0.1',
        port,
        maxRetriesPerRequest: 2,
        retryStrategy: (n) => (n > 50 ? null : 100),
      });
      node.on('error', () => undefined); // refused until the server listens; ping() below waits for it
      nodes.push(node);
      await node.ping().catch((error: Error) => {
        throw new Error(`cluster node on ${port} did not answer: ${error.message}\n${child.tail()}`);
      });
    }
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    }).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(nodes.map((node) => node.call('CLUSTER', 'INFO') as Promise<string>));
      if (states.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline)
        throw new Error(`the cluster did not reach cluster_state:ok in 20 s\n${tails.map((t) => t()).join('\n')}`);
      await sleep(100);
    }
    return {
      mode: 'cluster',
      url: addresses.join(','),
      // Nothing listens on port 1: an instance that used REDIS_URL in Cluster mode would fail, not
      // quietly talk to the shared Redis beside the cluster.
      // FEED_SHARDS = the masters: each feed's logs spread over them (one log would sit on one master).
      env: { REDIS_CLUSTER_NODES: addresses.join(','), REDIS_URL: 'redis://127.0.0.1:1', FEED_SHARDS: String(masters) },
      nodes,
      private: true,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
