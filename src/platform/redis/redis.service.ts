/**
 * Owns the process's Redis connections: `command` for ordinary commands, `publisher` for
 * PUBLISH/XADD on hot paths, `subscriber` for SUBSCRIBE. All reconnect with capped backoff and
 * never crash the process when Redis goes away; commands issued while it is down fail after a
 * couple of retries so callers (outbox relay, health) can react instead of hanging.
 * In Sentinel mode every connection asks the sentinels for the master on each (re)connect, so
 * after a failover they all land on the promoted replica without a restart.
 */
import { Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import type { Counter } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';

type RedisTarget = Pick<AppConfig['redis'], 'url'> & Partial<AppConfig['redis']>;

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
  readonly command: Redis;
  readonly publisher: Redis;
  readonly subscriber: Redis;
  readonly prefix: string;
  readonly mode: 'single' | 'sentinel';
  private readonly options: RedisOptions;
  private readonly reconnects?: Counter<'connection'>;
  private readonly failovers?: Counter;
  /** The master the `command` connection was last ready on (a change is a failover). */
  private master: string | undefined;
  /** Channel → its listeners on the shared `subscriber` connection. */
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  /** Channel → its SUBSCRIBE while Redis has not confirmed it. */
  private readonly subscribing = new Map<string, Promise<unknown>>();

  constructor(config: AppConfig, @Optional() metrics?: MetricsService) {
    this.prefix = config.redis.keyPrefix;
    this.mode = config.redis.sentinels.length > 0 ? 'sentinel' : 'single';
    this.options = redisOptions(config.redis, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
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
    this.subscriber = this.connect('subscriber', { maxRetriesPerRequest: null });
    this.command.on('ready', () => {
      const address = this.address();
      if (this.master !== undefined && address !== this.master) this.failovers?.inc();
      this.master = address;
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      const listeners = this.listeners.get(channel);
      if (listeners) for (const listener of listeners) listener(message);
    });
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
        this.subscriber
          .subscribe(channel)
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
      await this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  /** A new connection with the same settings (for blocking reads or a second subscriber). */
  connect(role: string, extra: RedisOptions = {}): Redis {
    const client = new Redis({ ...this.options, connectionName: `${this.prefix}${role}`, ...extra });
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

  /** A key or channel name under this app's prefix. */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** `host:port` of the node the command connection is on (in Sentinel mode, the current master). */
  address(): string | undefined {
    const stream = this.command.status === 'ready' ? this.command.stream : undefined;
    return stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined;
  }

  async ping(timeoutMs = 1_000): Promise<void> {
    if (this.command.status !== 'ready') throw new Error(`redis is ${this.command.status}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.command.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(
      [this.command, this.publisher, this.subscriber].map((client) => client.quit().catch(() => client.disconnect())),
    );
  }
}
