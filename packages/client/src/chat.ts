/**
 * The chat socket (socket.io, namespace `/chat`, the token in the handshake's `auth`), kept thin:
 * incoming messages acknowledged (the sender sees "delivered"), and what is sent goes through the
 * outbox, flushed on every (re)connect. socket.io-client is an optional peer dependency, loaded
 * only when a chat connects.
 */
import type { Socket } from 'socket.io-client';
import { type ChatMessage, Outbox, type OutboxStorage, type Outgoing, memoryStorage } from './outbox.js';
import type { TokenSource } from './token.js';

export interface ChatOptions {
  /** Incoming messages (others', and this user's from other tabs), and our own once acknowledged. */
  onMessage?(message: ChatMessage): void;
  /** `connect`, `disconnect:<reason>`, `connect_error:<message>`, `outbox`. */
  onState?(state: string): void;
  /** Where the outbox keeps unsent messages (default: memory). */
  storage?: OutboxStorage;
  /** Key of the outbox in the storage (default `livefeed.outbox`). */
  storageKey?: string;
}

export interface ChatSession {
  readonly socket: Socket;
  readonly outbox: Outbox;
  /** Queues the message and sends it when the socket is up; resent with the same clientMsgId until acknowledged. */
  send(conversationId: string, body: string): Outgoing;
  close(): void;
}

export async function connectChat(
  baseUrl: string,
  tokens: TokenSource,
  options: ChatOptions = {},
): Promise<ChatSession> {
  const { io } = await import('socket.io-client');
  const token = await tokens.get();
  const outbox = new Outbox(options.storage ?? memoryStorage(), options.storageKey ?? 'livefeed.outbox', () =>
    options.onState?.('outbox'),
  );
  const socket = io(new URL('/chat', baseUrl).href, {
    auth: (callback) => void tokens.get().then((current) => callback({ token: current ?? token })),
    reconnectionDelayMax: 5_000,
  });
  const flush = () => void outbox.flush(socket, (message) => options.onMessage?.(message));
  socket.on('connect', () => {
    options.onState?.('connect');
    flush();
  });
  socket.on('disconnect', (reason) => options.onState?.(`disconnect:${reason}`));
  socket.on('connect_error', (error) => {
    options.onState?.(`connect_error:${error.message}`);
    if (error.message === 'unauthorized' && tokens.renewable) void tokens.renew();
  });
  socket.on('message:new', (payload: { message: ChatMessage }, ack?: () => void) => {
    ack?.();
    options.onMessage?.(payload.message);
  });
  return {
    socket,
    outbox,
    send: (conversationId, body) => {
      const item = outbox.add(conversationId, body);
      flush();
      return item;
    },
    close: () => void socket.disconnect(),
  };
}
