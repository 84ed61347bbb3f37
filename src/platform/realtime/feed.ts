/**
 * A feed: its topics spread by hash over FEED_SHARDS logs (feed-log.ts, each a Redis Stream on a
 * hash tag of its own, so on a cluster they sit on different slots), with fan-out to this
 * instance's local subscribers. A cursor holds a position in every log (cursor.ts); a stream
 * reads, checks and resumes only the logs of its topics, so a log that lost its data resets only
 * the subscribers of its topics. With one shard, keys and cursors are those of earlier releases.
 */
import type { RedisService } from '#src/platform/redis/redis.service.js';
import { type Position, StreamPosition, decodeCursor, encodeCursor } from './cursor.js';
import type { FeedDefinition, FeedEvent, FeedListener } from './feed-event.js';
import { FeedLog, type LogRedis } from './feed-log.js';
import type { NewFeedEvent } from './feed-publish.js';

export type { NewFeedEvent } from './feed-publish.js';

/** How often a delayed long poll re-reads its logs while it waits. */
const DELAYED_POLL_MS = 200;

/** A cursor check: the stream's position if every log of its topics can replay from it. */
export type CursorCheck = { ok: true; position: StreamPosition } | { ok: false; reason: string };

export interface PollResult {
  events: { id: string; type: string; data: unknown }[];
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

/** The log of `shards` a topic lives in (FNV-1a of the topic). */
export function topicShard(topic: string, shards: number): number {
  if (shards === 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) hash = Math.imul(hash ^ topic.charCodeAt(i), 0x01000193) >>> 0;
  return hash % shards;
}

export class Feed {
  private readonly logs: FeedLog[];

  constructor(
    readonly definition: FeedDefinition,
    redis: LogRedis & Pick<RedisService, 'tagged'>,
    options: FeedOptions,
    private readonly hooks: FeedHooks = {},
  ) {
    const shards = definition.shards;
    this.logs = Array.from(
      { length: shards },
      (_, shard) =>
        new FeedLog(definition, redis, {
          // One hash tag per log: its script touches its keys and channels together.
          base: redis.tagged(shards === 1 ? `feed:${definition.name}` : `feed:${definition.name}:${shard}`),
          shard,
          instanceId: options.instanceId,
          subscribeTimeoutMs: options.subscribeTimeoutMs,
          hooks: {
            onReceived: hooks.onReceived,
            onFannedOut: hooks.onFannedOut,
            onChannels: () => hooks.onChannels?.(this.channelCount),
            onBadMessage: hooks.onBadMessage,
          },
        }),
    );
  }

  get name(): string {
    return this.definition.name;
  }

  get shards(): number {
    return this.logs.length;
  }

  get listenerCount(): number {
    return this.logs.reduce((sum, log) => sum + log.listenerCount, 0);
  }

  /** Channels this instance subscribes for the feed now. */
  get channelCount(): number {
    return this.logs.reduce((sum, log) => sum + log.channels.count, 0);
  }

  /** The log a topic lives in. */
  shardOf(topic: string): number {
    return topicShard(topic, this.logs.length);
  }

  /** The logs a stream of these topics reads (undefined: every topic, every log), each with its topics. */
  private involved(topics: ReadonlySet<string> | undefined): [FeedLog, ReadonlySet<string> | undefined][] {
    if (!topics) return this.logs.map((log) => [log, undefined]);
    if (this.logs.length === 1) return [[this.logs[0], topics]];
    const byLog = new Map<number, Set<string>>();
    for (const topic of topics) {
      const shard = this.shardOf(topic);
      let set = byLog.get(shard);
      if (!set) byLog.set(shard, (set = new Set()));
      set.add(topic);
    }
    return [...byLog].map(([shard, set]) => [this.logs[shard], set]);
  }

