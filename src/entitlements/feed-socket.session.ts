/**
 * The protocol of one feed WebSocket (`livefeed.v1`), its ops handled one at a time in order.
 * Client → server, JSON text frames:
 *   `{ op: "auth", token, ref? }` (first frame only, when the upgrade carried no token)
 *   `{ op: "subscribe", feed, topics?, cursor?, ref? }`, `{ op: "unsubscribe", feed, topics?, ref? }`
 *   (no `topics`: the whole feed, as an SSE stream without a list),
 *   `{ op: "ping", ref? }`.
 * Server → client: `{ op: "authenticated" | "subscribed" | "unsubscribed" | "pong" | "error", … }`
 * and the feeds' events `{ feed, type, id?, data }` (ws-connection.ts).
 * Each feed on the socket is one stream under access control (FeedGate.admit: plan, slot, watch),
 * with the SSE semantics (feed-stream.ts): the first subscribe of a feed starts it, from `cursor`
 * (replay, or `reset` + snapshot) or a snapshot; later ones add topics (a snapshot of the added
 * topics, then their events); unsubscribing its last topic ends it. A refused op gets
 * `{ op: "error", code, message, ref }` and changes nothing; the socket stays open.
 */
import { HttpException, type Logger } from '@nestjs/common';
import type { RawData, WebSocket } from 'ws';
import type { RealtimeService, SocketStream } from '#src/platform/realtime/realtime.service.js';
import type { WsConnection, WsReply } from '#src/platform/realtime/ws-connection.js';
import type { WsErrorCode } from '@livefeed/client/wire';
import type { FeedAccessService, Viewer } from './feed-access.service.js';
import type { Admission, FeedGate } from './feed-gate.js';
import type { SocketFeed } from './feed-socket.server.js';
import type { FeedName } from './feed-tokens.service.js';

/** Close code of a failed `auth` op. */
const WS_UNAUTHORIZED = 4401;
const MAX_CURSOR_CHARS = 4_096;

export interface SessionDeps {
  feeds: ReadonlyMap<FeedName, SocketFeed>;
  gate: FeedGate;
  access: FeedAccessService;
  realtime: RealtimeService;
  maxTopics: number;
  ip: string;
  /** From a token on the upgrade; undefined: an `auth` first frame, or anonymous. */
  viewer: Viewer | undefined;
  logger: Logger;
}

interface OpenFeed {
  stream: SocketStream;
  admission: Admission;
  /** Subscribed without topics: every topic of the feed. */
  whole: boolean;
}

/** A refused op: its error code and message. */
class OpError extends Error {
  constructor(
    readonly code: WsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const CODES: Record<number, WsErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  422: 'unknown_topic',
  429: 'too_many_streams',
  503: 'unavailable',
};

export class FeedSocketSession {
  private viewer: Viewer | undefined;
  private frames = 0;
  private readonly open = new Map<FeedName, OpenFeed>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly connection: WsConnection,
    private readonly deps: SessionDeps,
  ) {
    this.viewer = deps.viewer;
  }

