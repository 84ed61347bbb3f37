/**
 * One log of a feed (a shard, FEED_SHARDS): a Redis Stream with its epoch, its latest-per-topic
 * hash and its topic channels, all on one hash tag, and this instance's fan-out of its messages.
 * Publishing is one round trip: a script that XADDs each event, keeps the latest per topic if
 * asked, and PUBLISHes the batch per topic (and whole, while an instance wants every topic), so an
 * instance receives only the topics its local subscribers hold (topic-channels.ts, feed-fanout.ts).
 * Feed (feed.ts) spreads topics over its logs and keeps the composite cursor.
 */
import { randomBytes } from 'node:crypto';
import type { RedisService } from '#src/platform/redis/redis.service.js';
import { type Position, compareIds } from './cursor.js';
import { type FeedDefinition, FeedEvent, type FeedListener } from './feed-event.js';
import { FeedFanout, type FanoutHooks } from './feed-fanout.js';
import { type FeedKeys, type NewFeedEvent, feedKeys, publishBatch } from './feed-publish.js';
import { type ChannelHold, type ChannelRedis, TopicChannels } from './topic-channels.js';

export type LogRedis = ChannelRedis & Pick<RedisService, 'publisher' | 'publishCommand' | 'confirmWrites'>;

export interface FeedLogOptions {
  /** The log's key base (a hash tag on a cluster). */
  base: string;
  shard: number;
  instanceId: string;
  /** How long a new subscription may wait for Redis to confirm its channels. */
  subscribeTimeoutMs: number;
  hooks: FanoutHooks & { onChannels?: () => void; onBadMessage?: (error: Error) => void };
}

/**
 * The log's head in one call: its epoch and newest entry id (nil where there is none). A script
 * rather than MULTI (GET + XREVRANGE): every new stream reads it, and a transaction costs ioredis
 * several commands and a pipeline per call.
 */
const HEAD = `
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
return { redis.call('GET', KEYS[1]), last and last[1] or false }`;

interface HeadCommands {
  feedLogHead(epochKey: string, streamKey: string): Promise<[string | null, string | null]>;
}

/** A position check: ok, or why the log cannot replay from there. */
export type PositionCheck = { ok: true } | { ok: false; reason: string };

/** A listener's subscription to one log (a class: one is kept per open stream; see `Hold`). */
export class LogSubscription {
  constructor(
    private readonly fanout: FeedFanout,
    private readonly listener: FeedListener,
    private readonly hold: ChannelHold,
  ) {}

  get ready(): Promise<void> {
    return this.hold.ready;
  }

  unsubscribe(): void {
    this.fanout.remove(this.listener);
    this.hold.release();
  }
}

export class FeedLog {
  readonly shard: number;
  private readonly fanout: FeedFanout;
  readonly channels: TopicChannels;
  private readonly keys: FeedKeys;

  constructor(
    private readonly definition: FeedDefinition,
    private readonly redis: LogRedis,
    private readonly options: FeedLogOptions,
  ) {
    this.shard = options.shard;
    this.keys = feedKeys(options.base);
    this.fanout = new FeedFanout(options.shard, options.hooks);
    redis.command.defineCommand('feedLogHead', { numberOfKeys: 2, lua: HEAD });
    this.channels = new TopicChannels(redis, {
      base: this.keys.base,
      instanceId: options.instanceId,
      readyTimeoutMs: options.subscribeTimeoutMs,
      onMessage: (message) => this.dispatch(message),
      onCount: () => options.hooks.onChannels?.(),
      onAllLapsed: () => this.fanout.gap(),
    });
  }

  get listenerCount(): number {
    return this.fanout.listenerCount;
  }

  /** Publishes, and resolves once the write is where it survives a failover (RedisService.confirmWrites). */
  async publish(events: NewFeedEvent[]): Promise<string> {
    const epoch = await publishBatch(this.redis, this.keys, this.definition, events);
    await this.redis.confirmWrites();
    return epoch;
  }

  /** Local listener for these topics of this log (undefined: all of them); resolves once Redis confirmed the channels. */
  subscribe(listener: FeedListener): LogSubscription {
    this.fanout.add(listener);
    return new LogSubscription(this.fanout, listener, this.channels.hold(listener.topics));
  }

