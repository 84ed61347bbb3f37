/**
 * Chat messages written and not yet acknowledged: kept in a storage (a page's sessionStorage or
 * localStorage, memory by default), sent in order, one at a time, whenever the socket is up. Each
 * keeps the `clientMsgId` it got when written, so a resend after a lost ack (disconnect, timeout)
 * is recognised by the server and never stored twice.
 */
import type { ChatAck, ChatClientEvents, ChatMessage } from './wire.js';

const RESEND_DELAY_MS = 3_000;
/** Worth sending again later; any other refusal (invalid, forbidden…) is marked failed. */
const TRANSIENT = new Set(['rate_limited', 'unavailable']);

export interface Outgoing {
  clientMsgId: string;
  conversationId: string;
  body: string;
  status: 'queued' | 'sending' | 'failed';
  /** Why the server refused it (`failed`). */
  error?: string;
}

/** What the outbox keeps its items in (the Web Storage subset). */
export interface OutboxStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export function memoryStorage(): OutboxStorage {
  const items = new Map<string, string>();
  return { getItem: (key) => items.get(key) ?? null, setItem: (key, value) => void items.set(key, value) };
}

/** Where the outbox sends: `message:send` with its ack; rejects when disconnected or unanswered. */
export interface OutboxChannel {
  readonly connected: boolean;
  send(payload: ChatClientEvents['message:send']['payload']): Promise<ChatAck<{ message: ChatMessage }>>;
}

export class Outbox {
  items: Outgoing[];
  private flushing = false;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly storage: OutboxStorage,
    private readonly storageKey: string,
    private readonly onChange: () => void = () => undefined,
    private readonly resendDelayMs = RESEND_DELAY_MS,
  ) {
    this.items = JSON.parse(storage.getItem(storageKey) ?? '[]') as Outgoing[];
    for (const item of this.items) if (item.status === 'sending') item.status = 'queued';
  }

  add(conversationId: string, body: string): Outgoing {
    const item: Outgoing = { clientMsgId: newClientMsgId(), conversationId, body, status: 'queued' };
    this.items.push(item);
    this.save();
    this.onChange();
    return item;
  }

  discard(clientMsgId: string): void {
    this.items = this.items.filter((item) => item.clientMsgId !== clientMsgId);
    this.save();
    this.onChange();
  }

  /** Sends what waits while `channel` is connected; `stored` gets each acknowledged message. */
  async flush(channel: OutboxChannel, stored: (message: ChatMessage, item: Outgoing) => void): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    const later = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.flush(channel, stored), this.resendDelayMs);
    };
    try {
      for (;;) {
        const item = this.items.find((entry) => entry.status !== 'failed');
        if (!item || !channel.connected) return;
        item.status = 'sending';
        this.onChange();
        let ack: ChatAck<{ message: ChatMessage }>;
        try {
          ack = await channel.send({
            conversationId: item.conversationId,
            body: item.body,
            clientMsgId: item.clientMsgId,
          });
        } catch {
          // Disconnected or no answer: maybe stored, maybe not; the resend (same clientMsgId) settles it.
          item.status = 'queued';
          this.onChange();
          later();
          return;
        }
        if (ack.ok) {
          this.items = this.items.filter((entry) => entry !== item);
          this.save();
          stored(ack.message, item);
          continue;
        }
        if (TRANSIENT.has(ack.error.code)) {
          item.status = 'queued';
          this.onChange();
          later();
          return;
        }
        item.status = 'failed';
        item.error = ack.error.message;
        this.save();
        this.onChange();
      }
    } finally {
      this.flushing = false;
    }
  }

  /** No resend is scheduled after this (the items stay in the storage for the next session). */
  stop(): void {
    clearTimeout(this.timer);
  }

  private save(): void {
    this.storage.setItem(this.storageKey, JSON.stringify(this.items));
  }
}

/** Printable ASCII, unique enough: time plus 64 random bits (crypto.randomUUID needs a secure context). */
function newClientMsgId(): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `sdk-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}`;
}