  start(): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => {
      this.queue = this.queue.then(() => this.handle(data, isBinary));
    });
    this.connection.onClose(() => {
      for (const { admission } of this.open.values()) admission.release();
      this.open.clear();
    });
  }

  private async handle(data: RawData, isBinary: boolean): Promise<void> {
    if (this.connection.isClosed) return;
    const first = this.frames++ === 0;
    let ref: unknown;
    try {
      if (isBinary) throw new OpError('bad_request', 'frames are JSON text');
      const message = parse(data);
      ref = message.ref;
      switch (message.op) {
        case 'auth':
          return await this.auth(message, first);
        case 'subscribe':
          return await this.subscribe(message);
        case 'unsubscribe':
          return this.unsubscribe(message);
        case 'ping':
          return this.connection.reply({ op: 'pong', ref });
        default:
          throw new OpError('bad_request', 'op must be auth, subscribe, unsubscribe or ping');
      }
    } catch (error) {
      const refused = asOpError(error);
      if (!refused) this.deps.logger.warn(`feed socket: ${(error as Error).message}`);
      const { code, message }: { code: WsErrorCode; message: string } = refused ?? {
        code: 'internal',
        message: 'internal error',
      };
      this.connection.reply({ op: 'error', code, message, ...(ref === undefined ? {} : { ref }) });
      if (code === 'unauthorized' && first) this.connection.close(WS_UNAUTHORIZED, 'unauthorized');
    }
  }

  private async auth(message: Record<string, unknown>, first: boolean): Promise<void> {
    if (!first) throw new OpError('bad_request', 'auth must be the first frame');
    if (typeof message.token !== 'string' || message.token.length === 0 || message.token.length > 8_192)
      throw new OpError('bad_request', 'token must be a non-empty string');
    this.viewer = await this.deps.access.viewerOf(message.token, this.deps.ip);
    this.connection.reply({ op: 'authenticated', ref: message.ref });
  }

  private async whoIsIt(): Promise<Viewer> {
    this.viewer ??= await this.deps.access.viewerOf(undefined, this.deps.ip);
    return this.viewer;
  }

  private async subscribe(message: Record<string, unknown>): Promise<void> {
    const feed = this.feedOf(message.feed);
    const cursor = message.cursor;
    if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_CHARS))
      throw new OpError('bad_request', 'cursor must be a string');
    // No `topics`: every topic of the feed (what an SSE stream without a list reads).
    const whole = message.topics === undefined;
    const topics = whole ? undefined : await feed.parseTopics(this.topicsOf(message.topics));
    if (!whole && !topics?.size) throw new OpError('bad_request', 'topics must be a non-empty array of strings');
    const viewer = await this.whoIsIt();
    const reply: WsReply = {
      op: 'subscribed',
      feed: feed.name,
      ...(topics ? { topics: [...topics] } : {}),
      ref: message.ref,
    };
    const open = this.open.get(feed.name);
    if (open) {
      if (open.whole || whole) {
        if (open.whole && whole) return this.connection.reply(reply);
        throw new OpError('bad_request', `${feed.name} is read whole or by topics on a socket: unsubscribe it first`);
      }
      const union = new Set([...(open.stream.topics() ?? []), ...topics!]);
      if (union.size > this.deps.maxTopics)
        throw new OpError('bad_request', `topics: at most ${this.deps.maxTopics} per feed on a socket`);
      this.deps.access.grant(viewer, feed.name, union, feed.catalog); // 403 naming any refused
      this.connection.reply(reply);
      await open.stream.changeTopics(union);
      return;
    }
    const grant = this.deps.access.grant(viewer, feed.name, topics, feed.catalog);
    const admission = await this.deps.gate.admit(grant, feed);
    const stream = this.deps.realtime.socketStream(this.connection, feed.feed, {
      topics: grant.topics,
      policy: grant.policy,
      snapshot: (only, asOfMs) => feed.snapshot(only ?? stream.topics(), asOfMs),
      onClose: () => {
        admission.release();
        if (this.open.get(feed.name)?.stream === stream) this.open.delete(feed.name);
      },
    });
    this.open.set(feed.name, { stream, admission, whole });
    admission.follow(stream);
    this.connection.reply(reply);
    await stream.start(cursor as string | undefined);
  }

  private unsubscribe(message: Record<string, unknown>): Promise<void> | void {
    const feed = this.feedOf(message.feed);
    const open = this.open.get(feed.name);
    if (!open) throw new OpError('not_subscribed', `not subscribed to ${feed.name}`);
    // No `topics`: the whole feed's stream ends.
    if (message.topics === undefined) {
      this.connection.reply({ op: 'unsubscribed', feed: feed.name, ref: message.ref });
      open.stream.end();
      return;
    }
    if (open.whole) throw new OpError('bad_request', `${feed.name} is read whole here: unsubscribe it without topics`);
    const normalised = new Set(this.topicsOf(message.topics).map((topic) => feed.normalise(topic)));
    const remaining = new Set([...(open.stream.topics() ?? [])].filter((topic) => !normalised.has(topic)));
    this.connection.reply({ op: 'unsubscribed', feed: feed.name, topics: [...normalised], ref: message.ref });
    if (remaining.size === 0) {
      open.stream.end();
      return;
    }
    return open.stream.changeTopics(remaining);
  }

  private feedOf(name: unknown): SocketFeed {
    const feed = typeof name === 'string' ? this.deps.feeds.get(name as FeedName) : undefined;
    if (!feed) throw new OpError('bad_request', `feed must be one of ${[...this.deps.feeds.keys()].join(', ')}`);
    return feed;
  }

  private topicsOf(value: unknown): string[] {
    if (
      !Array.isArray(value) ||
      value.length === 0 ||
      !value.every((topic) => typeof topic === 'string' && topic.length > 0 && topic.length <= 200)
    )
      throw new OpError('bad_request', 'topics must be a non-empty array of strings');
    if (value.length > this.deps.maxTopics)
      throw new OpError('bad_request', `topics: at most ${this.deps.maxTopics} per subscription`);
    return value as string[];
  }
}

function parse(data: RawData): Record<string, unknown> {
  let message: unknown;
  try {
    message = JSON.parse(String(data));
  } catch {
    throw new OpError('bad_request', 'not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    throw new OpError('bad_request', 'a frame is a JSON object with an `op`');
  return message as Record<string, unknown>;
}

function asOpError(error: unknown): OpError | undefined {
  if (error instanceof OpError) return error;
  if (error instanceof HttpException) {
    const response = error.getResponse();
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? String((response as { message: unknown }).message)
        : error.message;
    return new OpError(CODES[error.getStatus()] ?? 'bad_request', message);
  }
  return undefined;
}
