/**
 * Per-user rate limits in Redis (shared by every instance): token buckets refilled continuously, so
 * bursts up to the limit pass and a steady flood is cut to the rate.
 *
 * Takes go to Redis in batches, one script call in flight at a time (what arrives meanwhile joins
 * the next call): one round trip and one socket write for many sends instead of one each, which on
 * the send path was the largest single cost.
 * If Redis is unreachable the limiter lets events through (messages are persisted in Postgres;
 * refusing all chat because the limiter is down would be worse) and logs once per outage.
 */
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { Batcher } from '#src/platform/batcher.js';
import { RedisService } from '#src/platform/redis/redis.service.js';

/** KEYS: one bucket per take; ARGV: capacity and refill per ms for each, in the same order. */
const TAKE_MANY = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local results = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local per_ms = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
  local ok = 0
  if tokens >= 1 then
    tokens = tokens - 1
    ok = 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(capacity / per_ms) + 1000)
  results[i] = ok
end
return results`;

const MAX_PER_CALL = 500;
const LINGER_MS = 3;

interface RateCommand {
  chatRateTakeMany(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
}

interface Take {
  key: string;
  capacity: number;
}

@Injectable()
export class RateLimiter {
  private readonly logger = new Logger(RateLimiter.name);
  private failing = false;
  /** One call in flight; what arrives meanwhile goes in the next one (an idle limiter lingers for company). */
  private readonly takes = new Batcher<Take, boolean>((takes) => this.flush(takes), {
    maxBatch: 10 * MAX_PER_CALL,
    lingerMs: LINGER_MS,
  });

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    // EVALSHA with a fallback to EVAL, handled by ioredis; the key count is passed per call.
    redis.defineVariadicScript('chatRateTakeMany', TAKE_MANY);
  }

  /**
   * True if the user may do one more `kind` now: `send` (CHAT_MESSAGES_PER_MINUTE) or `event` (typing,
   * read, sync: five times that, a separate bucket so they never eat into sending).
   */
  take(userId: string, kind: 'send' | 'event' = 'send'): Promise<boolean> {
    const capacity = this.config.chat.messagesPerMinute * (kind === 'send' ? 1 : 5);
    return this.takes.submit({ key: this.redis.key(`chat:rate:${kind}:${userId}`), capacity });
  }

  /** One script call per slot's worth of takes (all of them but on a cluster), issued together. */
  private async flush(takes: Take[]): Promise<boolean[]> {
    const calls: Take[][] = [];
    for (const group of this.redis.bySlot(takes, (take) => take.key)) {
      for (let i = 0; i < group.length; i += MAX_PER_CALL) calls.push(group.slice(i, i + MAX_PER_CALL));
    }
    const answers = new Map<Take, boolean>();
    await Promise.all(
      calls.map(async (chunk) => (await this.call(chunk)).forEach((ok, i) => answers.set(chunk[i], ok))),
    );
    return takes.map((take) => answers.get(take) ?? true);
  }

  private async call(chunk: Take[]): Promise<boolean[]> {
    const args: (string | number)[] = chunk.map((take) => take.key);
    for (const take of chunk) args.push(take.capacity, take.capacity / 60_000);
    try {
      const results = await (this.redis.command as unknown as RateCommand).chatRateTakeMany(chunk.length, ...args);
      this.failing = false;
      return chunk.map((_, index) => results[index] === 1);
    } catch (error) {
      if (!this.failing) {
        this.logger.warn(`rate limiter unavailable, letting events through: ${(error as Error).message}`);
      }
      this.failing = true;
      return chunk.map(() => true);
    }
  }
}
