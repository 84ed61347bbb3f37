/**
 * One WebSocket of the feeds (`/feeds/ws`, subprotocol `livefeed.v1`): its feeds' events as JSON
 * text frames `{ feed, type, id, data }`, the protocol's replies, and one byte budget for the
 * socket whatever feeds it carries. Below the budget frames go out as they come. Above it (the
 * client or network is slow), as for SSE (sse-connection.ts):
 *  - a `conflate` feed (the ticker) keeps only the newest pending event per topic and writes them
 *    when the socket drains;
 *  - a `strict` feed (scores) keeps writing until the hard limit, then the socket is closed and
 *    the client resumes from its cursors.
 * Each feed on the socket is a `WsFeedSink`, the sink its FeedStream writes to. Ending a sink
 * (a gap, a lost log, an expired token: the cases where an SSE stream ends so that its client
 * resumes) closes the whole socket with code 4000: the client reconnects and subscribes with
 * its cursors. Liveness: `heartbeat()` pings, and a socket that did not answer the last ping is
 * terminated.
 */
import type { Duplex } from 'node:stream';
import type { WsServerReply } from '@livefeed/client/wire';
import type { WebSocket } from 'ws';
import type { StreamPosition } from './cursor.js';
import type { FeedEvent, SlowConsumerPolicy } from './feed-event.js';
import type { StreamSink } from './feed-stream.js';
import type { SseStats } from './sse-connection.js';

/** Each reply of the SDK's `WsServerReply`, its `ref` echoed as the client sent it (any JSON). */
type Echoed<R> = R extends unknown ? Omit<R, 'ref'> & { ref?: unknown } : never;
export type WsReply = Echoed<WsServerReply>;

/** Close code asking the client to reconnect and resume from its cursors. */
export const WS_RESUME = 4000;

export interface WsOptions {
  budgetBytes: number;
  hardLimitBytes: number;
}

export class WsConnection {
  private congested = false;
  private closed = false;
  private alive = true;
  private corked = false;
  private readonly sinks = new Set<WsFeedSink>();
  /** Grown by `concat` (exact size): `push` would reserve 17 slots on every open connection. */
  private closeHandlers: (() => void)[] = [];

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket, for its `drain` (ws writes to it). */
    private readonly socket: Duplex,
    private readonly options: WsOptions,
  ) {
    ws.on('close', () => this.cleanup());
    ws.on('error', () => this.cleanup());
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isCongested(): boolean {
    return this.congested;
  }

  /** Bytes this socket holds in memory now (socket buffer plus pending conflated frames). */
  get bufferedBytes(): number {
    let pending = 0;
    for (const sink of this.sinks) pending += sink.pendingBytes;
    return this.ws.bufferedAmount + pending;
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers = this.closeHandlers.concat(handler);
  }

  /** A feed's sink on this socket, under that feed's slow-consumer policy and counters. */
  sink(feed: string, policy: SlowConsumerPolicy, stats: SseStats): WsFeedSink {
    const sink = new WsFeedSink(this, feed, policy, stats);
    this.sinks.add(sink);
    sink.onClose(() => this.sinks.delete(sink));
    return sink;
  }

  /** A protocol reply (`subscribed`, `error`, `pong`, …), never conflated. */
  reply(message: WsReply): void {
    if (!this.closed) this.ws.send(JSON.stringify(message));
  }

  /**
   * Writes one frame; past the budget starts congestion (`conflate`), past the hard limit closes
   * (`strict`); `control` (replies, snapshots, replays, which wait for drains) does neither.
   */
  write(frame: Buffer | string, policy: SlowConsumerPolicy | 'control', stats: SseStats): void {
    if (this.closed) return;
    // Frames of one tick (a fan-out batch) leave in one write, as a chunked HTTP response's do:
    // ws sends each frame on its own otherwise, one syscall and one TCP segment per tick.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.ws.send(frame, { binary: false });
    stats.written++;
    const buffered = this.ws.bufferedAmount;
    if (policy === 'control') return;
    if (policy === 'strict') {
      if (buffered > this.options.hardLimitBytes) {
        stats.slowCloses++;
        this.terminate();
      }
      return;
    }
    if (buffered > this.options.budgetBytes && this.socket.writableNeedDrain && !this.congested) {
      this.congested = true;
      this.socket.once('drain', () => this.drain());
    }
  }

  /** Resolves once the socket can take more (or closed): a replay's backpressure. */
  async drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private drain(): void {
    this.congested = false;
    for (const sink of this.sinks) {
      if (this.closed || this.congested) return;
      sink.flush();
    }
  }

  /** Called by the instance's heartbeat: pings, and ends a socket that missed the last pong. */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    this.cleanup();
  }

  terminate(): void {
    if (this.closed) return;
    this.ws.terminate();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sink of [...this.sinks]) sink.end();
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler();
  }
}

/** One feed's stream on a WebSocket: what its FeedStream writes to. */
export class WsFeedSink implements StreamSink {
  private pending?: Map<string, FeedEvent>;
  private position?: StreamPosition;
  private closed = false;
  /** Grown by `concat` (exact size): `push` would reserve 17 slots on every open connection. */
  private closeHandlers: (() => void)[] = [];

  constructor(
    private readonly connection: WsConnection,
    private readonly feed: string,
    private readonly policy: SlowConsumerPolicy,
    private readonly stats: SseStats,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  get pendingBytes(): number {
    let bytes = 0;
    if (this.pending) for (const event of this.pending.values()) bytes += event.data.length;
    return bytes;
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers = this.closeHandlers.concat(handler);
  }

  startAt(position: StreamPosition): void {
    this.position = position;
  }

  sendControl(type: string, data: unknown, id?: string): void {
    if (this.closed) return;
    const message = id ? { feed: this.feed, type, id, data } : { feed: this.feed, type, data };
    this.connection.write(JSON.stringify(message), 'control', this.stats);
  }

  send(event: FeedEvent): void {
    if (this.closed) return;
    if (this.connection.isCongested && this.policy === 'conflate') {
      const pending = (this.pending ??= new Map());
      if (pending.delete(event.topic)) this.stats.conflated++; // re-insert keeps arrival order
      pending.set(event.topic, event);
      return;
    }
    this.connection.write(this.frameOf(event), this.policy, this.stats);
  }

  async replay(events: FeedEvent[]): Promise<void> {
    for (const event of events) {
      if (this.closed) return;
      this.connection.write(this.frameOf(event), 'control', this.stats);
      await this.connection.drained();
    }
  }

  /** The socket drained: what waited goes out, in arrival order, until it congests again. */
  flush(): void {
    if (!this.pending || this.closed) return;
    const events = [...this.pending.values()];
    this.pending.clear();
    for (let i = 0; i < events.length; i++) {
      if (this.connection.isCongested) {
        for (const rest of events.slice(i)) this.pending.set(rest.topic, rest);
        return;
      }
      this.connection.write(this.frameOf(events[i]), this.policy, this.stats);
    }
  }

  /** The stream asks its client to resume: on a WebSocket that is the whole socket (code 4000). */
  close(): void {
    if (this.closed) return;
    this.connection.close(WS_RESUME, `resume ${this.feed} from your cursor`);
  }

  /** This feed's stream is over (unsubscribed, or the socket closed); the socket stays as it is. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const handler of handlers) handler();
  }

  private frameOf(event: FeedEvent): Buffer {
    return this.position ? this.position.message(event, this.feed) : event.wsFrame(this.feed);
  }
}
