/**
 * The chat panel: sign-in form, "chat with" form, conversation list (presence dot, last message,
 * unread count), the open conversation (history paging, receipts, typing) and the send box, all
 * drawn from the client SDK's chat session (`packages/client`: socket, conversations, receipts,
 * typing, presence, the outbox kept in the tab's sessionStorage). Every user-supplied string goes
 * into the DOM as text (see dom.ts).
 */
import {
  type ChatChange,
  type ChatMessage,
  type ChatSession,
  type ChatState,
  type Conversation,
  type ConversationMember,
  createClient,
} from '../../packages/client/src/index.js';
import { byId, formatTime, h, replace } from '../dom.js';
import { nameOf, rememberName, resolveUser, restoreSession, signIn, signOut, type Session } from './session.js';

const STATE_LABEL: Record<ChatState, string> = {
  'signed-out': 'signed out',
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
};

export class ChatPanel {
  private client?: ChatSession;
  /** Bumped on each sign-in and sign-out, so a session that connects after it is dropped. */
  private generation = 0;
  private readonly signInForm = byId<HTMLFormElement>('sign-in');
  private readonly body = byId('chat-body');
  private readonly list = byId<HTMLUListElement>('conversations');
  private readonly view = byId('conversation');
  private readonly messages = byId<HTMLOListElement>('messages');
  private readonly input = byId<HTMLInputElement>('message-input');
  private readonly olderButton = byId<HTMLButtonElement>('load-older');
  /** Conversation id → the newest seq already announced to screen readers. */
  private readonly announced = new Map<string, number>();

  constructor(
    private readonly onState: (state: string, label: string) => void,
    /** Sign-in and sign-out, for the rest of the page (the feeds read as the signed-in user). */
    private readonly onSession: (session: Session | undefined) => void,
  ) {}

