/**
 * Real socket.io clients for the chat tests: connect to `/chat`, record what arrives, acknowledge
 * `message:new` (like an app would), and send with acks. `ChatView` is what a user sees: messages
 * per conversation by seq, whatever socket they came through.
 */
import { type Socket, io } from 'socket.io-client';
import type { ChatMessage } from '../../packages/client/src/wire.js';
import { api } from './test-app.js';

/** A chat message as the wire carries it (the SDK's type). */
export type WireMessage = ChatMessage;

export interface ChatClient {
  socket: Socket;
  /** `message:new` in arrival order on this socket. */
  received: WireMessage[];
  /** Every other server event, in order. */
  events: { event: string; data: any }[];
  send(conversationId: string, body: string, clientMsgId?: string): Promise<any>;
  request(event: string, payload: unknown): Promise<any>;
  waitFor<T>(check: (client: ChatClient) => T | undefined | false, timeoutMs?: number): Promise<T>;
  close(): void;
}

export interface ConnectOptions {
  transports?: ('websocket' | 'polling')[];
  /** Acknowledge `message:new` (default true). */
  ack?: boolean;
  extraHeaders?: Record<string, string>;
  /** Called for every `message:new` (e.g. a ChatView). */
  onMessage?: (message: WireMessage) => void;
}

let counter = 0;
export const clientMsgId = () => `c-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/** Connects and resolves once connected; rejects with the `connect_error` message. */
export function connectChat(url: string, token: string | undefined, options: ConnectOptions = {}): Promise<ChatClient> {
  const socket = io(`${url}/chat`, {
    auth: token === undefined ? {} : { token },
    transports: options.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: options.extraHeaders,
    timeout: 10_000,
  });
  const client: ChatClient = {
    socket,
    received: [],
    events: [],
    send: (conversationId, body, id = clientMsgId()) =>
      socket.timeout(15_000).emitWithAck('message:send', { conversationId, body, clientMsgId: id }),
    request: (event, payload) => socket.timeout(15_000).emitWithAck(event, payload),
    waitFor: async (check, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = check(client);
        if (value) return value;
        if (Date.now() > deadline) throw new Error('ChatClient.waitFor timed out');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => socket.disconnect(),
  };
  socket.on('message:new', (payload: { message: WireMessage }, ack?: () => void) => {
    client.received.push(payload.message);
    options.onMessage?.(payload.message);
    if (options.ack !== false) ack?.();
  });
  socket.onAny((event: string, data: unknown) => {
    if (event !== 'message:new') client.events.push({ event, data });
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (error: Error) => {
      socket.disconnect();
      reject(error);
    });
  });
}

/** A user's view: one ordered list per conversation, each seq once. */
export class ChatView {
  readonly conversations = new Map<string, WireMessage[]>();
  /** Deliveries of a seq the view already had (another socket got it first). */
  repeats = 0;
  /** Deliveries that skipped a seq (must never happen). */
  gaps: string[] = [];

  apply = (message: WireMessage): void => {
    let list = this.conversations.get(message.conversationId);
    if (!list) this.conversations.set(message.conversationId, (list = []));
    const last = list.at(-1)?.seq ?? 0;
    if (message.seq <= last) {
      this.repeats++;
      return;
    }
    if (list.length > 0 && message.seq !== last + 1)
      this.gaps.push(`${message.conversationId}: ${last} → ${message.seq}`);
    list.push(message);
  };

  of(conversationId: string): WireMessage[] {
    return this.conversations.get(conversationId) ?? [];
  }
}

/** A user with a token, created through the admin API. */
export async function createUser(url: string, name: string, ttlSeconds?: number) {
  const user = await api(url, 'POST', '/admin/users', { name });
  if (user.status !== 201) throw new Error(`create user: ${user.status} ${JSON.stringify(user.body)}`);
  const token = await api(url, 'POST', `/admin/users/${user.body.id}/tokens`, ttlSeconds ? { ttlSeconds } : {});
  if (token.status !== 201) throw new Error(`mint token: ${token.status} ${JSON.stringify(token.body)}`);
  return { id: user.body.id as string, name, token: token.body.token as string };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
