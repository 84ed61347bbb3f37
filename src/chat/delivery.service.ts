/**
 * Gets stored messages to users' sockets: in seq order per conversation, with no gap and no
 * repeat on a socket, across instances.
 *
 * - Fan-out: the instance that stored a message delivers to its own sockets and hands it to
 *   ChatRouter, which publishes it on the conversation's channel, heard only by the instances
 *   holding a member's socket; each delivers to its sockets of the members. Signals (receipts,
 *   typing, presence) go the same way. A socket's instance listens on its user's channel and its
 *   conversations' from connect on; a user added to a conversation (`joined`) has their instances
 *   start listening and catch up from Postgres. This is the one place that emits to client
 *   sockets (typed by ServerToClientEvents).
 * - Per socket and conversation it tracks the highest seq sent. A message that arrives ahead of
 *   the next one (fan-outs from two instances can cross) waits briefly, then the gap is read from
 *   Postgres: the store is the truth, the broker is only the fast path.
 * - Inbox: on connect, a socket gets every message after the user's delivered cursor, paged, with
 *   the client's acks as backpressure; live messages that arrive meanwhile wait their turn.
 * - The socket that sent a message has it in its ack: it is passed over there, not emitted (the
 *   sender's other sockets get it).
 * - A client's ack of `message:new` moves the user's delivered cursor (DeliveredCursors), and the
 *   other members get a `message:receipt`.
 */
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import type { ChatSocket, RoutedSignal, SignalEvent, SignalPayload } from './chat-events.js';
import type { ChatMessage, Receipt } from './chat-message.js';
import { ChatMetrics } from './chat.metrics.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { ChatRouter, type Fanout } from './chat-router.js';
import { DeliveredCursors } from './delivered-cursors.js';
import { MessagesService, type Stored } from './messages.service.js';

interface ConversationState {
  /** Highest seq emitted to this socket; everything up to it was emitted, in order. */
  sent: number;
  /** Live messages ahead of `sent + 1`. */
  pending: Map<number, ChatMessage>;
  /** Seqs this socket sent itself: it has them in its ack, so they are passed over, not emitted. */
  own: Set<number>;
  /** Replay or gap repair in progress: live messages wait in `pending`. */
  busy: boolean;
  /** Live messages were dropped (too many pending): repair reads to the end. */
  overflow: boolean;
  timer?: NodeJS.Timeout;
}

class Connection {
  readonly conversations = new Map<string, ConversationState>();
  /** Live messages that arrived before the inbox was loaded; null once loaded. */
  early: { message: ChatMessage; own: boolean }[] | null = [];
  inflight = 0;
  closed = false;
  /** Conversations whose channels this socket holds in ChatRouter, and whether it holds its user's. */
  readonly held = new Set<string>();
  holdsUser = false;
  /** Resolves once the inbox was loaded (joins wait for it). */
  loaded: Promise<void> = Promise.resolve();

  constructor(
    readonly socket: ChatSocket,
    readonly userId: string,
  ) {}
}

const REPLAY_PAGE = 200;
const GAP_GRACE_MS = 150;
const MAX_PENDING = 5_000;
/** Unacknowledged messages a socket may have; past it the socket is closed (it reconnects and replays). */
const MAX_INFLIGHT = 10_000;
const ACK_WAIT_MS = 10_000;

@Injectable()
export class DeliveryService implements OnModuleInit {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly bySocket = new Map<string, Connection>();
  private readonly cursors: DeliveredCursors;

  constructor(
    private readonly messages: MessagesService,
    private readonly metrics: ChatMetrics,
    private readonly router: ChatRouter,
    private readonly redis: RedisService,
  ) {
    this.cursors = new DeliveredCursors(messages, (receipt, to) => this.publishReceipt(receipt, to));
  }

