/**
 * Owns the process's Redis connections: `command` for ordinary commands, `publisher` for
 * PUBLISH/XADD on hot paths, `subscriber` for SUBSCRIBE. All reconnect with capped backoff and
 * never crash the process when Redis goes away; commands issued while it is down fail after a
 * couple of retries so callers (outbox relay, health) can react instead of hanging.
 * In Sentinel mode every connection asks the sentinels for the master on each (re)connect, so
 * after a failover they all land on the promoted replica without a restart.
 *
 * In Cluster mode (`REDIS_CLUSTER_NODES`) each of them is an ioredis `Cluster`, and what differs
 * is said here once: pub/sub is sharded (SSUBSCRIBE / SPUBLISH, `publishCommand`), keys that one
 * script or transaction touches together share a hash tag (`tagged`), and commands on many keys
 * are grouped by slot (`bySlot`). Features issue independent commands with `Promise.all` rather
 * than explicit pipelines, which a cluster would refuse across nodes: each is written at once and
 * all are in flight together.
 *
 * No connection made here auto-pipelines (BullMQ's own do: queue.module.ts; their commands are
 * per job, not per stream). ioredis's auto-pipelining builds a `Pipeline` per tick and node,
 * several KB of objects that live until Redis answers; under a burst of new streams most of them
 * outlive a scavenge and are promoted, and old space grows by ~10 KB per new stream that then
 * sits there as holes (idle RSS per connection, docs/ARCHITECTURE.md). Written one by one, the
 * same commands cost a write each and die young: 1.07× the bare server's RSS per connection
 * against 1.4× with it, in the same probe.
 */
import { Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { Counter } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';

type RedisTarget = Pick<AppConfig['redis'], 'url'> & Partial<AppConfig['redis']>;

/** A connection of any mode: one node (also behind Sentinel) or a cluster. */
export type RedisClient = Redis | Cluster;

/** ioredis Cluster options for the configured seed nodes; `extra` applies to each node's connection. */
export function clusterOptions(target: RedisTarget, extra: RedisOptions = {}): ClusterOptions {
  return {
    clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 3_000),
    scaleReads: 'master',
    slotsRefreshTimeout: 2_000,
    // A node that restarted or moved: refresh the slot map and retry rather than fail the command.
    retryDelayOnMoved: 50,
    redisOptions: { password: target.password, reconnectOnError: () => true, ...extra },
  };
}

/** Opens a connection in the configured mode. */
export function openRedis(
  target: RedisTarget,
  extra: RedisOptions = {},
  cluster: Partial<ClusterOptions> = {},
): RedisClient {
  if (target.clusterNodes && target.clusterNodes.length > 0) {
    return new Cluster(target.clusterNodes, { ...clusterOptions(target, extra), ...cluster });
  }
  return new Redis(redisOptions(target, extra));
}

/**
 * ioredis options for the configured mode (a URL alone means one node), used by every connection
 * of the app: RedisService's, the socket.io adapter's and BullMQ's.
 */
export function redisOptions(target: string | RedisTarget, extra: RedisOptions = {}): RedisOptions {
  const redis: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const reconnect: RedisOptions = {
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 3_000),
    // Also on READONLY: a master demoted by a failover answers it, and a reconnect finds the new one.
    reconnectOnError: () => true,
  };
  if (redis.sentinels && redis.sentinels.length > 0) {
    return {
      sentinels: redis.sentinels,
      name: redis.sentinelName ?? 'mymaster',
      sentinelPassword: redis.sentinelPassword,
      password: redis.password,
      ...reconnect,
      ...extra,
    };
  }
  const parsed = new URL(redis.url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    username: parsed.username || undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : redis.password,
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    ...reconnect,
    ...extra,
  };
}

