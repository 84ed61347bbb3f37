/**
 * The chat's state in the browser: the socket (namespace `/chat`, token in the handshake), the
 * conversations with their messages by seq, unread counts, receipts, typing and presence, and the
 * outbox (outbox.ts: what is typed while the socket is down is sent when it is back).
 */
import { type Socket, io } from 'socket.io-client';
import { getJson, postJson } from '../http.js';
import { ACK_TIMEOUT_MS, Outbox } from './outbox.js';
import { rememberName } from './session.js';
import type { Session } from './session.js';
import type { Ack, ChatMessage, ChatState, Conversation, ConversationView } from './types.js';

const PAGE_SIZE = 30;
const TYPING_EVERY_MS = 2_000;
const TYPING_SHOWN_MS = 4_000;

export type ChatChange = 'state' | 'conversations' | 'messages' | 'typing' | 'presence';

export class ChatClient {
  readonly conversations = new Map<string, Conversation>();
  readonly presence = new Map<string, boolean>();
  readonly outbox: Outbox;
  state: ChatState = 'connecting';
  openId?: string;
  private socket?: Socket;
  private readonly fetching = new Map<string, Promise<Conversation | undefined>>();
  private lastTypingSent = 0;

  constructor(
    readonly session: Session,
    private readonly onChange: (change: ChatChange) => void,
    private readonly onSignedOut: (reason: string) => void,
  ) {
    this.outbox = new Outbox(`livefeed.outbox.${session.user.id}`, () => onChange('messages'));
  }

  get me(): string {
    return this.session.user.id;
  }

  private get auth() {
    return { authorization: `Bearer ${this.session.token}` };
  }

  connect(): void {
    const socket = io('/chat', { auth: { token: this.session.token }, reconnectionDelayMax: 5_000 });
    this.socket = socket;
    socket.on('connect', () => {
      this.setState('connected');
      void this.resync().finally(() => this.flush());
    });
    socket.on('disconnect', (reason) => {
      if (this.state === 'signed-out') return;
      // An instance shutting down closes the connection ("transport close") and socket.io reconnects
      // by itself; the server ends the socket itself only when the token expired or the user is gone.
      if (reason === 'io server disconnect') return this.onSignedOut('Your session expired: sign in again.');
      this.setState('reconnecting');
    });
    socket.on('connect_error', (error) => {
      if (error.message === 'unauthorized') return this.onSignedOut('Your session expired: sign in again.');
      this.setState('reconnecting');
    });
    socket.on('message:new', (payload: { message: ChatMessage }, ack?: () => void) => {
      ack?.(); // moves our delivered cursor: the sender sees "delivered"
      this.receive(payload.message);
    });
    socket.on(
      'message:receipt',
      (receipt: { conversationId: string; userId: string; deliveredSeq?: number; readSeq?: number }) => {
        const conversation = this.conversations.get(receipt.conversationId);
        if (!conversation || receipt.userId === this.me) return;
        const current = conversation.receipts.get(receipt.userId) ?? { deliveredSeq: 0, readSeq: 0 };
        conversation.receipts.set(receipt.userId, {
          deliveredSeq: Math.max(current.deliveredSeq, receipt.deliveredSeq ?? 0, receipt.readSeq ?? 0),
          readSeq: Math.max(current.readSeq, receipt.readSeq ?? 0),
        });
        if (receipt.conversationId === this.openId) this.onChange('messages');
      },
    );
    socket.on('typing', async ({ conversationId, userId }: { conversationId: string; userId: string }) => {
      if (userId === this.me) return;
      // Someone may be writing the first message of a conversation they just started with us.
      const conversation = this.conversations.get(conversationId) ?? (await this.fetchConversation(conversationId));
      if (!conversation) return;
      conversation.typing.set(userId, Date.now() + TYPING_SHOWN_MS);
      this.onChange('typing');
      setTimeout(() => this.onChange('typing'), TYPING_SHOWN_MS + 50);
    });
    socket.on('presence', ({ userId, online }: { userId: string; online: boolean }) => {
      this.presence.set(userId, online);
      this.onChange('presence');
    });
  }