  /** Takes other instances' fan-out for this instance's sockets from boot on (before any socket connects). */
  onModuleInit(): void {
    this.router.start((fanout) => this.deliverLocal(fanout));
    // What was published while the subscriber was away was not heard here: read it from the store.
    this.redis.onResubscribed(() => this.catchUpAll());
  }

  /** Every socket, every conversation it is not already reading: what it has not been sent yet, from Postgres. */
  private catchUpAll(): void {
    for (const connection of this.bySocket.values()) {
      if (connection.closed || connection.early) continue; // still loading its inbox, which reads the store anyway
      for (const [conversationId, state] of connection.conversations) {
        if (!state.busy) void this.catchUp(connection, conversationId, state);
      }
    }
  }

  /**
   * After the commit: this instance's sockets now, the other instances holding a member's socket
   * through the router. `origin`, the socket that sent it, has it in its ack.
   */
  publish(stored: Pick<Stored, 'message' | 'memberIds'>, origin?: Socket): void {
    const item = { m: stored.message, to: stored.memberIds };
    this.deliverLocal({ messages: [item], signals: [], joins: [] }, origin?.id);
    this.router.send({ messages: [item] });
  }

  /** `message:receipt` to the given users, wherever they are connected. */
  publishReceipt(receipt: Receipt, to: string[]): void {
    this.signal('message:receipt', receipt, to);
  }

  /** A signal (receipt, typing, presence) to the given users, wherever they are connected. */
  signal<E extends SignalEvent>(event: E, payload: SignalPayload<E>, to: string[]): void {
    if (to.length === 0) return;
    const item = { e: event, d: payload, to } as RoutedSignal;
    this.deliverLocal({ messages: [], signals: [item], joins: [] });
    this.router.send({ signals: [item] });
  }

  /** Users were added to a conversation (after the commit): their sockets, wherever they are, start hearing it. */
  joined(conversationId: string, userIds: string[]): void {
    if (userIds.length === 0) return;
    const join = { conversationId, to: userIds };
    this.deliverLocal({ messages: [], signals: [], joins: [join] });
    this.router.send({ joins: [join] });
  }

  private deliverLocal(fanout: Fanout, originSocketId?: string): void {
    for (const { m, to } of fanout.messages) {
      for (const userId of to) {
        const connections = this.byUser.get(userId);
        if (!connections) continue;
        for (const connection of connections) this.offer(connection, m, connection.socket.id === originSocketId);
      }
    }
    for (const signal of fanout.signals) {
      for (const userId of signal.to) {
        const connections = this.byUser.get(userId);
        if (!connections) continue;
        for (const connection of connections) emitSignal(connection.socket, signal);
      }
    }
    for (const { conversationId, to } of fanout.joins) {
      for (const userId of to) {
        for (const connection of this.byUser.get(userId) ?? []) void this.join(connection, conversationId);
      }
    }
  }

  /**
   * Has ChatRouter listen on these conversations for this socket (and on its user's channel, the
   * first time). True when a subscription is new: the caller reads the store again.
   */
  private listen(connection: Connection, conversationIds: string[]): Promise<boolean> {
    const fresh = conversationIds.filter((id) => !connection.held.has(id));
    for (const id of fresh) connection.held.add(id);
    const user = connection.holdsUser ? undefined : connection.userId;
    connection.holdsUser = true;
    return this.router.hold({ user, conversations: fresh });
  }

  /** A socket's user was added to a conversation: listen, then send it what it has not had. */
  private async join(connection: Connection, conversationId: string): Promise<void> {
    try {
      await this.listen(connection, [conversationId]);
      await connection.loaded;
      if (connection.closed || connection.conversations.has(conversationId)) return;
      const state = newState(0, true);
      connection.conversations.set(conversationId, state);
      const cursor = await this.messages.cursor(connection.userId, conversationId);
      if (cursor === undefined) {
        connection.conversations.delete(conversationId); // removed again meanwhile
        return;
      }
      state.sent = cursor;
      await this.catchUp(connection, conversationId, state);
    } catch (error) {
      this.logger.warn(`chat join of ${connection.userId} to ${conversationId}: ${(error as Error).message}`);
    }
  }

