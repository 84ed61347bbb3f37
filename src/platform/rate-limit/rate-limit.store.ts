/**
 * Rate-limit counters in Redis, so a client's budget is shared by every instance: a fixed window per
 * key (INCR, expiry set on the first hit) and, once the limit is passed, a block key that lasts one
 * whole window from then; both in one script call, so concurrent requests on several instances count exactly.
 *
 * If Redis is down the limiter lets requests through and logs once per outage: refusing every feed
 * and webhook because the limiter's store is away would be worse than a few minutes without limits.
 */
import { Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { RedisService } from '#src/platform/redis/redis.service.js';

/** KEYS: hits, block. ARGV: window ms, limit. → hits, window ms left, blocked 0/1, block ms left. */
const INCREMENT = `
local block_left = redis.call('PTTL', KEYS[2])
if block_left > 0 then
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1]), 1, block_left}
end
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  redis.call('DEL', KEYS[1])
  return {hits, 0, 1, tonumber(ARGV[1])}
end
return {hits, left, 0, 0}`;

export interface RateLimitHit {
  /** Hits in the current window, this one included. */
  totalHits: number;
  /** Seconds until the window ends. */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds until the block ends (0 when not blocked). */
  timeToBlockExpire: number;
}

interface IncrementCommand {
  rateLimitIncrement(hitsKey: string, blockKey: string, windowMs: number, limit: number): Promise<number[]>;
}

const secondsLeft = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

@Injectable()
export class RateLimitStore {
  private readonly logger = new Logger(RateLimitStore.name);
  private failing = false;
  private readonly storeFailures: Counter;

  constructor(
    private readonly redis: RedisService,
    metrics: MetricsService,
  ) {
    redis.command.defineCommand('rateLimitIncrement', { numberOfKeys: 2, lua: INCREMENT });
    this.storeFailures = metrics.counter(
      'http_rate_limit_store_failures_total',
      'Requests let through unlimited because the rate-limit store (Redis) was unavailable',
    );
  }

  /** Counts one request under `key`; past `limit` in a window, the key is blocked for one window. */
  async increment(key: string, windowMs: number, limit: number): Promise<RateLimitHit> {
    if (this.redis.command.status !== 'ready')
      return this.letThrough(new Error(`redis is ${this.redis.command.status}`));
    try {
      const [totalHits, windowLeft, blocked, blockLeft] = await (
        this.redis.command as unknown as IncrementCommand
      ).rateLimitIncrement(
        // One hash tag for both: the script takes them together.
        this.redis.tagged(`ratelimit:${key}`),
        `${this.redis.tagged(`ratelimit:${key}`)}:blocked`,
        windowMs,
        limit,
      );
      if (this.failing) this.logger.log('rate-limit store available again');
      this.failing = false;
      return {
        totalHits,
        timeToExpire: secondsLeft(windowLeft),
        isBlocked: blocked === 1,
        timeToBlockExpire: secondsLeft(blockLeft),
      };
    } catch (error) {
      return this.letThrough(error as Error);
    }
  }

  private letThrough(error: Error): RateLimitHit {
    this.storeFailures.inc();
    if (!this.failing) this.logger.warn(`rate-limit store unavailable, letting requests through: ${error.message}`);
    this.failing = true;
    return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
  }
}
