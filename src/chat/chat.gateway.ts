/**
 * The chat socket: namespace `/chat` on the app's own HTTP server (Fastify's underlying Node server,
 * both transports: WebSocket and long polling), authenticated in the handshake, one room per user
 * (`user:<id>`), the socket.io Redis adapter between instances. Contract: ARCHITECTURE.md "Chat";
 * one precision: the socket that sent a message gets it in its ack, not again as `message:new` (the
 * sender's other sockets do get `message:new`).
 */
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  Ack,
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { originAllowed } from '#src/platform/http/origin.js';
import type { Namespace, Socket } from 'socket.io';
import { AppConfig } from '#src/config/app-config.js';
import { type AuthedSocketData, socketAuth } from '#src/platform/auth/socket-auth.js';
import { TokenService } from '#src/platform/auth/token.service.js';
import { invalidTextMessage, invalidTextPath } from '#src/platform/http/safe-text.js';
import { SpanKind, inSpan } from '#src/platform/observability/tracing.js';
import { ChatMetrics } from './chat.metrics.js';
import type { ChatClientEvent, ChatClientEvents } from '@livefeed/client/wire';
import { type Ack as AckBody, ChatError, type Refusal, isUuid } from './chat-message.js';
import { ConversationsService } from './conversations.service.js';
import { userRoom } from './chat-events.js';
import { DeliveryService } from './delivery.service.js';
import { MessagePoster } from './message-poster.js';
import { MessagesService } from './messages.service.js';
import { PresenceService } from './presence.service.js';
import { RateLimiter } from './rate-limiter.js';

/** What the event `E` acks: the SDK's `ChatClientEvents[E].ack`, or a refusal. */
type AckOf<E extends ChatClientEvent> = AckBody<ChatClientEvents[E]['ack']>;
type AckFn = (response: AckOf<'message:send'>) => void;

/** The handshake's user, with the token's expiry (events after it get `unauthorized`). */
type ChatSocketData = AuthedSocketData;

@WebSocketGateway({ namespace: '/chat', serveClient: false })
export class ChatGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleDestroy {
  private readonly logger = new Logger(ChatGateway.name);
  private nsp?: Namespace;
  private closing = false;
  /** Presence updates in flight (awaited at shutdown, so none runs against closed pools). */
  private readonly tasks = new Set<Promise<unknown>>();
  /** `<user>:<conversation>` → when typing was last relayed. */
  private readonly typingAt = new Map<string, number>();

  constructor(
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
    private readonly messages: MessagesService,
    private readonly poster: MessagePoster,
    private readonly conversations: ConversationsService,
    private readonly delivery: DeliveryService,
    private readonly presence: PresenceService,
    private readonly metrics: ChatMetrics,
    private readonly limiter: RateLimiter,
  ) {}

