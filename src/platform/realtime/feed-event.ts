import { encodePosition } from './cursor.js';

/** One event of a feed, as it travels from Redis to local subscribers. */
export class FeedEvent {
  private encodedBody?: Buffer;
  private encoded?: Buffer;
  private encodedLine?: Buffer;
  private encodedMessage?: Buffer;

  constructor(
    /** Its log (FEED_SHARDS) and that log's epoch. */
    readonly shard: number,
    readonly epoch: string,
    /** Its stream id in that log. */
    readonly id: string,
    readonly type: string,
    readonly topic: string,
    /** The event's data, already JSON. */
    readonly data: string,
    readonly publishedAt: number,
  ) {}

  /** Its position in its log (`<epoch>:<id>`): with one shard, the whole cursor. */
  get position(): string {
    return encodePosition(this.epoch, this.id);
  }

  /** The SSE frame without its id line, encoded once per instance however many subscribers get it. */
  get body(): Buffer {
    this.encodedBody ??= Buffer.from(`event: ${this.type}\ndata: ${this.data}\n\n`);
    return this.encodedBody;
  }

  /** The whole SSE frame when the feed has one shard (the id is the event's own position). */
  get frame(): Buffer {
    this.encoded ??= Buffer.from(`id: ${this.position}\nevent: ${this.type}\ndata: ${this.data}\n\n`);
    return this.encoded;
  }

  /** The NDJSON line `{ id, type, data }` with this id (cursors and types need no escaping). */
  line(id: string): Buffer {
    return Buffer.from(`{"id":"${id}","type":"${this.type}","data":${this.data}}\n`);
  }

  /** The whole NDJSON line when the feed has one shard, encoded once per instance. */
  get ndjson(): Buffer {
    this.encodedLine ??= this.line(this.position);
    return this.encodedLine;
  }

  /** The WebSocket text frame `{ feed, type, id, data }` with this id. */
  message(feed: string, id: string): Buffer {
    return Buffer.from(`{"feed":"${feed}","type":"${this.type}","id":"${id}","data":${this.data}}`);
  }

  /** The whole WebSocket frame when the feed has one shard, encoded once per instance. */
  wsFrame(feed: string): Buffer {
    this.encodedMessage ??= this.message(feed, this.position);
    return this.encodedMessage;
  }
}

export interface FeedListener {
  /** Topics this listener wants; undefined = every topic. */
  readonly topics?: ReadonlySet<string>;
  onEvent(event: FeedEvent): void;
  /** Events may have been missed (an everything-listener whose announcement lapsed): resume from the log. */
  onGap?(): void;
}

export type SlowConsumerPolicy = 'conflate' | 'strict';

export interface FeedDefinition {
  /** Feed name: `ticker`, `scores`. */
  name: string;
  /** What a slow connection gets: `conflate` keeps only the latest event per topic; `strict` never drops and closes past the hard limit. */
  policy: SlowConsumerPolicy;
  /** Entries kept in the Redis stream (`MAXLEN ~`). */
  maxLength: number;
  /** Keep the latest event per topic in a Redis hash (for snapshots and short polls). */
  keepLatest?: boolean;
  /** Logs the feed is split over, by topic hash (FEED_SHARDS; each on its own hash tag). */
  shards: number;
}