  close(): void {
    this.setState('signed-out');
    this.socket?.disconnect();
  }

  private setState(state: ChatState): void {
    if (this.state === state) return;
    this.state = state;
    this.onChange('state');
  }

  /** After every (re)connect: the list with unread counts, the open conversation's newer messages, presence. */
  private async resync(): Promise<void> {
    try {
      const { items } = await getJson<{ items: ConversationView[] }>('/chat/conversations?limit=100', {
        headers: this.auth,
      });
      for (const view of items) this.merge(view);
      this.onChange('conversations');
      const open = this.openId ? this.conversations.get(this.openId) : undefined;
      if (open && open.nextBeforeSeq !== undefined) await this.catchUp(open);
      await this.loadPresence();
    } catch {
      // the socket is up, the REST call failed: the next reconnect tries again
    }
  }

  private merge(view: ConversationView): Conversation {
    let conversation = this.conversations.get(view.id);
    if (!conversation) {
      conversation = {
        ...view,
        unread: view.unreadCount,
        countedUpTo: view.lastSeq,
        messages: new Map(),
        receipts: new Map(),
        typing: new Map(),
      };
      this.conversations.set(view.id, conversation);
    } else if (view.lastSeq >= conversation.countedUpTo) {
      // The server's count covers everything up to its lastSeq; a newer local count wins.
      Object.assign(conversation, { unread: view.unreadCount, countedUpTo: view.lastSeq });
    }
    conversation.members = view.members;
    conversation.title = view.title;
    conversation.readSeq = Math.max(conversation.readSeq, view.readSeq);
    if (view.lastSeq >= conversation.lastSeq)
      Object.assign(conversation, { lastSeq: view.lastSeq, lastMessage: view.lastMessage });
    for (const member of view.members) if (member.name) rememberName({ id: member.userId, name: member.name });
    return conversation;
  }

  private async loadPresence(): Promise<void> {
    const others = new Set<string>();
    for (const conversation of this.conversations.values()) {
      for (const member of conversation.members) if (member.userId !== this.me) others.add(member.userId);
    }
    if (others.size === 0) return;
    const ids = [...others].slice(0, 100).join(',');
    try {
      const { presence } = await getJson<{ presence: { userId: string; online: boolean }[] }>(
        `/chat/presence?userIds=${encodeURIComponent(ids)}`,
        { headers: this.auth },
      );
      for (const { userId, online } of presence) this.presence.set(userId, online);
      this.onChange('presence');
    } catch {
      // presence dots then wait for `presence` events
    }
  }

  private receive(message: ChatMessage, fetched = false): void {
    const conversation = this.conversations.get(message.conversationId);
    if (!conversation) {
      // A conversation someone else started: fetch it once, then take the message.
      if (!fetched) void this.fetchConversation(message.conversationId).then(() => this.receive(message, true));
      return;
    }
    this.add(conversation, [message]);
    if (message.senderId !== null) conversation.typing.delete(message.senderId);
    if (message.senderId !== this.me && message.seq > conversation.countedUpTo && message.seq > conversation.readSeq) {
      conversation.unread++;
    }
    conversation.countedUpTo = Math.max(conversation.countedUpTo, message.seq);
    this.onChange('conversations');
    if (conversation.id === this.openId) {
      this.onChange('messages');
      this.markRead();
    }
  }

  private add(conversation: Conversation, messages: ChatMessage[]): void {
    for (const message of messages) {
      conversation.messages.set(message.seq, message);
      if (message.seq >= conversation.lastSeq)
        Object.assign(conversation, { lastSeq: message.seq, lastMessage: message });
    }
  }

