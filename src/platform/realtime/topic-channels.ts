/**
 * Which of a feed's Redis channels this instance subscribes: one per topic its local listeners
 * hold, and the whole-batch channel while one of them wants every topic. Publishers send on the
 * whole-batch channel only while some instance announces an everything-listener in the feed's
 * `all-listeners` ZSET (member = instance id, score = expiry ms), which this class keeps fresh.
 * A hold resolves once Redis confirmed its channels (and the announcement): a listener reads the
 * log only after that, so nothing published meanwhile is missed (the log covers what came before).
 */
import type { RedisService } from '#src/platform/redis/redis.service.js';

/** Every fan-out channel name of a feed is made here (a later step hash-tags them for Redis Cluster). */
export function feedChannel(base: string, topic?: string): string {
  return topic === undefined ? `${base}:live` : `${base}:live:${topic}`;
}

/** The ZSET of instances with a local everything-listener (made here, beside the channel names). */
export function allListenersKey(base: string): string {
  return `${base}:all-listeners`;
}

export type ChannelRedis = Pick<RedisService, 'command' | 'listen'>;

export interface TopicChannelsOptions {
  /** The feed's key base (`<prefix>feed:<name>`). */
  base: string;
  instanceId: string;
  /** Every message of every channel held (the channel is in the message's lines). */
  onMessage: (message: string) => void;
  /** A hold not confirmed by Redis within this fails (the caller closes its stream; the client retries). */
  readyTimeoutMs: number;
  /** Channels subscribed now (for the gauge). */
  onCount?: (count: number) => void;
  /** The announcement may have lapsed (not refreshed in time): everything-listeners may have a gap. */
  onAllLapsed?: () => void;
}

/** A channel stays subscribed this long after its last holder left, so short polls do not churn. */
const RELEASE_DELAY_MS = 5_000;
/** The announcement is refreshed this often and expires after three missed refreshes. */
const REFRESH_MS = 5_000;
const EXPIRY_MS = 3 * REFRESH_MS;

interface Channel {
  name: string;
  holders: number;
  subscribed: Promise<() => Promise<void>>;
  /** Redis confirmed it (`subscribed` resolved): a new hold of it needs no wait. */
  confirmed: boolean;
  releaseTimer?: NodeJS.Timeout;
}

export interface ChannelHold {
  /** Resolves once Redis delivers the held topics to this instance. */
  readonly ready: Promise<void>;
  release(): void;
}

/** The `ready` of a hold whose channels Redis already delivers (one promise for all of them). */
export const READY: Promise<void> = Promise.resolve();

/**
 * One listener's hold on its channels. A class, not a closure: one is kept per open stream, and
 * its fields cost less than a closure's context (idle memory per connection).
 */
class Hold implements ChannelHold {
  private released = false;

  constructor(
    private readonly owner: TopicChannels,
    private readonly held: Channel[],
    private readonly everything: boolean,
    readonly ready: Promise<void>,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.releaseHold(this.held, this.everything);
  }
}

export class TopicChannels {
  private readonly channels = new Map<string, Channel>();
  /** Channels dropped whose UNSUBSCRIBE has not completed: a new hold subscribes after it. */
  private readonly leaving = new Map<string, Promise<void>>();
  private readonly markerKey: string;
  private everythingHolders = 0;
  private refreshTimer?: NodeJS.Timeout;
  /** Expiry of the last announcement Redis confirmed (0: none is meant to be there). */
  private announcedUntil = 0;
  private closed = false;

  constructor(
    private readonly redis: ChannelRedis,
    private readonly options: TopicChannelsOptions,
  ) {
    this.markerKey = allListenersKey(options.base);
  }

  get count(): number {
    return this.channels.size;
  }

  /** Holds the channels of `topics` (undefined = every topic) until `release`. */
  hold(topics: ReadonlySet<string> | undefined): ChannelHold {
    let held: Channel[];
    const waits: Promise<unknown>[] = [];
    if (topics) {
      held = Array.from(topics, (topic) => this.holdChannel(feedChannel(this.options.base, topic)));
    } else {
      if (++this.everythingHolders === 1) this.startRefreshing();
      // Announce on every new everything-listener, not only the first: Redis may have lost the
      // ZSET since (a restart), and the next refresh could come too late for this listener.
      waits.push(this.announce());
      held = [this.holdChannel(feedChannel(this.options.base))];
    }
    for (const channel of held) if (!channel.confirmed) waits.push(channel.subscribed);
    // Channels Redis already delivers (the common case: other streams hold them) need no wait.
    return new Hold(this, held, !topics, waits.length === 0 ? READY : this.bounded(Promise.all(waits)));
  }