  afterInit(nsp: Namespace): void {
    this.nsp = nsp;
    const io = nsp.server;
    const allowed = (req: IncomingMessage) => originAllowed(req, this.config.app.corsOrigins);
    io.engine.opts.allowRequest = (req, callback) => {
      // A draining instance takes no new session: the client's reconnection retries (with backoff)
      // and lands on an instance the load balancer still routes to.
      if (this.closing) return callback('shutting down', false);
      const ok = allowed(req);
      callback(ok ? null : 'origin not allowed', ok);
    };
    io.engine.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const origin = req.headers.origin;
      if (origin && allowed(req)) {
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Credentials', 'true');
        res.setHeader('Vary', 'Origin');
      }
      next();
    });
    // Nothing is served on the main namespace: refuse it rather than hold unauthenticated sockets.
    io.of('/').use((_socket, next) => next(new Error('not found: use the /chat namespace')));
    nsp.use(socketAuth(this.tokens));
    // Every event's payload is storable text before any handler sees it (the HTTP pipeline applies
    // the same rule to bodies, queries and paths): one bad message never reaches a shared batch.
    nsp.use((socket, next) => {
      socket.use((packet, nextPacket) => {
        const ack = packet[packet.length - 1] as unknown;
        const args = typeof ack === 'function' ? packet.slice(1, -1) : packet.slice(1);
        const bad = invalidTextPath(args.length === 1 ? args[0] : args, '');
        if (bad === undefined) return nextPacket();
        if (typeof ack === 'function') {
          (ack as (refusal: Refusal) => void)({
            ok: false,
            error: { code: 'invalid', message: invalidTextMessage(bad || 'payload') },
          });
        }
      });
      next();
    });
    // Presence before the client hears `connect`: a client that connects here and then closes a
    // socket elsewhere never shows offline in between. Redis trouble must not block the handshake.
    nsp.use((socket, next) => {
      const userId = (socket.data as ChatSocketData).user.id;
      this.presence.connect(userId, this.connectionId(socket)).then(
        (wentOnline) => {
          if (wentOnline) this.track(this.announce(userId, true));
          next();
        },
        (error: Error) => {
          this.logger.warn(`presence of ${userId}: ${error.message}`);
          next();
        },
      );
    });

    this.presence.start((userIds) => {
      for (const userId of userIds) this.track(this.announce(userId, false));
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const data = socket.data as ChatSocketData;
    const userId = data.user.id;
    this.metrics.connected.inc();
    await socket.join(userRoom(userId));
    try {
      await this.delivery.connect(socket, userId);
    } catch (error) {
      // The connection, not the socket: the client reconnects by itself and the inbox is read again.
      this.logger.warn(`chat inbox of ${userId}: ${(error as Error).message}; closing the connection`);
      socket.conn.close();
    }
  }

  handleDisconnect(socket: Socket): void {
    this.metrics.connected.dec();
    this.delivery.disconnect(socket);
    const userId = (socket.data as ChatSocketData).user?.id;
    if (!userId || this.closing) return;
    this.track(
      this.presence
        .disconnect(userId, this.connectionId(socket))
        .then((wentOffline) => (wentOffline ? this.announce(userId, false) : undefined)),
    );
  }

  @SubscribeMessage('message:send')
  async send(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown, @Ack() ack?: AckFn): Promise<void> {
    const started = performance.now();
    // A message's trace starts at its socket event (no-op with tracing off). Our own span: the
    // maintained socket.io instrumentation made no spans for socket.io loaded as ESM, as Nest loads it.
    await inSpan(
      'chat message:send',
      { kind: SpanKind.SERVER, attributes: { 'chat.namespace': '/chat' } },
      async () => {
        try {
          const stored = await this.poster.send(this.user(socket), payload, socket);
          ack?.({ ok: true, message: stored.message });
        } catch (error) {
          ack?.(this.failure(error, socket));
        } finally {
          this.metrics.sendAck.observe((performance.now() - started) / 1000);
        }
      },
    );
  }

  @SubscribeMessage('sync')
  async sync(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<AckOf<'sync'>> {
    try {
      return { ok: true, ...(await this.messages.sync(await this.limited(socket), payload)) };
    } catch (error) {
      return this.failure(error, socket);
    }
  }

  @SubscribeMessage('message:read')
  async read(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<AckOf<'message:read'>> {
    try {
      const { others, ...receipt } = await this.messages.markRead(await this.limited(socket), payload);
      this.delivery.publishReceipt(receipt, others);
      return { ok: true, readSeq: receipt.readSeq, deliveredSeq: receipt.deliveredSeq };
    } catch (error) {
      return this.failure(error, socket);
    }
  }

  /** Relayed to the other members, at most once per CHAT_TYPING_THROTTLE_MS per user and conversation; never stored. */
  @SubscribeMessage('typing')
  async typing(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<AckOf<'typing'>> {
    try {
      const userId = await this.limited(socket);
      const conversationId = (payload as { conversationId?: unknown } | undefined)?.conversationId;
      if (!isUuid(conversationId)) throw new ChatError('invalid', 'conversationId must be a UUID');
      const members = await this.conversations.memberIds(conversationId);
      if (!members.includes(userId)) await this.conversations.assertMember(userId, conversationId);
      const key = `${userId}:${conversationId}`;
      const now = Date.now();
      const last = this.typingAt.get(key);
      if (last !== undefined && now - last < this.config.chat.typingThrottleMs) return { ok: true, relayed: false };
      if (this.typingAt.size > 100_000) this.typingAt.clear();
      this.typingAt.set(key, now);
      const others = members.filter((id) => id !== userId);
      this.delivery.signal('typing', { conversationId, userId }, others);
      return { ok: true, relayed: true };
    } catch (error) {
      return this.failure(error, socket);
    }
  }

  /** The caller of a typing, read or sync event, within its rate limit. */
  private async limited(socket: Socket): Promise<string> {
    const userId = this.user(socket);
    if (!(await this.limiter.take(userId, 'event'))) {
      this.metrics.rateLimited.inc();
      throw new ChatError('rate_limited', 'too many events; slow down');
    }
    return userId;
  }

  private user(socket: Socket): string {
    const data = socket.data as ChatSocketData;
    if (data.user.expiresAt !== undefined && data.user.expiresAt * 1000 <= Date.now()) {
      throw new ChatError('unauthorized', 'the token expired: reconnect with a new one');
    }
    return data.user.id;
  }

  private failure(error: unknown, socket: Socket): Refusal {
    if (error instanceof ChatError) {
      if (error.code === 'unauthorized') setTimeout(() => socket.disconnect(true), 50);
      return { ok: false, error: { code: error.code, message: error.message } };
    }
    this.logger.error(`chat event failed: ${(error as Error).stack ?? String(error)}`);
    return { ok: false, error: { code: 'unavailable', message: 'temporarily unavailable; try again' } };
  }

  private connectionId(socket: Socket): string {
    return `${this.config.app.instanceId}:${socket.id}`;
  }

  private track(task: Promise<unknown>): void {
    const guarded = task.catch((error: Error) => {
      if (!this.closing) this.logger.warn(`presence: ${error.message}`);
    });
    this.tasks.add(guarded);
    void guarded.finally(() => this.tasks.delete(guarded));
  }

  /**
   * `presence` to everyone who shares a conversation with the user. The state is read again just
   * before the emit: a user who closed one socket and opened another while the contacts were being
   * read would otherwise be announced offline after the announcement that they are online.
   */
  private async announce(userId: string, online: boolean): Promise<void> {
    try {
      const contacts = await this.conversations.contactsOf(userId);
      if (contacts.length === 0) return;
      if ((await this.presence.online([userId])).get(userId) !== online) return;
      this.delivery.signal('presence', { userId, online }, contacts);
    } catch (error) {
      if (!this.closing) this.logger.warn(`presence of ${userId}: ${(error as Error).message}`);
    }
  }

  /**
   * A rolling deploy: the first thing this instance does when it is told to stop (Nest runs
   * `onModuleDestroy` of every module before any `beforeApplicationShutdown`, and both before the
   * socket.io server and the HTTP server close), so clients move while the rest drains.
   *
   * Each socket's engine.io connection is closed, not the socket: the client sees "transport close"
   * and its own reconnection brings it back through the balancer to another instance, whose inbox
   * replay (from the delivered cursor) sends what was stored meanwhile. `socket.disconnect()` would
   * send a namespace disconnect instead ("io server disconnect"), after which stock clients
   * (socket.io-client, python-socketio) never reconnect. New sessions are refused from here on
   * (allowRequest). Then: pending delivered cursors are written (no ack can arrive after the close,
   * so every ack received is in), and this instance's users are taken out of presence.
   */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    this.presence.stop();
    const nsp = this.nsp;
    if (!nsp) return;
    const local = [...nsp.sockets.values()];
    // engine.io sends what is buffered first; acks still arrive until the transport is closed.
    const closed = local.map((socket) =>
      socket.connected ? new Promise((resolve) => socket.once('disconnect', resolve)) : undefined,
    );
    for (const socket of local) socket.conn.close();
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await this.delivery.flush();
    this.delivery.stop();
    await Promise.race([Promise.all(this.tasks), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await Promise.all(
      local.map(async (socket) => {
        const userId = (socket.data as ChatSocketData).user?.id;
        if (!userId) return;
        const wentOffline = await this.presence.disconnect(userId, this.connectionId(socket)).catch(() => false);
        if (wentOffline) await this.announce(userId, false);
      }),
    );
    // Nest closes the socket.io server later (engine.io connections still opening go then), and
    // socket.io would wait for the whole HTTP server to close (long polls included); the HTTP
    // adapter force-closes it right after instead.
    (nsp.server as { httpServer?: unknown }).httpServer = undefined;
  }
}