  /**
   * Publishes a batch: one script call per log it touches, in parallel; each log keeps its events'
   * order. An event with a `once` marker that was published before is not published again.
   */
  async publish(events: NewFeedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const byLog = new Map<number, NewFeedEvent[]>();
    for (const event of events) {
      const shard = this.shardOf(event.topic);
      const list = byLog.get(shard);
      if (list) list.push(event);
      else byLog.set(shard, [event]);
    }
    await Promise.all([...byLog].map(([shard, list]) => this.logs[shard].publish(list)));
    this.hooks.onPublished?.(events.length);
  }

  /** Hands the listener this feed's events for its topics, subscribing their Redis channels if needed. */
  subscribe(listener: FeedListener): FeedSubscription {
    const involved = this.involved(listener.topics);
    // One log (one shard, or topics that all hash to one: the same set): the listener goes to it as
    // it is, and that log's subscription is the stream's (no wrapper kept per stream).
    if (involved.length === 1) return involved[0][0].subscribe(listener);
    const parts = involved.map(([log, topics]) =>
      log.subscribe({
        topics,
        onEvent: (event) => listener.onEvent(event),
        onGap: listener.onGap && (() => listener.onGap!()),
      }),
    );
    return {
      ready: Promise.all(parts.map((part) => part.ready)).then(() => undefined),
      unsubscribe: () => {
        for (const part of parts) part.unsubscribe();
      },
    };
  }

  /** After a Redis reconnect: announce everything-listeners again (Redis may have lost them). */
  reannounce(): void {
    for (const log of this.logs) log.channels.refresh();
  }

  close(): Promise<void> {
    return Promise.all(this.logs.map((log) => log.close())).then(() => undefined);
  }

  /** Every log's newest position (what a client holding everything so far would have). */
  async currentPositions(): Promise<Position[]> {
    return Promise.all(this.logs.map((log) => log.current()));
  }

  /** The cursor of the newest entries. */
  async current(): Promise<string> {
    return encodeCursor(await this.currentPositions());
  }

  /**
   * Whether the logs of these topics can replay everything after `cursor`. Positions in other logs
   * are kept as they are (the stream does not read them).
   */
  async check(cursor: unknown, topics: ReadonlySet<string> | undefined): Promise<CursorCheck> {
    const positions = decodeCursor(cursor, this.logs.length);
    if (!positions) return { ok: false, reason: 'not a cursor' };
    for (const [log] of this.involved(topics)) {
      const result = await log.check(positions[log.shard], await log.current());
      if (!result.ok) return result;
    }
    return { ok: true, position: new StreamPosition(positions) };
  }

  /** Whether a log of these topics has another epoch than the position's (it lost its data). */
  async epochChanged(position: StreamPosition, topics: ReadonlySet<string> | undefined): Promise<boolean> {
    const epochs = await Promise.all(
      this.involved(topics).map(async ([log]) => [log.shard, (await log.current()).epoch] as const),
    );
    return epochs.some(([shard, epoch]) => epoch !== position.epochOf(shard));
  }

  /** A position at the newest entries of every log. */
  async startingNow(): Promise<StreamPosition> {
    return new StreamPosition(await this.currentPositions());
  }

  /**
   * Entries after `position` in the logs of these topics (at most `scan` per log), each log's in its
   * order, the logs merged by publish time. `ends`: where each log's read stopped (past entries of
   * other topics too); move the position there once the events are sent, not before, so that no
   * id sent claims an event not yet sent. `more`: some log had entries past the position.
   */
  async readAfter(
    position: StreamPosition,
    topics: ReadonlySet<string> | undefined,
    scan = 1_000,
    untilMs?: number,
  ): Promise<{ events: FeedEvent[]; ends: [number, string][]; more: boolean }> {
    const reads = await Promise.all(
      this.involved(topics).map(async ([log, own]) => {
        const from = position.idOf(log.shard);
        const read = await log.readAfter(from, own, position.epochOf(log.shard), scan, untilMs);
        return { ...read, shard: log.shard, more: read.lastId !== from };
      }),
    );
    return {
      events: mergeByPublishTime(reads.map((read) => read.events)),
      ends: reads.map((read) => [read.shard, read.lastId]),
      more: reads.some((read) => read.more),
    };
  }