@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly command: RedisClient;
  readonly publisher: RedisClient;
  readonly subscriber: RedisClient;
  readonly prefix: string;
  readonly mode: 'single' | 'sentinel' | 'cluster';
  /** PUBLISH, or SPUBLISH on a cluster (also inside scripts: the channel shares the script's hash tag). */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  private readonly target: RedisTarget;
  private bull?: RedisClient;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private connectedReplicas = 0;
  private replicaTimer?: NodeJS.Timeout;
  private readonly baseOptions: RedisOptions;
  private readonly reconnects?: Counter<'connection'>;
  private readonly failovers?: Counter;
  /** The master the `command` connection was last ready on (a change is a failover). */
  private master: string | undefined;
  /** Channel → its listeners on the shared `subscriber` connection. */
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  private readonly resubscribedListeners = new Set<() => void>();
  private readonly reconnectedListeners = new Set<() => void>();
  /** Channel → its SUBSCRIBE while Redis has not confirmed it. */
  private readonly subscribing = new Map<string, Promise<unknown>>();

  constructor(config: AppConfig, @Optional() metrics?: MetricsService) {
    this.prefix = config.redis.keyPrefix;
    this.mode =
      config.redis.clusterNodes.length > 0 ? 'cluster' : config.redis.sentinels.length > 0 ? 'sentinel' : 'single';
    this.publishCommand = this.mode === 'cluster' ? 'SPUBLISH' : 'PUBLISH';
    this.target = config.redis;
    this.waitReplicas = config.redis.waitReplicas;
    this.waitTimeoutMs = Math.min(1_000, config.redis.commandTimeoutMs);
    this.baseOptions = { maxRetriesPerRequest: 2, connectTimeout: 2_000 };
    this.reconnects = metrics?.counter('redis_reconnects_total', 'Redis connections ready again after a loss', [
      'connection',
    ]);
    this.failovers = metrics?.counter(
      'redis_failovers_total',
      'Times the command connection came back on another master',
    );
    // Bounded waits on the two shared connections (never used for blocking commands).
    this.command = this.connect('command', { commandTimeout: config.redis.commandTimeoutMs });
    this.publisher = this.connect('publisher', { commandTimeout: config.redis.commandTimeoutMs });
    this.subscriber = this.connect('subscriber', { maxRetriesPerRequest: null }, 'subscriber');
    if (this.waitReplicas > 0 && this.mode !== 'cluster') {
      this.publisher.on('ready', () => void this.refreshReplicas());
      this.replicaTimer = setInterval(() => void this.refreshReplicas(), 1_000);
      this.replicaTimer.unref();
    }
    this.command.on('ready', () => {
      const address = this.address();
      if (this.master !== undefined && address !== this.master) this.failovers?.inc();
      this.master = address;
    });
    let subscribedBefore = false;
    this.subscriber.on('ready', () => {
      if (!subscribedBefore) {
        subscribedBefore = true;
        return;
      }
      // Before ioredis re-subscribes (right after 'ready'): no message of the new connection yet.
      for (const listener of this.reconnectedListeners) listener();
      // A PING behind those SUBSCRIBEs answers once they took.
      setImmediate(() => {
        const confirmed = this.subscriber instanceof Cluster ? Promise.resolve() : this.subscriber.ping();
        confirmed.then(
          () => {
            for (const listener of this.resubscribedListeners) listener();
          },
          () => undefined, // lost again: the next 'ready' tries again
        );
      });
    });
    this.subscriber.on(this.mode === 'cluster' ? 'smessage' : 'message', (channel: string, message: string) => {
      const listeners = this.listeners.get(channel);
      if (listeners) for (const listener of listeners) listener(message);
    });
  }

  /**
   * A key under this app's prefix that shares a slot with every other key (and channel) built on
   * it: `tagged('feed:ticker') + ':log'`. On a cluster the name is a hash tag (`{lf:feed:ticker}`);
   * in the other modes it is the plain key, so their key names stay those of earlier releases.
   */
  tagged(name: string): string {
    return this.mode === 'cluster' ? `{${this.prefix}${name}}` : `${this.prefix}${name}`;
  }

  /** Groups items whose keys a single script call may take together: one group, or one per slot on a cluster. */
  bySlot<T>(items: T[], keyOf: (item: T) => string): T[][] {
    if (this.mode !== 'cluster') return items.length > 0 ? [items] : [];
    const groups = new Map<number, T[]>();
    for (const item of items) {
      const slot = calculateSlot(keyOf(item));
      const group = groups.get(slot);
      if (group) group.push(item);
      else groups.set(slot, [item]);
    }
    return [...groups.values()];
  }

  /**
   * After a write on `publisher` that must survive a failover: waits until the master's replicas
   * have it (WAIT, on the same connection, so it covers that write) — REDIS_WAIT_REPLICAS of them,
   * or as many as are connected (a master whose replica is gone, e.g. just after a failover, keeps
   * taking writes) — else throws (the caller answers 503 or retries). Nothing to wait for on a
   * cluster or with REDIS_WAIT_REPLICAS=0.
   */
  async confirmWrites(): Promise<void> {
    const wanted = Math.min(this.waitReplicas, this.connectedReplicas);
    if (wanted === 0 || this.publisher instanceof Cluster) return;
    const acked = Number(await this.publisher.call('WAIT', wanted, this.waitTimeoutMs));
    if (acked < wanted) {
      throw new Error(`the write reached ${acked} of ${wanted} Redis replicas in ${this.waitTimeoutMs} ms`);
    }
  }

  /** How many replicas the publisher's master has connected (INFO replication), refreshed every second. */
  private async refreshReplicas(): Promise<void> {
    if (this.publisher instanceof Cluster) return;
    try {
      const info = await this.publisher.info('replication');
      this.connectedReplicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
    } catch {
      // unreachable: confirmWrites fails on its own, the next refresh tries again
    }
  }

  publish(channel: string, message: string): Promise<number> {
    return this.mode === 'cluster'
      ? (this.publisher.spublish(channel, message) as Promise<number>)
      : this.publisher.publish(channel, message);
  }

  /**
   * How many connections listen on each channel (PUBSUB NUMSUB; on a cluster SHARDNUMSUB, asked of
   * the master serving each channel's slot): one command per node for all the channels.
   */
  async listenerCounts(channels: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const read = (reply: unknown) => {
      const flat = reply as (string | number)[];
      for (let i = 0; i < flat.length; i += 2) counts.set(String(flat[i]), Number(flat[i + 1]));
    };
    if (channels.length === 0) return counts;
    const command = this.command;
    if (!(command instanceof Cluster)) {
      read(await command.call('PUBSUB', 'NUMSUB', ...channels));
      return counts;
    }
    const byNode = new Map<string, string[]>();
    for (const channel of channels) {
      const node = command.slots[calculateSlot(channel)]?.[0];
      if (!node) throw new Error(`no Redis node serves the slot of ${channel}`);
      const list = byNode.get(node);
      if (list) list.push(channel);
      else byNode.set(node, [channel]);
    }
    const masters = mastersOf(command);
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        const client = masters.get(node);
        if (!client) throw new Error(`Redis node ${node} is not connected`);
        read(await client.call('PUBSUB', 'SHARDNUMSUB', ...list));
      }),
    );
    return counts;
  }

  /**
   * Calls `listener` with every message on `channel`, over the shared subscriber connection: the
   * one way features receive pub/sub. SUBSCRIBE on a channel's first listener, UNSUBSCRIBE after
   * its last; resolves once Redis confirmed the subscription (ioredis re-subscribes after a
   * reconnect by itself). Returns the function that stops listening.
   */
  async listen(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      // Later listeners of the channel wait for the same confirmation.
      this.subscribing.set(
        channel,
        (this.mode === 'cluster' ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel))
          .catch((error: unknown) => {
            // Not subscribed: forget the channel, so the next listener subscribes again.
            this.listeners.delete(channel);
            throw error;
          })
          .finally(() => this.subscribing.delete(channel)),
      );
    }
    set.add(listener);
    await this.subscribing.get(channel);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await (
        this.mode === 'cluster' ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)
      ).catch(() => undefined);
    };
  }

  /**
   * A new connection with the same settings (for blocking reads or a second subscriber); a
   * subscriber connection on a cluster keeps one connection per master for sharded pub/sub.
   */
  connect(role: string, extra: RedisOptions = {}, kind: 'commands' | 'subscriber' = 'commands'): RedisClient {
    const subscriber = kind === 'subscriber';
    const options: RedisOptions = {
      ...this.baseOptions,
      connectionName: `${this.prefix}${role}`,
      ...extra,
    };
    const client = openRedis(this.target, options, { shardedSubscribers: subscriber });
    let lastError = '';
    let readyBefore = false;
    client.on('error', (error: Error) => {
      // ioredis repeats the same error on every reconnect attempt: log each distinct one once.
      if (error.message !== lastError) this.logger.warn(`redis ${role}: ${error.message}`);
      lastError = error.message;
    });
    client.on('ready', () => {
      if (lastError) this.logger.log(`redis ${role}: connected again`);
      if (readyBefore) this.reconnects?.inc({ connection: role });
      readyBefore = true;
      lastError = '';
    });
    return client;
  }

  /**
   * Calls `listener` each time the subscriber connection is back after a loss, once its
   * subscriptions are restored. Pub/sub is fire-and-forget: whatever was published meanwhile was
   * not heard, so features read what they may have missed from their store.
   */
  onResubscribed(listener: () => void): void {
    this.resubscribedListeners.add(listener);
  }

  /**
   * Calls `listener` synchronously when the subscriber connection is back after a loss, before its
   * subscriptions are restored, so before any message arrives on it (feeds end their streams there:
   * a message heard now, after others were missed, would be a gap no cursor shows).
   */
  onSubscriberBack(listener: () => void): void {
    this.reconnectedListeners.add(listener);
  }

  /**
   * Defines a script on the command connection whose key count is its first argument (any number
   * of keys, all of one slot on a cluster: `bySlot`). (With auto-pipelining, which no connection
   * uses, ioredis would route such a call on a cluster by the count: ioredis#2109.)
   */
  defineVariadicScript(name: string, lua: string): void {
    this.command.defineCommand(name, { lua });
  }

  /** BullMQ's shared connection on a cluster (made on first use, closed with the others). */
  bullConnection(): RedisClient {
    this.bull ??= this.connect('bullmq', { maxRetriesPerRequest: null });
    return this.bull;
  }

  /** A key or channel name under this app's prefix. */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** `host:port` of the node the command connection is on (in Sentinel mode, the current master; none on a cluster). */
  address(): string | undefined {
    if (this.command instanceof Cluster) return undefined;
    const stream = this.command.status === 'ready' ? this.command.stream : undefined;
    return stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined;
  }

  /** Each master of the cluster and whether it answered a PING within `timeoutMs` (readiness). */
  async clusterNodes(timeoutMs = 1_000): Promise<Record<string, 'up' | 'down'>> {
    if (!(this.command instanceof Cluster)) return {};
    const seen = new Map<string, Redis | undefined>(mastersOf(this.command));
    // Masters the slot map names but the client lost (a node that went away) are down.
    for (const owners of this.command.slots) if (owners?.[0] && !seen.has(owners[0])) seen.set(owners[0], undefined);
    const entries = await Promise.all(
      [...seen].map(async ([address, node]) => {
        if (!node) return [address, 'down'] as const;
        return [
          address,
          (await this.pingClient(node, timeoutMs).then(
            () => true,
            () => false,
          ))
            ? 'up'
            : 'down',
        ] as const;
      }),
    );
    return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  }

  async ping(timeoutMs = 1_000): Promise<void> {
    if (this.command instanceof Cluster) {
      const nodes = await this.clusterNodes(timeoutMs);
      const down = Object.entries(nodes).filter(([, state]) => state === 'down');
      if (Object.keys(nodes).length === 0) throw new Error(`redis cluster is ${this.command.status}`);
      if (down.length > 0) throw new Error(`redis cluster node(s) down: ${down.map(([a]) => a).join(', ')}`);
      return;
    }
    await this.pingClient(this.command, timeoutMs);
  }

  /** PING within `timeoutMs`; a node's connection in a cluster may be lazy (`wait`): the PING opens it. */
  private async pingClient(client: Redis, timeoutMs: number): Promise<void> {
    if (client.status !== 'ready' && client.status !== 'wait') throw new Error(`redis is ${client.status}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.replicaTimer);
    await Promise.all(
      [this.command, this.publisher, this.subscriber, ...(this.bull ? [this.bull] : [])].map((client) =>
        client.quit().catch(() => client.disconnect()),
      ),
    );
  }
}

/** A cluster's connected masters by `host:port`, the form its slot map names them in. */
function mastersOf(cluster: Cluster): Map<string, Redis> {
  return new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
}
