/**
 * A lease in Redis: at most one holder across instances (demo simulators, periodic jobs). The holder
 * renews it while it works; if it dies, the lease expires and another instance takes over.
 */
import { randomBytes } from 'node:crypto';
import type { RedisService } from './redis.service.js';

export class RedisLease {
  private readonly owner = randomBytes(6).toString('hex');
  private until = 0;

  constructor(
    private readonly redis: RedisService,
    private readonly name: string,
    private readonly ttlMs = 5_000,
  ) {}

  /** True if this instance holds the lease now (taking or renewing it when due). */
  async hold(): Promise<boolean> {
    if (Date.now() < this.until - this.ttlMs / 2) return true;
    const key = this.redis.key(`lease:${this.name}`);
    // Take it if free, renew it if ours: one atomic script.
    const mine = (await this.redis.command.eval(
      `local v = redis.call('GET', KEYS[1])
       if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
       return 0`,
      1,
      key,
      this.owner,
      String(this.ttlMs),
    )) as number;
    this.until = mine === 1 ? Date.now() + this.ttlMs : 0;
    return mine === 1;
  }
}
