/** One event of a feed, as it travels from Redis to local subscribers. */
export class FeedEvent {
  private encoded?: Buffer;

  constructor(
    readonly cursor: string,
    readonly id: string,
    readonly type: string,
    readonly topic: string,
    /** The event's data, already JSON. */
    readonly data: string,
    readonly publishedAt: number,
  ) {}

  /** The SSE frame, encoded once per instance however many subscribers get it. */
  get frame(): Buffer {
    this.encoded ??= Buffer.from(`id: ${this.cursor}\nevent: ${this.type}\ndata: ${this.data}\n\n`);
    return this.encoded;
  }

  toJSON() {
    return { id: this.cursor, type: this.type, data: JSON.parse(this.data) as unknown };
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
}
