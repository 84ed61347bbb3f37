/**
 * What the three transports share: a connection is opened from a cursor (the promise rejects if it
 * could not be: refused, blocked, timed out) and, once open, delivers the feed's events in order
 * until it ends or is closed. After `close()` it delivers nothing more.
 */
import type { FeedEvent, FeedName } from './wire.js';

export type TransportKind = 'ws' | 'sse' | 'poll';

export interface TransportContext {
  baseUrl: string;
  feed: FeedName;
  /** Undefined: every topic of the feed. */
  topics: string[] | undefined;
  token: string | undefined;
  connectTimeoutMs: number;
  pollTimeoutMs: number;
  /** The cursor to resume from now (undefined: start with a snapshot). */
  cursor(): string | undefined;
  /** Moves the cursor without an event (the long poll's answer). */
  setCursor(cursor: string): void;
  /** Called in order, synchronously, for every event; it moves the cursor to the event's id. */
  deliver(event: FeedEvent): void;
}

export interface Connection {
  /** Resolves when the open connection ends by itself (dropped, closed by the server). */
  readonly ended: Promise<unknown>;
  close(): void;
}

/** A transport that could not open. `status`: the HTTP status (401: the token was refused). */
export class TransportError extends Error {
  constructor(
    readonly transport: TransportKind,
    message: string,
    readonly status?: number,
  ) {
    super(`${transport}: ${message}`);
  }
}

export function feedUrl(baseUrl: string, path: string): URL {
  return new URL(path.replace(/^\//, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
}
