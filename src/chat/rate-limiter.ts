/**
 * Per-user rate limit in Redis (shared by every instance): a token bucket of `CHAT_MESSAGES_PER_MINUTE`
 * tokens refilled continuously, so bursts up to the limit pass and a steady flood is cut to the rate.
 * If Redis is unreachable it lets the send through (messages are persisted in Postgres; refusing all
 * chat because the limiter is down would be worse) and logs once per outage.
 */
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { RedisService } from '#src/platform/redis/redis.service.js';

const TAKE = `
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_ms) + 1000)
return ok`;

interface RateCommand {
  chatRateTake(key: string, capacity: number, perMs: number): Promise<number>;
}

@Injectable()
export class RateLimiter {
  private readonly logger = new Logger(RateLimiter.name);
  private failing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    // EVALSHA with a fallback to EVAL, handled by ioredis.
    redis.command.defineCommand('chatRateTake', { numberOfKeys: 1, lua: TAKE });
  }

  /**
   * True if the user may do one more `kind` now: `send` (CHAT_MESSAGES_PER_MINUTE) or `event` (typing,
   * read, sync: five times that, a separate bucket so they never eat into sending).
   */
  async take(userId: string, kind: 'send' | 'event' = 'send'): Promise<boolean> {
    const perMinute = this.config.chat.messagesPerMinute * (kind === 'send' ? 1 : 5);
    try {
      const ok = await (this.redis.command as unknown as RateCommand).chatRateTake(
        this.redis.key(`chat:rate:${kind}:${userId}`),
        perMinute,
        perMinute / 60_000,
      );
      this.failing = false;
      return ok === 1;
    } catch (error) {
      if (!this.failing)
        this.logger.warn(`rate limiter unavailable, letting events through: ${(error as Error).message}`);
      this.failing = true;
      return true;
    }
  }
}