  /** One request per conversation however many messages for it arrive meanwhile. */
  fetchConversation(id: string): Promise<Conversation | undefined> {
    let pending = this.fetching.get(id);
    if (!pending) {
      pending = getJson<ConversationView>(`/chat/conversations/${id}`, { headers: this.auth })
        .then((view) => {
          const conversation = this.merge(view);
          this.onChange('conversations');
          void this.loadPresence();
          return conversation;
        })
        .catch(() => undefined)
        .finally(() => this.fetching.delete(id));
      this.fetching.set(id, pending);
    }
    return pending;
  }

  async startDirect(userId: string): Promise<Conversation> {
    const view = await postJson<ConversationView>('/chat/conversations', { type: 'direct', userId }, this.auth);
    const conversation = this.merge(view);
    this.onChange('conversations');
    void this.loadPresence();
    return conversation;
  }

  async open(id: string): Promise<void> {
    this.openId = id;
    const conversation = this.conversations.get(id);
    this.onChange('messages');
    if (conversation && conversation.nextBeforeSeq === undefined) await this.loadOlder();
    this.markRead();
  }

  /** One page of history before the oldest message shown (the newest page first). */
  async loadOlder(): Promise<void> {
    const conversation = this.openId ? this.conversations.get(this.openId) : undefined;
    if (!conversation || conversation.nextBeforeSeq === null) return;
    const before = conversation.nextBeforeSeq ? `&beforeSeq=${conversation.nextBeforeSeq}` : '';
    const page = await getJson<{ items: ChatMessage[]; nextBeforeSeq: number | null }>(
      `/chat/conversations/${conversation.id}/messages?limit=${PAGE_SIZE}${before}`,
      { headers: this.auth },
    );
    this.add(conversation, page.items);
    conversation.nextBeforeSeq = page.nextBeforeSeq;
    this.onChange('messages');
  }

  /** Messages after the newest one shown (what another tab of ours took while this one was away). */
  private async catchUp(conversation: Conversation): Promise<void> {
    for (;;) {
      const afterSeq = Math.max(0, ...conversation.messages.keys());
      const ack = await this.request<{ messages: ChatMessage[]; more: boolean }>('sync', {
        conversationId: conversation.id,
        afterSeq,
      });
      if (!ack.ok) return;
      this.add(conversation, ack.messages);
      this.onChange('messages');
      if (!ack.more) return;
    }
  }

  /** Reads what the open conversation shows, if the page is in view. */
  markRead(): void {
    const conversation = this.openId ? this.conversations.get(this.openId) : undefined;
    if (!conversation || document.visibilityState !== 'visible' || !this.socket?.connected) return;
    const newest = Math.max(0, ...conversation.messages.keys());
    if (conversation.unread > 0) {
      conversation.unread = 0;
      this.onChange('conversations');
    }
    // Only someone else's message makes a read worth telling (our own are never unread).
    const fromOthers = [...conversation.messages.values()].some(
      (message) => message.seq > conversation.readSeq && message.senderId !== this.me,
    );
    if (!fromOthers) return;
    void this.request<{ readSeq: number }>('message:read', { conversationId: conversation.id, seq: newest }).then(
      (ack) => {
        if (ack.ok) conversation.readSeq = Math.max(conversation.readSeq, ack.readSeq);
      },
    );
  }

  send(body: string): void {
    if (!this.openId) return;
    this.outbox.add(this.openId, body);
    this.lastTypingSent = 0; // the other side clears "typing" when the message arrives
    this.flush();
  }

  private flush(): void {
    void this.outbox.flush(this.socket, (message) => this.receive(message));
  }

  typing(): void {
    const now = Date.now();
    if (!this.openId || !this.socket?.connected || now - this.lastTypingSent < TYPING_EVERY_MS) return;
    this.lastTypingSent = now;
    this.socket.emit('typing', { conversationId: this.openId });
  }

  private async request<T extends object>(event: string, payload: unknown): Promise<Ack<T>> {
    try {
      return (await this.socket!.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as Ack<T>;
    } catch (error) {
      return { ok: false, error: { code: 'unavailable', message: (error as Error).message } };
    }
  }
}
