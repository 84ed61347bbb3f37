/**
 * A feed log on a Redis Stream, with fan-out to this instance's local subscribers.
 * Publishing is one round trip: a script that XADDs each event, keeps the latest per topic if
 * asked, and PUBLISHes the batch as one message that every instance turns into local writes.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { compareIds, decodeCursor, encodeCursor } from './cursor.js';
import { type FeedDefinition, FeedEvent, type FeedListener } from './feed-event.js';

const PUBLISH_SCRIPT = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[3], epoch)
end
local lines = {}
local ids = {}
for i = 5, #ARGV, 3 do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[i], 'k', ARGV[i + 1], 'd', ARGV[i + 2], 'p', ARGV[4])
  if ARGV[3] == '1' then redis.call('HSET', KEYS[4], ARGV[i + 1], id .. '|' .. ARGV[i + 2]) end
  lines[#lines + 1] = id .. '|' .. ARGV[i] .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2]
  ids[#ids + 1] = id
end
redis.call('PUBLISH', KEYS[2], epoch .. '|' .. ARGV[4] .. '\\n' .. table.concat(lines, '\\n'))
return {epoch, ids}
`;

export interface NewFeedEvent {
  type: string;
  /** The topic field (a symbol, a match id); must not contain `|` or a newline. */
  topic: string;
  data: unknown;
}

export type CursorCheck = { ok: true; id: string; epoch: string } | { ok: false; reason: string; epoch: string };

export interface PollResult {
  events: ReturnType<FeedEvent['toJSON']>[];
  cursor: string;
}

/** Instrumentation called once per batch / per event, never per subscriber (keeps metrics off the fan-out loop). */
export interface FeedHooks {
  onPublished?: (count: number) => void;
  /** After an event was handed to every local subscriber. */
  onFannedOut?: (event: FeedEvent) => void;
}

export class Feed {
  private readonly byTopic = new Map<string, Set<FeedListener>>();
  private readonly everything = new Set<FeedListener>();
  readonly streamKey: string;
  readonly channel: string;
  readonly epochKey: string;
  readonly latestKey: string;
  /** Last epoch seen; refreshed by every publish and every fan-out message. */
  epoch = '';

  constructor(
    readonly definition: FeedDefinition,
    private readonly redis: { command: Redis; publisher: Redis; key(name: string): string },
    private readonly hooks: FeedHooks = {},
  ) {
    const base = redis.key(`feed:${definition.name}`);
    this.streamKey = `${base}:log`;
    this.channel = `${base}:live`;
    this.epochKey = `${base}:epoch`;
    this.latestKey = `${base}:latest`;
  }

  get name(): string {
    return this.definition.name;
  }

  get listenerCount(): number {
    let count = this.everything.size;
    for (const set of this.byTopic.values()) count += set.size;
    return count;
  }

  async publish(events: NewFeedEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const args: string[] = [
      String(this.definition.maxLength),
      randomBytes(8).toString('hex'),
      this.definition.keepLatest ? '1' : '0',
      String(Date.now()),
    ];
    for (const event of events) args.push(event.type, event.topic, JSON.stringify(event.data));
    const [epoch, ids] = (await this.redis.publisher.eval(
      PUBLISH_SCRIPT,
      4,
      this.streamKey,
      this.channel,
      this.epochKey,
      this.latestKey,
      ...args,
    )) as [string, string[]];
    this.epoch = epoch;
    this.hooks.onPublished?.(events.length);
    return ids.map((id) => encodeCursor(epoch, id));
  }

  subscribe(listener: FeedListener): () => void {
    if (!listener.topics) this.everything.add(listener);
    else
      for (const topic of listener.topics) {
        let set = this.byTopic.get(topic);
        if (!set) this.byTopic.set(topic, (set = new Set()));
        set.add(listener);
      }
    return () => {
      if (!listener.topics) this.everything.delete(listener);
      else
        for (const topic of listener.topics) {
          const set = this.byTopic.get(topic);
          set?.delete(listener);
          if (set?.size === 0) this.byTopic.delete(topic);
        }
    };
  }

  /** A fan-out message from Redis: `epoch|publishedAt` then one `id|type|topic|data` line per event. */
  dispatch(message: string): void {
    const lines = message.split('\n');
    const [epoch, publishedAt] = lines[0].split('|');
    this.epoch = epoch;
    const at = Number(publishedAt);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const a = line.indexOf('|');
      const b = line.indexOf('|', a + 1);
      const c = line.indexOf('|', b + 1);
      const id = line.slice(0, a);
      const topic = line.slice(b + 1, c);
      const event = new FeedEvent(encodeCursor(epoch, id), id, line.slice(a + 1, b), topic, line.slice(c + 1), at);
      for (const listener of this.everything) listener.onEvent(event);
      const set = this.byTopic.get(topic);
      if (set) for (const listener of set) listener.onEvent(event);
      this.hooks.onFannedOut?.(event);
    }
  }

  /** The cursor of the newest entry (what a client holding everything so far would have). */
  async current(): Promise<string> {
    const [[, epoch], [, last]] = (await this.redis.command
      .multi()
      .get(this.epochKey)
      .xrevrange(this.streamKey, '+', '-', 'COUNT', 1)
      .exec()) as [[null, string | null], [null, [string, string[]][]]];
    this.epoch = epoch ?? (await this.ensureEpoch());
    return encodeCursor(this.epoch, last[0]?.[0] ?? '0-0');
  }

  private async ensureEpoch(): Promise<string> {
    await this.redis.command.set(this.epochKey, randomBytes(8).toString('hex'), 'NX');
    return (await this.redis.command.get(this.epochKey))!;
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
      const info = (await this.redis.command.xinfo('STREAM', this.streamKey)) as unknown[];
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
    const entries = (await this.redis.command.xrange(this.streamKey, `(${afterId}`, '+', 'COUNT', scan)) as [
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
      const values = topics.length > 0 ? await this.redis.command.hmget(this.latestKey, ...topics) : [];
      rows = topics.map((topic, i) => [topic, values[i]]);
    } else {
      rows = Object.entries(await this.redis.command.hgetall(this.latestKey));
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
    const unsubscribe = this.subscribe({
      topics,
      onEvent: () => {
        woken = true;
        wake();
      },
    });
    try {
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
      unsubscribe();
    }
  }
}
