/**
 * Who is online, in Redis, shared by every instance. Each user has a sorted set of their
 * connections (`<instance>:<socket id>`) scored by when the entry expires; an instance refreshes
 * its connections' entries every TTL/4 and an entry lives TTL/2, so a crashed instance's
 * connections lapse on their own. A sweep (every TTL/4, on every instance, atomic in a script so
 * one instance reports each user) finds users whose last connection lapsed and reports them
 * offline: a crashed instance's users are offline within `CHAT_PRESENCE_TTL_SECONDS`.
 *
 * Keys: `chat:presence:<userId>` (the connections) and `chat:presence:expiry` (user → latest
 * expiry, the sweep's index). The scripts touch a user's key and the index together, and the sweep
 * touches users' keys by name, so on a Redis Cluster users are spread over BUCKETS hash tags
 * (`{chat:presence:<b>}:<userId>` beside `{chat:presence:<b>}:expiry`), one index and one sweep
 * per bucket; elsewhere there is one bucket with the plain key names.
 */
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { RedisService } from '#src/platform/redis/redis.service.js';

const CONNECT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])
if before == 0 then return 1 end
return 0`;

const DISCONNECT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 1
end
return 0`;

const SWEEP = `
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local offline = {}
for _, user in ipairs(users) do
  local key = ARGV[2] .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #newest == 0 then
    redis.call('ZREM', KEYS[1], user)
    redis.call('DEL', key)
    table.insert(offline, user)
  else
    redis.call('ZADD', KEYS[1], newest[2], user)
  end
end
return offline`;

/** Users' hash-tag buckets on a cluster: the presence keys spread over this many slots. */
const BUCKETS = 16;

interface PresenceCommands {
  chatPresenceConnect(...args: (string | number)[]): Promise<number>;
  chatPresenceDisconnect(...args: (string | number)[]): Promise<number>;
  chatPresenceSweep(...args: (string | number)[]): Promise<string[]>;
}

@Injectable()
export class PresenceService {
  private readonly logger = new Logger(PresenceService.name);
  /** This instance's connections: connection id → user id. */
  private readonly local = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private readonly intervalMs: number;
  private readonly entryMs: number;
  /** Hash-tag buckets of users: one but on a cluster. */
  private readonly buckets: number;

  constructor(
    private readonly redis: RedisService,
    config: AppConfig,
  ) {
    this.intervalMs = (config.chat.presenceTtlSeconds * 1000) / 4;
    this.entryMs = (config.chat.presenceTtlSeconds * 1000) / 2;
    this.buckets = redis.mode === 'cluster' ? BUCKETS : 1;
    redis.command.defineCommand('chatPresenceConnect', { numberOfKeys: 2, lua: CONNECT });
    redis.command.defineCommand('chatPresenceDisconnect', { numberOfKeys: 2, lua: DISCONNECT });
    redis.command.defineCommand('chatPresenceSweep', { numberOfKeys: 1, lua: SWEEP });
  }

  private get commands(): PresenceCommands {
    return this.redis.command as unknown as PresenceCommands;
  }

  /** The keys' base of a bucket: its hash tag on a cluster. */
  private base(bucket: number): string {
    return this.redis.tagged(this.buckets === 1 ? 'chat:presence' : `chat:presence:${bucket}`);
  }

  private bucketOf(userId: string): number {
    let hash = 0;
    for (let i = 0; i < userId.length; i++) hash = (hash * 31 + userId.charCodeAt(i)) >>> 0;
    return hash % this.buckets;
  }

  private userKey(userId: string): string {
    return `${this.base(this.bucketOf(userId))}:${userId}`;
  }

  private indexKey(userId: string): string {
    return `${this.base(this.bucketOf(userId))}:expiry`;
  }

  /** Heartbeats and the sweep; `onOffline` gets users whose last connection lapsed (a crashed instance). */
  start(onOffline: (userIds: string[]) => void): void {
    this.timer = setInterval(() => {
      void this.heartbeat();
      void this.sweep().then((users) => users.length > 0 && onOffline(users));
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Registers a connection; true if the user just came online. */
  async connect(userId: string, connectionId: string): Promise<boolean> {
    this.local.set(connectionId, userId);
    const now = Date.now();
    const wentOnline = await this.commands.chatPresenceConnect(
      this.userKey(userId),
      this.indexKey(userId),
      connectionId,
      now + this.entryMs,
      now,
      userId,
      this.entryMs * 2,
    );
    return wentOnline === 1;
  }

  /** Removes a connection; true if it was the user's last one. */
  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    this.local.delete(connectionId);
    const wentOffline = await this.commands.chatPresenceDisconnect(
      this.userKey(userId),
      this.indexKey(userId),
      connectionId,
      Date.now(),
      userId,
    );
    return wentOffline === 1;
  }

  async online(userIds: string[]): Promise<Map<string, boolean>> {
    const where = await this.instancesOf(userIds);
    return new Map(userIds.map((userId) => [userId, where.has(userId)]));
  }

  /**
   * The instances holding a live connection of each user (the registry's `userID : serverID`);
   * users with none are absent. One pipelined read per call, whatever the number of users.
   */
  async instancesOf(userIds: string[]): Promise<Map<string, Set<string>>> {
    const where = new Map<string, Set<string>>();
    if (userIds.length === 0) return where;
    const now = Date.now();
    // Issued together: all in flight at once (one round trip), each to its node on a cluster.
    const results = await Promise.all(
      userIds.map((userId) => this.redis.command.zrangebyscore(this.userKey(userId), now, '+inf')),
    );
    userIds.forEach((userId, index) => {
      const list = results[index];
      if (list.length === 0) return;
      // `<instance>:<socket id>`: socket ids have no colon, instance ids may.
      where.set(userId, new Set(list.map((id) => id.slice(0, id.lastIndexOf(':')))));
    });
    return where;
  }

  private async heartbeat(): Promise<void> {
    if (this.local.size === 0) return;
    const expires = Date.now() + this.entryMs;
    const writes: Promise<unknown>[] = [];
    for (const [connectionId, userId] of this.local) {
      writes.push(
        this.redis.command.zadd(this.userKey(userId), expires, connectionId),
        this.redis.command.pexpire(this.userKey(userId), this.entryMs * 2),
        this.redis.command.zadd(this.indexKey(userId), 'GT', expires, userId),
      );
    }
    try {
      await Promise.all(writes);
    } catch (error) {
      this.logger.warn(`presence heartbeat: ${(error as Error).message}`);
    }
  }

  /** Users with a live connection on any instance (the sweep's index, entries not yet lapsed). */
  async onlineCount(): Promise<number> {
    const now = Date.now();
    const buckets = Array.from({ length: this.buckets }, (_, b) => `${this.base(b)}:expiry`);
    const counts = await Promise.all(buckets.map((key) => this.redis.command.zcount(key, `(${now}`, '+inf')));
    return counts.reduce((total, count) => total + count, 0);
  }

  async sweep(): Promise<string[]> {
    try {
      const now = Date.now();
      const buckets = Array.from({ length: this.buckets }, (_, b) => this.base(b));
      const offline = await Promise.all(
        buckets.map((base) => this.commands.chatPresenceSweep(`${base}:expiry`, now, `${base}:`, 1000)),
      );
      return offline.flat();
    } catch (error) {
      this.logger.warn(`presence sweep: ${(error as Error).message}`);
      return [];
    }
  }
}