  async start(): Promise<void> {
    this.onState('signed-out', STATE_LABEL['signed-out']);
    this.signInForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = byId<HTMLInputElement>('sign-in-name').value.trim();
      if (!name) return;
      this.error('sign-in-error', '');
      signIn(name).then(
        (session) => this.begin(session),
        (error: Error) => this.error('sign-in-error', `Sign-in failed: ${error.message}`),
      );
    });
    byId('sign-out').addEventListener('click', () => this.end(''));
    byId<HTMLFormElement>('new-conversation').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.startConversation();
    });
    byId<HTMLFormElement>('send-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text || !this.client?.openId) return;
      this.client.send(this.client.openId, text);
      this.input.value = '';
    });
    this.input.addEventListener('input', () => {
      if (this.client?.openId) this.client.typing(this.client.openId);
    });
    this.olderButton.addEventListener('click', () => {
      const before = this.messages.scrollHeight - this.messages.scrollTop;
      void this.client?.loadOlder().then(() => (this.messages.scrollTop = this.messages.scrollHeight - before));
    });
    document.addEventListener('visibilitychange', () => this.client?.markRead());
    const session = await restoreSession();
    if (session) this.begin(session);
    else this.onSession(undefined);
  }

  private begin(session: Session): void {
    this.client?.close();
    this.client = undefined;
    const generation = ++this.generation;
    byId('me-name').textContent = session.user.name;
    this.onSession(session);
    this.signInForm.hidden = true;
    this.body.hidden = false;
    this.view.hidden = true;
    this.onState('connecting', STATE_LABEL.connecting);
    byId<HTMLInputElement>('peer').focus();
    const connecting = createClient({ baseUrl: location.origin, token: session.token }).chat.connect({
      userId: session.user.id,
      storage: sessionStorage,
      onChange: (change) => this.changed(change),
      onState: (state) => {
        if (state === 'signed-out') this.end('Your session expired: sign in again.');
      },
      inView: () => document.visibilityState === 'visible',
    });
    connecting.then(
      (client) => {
        if (generation !== this.generation) return client.close();
        this.client = client;
        this.changed('state');
      },
      (error: Error) => {
        if (generation === this.generation) this.end(`Chat is unavailable: ${error.message}`);
      },
    );
  }

  private end(reason: string): void {
    this.generation++;
    this.client?.close();
    this.client = undefined;
    signOut();
    this.onSession(undefined);
    this.body.hidden = true;
    this.signInForm.hidden = false;
    this.error('sign-in-error', reason);
    replace(this.list);
    replace(this.messages);
    this.onState('signed-out', STATE_LABEL['signed-out']);
  }

  private error(id: string, message: string): void {
    byId(id).textContent = message;
  }

  private async startConversation(): Promise<void> {
    const input = byId<HTMLInputElement>('peer');
    const client = this.client;
    if (!client || !input.value.trim()) return;
    this.error('new-conversation-error', '');
    try {
      const user = await resolveUser(input.value);
      if (user.id === client.me) throw new Error('that is you: pick someone else');
      const conversation = await client.startDirect(user.id);
      input.value = '';
      await this.openConversation(conversation.id);
    } catch (error) {
      this.error('new-conversation-error', `Could not start the conversation: ${(error as Error).message}`);
    }
  }

  private async openConversation(id: string): Promise<void> {
    if (!this.client) return;
    this.view.hidden = false;
    await this.client.open(id);
    this.input.focus();
  }

  private changed(change: ChatChange): void {
    const client = this.client;
    if (!client) return;
    if (change === 'state') this.onState(client.state, STATE_LABEL[client.state]);
    if (change === 'conversations' || change === 'presence') this.renderList(client);
    if (change === 'messages' || change === 'outbox' || change === 'presence') this.renderConversation(client);
    if (change === 'typing') this.renderTyping(client);
  }

  private title(client: ChatSession, conversation: Conversation): string {
    if (conversation.title) return conversation.title;
    const others = conversation.members.filter((member) => member.userId !== client.me);
    return others.map((member) => nameOf(member.userId, member.name)).join(', ') || 'just you';
  }

  private presenceDot(client: ChatSession, members: ConversationMember[]): HTMLElement | null {
    const others = members.filter((member) => member.userId !== client.me);
    if (others.length !== 1) return null;
    const online = client.presence.get(others[0].userId) === true;
    const label = online ? 'online' : 'offline';
    return h('span', {
      className: `presence ${label}`,
      attrs: { role: 'img', 'aria-label': label, title: label },
      data: { online: String(online) },
    });
  }

  private renderList(client: ChatSession): void {
    const conversations = [...client.conversations.values()];
    for (const conversation of conversations)
      for (const member of conversation.members)
        if (member.name) rememberName({ id: member.userId, name: member.name });
    conversations.sort((a, b) => (b.lastMessage?.createdAt ?? '').localeCompare(a.lastMessage?.createdAt ?? ''));
    replace(
      this.list,
      ...(conversations.length === 0 ? [h('li', { className: 'empty', text: 'No conversations yet' })] : []),
      ...conversations.map((conversation) => {
        const button = h(
          'button',
          { attrs: { type: 'button', 'aria-current': conversation.id === client.openId ? 'true' : undefined } },
          this.presenceDot(client, conversation.members),
          h('span', { className: 'title', text: this.title(client, conversation) }),
          conversation.unread > 0
            ? h('span', {
                className: 'unread',
                text: String(conversation.unread),
                attrs: { 'aria-label': `${conversation.unread} unread` },
              })
            : null,
          h('span', { className: 'preview', text: conversation.lastMessage?.body ?? '' }),
        );
        button.addEventListener('click', () => void this.openConversation(conversation.id));
        return h('li', { data: { conversationId: conversation.id, unread: conversation.unread } }, button);
      }),
    );
  }

  private renderConversation(client: ChatSession): void {
    const conversation = client.openId ? client.conversations.get(client.openId) : undefined;
    if (!conversation) return;
    replace(
      byId('conversation-title'),
      this.presenceDot(client, conversation.members),
      this.title(client, conversation),
    );
    const stored = [...conversation.messages.values()].sort((a, b) => a.seq - b.seq);
    this.olderButton.hidden = typeof conversation.nextBeforeSeq !== 'number' || stored[0]?.seq === 1;
    this.announce(client, conversation.id, stored);
    const atBottom = this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 40;
    const others = conversation.members.filter((member) => member.userId !== client.me).map((m) => m.userId);
    const items = stored.map((message) => {
      const mine = message.senderId === client.me;
      return h(
        'li',
        {
          className: `message ${mine ? 'mine' : message.senderId === null ? 'system' : 'theirs'}`,
          data: { seq: message.seq },
        },
        h('span', { className: 'sender', text: mine ? 'you' : nameOf(message.senderId) }),
        h('p', { className: 'body', text: message.body }),
        h(
          'span',
          { className: 'meta' },
          h('time', { attrs: { datetime: message.createdAt }, text: formatTime(message.createdAt) }),
          mine ? h('span', { className: 'receipt', text: receipt(conversation, others, message.seq) }) : null,
        ),
      );
    });
    const pending = client.outbox.items
      .filter((item) => item.conversationId === conversation.id)
      .map((item) => {
        const status =
          item.status === 'failed'
            ? `not sent: ${item.error ?? 'refused'}`
            : item.status === 'sending'
              ? 'sending…'
              : 'queued: sent when the connection is back';
        const discard = item.status === 'failed' ? h('button', { attrs: { type: 'button' }, text: 'Discard' }) : null;
        discard?.addEventListener('click', () => client.outbox.discard(item.clientMsgId));
        return h(
          'li',
          { className: `message mine pending ${item.status}`, data: { clientMsgId: item.clientMsgId } },
          h('span', { className: 'sender', text: 'you' }),
          h('p', { className: 'body', text: item.body }),
          h('span', { className: 'meta' }, h('span', { className: 'receipt', text: status }), discard),
        );
      });
    replace(this.messages, ...items, ...pending);
    if (atBottom) this.messages.scrollTop = this.messages.scrollHeight;
    this.renderTyping(client);
  }

  /**
   * Screen readers hear each new message from others once, through a live region of its own (the
   * list is rebuilt on every change, so it cannot be the live region).
   */
  private announce(client: ChatSession, conversationId: string, stored: ChatMessage[]): void {
    const newest = stored.at(-1)?.seq ?? 0;
    const seen = this.announced.get(conversationId);
    this.announced.set(conversationId, Math.max(newest, seen ?? 0));
    if (seen === undefined) return; // just opened: nothing is new
    const fresh = stored.filter((message) => message.seq > seen && message.senderId !== client.me);
    if (fresh.length > 0) {
      byId('chat-announcer').textContent = fresh
        .map((message) => `${nameOf(message.senderId)}: ${message.body}`)
        .join('\n');
    }
  }

  private renderTyping(client: ChatSession): void {
    const conversation = client.openId ? client.conversations.get(client.openId) : undefined;
    const now = Date.now();
    const who = conversation
      ? [...conversation.typing].filter(([, until]) => until > now).map(([userId]) => nameOf(userId))
      : [];
    byId('typing').textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
  }
}

/** For my message: read / delivered / sent, by the other members' cursors heard in receipts. */
function receipt(conversation: Conversation, others: string[], seq: number): string {
  if (others.length === 0) return 'sent';
  const cursors = others.map((userId) => conversation.receipts.get(userId) ?? { deliveredSeq: 0, readSeq: 0 });
  if (cursors.every((cursor) => cursor.readSeq >= seq)) return 'read';
  if (cursors.every((cursor) => cursor.deliveredSeq >= seq)) return 'delivered';
  return 'sent';
}
