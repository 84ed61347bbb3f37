/**
 * The chat's socket.io connection (namespace `/chat`, the token in the handshake's `auth`): its
 * state, typed events both ways, acks with a timeout, and the token's renewal when the server
 * refuses it or ends the session. socket.io-client is an optional peer dependency, loaded here only.
 */
import type { Socket } from 'socket.io-client';
import type { TokenSource } from './token.js';
import type { ChatAck, ChatClientEvent, ChatClientEvents, ChatServerEvent, ChatServerEvents } from './wire.js';

export const ACK_TIMEOUT_MS = 10_000;

/** `signed-out`: the server refused the token (or ended the session) and no new one could be had. */
export type ChatState = 'connecting' | 'connected' | 'reconnecting' | 'signed-out';

export class ChatConnection {
  state: ChatState = 'connecting';
  /** Set by a renewal, so a token refused again right after one signs out instead of looping. */
  private renewed = false;

  private constructor(
    readonly socket: Socket,
    private readonly tokens: TokenSource,
    private readonly onState: (state: ChatState, reason?: string) => void,
  ) {
    socket.on('connect', () => {
      this.renewed = false;
      this.setState('connected');
    });
    socket.on('disconnect', (reason) => {
      if (this.state === 'signed-out') return;
      // An instance shutting down closes the connection ("transport close") and socket.io reconnects
      // by itself; the server ends the socket itself only when the token expired or the user is gone.
      if (reason === 'io server disconnect') return void this.refused('the session expired');
      this.setState('reconnecting');
    });
    socket.on('connect_error', (error) => {
      if (error.message === 'unauthorized') return void this.refused('the token was refused');
      this.setState('reconnecting');
    });
  }

  static async open(
    baseUrl: string,
    tokens: TokenSource,
    onState: (state: ChatState, reason?: string) => void,
  ): Promise<ChatConnection> {
    const { io } = await import('socket.io-client');
    const socket = io(new URL('/chat', baseUrl).href, {
      auth: (callback) => void tokens.get().then((token) => callback(token ? { token } : {})),
      reconnectionDelayMax: 5_000,
      autoConnect: false,
    });
    return new ChatConnection(socket, tokens, onState);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Opens the socket (after the handlers are on: the server pushes undelivered messages at once). */
  connect(): void {
    this.socket.connect();
  }

  /** Closed by its owner: no `onState` (that is for what the server does). */
  close(): void {
    this.state = 'signed-out';
    this.socket.disconnect();
  }

  on<E extends ChatServerEvent>(event: E, handler: (payload: ChatServerEvents[E], ack?: () => void) => void): void {
    this.socket.on(event as string, handler);
  }

  /** Fire and forget (`typing`). */
  emit<E extends ChatClientEvent>(event: E, payload: ChatClientEvents[E]['payload']): void {
    this.socket.emit(event, payload);
  }

  /** The event's ack; rejects when disconnected or unanswered within ACK_TIMEOUT_MS. */
  request<E extends ChatClientEvent>(
    event: E,
    payload: ChatClientEvents[E]['payload'],
  ): Promise<ChatAck<ChatClientEvents[E]['ack']>> {
    return this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload) as Promise<
      ChatAck<ChatClientEvents[E]['ack']>
    >;
  }

  /** Like `request`, a failure to get an answer as an `unavailable` refusal. */
  async ask<E extends ChatClientEvent>(
    event: E,
    payload: ChatClientEvents[E]['payload'],
  ): Promise<ChatAck<ChatClientEvents[E]['ack']>> {
    try {
      return await this.request(event, payload);
    } catch (error) {
      return { ok: false, error: { code: 'unavailable', message: (error as Error).message } };
    }
  }

  /** A refused token: a new one and a new handshake (socket.io does not retry a refusal), else signed out. */
  private async refused(reason: string): Promise<void> {
    if (this.tokens.renewable && !this.renewed) {
      this.renewed = true;
      this.setState('reconnecting');
      await this.tokens.renew();
      if (this.state !== 'signed-out') this.socket.connect();
      return;
    }
    this.setState('signed-out', reason);
  }

  private setState(state: ChatState, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.onState(state, reason);
  }
}
