/**
 * A chat session as a user sees it: the conversations with their messages by seq, unread counts,
 * the other members' receipts, who is typing and who is online, and the outbox (what is written
 * while the socket is down is sent when it is back, once). After every (re)connect it reads the
 * conversation list again and catches the open conversation up, so nothing missed stays missing.
 * Incoming messages are acknowledged (the sender sees "delivered"); the open conversation is marked
 * read while it is in view.
 */
import type { Socket } from 'socket.io-client';
import { ChatApi } from './chat-api.js';
import { ChatConnection, type ChatState } from './chat-connection.js';
import { type Conversation, addMessages, applyReceipt, fromView, mergeView } from './conversation.js';
import { Outbox, type OutboxStorage, type Outgoing, memoryStorage } from './outbox.js';
import type { TokenSource } from './token.js';
import type { ChatClientEvents, ChatMessage, ConversationView } from './wire.js';

const TYPING_EVERY_MS = 2_000;
const TYPING_SHOWN_MS = 4_000;

export type ChatChange = 'state' | 'conversations' | 'messages' | 'typing' | 'presence' | 'outbox';

export interface ChatOptions {
  /** The signed-in user's id (default: asked of `GET /auth/me`). */
  userId?: string;
  /** What changed; read the session's fields to show it. */
  onChange?(change: ChatChange): void;
  /** The connection's state; `signed-out` with the reason when the server refused the token for good. */
  onState?(state: ChatState, reason?: string): void;
  /** Each new message as it comes (others', ours from other tabs, and ours once acknowledged). */
  onMessage?(message: ChatMessage): void;
  /** Where the outbox keeps unsent messages (default: memory; a page: sessionStorage or localStorage). */
  storage?: OutboxStorage;
  /** Key of the outbox in the storage (default `livefeed.outbox.<userId>`). */
  storageKey?: string;
  /** Whether the open conversation is seen now (a page: `document.visibilityState === 'visible'`). */
  inView?(): boolean;
  /** Messages per history page (default 30). */
  pageSize?: number;
}

export class ChatSession {
  readonly conversations = new Map<string, Conversation>();
  readonly presence = new Map<string, boolean>();
  readonly outbox: Outbox;
  /** The conversation shown: its messages are read while in view, and caught up on reconnect. */
  openId?: string;
  private readonly fetching = new Map<string, Promise<Conversation | undefined>>();
  private lastTypingSent = 0;

  private constructor(
    readonly me: string,
    private readonly connection: ChatConnection,
    readonly api: ChatApi,
    private readonly options: ChatOptions,
  ) {
    const changed = (change: ChatChange) => options.onChange?.(change);
    this.outbox = new Outbox(options.storage ?? memoryStorage(), options.storageKey ?? `livefeed.outbox.${me}`, () =>
      changed('outbox'),
    );
    connection.on('message:new', ({ message }, ack) => {
      ack?.(); // moves our delivered cursor: the sender sees "delivered"
      this.receive(message);
    });
    connection.on('message:receipt', (receipt) => {
      const conversation = this.conversations.get(receipt.conversationId);
      if (!conversation || receipt.userId === this.me) return;
      applyReceipt(conversation, receipt);
      if (receipt.conversationId === this.openId) changed('messages');
    });
    connection.on('typing', async ({ conversationId, userId }) => {
      if (userId === this.me) return;
      // Someone may be writing the first message of a conversation they just started with us.
      const conversation = this.conversations.get(conversationId) ?? (await this.fetchConversation(conversationId));
      if (!conversation) return;
      conversation.typing.set(userId, Date.now() + TYPING_SHOWN_MS);
      changed('typing');
      setTimeout(() => changed('typing'), TYPING_SHOWN_MS + 50);
    });
    connection.on('presence', ({ userId, online }) => {
      this.presence.set(userId, online);
      changed('presence');
    });
    connection.socket.on('connect', () => void this.resync().finally(() => this.flush()));
  }

  static async connect(baseUrl: string, tokens: TokenSource, options: ChatOptions = {}): Promise<ChatSession> {
    const api = new ChatApi(baseUrl, tokens);
    const me = options.userId ?? (await api.me()).id;
    const connection = await ChatConnection.open(baseUrl, tokens, (state, reason) => {
      options.onState?.(state, reason);
      options.onChange?.('state');
    });
    const session = new ChatSession(me, connection, api, options);
    connection.connect();
    return session;
  }

  get state(): ChatState {
    return this.connection.state;
  }

  /** The socket.io socket, for events of your own. */
  get socket(): Socket {
    return this.connection.socket;
  }

  close(): void {
    this.outbox.stop();
    this.connection.close();
  }

  /** Queues the message and sends it when the socket is up; resent with the same clientMsgId until acknowledged. */
  send(conversationId: string, body: string): Outgoing {
    const item = this.outbox.add(conversationId, body);
    this.lastTypingSent = 0; // the other side clears "typing" when the message arrives
    this.flush();
    return item;
  }

  /** Tells the other members I am typing (at most every 2 s). */
  typing(conversationId: string): void {
    const now = Date.now();
    if (!this.connection.connected || now - this.lastTypingSent < TYPING_EVERY_MS) return;
    this.lastTypingSent = now;
    this.connection.emit('typing', { conversationId });
  }

