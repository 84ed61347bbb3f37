/**
 * A feed log on a Redis Stream, with fan-out to this instance's local subscribers.
 * Publishing is one round trip: a script that XADDs each event, keeps the latest per topic if
 * asked, and PUBLISHes the batch per topic (and whole, while an instance wants every topic), so an
 * instance receives only the topics its local subscribers hold (topic-channels.ts, feed-fanout.ts).
 */
import { randomBytes } from 'node:crypto';
import type { RedisService } from '#src/platform/redis/redis.service.js';
import { compareIds, decodeCursor, encodeCursor } from './cursor.js';
import { type FeedDefinition, FeedEvent, type FeedListener } from './feed-event.js';
import { FeedFanout } from './feed-fanout.js';
import { type FeedKeys, type NewFeedEvent, feedKeys, publishBatch } from './feed-publish.js';
import { type ChannelRedis, TopicChannels } from './topic-channels.js';

export type { NewFeedEvent } from './feed-publish.js';

export type CursorCheck = { ok: true; id: string; epoch: string } | { ok: false; reason: string; epoch: string };

export interface PollResult {
  events: ReturnType<FeedEvent['toJSON']>[];
  cursor: string;
}

/** Instrumentation called once per batch / per event, never per subscriber (keeps metrics off the fan-out loop). */
export interface FeedHooks {
  onPublished?: (count: number) => void;
  /** Once per message from Redis: its bytes and the new events it carried. */
  onReceived?: (bytes: number, events: number) => void;
  /** After an event was handed to every local subscriber. */
  onFannedOut?: (event: FeedEvent) => void;
  /** Channels this instance subscribes for the feed, when that changes. */
  onChannels?: (count: number) => void;
  onBadMessage?: (error: Error) => void;
}

export interface FeedOptions {
  instanceId: string;
  /** How long a new subscription may wait for Redis to confirm its channels. */
  subscribeTimeoutMs: number;
}

/** A local subscription: events go to the listener at once; read the log only once `ready` resolved. */
export interface FeedSubscription {
  ready: Promise<void>;
  unsubscribe(): void;
}

export class Feed {
  private readonly fanout: FeedFanout;
  private readonly channels: TopicChannels;
  private readonly keys: FeedKeys;
  /** Last epoch seen; refreshed by every publish and every fan-out message. */
  epoch = '';

  constructor(
    readonly definition: FeedDefinition,
    private readonly redis: ChannelRedis & Pick<RedisService, 'publisher' | 'tagged' | 'publishCommand'>,
    options: FeedOptions,
    private readonly hooks: FeedHooks = {},
  ) {
    // One hash tag for the feed's keys and channels: its script touches them together.
    this.keys = feedKeys(redis.tagged(`feed:${definition.name}`));
    this.fanout = new FeedFanout(hooks);
    this.channels = new TopicChannels(redis, {
      base: this.keys.base,
      instanceId: options.instanceId,
      readyTimeoutMs: options.subscribeTimeoutMs,
      onMessage: (message) => this.dispatch(message),
      onCount: hooks.onChannels,
      onAllLapsed: () => this.fanout.gap(),
    });
  }

  get name(): string {
    return this.definition.name;
  }

  get listenerCount(): number {
    return this.fanout.listenerCount;
  }

  /** Channels this instance subscribes for the feed now. */
  get channelCount(): number {
    return this.channels.count;
  }

  async publish(events: NewFeedEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const { epoch, cursors } = await publishBatch(this.redis, this.keys, this.definition, events);
    this.epoch = epoch;
    this.hooks.onPublished?.(events.length);
    return cursors;
  }

  /** Hands the listener this feed's events for its topics, subscribing their Redis channels if needed. */
  subscribe(listener: FeedListener): FeedSubscription {
    this.fanout.add(listener);
    const hold = this.channels.hold(listener.topics);
    return {
      ready: hold.ready,
      unsubscribe: () => {
        this.fanout.remove(listener);
        hold.release();
      },
    };
  }

  /** A fan-out message from Redis (feed-fanout.ts). */
  dispatch(message: string): void {
    try {
      this.epoch = this.fanout.dispatch(message);
    } catch (error) {
      this.hooks.onBadMessage?.(error as Error);
    }
  }

  /** After a Redis reconnect: announce everything-listeners again (Redis may have lost them). */
  reannounce(): void {
    this.channels.refresh();
  }

  close(): Promise<void> {
    return this.channels.close();
  }

  /** The cursor of the newest entry (what a client holding everything so far would have). */
  async current(): Promise<string> {
    const [[, epoch], [, last]] = (await this.redis.command
      .multi()
      .get(this.keys.epoch)
      .xrevrange(this.keys.stream, '+', '-', 'COUNT', 1)
      .exec()) as [[null, string | null], [null, [string, string[]][]]];
    this.epoch = epoch ?? (await this.ensureEpoch());
    return encodeCursor(this.epoch, last[0]?.[0] ?? '0-0');
  }

