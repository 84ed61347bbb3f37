/**
 * Per-endpoint rate limit shared by every instance: a GCRA in Redis that hands out send slots
 * `1000 / rate` ms apart (no burst, so any one-second window holds at most `rate` sends). A pump
 * reserves the slots of a whole claimed batch in one call and sends each delivery at its own slot;
 * so a backlog is paced rather than stampeding the script. Redis's clock is the only clock used.
 */
import { Injectable } from '@nestjs/common';
import { RedisService } from '#src/platform/redis/redis.service.js';

const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nextTat = tat + interval * count
redis.call('SET', KEYS[1], nextTat, 'PX', math.ceil(nextTat - now) + 1000)
return tat - now
`;

@Injectable()
export class RateLimiter {
  constructor(private readonly redis: RedisService) {}

  /**
   * Reserves the endpoint's next `count` slots; resolves with the ms to wait for the first (0 = send
   * now). The others follow it `intervalMs(perSecond)` apart.
   */
  async reserve(endpointId: string, perSecond: number, count = 1): Promise<number> {
    const wait = await this.redis.command.eval(
      RESERVE,
      1,
      this.redis.key(`outbound:rate:${endpointId}`),
      intervalMs(perSecond),
      count,
    );
    return Number(wait);
  }
}

/** Milliseconds between two sends of an endpoint limited to `perSecond`. */
export const intervalMs = (perSecond: number) => 1000 / perSecond;