  async startDirect(userId: string): Promise<Conversation> {
    const conversation = this.merge(await this.api.startDirect(userId));
    this.changed('conversations');
    void this.loadPresence();
    return conversation;
  }

  /** Shows this conversation: its newest history page if none is loaded, and read. */
  async open(id: string): Promise<void> {
    this.openId = id;
    const conversation = this.conversations.get(id);
    this.changed('messages');
    if (conversation && conversation.nextBeforeSeq === undefined) await this.loadOlder();
    this.markRead();
  }

  /** One page of the open conversation's history before the oldest message held (the newest page first). */
  async loadOlder(): Promise<void> {
    const conversation = this.openId ? this.conversations.get(this.openId) : undefined;
    if (!conversation || conversation.nextBeforeSeq === null) return;
    const page = await this.api.history(conversation.id, {
      beforeSeq: conversation.nextBeforeSeq || undefined,
      limit: this.options.pageSize ?? 30,
    });
    addMessages(conversation, page.items);
    conversation.nextBeforeSeq = page.nextBeforeSeq;
    this.changed('messages');
  }

  /** Reads what the open conversation holds, if it is in view. */
  markRead(): void {
    const conversation = this.openId ? this.conversations.get(this.openId) : undefined;
    if (!conversation || !(this.options.inView?.() ?? true) || !this.connection.connected) return;
    const newest = Math.max(0, ...conversation.messages.keys());
    if (conversation.unread > 0) {
      conversation.unread = 0;
      this.changed('conversations');
    }
    // Only someone else's message makes a read worth telling (our own are never unread).
    const fromOthers = [...conversation.messages.values()].some(
      (message) => message.seq > conversation.readSeq && message.senderId !== this.me,
    );
    if (!fromOthers) return;
    void this.connection.ask('message:read', { conversationId: conversation.id, seq: newest }).then((ack) => {
      if (ack.ok) conversation.readSeq = Math.max(conversation.readSeq, ack.readSeq);
    });
  }

  /** One request per conversation however many messages for it arrive meanwhile. */
  fetchConversation(id: string): Promise<Conversation | undefined> {
    let pending = this.fetching.get(id);
    if (!pending) {
      pending = this.api
        .conversation(id)
        .then((view) => {
          const conversation = this.merge(view);
          this.changed('conversations');
          void this.loadPresence();
          return conversation;
        })
        .catch(() => undefined)
        .finally(() => this.fetching.delete(id));
      this.fetching.set(id, pending);
    }
    return pending;
  }

  private changed(change: ChatChange): void {
    this.options.onChange?.(change);
  }

  private flush(): void {
    const connection = this.connection;
    const channel = {
      get connected() {
        return connection.connected;
      },
      send: (payload: ChatClientEvents['message:send']['payload']) => connection.request('message:send', payload),
    };
    void this.outbox.flush(channel, (message) => this.receive(message));
  }

  /** After every (re)connect: the list with unread counts, the open conversation's newer messages, presence. */
  private async resync(): Promise<void> {
    try {
      const { items } = await this.api.conversations();
      for (const view of items) this.merge(view);
      this.changed('conversations');
      const open = this.openId ? this.conversations.get(this.openId) : undefined;
      if (open && open.nextBeforeSeq !== undefined) await this.catchUp(open);
      await this.loadPresence();
    } catch {
      // the socket is up, the REST call failed: the next reconnect tries again
    }
  }

  private merge(view: ConversationView): Conversation {
    let conversation = this.conversations.get(view.id);
    if (conversation) mergeView(conversation, view);
    else this.conversations.set(view.id, (conversation = fromView(view)));
    return conversation;
  }

  private async loadPresence(): Promise<void> {
    const others = new Set<string>();
    for (const conversation of this.conversations.values()) {
      for (const member of conversation.members) if (member.userId !== this.me) others.add(member.userId);
    }
    if (others.size === 0) return;
    try {
      const { presence } = await this.api.presence([...others].slice(0, 100));
      for (const { userId, online } of presence) this.presence.set(userId, online);
      this.changed('presence');
    } catch {
      // presence then waits for `presence` events
    }
  }

  private receive(message: ChatMessage, fetched = false): void {
    const conversation = this.conversations.get(message.conversationId);
    if (!conversation) {
      // A conversation someone else started: fetch it once, then take the message.
      if (!fetched) void this.fetchConversation(message.conversationId).then(() => this.receive(message, true));
      return;
    }
    if (!conversation.messages.has(message.seq)) this.options.onMessage?.(message);
    addMessages(conversation, [message]);
    if (message.senderId !== null) conversation.typing.delete(message.senderId);
    if (message.senderId !== this.me && message.seq > conversation.countedUpTo && message.seq > conversation.readSeq) {
      conversation.unread++;
    }
    conversation.countedUpTo = Math.max(conversation.countedUpTo, message.seq);
    this.changed('conversations');
    if (conversation.id === this.openId) {
      this.changed('messages');
      this.markRead();
    }
  }

  /** Messages after the newest one held (what another tab of ours took while this one was away). */
  private async catchUp(conversation: Conversation): Promise<void> {
    for (;;) {
      const afterSeq = Math.max(0, ...conversation.messages.keys());
      const ack = await this.connection.ask('sync', { conversationId: conversation.id, afterSeq });
      if (!ack.ok) return;
      addMessages(conversation, ack.messages);
      this.changed('messages');
      if (!ack.more) return;
    }
  }
}
