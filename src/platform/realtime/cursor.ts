/**
 * Feed cursors: opaque to clients. A feed is FEED_SHARDS logs (Redis streams, by topic hash); a
 * cursor holds a position in each, `<epoch>:<stream id>`, joined with `.` (one shard: just the one
 * position, the format of earlier releases). The epoch is a random value stored beside each log;
 * if Redis loses a log it loses the epoch too, a new one is made, and every older position in that
 * shard is recognisably from another epoch: only subscribers of that shard's topics get `reset`.
 */
import type { FeedEvent } from './feed-event.js';

const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;
const POSITION = /^([0-9a-f]{8,32}):(\d{1,16}-\d{1,16})$/;

export interface Position {
  epoch: string;
  id: string;
}

export function encodePosition(epoch: string, id: string): string {
  return `${epoch}:${id}`;
}

export function encodeCursor(positions: readonly Position[]): string {
  return positions.map((p) => encodePosition(p.epoch, p.id)).join('.');
}

/** The positions of a cursor for a feed of `shards` logs, or undefined if it is not one. */
export function decodeCursor(value: unknown, shards: number): Position[] | undefined {
  if (typeof value !== 'string' || value.length > 64 * shards) return undefined;
  const parts = value.split('.');
  if (parts.length !== shards) return undefined;
  const positions: Position[] = [];
  for (const part of parts) {
    const match = POSITION.exec(part);
    if (!match) return undefined;
    positions.push({ epoch: match[1], id: match[2] });
  }
  return positions;
}

/** Orders Redis stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

function splitId(id: string): [bigint, bigint] {
  const match = STREAM_ID.exec(id);
  if (!match) return [0n, 0n];
  return [BigInt(match[1]), BigInt(match[2])];
}

/**
 * Where one stream (SSE connection or long poll) is in every shard: what it was sent last. An event
 * is new if it is past the position of its shard in the same epoch; an event of another epoch
 * means that shard's log was lost (the stream must end, so the client resumes into a `reset`).
 */
export class StreamPosition {
  constructor(private readonly positions: Position[]) {}

  accept(event: FeedEvent): 'new' | 'old' | 'epoch' {
    const at = this.positions[event.shard];
    if (event.epoch !== at.epoch) return 'epoch';
    return compareIds(event.id, at.id) > 0 ? 'new' : 'old';
  }

  /** Moves the event's shard to it: the cursor from now on covers it. */
  advance(event: FeedEvent): void {
    this.positions[event.shard] = { epoch: event.epoch, id: event.id };
  }

  move(shard: number, id: string): void {
    this.positions[shard] = { epoch: this.positions[shard].epoch, id };
  }

  idOf(shard: number): string {
    return this.positions[shard].id;
  }

  epochOf(shard: number): string {
    return this.positions[shard].epoch;
  }

  get cursor(): string {
    return encodeCursor(this.positions);
  }

  /**
   * The event's SSE frame with this stream's cursor after it as its id (and the position moved).
   * One shard: the event's own frame, encoded once per instance for every stream.
   */
  frame(event: FeedEvent): Buffer {
    this.advance(event);
    if (this.positions.length === 1) return event.frame;
    return Buffer.concat([Buffer.from(`id: ${this.cursor}\n`), event.body]);
  }

  /** The same for a feed of a WebSocket: the event's `{ feed, type, id, data }` frame. */
  message(event: FeedEvent, feed: string): Buffer {
    this.advance(event);
    if (this.positions.length === 1) return event.wsFrame(feed);
    return event.message(feed, this.cursor);
  }

  /** The same for an NDJSON stream: the event's line with this stream's cursor as its id. */
  line(event: FeedEvent): Buffer {
    this.advance(event);
    if (this.positions.length === 1) return event.ndjson;
    return event.line(this.cursor);
  }
}