  private async ensureEpoch(): Promise<string> {
    await this.redis.command.set(this.keys.epoch, randomBytes(8).toString('hex'), 'NX');
    return (await this.redis.command.get(this.keys.epoch))!;
  }

  /** Whether this feed can replay everything after `cursor`. */
  async check(cursor: unknown): Promise<CursorCheck> {
    const decoded = decodeCursor(cursor);
    const current = decodeCursor(await this.current())!;
    if (!decoded) return { ok: false, reason: 'not a cursor', epoch: current.epoch };
    if (decoded.epoch !== current.epoch)
      return { ok: false, reason: 'cursor from another epoch', epoch: current.epoch };
    if (compareIds(decoded.id, current.id) > 0)
      return { ok: false, reason: 'cursor ahead of the log', epoch: current.epoch };
    const firstRetained = await this.firstRetainedIfTrimmed();
    if (firstRetained && compareIds(decoded.id, firstRetained) < 0) {
      return { ok: false, reason: 'cursor older than the retained log', epoch: current.epoch };
    }
    return { ok: true, id: decoded.id, epoch: current.epoch };
  }

  /**
   * The oldest retained entry id, if entries were ever trimmed from the log (trimming does not
   * move `max-deleted-entry-id`, so compare with the first retained entry instead).
   */
  private async firstRetainedIfTrimmed(): Promise<string | undefined> {
    try {
      const info = (await this.redis.command.xinfo('STREAM', this.keys.stream)) as unknown[];
      const field = (name: string) => info[info.indexOf(name) + 1];
      const added = Number(field('entries-added'));
      const length = Number(field('length'));
      const first = field('first-entry') as [string, string[]] | null;
      return added > length && first ? first[0] : undefined;
    } catch {
      return undefined; // no stream yet: nothing trimmed
    }
  }

  /** Entries after `afterId`, filtered by topic, reading at most `scan` entries. */
  async readAfter(
    afterId: string,
    topics: ReadonlySet<string> | undefined,
    epoch: string,
    scan = 1_000,
  ): Promise<{ events: FeedEvent[]; lastId: string }> {
    const entries = (await this.redis.command.xrange(this.keys.stream, `(${afterId}`, '+', 'COUNT', scan)) as [
      string,
      string[],
    ][];
    const events: FeedEvent[] = [];
    for (const [id, fields] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      if (topics && !topics.has(f.k)) continue;
      events.push(new FeedEvent(encodeCursor(epoch, id), id, f.t, f.k, f.d, Number(f.p)));
    }
    return { events, lastId: entries.length > 0 ? entries[entries.length - 1][0] : afterId };
  }

  /** Latest event data per topic (feeds with `keepLatest`). */
  async latest(topics?: string[]): Promise<{ topic: string; id: string; data: string }[]> {
    let rows: [string, string | null][];
    if (topics) {
      const values = topics.length > 0 ? await this.redis.command.hmget(this.keys.latest, ...topics) : [];
      rows = topics.map((topic, i) => [topic, values[i]]);
    } else {
      rows = Object.entries(await this.redis.command.hgetall(this.keys.latest));
    }
    return rows
      .filter((row): row is [string, string] => typeof row[1] === 'string')
      .map(([topic, value]) => {
        const bar = value.indexOf('|');
        return { topic, id: value.slice(0, bar), data: value.slice(bar + 1) };
      });
  }

  /**
   * Long poll: events after `cursor` at once if there are any, else waits for one up to `timeoutMs`.
   * No cursor: returns at once with the current one. A cursor the log cannot vouch for: a `reset` event.
   */
  async poll(
    topics: ReadonlySet<string> | undefined,
    cursor: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ) {
    if (cursor === undefined) return { events: [], cursor: await this.current() } satisfies PollResult;
    const check = await this.check(cursor);
    if (!check.ok) {
      const now = await this.current();
      return { events: [{ id: now, type: 'reset', data: { reason: check.reason } }], cursor: now } satisfies PollResult;
    }
    let wake: () => void = () => undefined;
    let woken: boolean;
    const wakeUp = () => {
      woken = true;
      wake();
    };
    const subscription = this.subscribe({ topics, onEvent: wakeUp, onGap: wakeUp });
    try {
      await subscription.ready; // Redis delivers these topics here: no wake-up is missed from now on
      let position = check.id;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        woken = false;
        const { events, lastId } = await this.readAfter(position, topics, check.epoch);
        position = lastId;
        if (events.length > 0)
          return { events: events.map((e) => e.toJSON()), cursor: encodeCursor(check.epoch, position) };
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) return { events: [], cursor: encodeCursor(check.epoch, position) };
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, left);
            const done = () => {
              clearTimeout(timer);
              signal?.removeEventListener('abort', done);
              resolve();
            };
            wake = done;
            signal?.addEventListener('abort', done);
          });
          wake = () => undefined;
        }
      }
    } finally {
      subscription.unsubscribe();
    }
  }
}
