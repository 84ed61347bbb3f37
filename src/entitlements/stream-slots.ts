/**
 * Open streams per viewer across instances, for `maxStreams`: a sorted set per viewer in Redis
 * (member: this instance and a stream number, score: when the entry lapses), refreshed while the
 * stream is open, so a crashed instance's streams stop counting within SLOT_TTL_MS. Taking a slot
 * is one script call that drops lapsed entries, counts, and adds if there is room. The refresh is
 * one `ZADD XX` per viewer for all of its streams here (in chunks), not one per stream: 10,000 idle
 * streams of one address cost 10 commands every 10 s, not 10,000.
 */
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { RedisService } from '#src/platform/redis/redis.service.js';

const SLOT_TTL_MS = 30_000;
/** Members per refresh command (a bound on one command's size). */
const REFRESH_CHUNK = 1_000;

const TAKE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

interface SlotCommands {
  streamSlotTake(key: string, now: number, expires: number, max: number, member: string, ttl: number): Promise<number>;
}

/** One open stream's slot (a class, not a closure: one is kept per open stream). */
export class Slot {
  private released = false;

  constructor(
    private readonly slots: StreamSlots,
    private readonly key: string,
    private readonly member: string,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.slots.give(this.key, this.member);
  }
}

@Injectable()
export class StreamSlots implements OnModuleDestroy {
  private next = 0;
  /** This instance's slots: Redis key (one per viewer) → its members. */
  private readonly held = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    redis.command.defineCommand('streamSlotTake', { numberOfKeys: 1, lua: TAKE });
    this.timer = setInterval(() => void this.refresh(), SLOT_TTL_MS / 3);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** A slot of `max` for `viewer` (`release` gives it back); undefined when all are taken. */
  async take(viewer: string, max: number): Promise<Slot | undefined> {
    const key = this.redis.key(`streams:${viewer}`);
    const member = `${this.config.app.instanceId}:${++this.next}`;
    const now = Date.now();
    const commands = this.redis.command as unknown as SlotCommands;
    const taken = await commands.streamSlotTake(key, now, now + SLOT_TTL_MS, max, member, SLOT_TTL_MS * 2);
    if (taken !== 1) return undefined;
    let members = this.held.get(key);
    if (!members) this.held.set(key, (members = new Set()));
    members.add(member);
    return new Slot(this, key, member);
  }

  /** What `Slot.release` does (once per slot). */
  give(key: string, member: string): void {
    const members = this.held.get(key);
    members?.delete(member);
    if (members?.size === 0) this.held.delete(key);
    this.redis.command.zrem(key, member).catch(() => undefined);
  }

  private async refresh(): Promise<void> {
    const expires = Date.now() + SLOT_TTL_MS;
    const commands: Promise<unknown>[] = [];
    for (const [key, members] of this.held) {
      let args: (string | number)[] = [];
      for (const member of members) {
        args.push(expires, member);
        if (args.length === REFRESH_CHUNK * 2) {
          commands.push(this.redis.command.zadd(key, 'XX', ...args).catch(() => 0));
          args = [];
        }
      }
      if (args.length > 0) commands.push(this.redis.command.zadd(key, 'XX', ...args).catch(() => 0));
    }
    await Promise.all(commands);
  }
}
