/**
 * Messages typed here and not yet acknowledged by the server. They are kept in the tab's
 * sessionStorage (a reload keeps them) and sent in order, one at a time, whenever the socket is up.
 * Each keeps the `clientMsgId` it got when typed, so a resend after a lost ack (disconnect,
 * timeout) is recognised by the server and never stored twice.
 */
import type { Socket } from 'socket.io-client';
import type { Ack, ChatMessage, Outgoing } from './types.js';

export const ACK_TIMEOUT_MS = 10_000;
const RESEND_DELAY_MS = 3_000;
/** Worth sending again later; any other refusal (invalid, forbidden…) is shown as failed. */
const TRANSIENT = new Set(['rate_limited', 'unavailable']);

export class Outbox {
  items: Outgoing[];
  private flushing = false;

  constructor(
    private readonly storageKey: string,
    private readonly onChange: () => void,
  ) {
    this.items = JSON.parse(sessionStorage.getItem(storageKey) ?? '[]') as Outgoing[];
    for (const item of this.items) if (item.status === 'sending') item.status = 'queued';
  }

  add(conversationId: string, body: string): void {
    this.items.push({ clientMsgId: newClientMsgId(), conversationId, body, status: 'queued' });
    this.save();
    this.onChange();
  }

  discard(clientMsgId: string): void {
    this.items = this.items.filter((item) => item.clientMsgId !== clientMsgId);
    this.save();
    this.onChange();
  }

  /** Sends what waits while `socket` is connected; `stored` gets each acknowledged message. */
  async flush(socket: Socket | undefined, stored: (message: ChatMessage) => void): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    const later = () => setTimeout(() => void this.flush(socket, stored), RESEND_DELAY_MS);
    try {
      for (;;) {
        const item = this.items.find((entry) => entry.status !== 'failed');
        if (!item || !socket?.connected) return;
        item.status = 'sending';
        this.onChange();
        let ack: Ack<{ message: ChatMessage }>;
        try {
          ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('message:send', {
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
          stored(ack.message);
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

  private save(): void {
    sessionStorage.setItem(this.storageKey, JSON.stringify(this.items));
  }
}

/** Printable ASCII, unique enough: time plus 64 random bits (crypto.randomUUID needs a secure context). */
function newClientMsgId(): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `web-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}`;
}