  /** A socket of `userId` connected: send its inbox, then keep it live. */
  async connect(socket: Socket, userId: string): Promise<void> {
    const connection = new Connection(socket as ChatSocket, userId);
    this.bySocket.set(socket.id, connection);
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(connection);
    let loaded = () => {};
    connection.loaded = new Promise<void>((resolve) => (loaded = resolve));
    try {
      await this.load(connection);
    } finally {
      loaded();
    }
  }

  /** The inbox: listen on the user's conversations, then send what the socket has not had. */
  private async load(connection: Connection): Promise<void> {
    const { userId } = connection;
    let cursors = await this.messages.cursors(userId);
    if (connection.closed) return;
    // Listening from here on; what was published before the subscriptions took is in a fresh read.
    if (
      await this.listen(
        connection,
        cursors.map((c) => c.conversationId),
      )
    ) {
      cursors = await this.messages.cursors(userId);
      if (connection.closed) return;
      await this.listen(
        connection,
        cursors.map((c) => c.conversationId),
      );
    }
    if (connection.closed) return;
    const behind: [string, ConversationState][] = [];
    for (const cursor of cursors) {
      const state = newState(cursor.deliveredSeq, cursor.lastSeq > cursor.deliveredSeq);
      connection.conversations.set(cursor.conversationId, state);
      if (state.busy) behind.push([cursor.conversationId, state]);
    }
    const early = connection.early ?? [];
    connection.early = null;
    for (const { message, own } of early) this.offer(connection, message, own);
    for (const [conversationId, state] of behind) {
      await this.catchUp(connection, conversationId, state);
    }
  }

  disconnect(socket: Socket): void {
    const connection = this.bySocket.get(socket.id);
    if (!connection) return;
    connection.closed = true;
    this.bySocket.delete(socket.id);
    const set = this.byUser.get(connection.userId);
    set?.delete(connection);
    if (set?.size === 0) this.byUser.delete(connection.userId);
    for (const state of connection.conversations.values()) clearTimeout(state.timer);
    this.router.release({ user: connection.holdsUser ? connection.userId : undefined, conversations: connection.held });
  }

  private offer(connection: Connection, message: ChatMessage, own = false): void {
    if (connection.closed) return;
    if (connection.early) {
      // With whether this socket sent it: it has that one in its ack, not as message:new.
      if (connection.early.length < MAX_PENDING) connection.early.push({ message, own });
      return;
    }
    const id = message.conversationId;
    let state = connection.conversations.get(id);
    if (!state) {
      // A conversation this socket did not know (new, or the user was just added): start at the user's cursor.
      state = newState(0, true);
      state.pending.set(message.seq, message);
      if (own) state.own.add(message.seq);
      connection.conversations.set(id, state);
      const created = state;
      void this.messages
        .cursor(connection.userId, id)
        .then((cursor) => (created.sent = cursor ?? message.seq - 1))
        .catch((error: Error) => {
          this.logger.warn(`chat cursor of ${connection.userId} in ${id}: ${error.message}`);
          created.sent = message.seq - 1;
        })
        .finally(() => {
          created.busy = false;
          this.drain(connection, id, created);
        });
      return;
    }
    if (message.seq <= state.sent) return;
    if (state.pending.size >= MAX_PENDING) state.overflow = true;
    else {
      state.pending.set(message.seq, message);
      if (own) state.own.add(message.seq);
    }
    if (!state.busy) this.drain(connection, id, state);
  }