  /** A position at the last entries published at `asOfMs` or before, in every log (a delayed stream's start). */
  async positionAt(asOfMs: number): Promise<StreamPosition> {
    return new StreamPosition(await Promise.all(this.logs.map((log) => log.positionAt(asOfMs))));
  }

  /** Latest event data per topic as of `asOfMs`, from the logs (a delayed snapshot). */
  async latestAsOf(topics: ReadonlySet<string> | undefined, asOfMs: number) {
    const rows = await Promise.all(this.involved(topics).map(([log, own]) => log.latestAsOf(own, asOfMs)));
    return rows.flat();
  }

  /** Latest event data per topic (feeds with `keepLatest`), from every log holding one of them. */
  async latest(topics?: string[]): Promise<{ topic: string; id: string; data: string }[]> {
    const involved = this.involved(topics ? new Set(topics) : undefined);
    const rows = await Promise.all(involved.map(([log, own]) => log.latest(own ? [...own] : undefined)));
    return rows.flat();
  }

  /**
   * Long poll: events after `cursor` at once if there are any, else waits for one up to `timeoutMs`.
   * No cursor: returns at once with the current one. A cursor the logs cannot vouch for: a `reset` event.
   */
  async poll(
    topics: ReadonlySet<string> | undefined,
    cursor: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
    /** A delayed plan: only entries published this long ago or earlier. */
    delayMs = 0,
  ): Promise<PollResult> {
    if (cursor === undefined) {
      return {
        events: [],
        cursor: delayMs > 0 ? (await this.positionAt(Date.now() - delayMs)).cursor : await this.current(),
      };
    }
    const check = await this.check(cursor, topics);
    if (!check.ok) {
      const now = await this.current();
      return { events: [{ id: now, type: 'reset', data: { reason: check.reason } }], cursor: now };
    }
    const position = check.position;
    let wake: () => void = () => undefined;
    let woken: boolean;
    const wakeUp = () => {
      woken = true;
      wake();
    };
    // Live: the fan-out wakes the poll. Delayed: entries come due by time, so it re-reads every DELAYED_POLL_MS.
    const subscription = delayMs > 0 ? undefined : this.subscribe({ topics, onEvent: wakeUp, onGap: wakeUp });
    try {
      await subscription?.ready; // Redis delivers these topics here: no wake-up is missed from now on
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        woken = false;
        const { events, ends } = await this.readAfter(
          position,
          topics,
          1_000,
          delayMs > 0 ? Date.now() - delayMs : undefined,
        );
        if (events.length > 0) {
          // Each event's id: the cursor just after it.
          const out = events.map((event) => {
            position.advance(event);
            return { id: position.cursor, type: event.type, data: JSON.parse(event.data) as unknown };
          });
          for (const [shard, id] of ends) position.move(shard, id);
          return { events: out, cursor: position.cursor };
        }
        for (const [shard, id] of ends) position.move(shard, id);
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) return { events: [], cursor: position.cursor };
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delayMs > 0 ? Math.min(left, DELAYED_POLL_MS) : left);
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
      subscription?.unsubscribe();
    }
  }
}

/** Merges logs' events by publish time without reordering any one log's (their ids ascend). */
function mergeByPublishTime(lists: FeedEvent[][]): FeedEvent[] {
  const nonEmpty = lists.filter((list) => list.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
  const heads = nonEmpty.map(() => 0);
  const out: FeedEvent[] = [];
  for (;;) {
    let pick = -1;
    for (let i = 0; i < nonEmpty.length; i++) {
      if (heads[i] >= nonEmpty[i].length) continue;
      if (pick < 0 || nonEmpty[i][heads[i]].publishedAt < nonEmpty[pick][heads[pick]].publishedAt) pick = i;
    }
    if (pick < 0) return out;
    out.push(nonEmpty[pick][heads[pick]++]);
  }
}
