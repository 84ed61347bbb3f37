/**
 * One stream connection with a byte budget: Server-Sent Events, or (`Accept: application/x-ndjson`,
 * for server-to-server consumers) chunked NDJSON, one `{ id, type, data }` line per event, the same
 * ids as cursors, an empty line as the heartbeat. Below the budget frames are written as they
 * come. Above it (the client or network is slow):
 *  - `conflate`: keep only the newest pending event per topic and write them when the socket
 *    drains. Frames already buffered are older than pending ones, so a topic never goes backwards.
 *  - `strict`: keep writing (nothing is ever dropped) until the hard limit, then close; the client
 *    resumes from its last id.
 * Memory per connection stays within the budget plus one frame plus one pending event per topic.
 * The options object (with its counters) is shared by all connections of a feed, so an idle
 * connection costs its socket, this object and its feed subscription, nothing per metric.
 * Over HTTP/2 (TLS_CERT_FILE) the response is Node's compatibility object: its buffer, drain and
 * abort are those of its HTTP/2 stream, and it sends no `Connection` header (HTTP/2 forbids it).
 */
import type { ServerResponse } from 'node:http';
import type { Http2Stream } from 'node:http2';
import type { Writable } from 'node:stream';
import type { StreamPosition } from './cursor.js';
import type { FeedEvent, SlowConsumerPolicy } from './feed-event.js';
import type { StreamSink } from './feed-stream.js';

export type StreamFormat = 'sse' | 'ndjson';

/** What the client asked for: NDJSON only when it says so (an EventSource sends text/event-stream). */
export function streamFormatOf(accept: string | undefined): StreamFormat {
  return accept !== undefined && /application\/x-ndjson/i.test(accept) ? 'ndjson' : 'sse';
}

export interface SseOptions {
  policy: SlowConsumerPolicy;
  budgetBytes: number;
  hardLimitBytes: number;
  retryMs: number;
  /** Shared by every connection of a feed: plain counters, read by the metrics on scrape. */
  stats: SseStats;
}

export interface SseStats {
  written: number;
  conflated: number;
  slowCloses: number;
}

export class SseConnection implements StreamSink {
  /** Created on first congestion: idle connections do not carry an empty map. */
  private pending?: Map<string, FeedEvent>;
  private congested = false;
  private closed = false;
  /** Grown by `concat` (exact size): `push` would reserve 17 slots on every open connection. */
  private closeHandlers: (() => void)[] = [];
  /** Where the stream is in each of the feed's logs: each frame's id is the cursor after it. Set before the first event. */
  private position?: StreamPosition;

  /** What the frames are buffered in: the HTTP/1.1 response, or an HTTP/2 response's stream. */
  private readonly out: Writable;
  private readonly http2: boolean;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseOptions,
    private readonly format: StreamFormat = 'sse',
  ) {
    const stream = (res as unknown as { stream?: Http2Stream }).stream;
    this.http2 = stream !== undefined;
    this.out = stream ?? res;
    res.on('close', () => this.cleanup());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes this connection holds in memory now (socket buffer plus pending conflated frames). */
  get bufferedBytes(): number {
    let pending = 0;
    if (this.pending) for (const event of this.pending.values()) pending += event.frame.length;
    return this.out.writableLength + pending;
  }

  /** `headers`: the reply's own (security headers for a stream: security-headers.ts `streamHeaders`). */
  open(headers: Record<string, string | string[] | number>): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': this.format === 'ndjson' ? 'application/x-ndjson' : 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      ...(this.http2 ? {} : { connection: 'keep-alive' }),
      'x-accel-buffering': 'no',
    });
    // The head goes out on its own: Node keeps its header string for as long as the stream is open,
    // and writing it alone flattens it (otherwise it stays a tree of small concatenated pieces, ~3 KB).
    this.res.flushHeaders();
    // Written at once so that the client and any proxy see the stream open.
    this.res.write(this.format === 'ndjson' ? '\n' : `retry: ${this.options.retryMs}\n: connected\n\n`);
  }

  /** A comment line that keeps proxies from timing the stream out; skipped while congested. */
  heartbeat(): void {
    if (!this.closed && !this.congested) this.res.write(this.format === 'ndjson' ? '\n' : ': heartbeat\n\n');
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers = this.closeHandlers.concat(handler);
  }

  /** The stream's starting point (after the snapshot or the replay's start). */
  startAt(position: StreamPosition): void {
    this.position = position;
  }

  private frameOf(event: FeedEvent): Buffer {
    if (this.format === 'ndjson') return this.position ? this.position.line(event) : event.ndjson;
    return this.position ? this.position.frame(event) : event.frame;
  }

  /** A control event (snapshot, reset) that is never conflated. */
  sendControl(type: string, data: unknown, id?: string): void {
    if (this.closed) return;
    if (this.format === 'ndjson') {
      this.res.write(`${JSON.stringify(id ? { id, type, data } : { type, data })}\n`);
      return;
    }
    this.res.write(`${id ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  send(event: FeedEvent): void {
    if (this.closed) return;
    if (this.congested && this.options.policy === 'conflate') {
      const pending = (this.pending ??= new Map());
      if (pending.delete(event.topic)) this.options.stats.conflated++; // re-insert keeps arrival order
      pending.set(event.topic, event);
      return;
    }
    this.write(event);
  }

  /**
   * Replay (resume from the log): written with backpressure, waiting for the socket to drain above
   * the budget, so a long replay neither buffers without bound nor counts as a slow consumer.
   */
  async replay(events: FeedEvent[]): Promise<void> {
    for (const event of events) {
      if (this.closed) return;
      const flushed = this.res.write(this.frameOf(event));
      this.options.stats.written++;
      if (!flushed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            this.out.off('drain', done);
            this.res.off('close', done);
            resolve();
          };
          this.out.on('drain', done);
          this.res.on('close', done);
        });
      }
    }
  }

  private write(event: FeedEvent): void {
    this.res.write(this.frameOf(event));
    this.options.stats.written++;
    const buffered = this.out.writableLength;
    if (this.options.policy === 'strict') {
      if (buffered > this.options.hardLimitBytes) {
        this.options.stats.slowCloses++;
        this.close(true);
      }
      return;
    }
    // `drain` comes only after a write that returned false (past the stream's high-water mark),
    // so congestion needs both: over the budget and waiting for a drain.
    if (buffered > this.options.budgetBytes && this.out.writableNeedDrain && !this.congested) {
      this.congested = true;
      this.out.once('drain', () => this.drain());
    }
  }

  private drain(): void {
    this.congested = false;
    if (!this.pending) return;
    const events = [...this.pending.values()];
    this.pending.clear();
    for (let i = 0; i < events.length; i++) {
      if (this.closed) return;
      if (this.congested) {
        for (const rest of events.slice(i)) this.pending.set(rest.topic, rest);
        return;
      }
      this.write(events[i]);
    }
  }

  close(abort = false): void {
    if (this.closed) return;
    if (abort) this.out.destroy();
    else this.res.end();
    this.cleanup();
  }

  /** An SSE response carries one stream: ending it closes the response. */
  end(): void {
    this.close();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler();
  }
}