  private drain(connection: Connection, conversationId: string, state: ConversationState): void {
    if (connection.closed) return;
    for (let next = state.pending.get(state.sent + 1); next; next = state.pending.get(state.sent + 1)) {
      state.pending.delete(next.seq);
      if (state.own.delete(next.seq)) state.sent = next.seq;
      else this.emit(connection, state, next);
    }
    for (const seq of state.pending.keys()) if (seq <= state.sent) state.pending.delete(seq);
    for (const seq of state.own) if (seq <= state.sent) state.own.delete(seq);
    if (state.pending.size === 0 && !state.overflow) {
      clearTimeout(state.timer);
      state.timer = undefined;
      return;
    }
    // A gap: the missing message is probably still on its way from another instance.
    state.timer ??= setTimeout(() => {
      state.timer = undefined;
      void this.catchUp(connection, conversationId, state);
    }, GAP_GRACE_MS);
  }

  /** Reads from Postgres what this socket has not been sent yet (inbox on connect, or a gap). */
  private async catchUp(connection: Connection, conversationId: string, state: ConversationState): Promise<void> {
    if (connection.closed) return;
    state.busy = true;
    try {
      const upto = state.overflow || state.pending.size === 0 ? undefined : Math.max(...state.pending.keys());
      state.overflow = false;
      for (;;) {
        const page = await this.messages.after(conversationId, state.sent, REPLAY_PAGE, upto);
        if (connection.closed) return;
        let lastAck: Promise<void> | undefined;
        for (const message of page) {
          if (message.seq !== state.sent + 1) {
            // Never expected (seqs have no holes), but never stall on one either.
            this.logger.warn(`chat: seq ${state.sent + 1} missing in ${conversationId}; skipping to ${message.seq}`);
          }
          state.pending.delete(message.seq);
          if (state.own.delete(message.seq)) state.sent = message.seq;
          else lastAck = this.emit(connection, state, message, true) ?? lastAck;
        }
        if (page.length < REPLAY_PAGE) break;
        // Backpressure: the next page once the client has taken this one (or a while has passed).
        await Promise.race([lastAck, new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS).unref())]);
      }
      if (upto !== undefined && state.sent < upto) {
        // The messages we hold are ahead of what the store returned: they exist, so skip nothing;
        // the pending ones are emitted by drain below.
        const first = Math.min(...state.pending.keys());
        if (first > state.sent + 1) state.sent = first - 1;
      }
    } catch (error) {
      this.logger.warn(`chat catch-up of ${connection.userId} in ${conversationId}: ${(error as Error).message}`);
    } finally {
      state.busy = false;
    }
    this.drain(connection, conversationId, state);
  }

  private emit(connection: Connection, state: ConversationState, message: ChatMessage, wantAck = false) {
    state.sent = message.seq;
    if (++connection.inflight > MAX_INFLIGHT) {
      this.logger.warn(`chat: closing a socket of ${connection.userId} that stopped acknowledging`);
      connection.socket.conn.close(); // a transport close: stock clients reconnect by themselves
      return undefined;
    }
    const started = performance.now();
    let resolveAck: (() => void) | undefined;
    const acked = wantAck ? new Promise<void>((resolve) => (resolveAck = resolve)) : undefined;
    connection.socket.emit('message:new', { message }, () => {
      connection.inflight--;
      this.metrics.delivered.inc();
      this.metrics.deliveryAck.observe((performance.now() - started) / 1000);
      this.cursors.acknowledged(connection.userId, message);
      resolveAck?.();
    });
    return acked;
  }

  /** Writes acknowledged cursors now (shutdown). */
  flush(): Promise<void> {
    return this.cursors.flush();
  }

  stop(): void {
    this.cursors.stop();
  }
}

/** A routed signal's event and payload were checked against ServerToClientEvents when it was built (`signal`). */
function emitSignal(socket: ChatSocket, { e, d }: RoutedSignal): void {
  (socket as unknown as { emit(event: SignalEvent, payload: unknown): boolean }).emit(e, d);
}

function newState(sent: number, busy: boolean): ConversationState {
  return { sent, pending: new Map(), own: new Set(), busy, overflow: false };
}