  /** What `Hold.release` does (once per hold). */
  releaseHold(held: Channel[], everything: boolean): void {
    for (const channel of held) this.releaseChannel(channel);
    if (everything && --this.everythingHolders === 0) this.stopRefreshing();
  }

  /** Re-announces at once (after a Redis reconnect, which may have lost the ZSET). */
  refresh(): void {
    if (this.everythingHolders > 0) this.announce().catch(() => undefined);
  }

  /** At shutdown: stop timers and withdraw the announcement; the subscriber closes after this. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    for (const channel of this.channels.values()) clearTimeout(channel.releaseTimer);
    if (this.everythingHolders > 0)
      await this.redis.command.zrem(this.markerKey, this.options.instanceId).catch(() => undefined);
  }

  private holdChannel(name: string): Channel {
    let channel = this.channels.get(name);
    if (!channel) {
      // A listener of its own per subscription, so a late unlisten of a dropped one removes only that one.
      const listen = () => this.redis.listen(name, (message) => this.options.onMessage(message));
      const before = this.leaving.get(name);
      const created: Channel = {
        name,
        holders: 0,
        subscribed: before ? before.then(listen) : listen(),
        confirmed: false,
      };
      created.subscribed.then(
        () => (created.confirmed = true),
        () => undefined,
      );
      created.subscribed.catch(() => {
        // Only at shutdown (the subscriber waits out outages): forget it so a later hold retries.
        if (this.channels.get(name) === created) this.drop(created);
      });
      this.channels.set(name, (channel = created));
      this.options.onCount?.(this.channels.size);
    }
    channel.holders++;
    clearTimeout(channel.releaseTimer);
    channel.releaseTimer = undefined;
    return channel;
  }

  private releaseChannel(channel: Channel): void {
    if (--channel.holders > 0 || this.channels.get(channel.name) !== channel || this.closed) return;
    channel.releaseTimer = setTimeout(() => {
      if (channel.holders === 0 && this.channels.get(channel.name) === channel) this.drop(channel);
    }, RELEASE_DELAY_MS).unref();
  }

  private drop(channel: Channel): void {
    this.channels.delete(channel.name);
    this.options.onCount?.(this.channels.size);
    const left = channel.subscribed.then((unlisten) => unlisten()).catch(() => undefined);
    this.leaving.set(channel.name, left);
    void left.then(() => {
      if (this.leaving.get(channel.name) === left) this.leaving.delete(channel.name);
    });
  }

  private startRefreshing(): void {
    this.refreshTimer = setInterval(() => this.refresh(), REFRESH_MS).unref();
  }

  private stopRefreshing(): void {
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    this.announcedUntil = 0;
    if (!this.closed) this.redis.command.zrem(this.markerKey, this.options.instanceId).catch(() => undefined);
  }

  /** ZADD this instance (pruning members of instances that stopped refreshing). */
  private async announce(): Promise<void> {
    const now = Date.now();
    const until = now + EXPIRY_MS;
    await this.redis.command
      .multi()
      .zadd(this.markerKey, until, this.options.instanceId)
      .zremrangebyscore(this.markerKey, '-inf', now)
      .pexpire(this.markerKey, EXPIRY_MS)
      .exec();
    if (this.everythingHolders === 0) return; // the last one left meanwhile (its ZREM follows this)
    // Our previous announcement expired before this one landed: publishers may have skipped the
    // whole-batch channel in between.
    if (this.announcedUntil > 0 && now > this.announcedUntil) this.options.onAllLapsed?.();
    this.announcedUntil = Math.max(this.announcedUntil, until);
  }

  private bounded(wait: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      wait.then(() => undefined),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis did not confirm the subscription in ${this.options.readyTimeoutMs} ms`)),
          this.options.readyTimeoutMs,
        );
        timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
  }
}
