/**
 * Per-endpoint rate limit shared by every instance: a GCRA in Redis that hands out send slots
 * `1000 / rate` ms apart (no burst, so any one-second window holds at most `rate` sends). A caller
 * gets the wait until its own slot, reserved for it, and comes back then without asking again; so a
 * backlog is paced rather than stampeding the script. Redis's clock is the only clock used.
 */
import { Injectable } from '@nestjs/common';
import { RedisService } from '#src/platform/redis/redis.service.js';

const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nextTat = tat + interval
redis.call('SET', KEYS[1], nextTat, 'PX', math.ceil(nextTat - now) + 1000)
return tat - now
`;

@Injectable()
export class RateLimiter {
  constructor(private readonly redis: RedisService) {}

  /** Reserves the endpoint's next slot; resolves with the ms to wait for it (0 = send now). */
  async reserve(endpointId: string, perSecond: number): Promise<number> {
    const wait = await this.redis.command.eval(
      RESERVE,
      1,
      this.redis.key(`outbound:rate:${endpointId}`),
      1000 / perSecond,
    );
    return Number(wait);
  }
}