  private dispatch(message: string): void {
    try {
      this.fanout.dispatch(message);
    } catch (error) {
      this.options.hooks.onBadMessage?.(error as Error);
    }
  }

  /** The position of the newest entry (what a client holding everything so far would have). */
  async current(): Promise<Position> {
    const commands = this.redis.command as unknown as HeadCommands;
    const [epoch, id] = await commands.feedLogHead(this.keys.epoch, this.keys.stream);
    return { epoch: epoch ?? (await this.ensureEpoch()), id: id ?? '0-0' };
  }

  private async ensureEpoch(): Promise<string> {
    await this.redis.command.set(this.keys.epoch, randomBytes(8).toString('hex'), 'NX');
    return (await this.redis.command.get(this.keys.epoch))!;
  }

  /** Whether this log can replay everything after `position`; `current` is its position now. */
  async check(position: Position, current: Position): Promise<PositionCheck> {
    if (position.epoch !== current.epoch) return { ok: false, reason: 'cursor from another epoch' };
    if (compareIds(position.id, current.id) > 0) return { ok: false, reason: 'cursor ahead of the log' };
    const firstRetained = await this.firstRetainedIfTrimmed();
    if (firstRetained && compareIds(position.id, firstRetained) < 0) {
      return { ok: false, reason: 'cursor older than the retained log' };
    }
    return { ok: true };
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

  /**
   * Entries after `afterId`, filtered by topic, reading at most `scan` entries, and none published
   * after `untilMs` if given (a delayed stream: entry ids are the log's publish times).
   */
  async readAfter(
    afterId: string,
    topics: ReadonlySet<string> | undefined,
    epoch: string,
    scan = 1_000,
    untilMs?: number,
  ): Promise<{ events: FeedEvent[]; lastId: string }> {
    const end = untilMs === undefined ? '+' : String(Math.max(0, Math.floor(untilMs)));
    const entries = (await this.redis.command.xrange(this.keys.stream, `(${afterId}`, end, 'COUNT', scan)) as [
      string,
      string[],
    ][];
    const events: FeedEvent[] = [];
    for (const [id, fields] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      if (topics && !topics.has(f.k)) continue;
      events.push(new FeedEvent(this.shard, epoch, id, f.t, f.k, f.d, Number(f.p)));
    }
    return { events, lastId: entries.length > 0 ? entries[entries.length - 1][0] : afterId };
  }

  /** Its position as of `asOfMs`: the last entry published then or before (a delayed stream's start). */
  async positionAt(asOfMs: number): Promise<Position> {
    const { epoch } = await this.current();
    const [last] = (await this.redis.command.xrevrange(
      this.keys.stream,
      String(Math.max(0, Math.floor(asOfMs))),
      '-',
      'COUNT',
      1,
    )) as [string, string[]][];
    return { epoch, id: last?.[0] ?? '0-0' };
  }

  /**
   * The latest event data per topic as of `asOfMs`, from the log (scanning back at most `scan`
   * entries): the state a delayed stream starts from. Topics with no entry in that range are absent.
   */
  async latestAsOf(
    topics: ReadonlySet<string> | undefined,
    asOfMs: number,
    scan = 10_000,
  ): Promise<{ topic: string; id: string; data: string }[]> {
    const found = new Map<string, { topic: string; id: string; data: string }>();
    let end = String(Math.max(0, Math.floor(asOfMs)));
    for (let read = 0; read < scan;) {
      const page = (await this.redis.command.xrevrange(this.keys.stream, end, '-', 'COUNT', 500)) as [
        string,
        string[],
      ][];
      for (const [id, fields] of page) {
        const f: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
        if ((topics && !topics.has(f.k)) || found.has(f.k)) continue;
        found.set(f.k, { topic: f.k, id, data: f.d });
      }
      read += page.length;
      if (page.length < 500 || (topics && found.size === topics.size)) break;
      end = `(${page[page.length - 1][0]}`;
    }
    return [...found.values()];
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

  close(): Promise<void> {
    return this.channels.close();
  }
}
