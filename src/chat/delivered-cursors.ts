import { Logger } from '@nestjs/common';
import type { ChatMessage, Receipt } from './chat-message.js';
import type { MessagesService } from './messages.service.js';

const FLUSH_MS = 20;
const RETRY_MS = 1_000;

/**
 * Delivered cursors from clients' acks of `message:new`, written in batches: every ack within
 * FLUSH_MS becomes one UPDATE (per user and conversation only the highest seq, never moving back).
 * Each cursor that moved becomes a receipt for the conversation's other members. A failed write is
 * merged back and retried; the worst case of losing a batch (a crash) is a message sent again on
 * the next connect, which the client's view skips by seq.
 */
export class DeliveredCursors {
  private readonly logger = new Logger(DeliveredCursors.name);
  /** `<conversation>:<user>` → highest acknowledged seq, not yet written. */
  private acked = new Map<string, { conversationId: string; userId: string; seq: number }>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly messages: MessagesService,
    private readonly receipt: (receipt: Receipt, to: string[]) => void,
  ) {}

  acknowledged(userId: string, message: ChatMessage): void {
    this.merge({ conversationId: message.conversationId, userId, seq: message.seq });
    if (!this.stopped) this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  private merge(move: { conversationId: string; userId: string; seq: number }): void {
    const key = `${move.conversationId}:${move.userId}`;
    const current = this.acked.get(key);
    if (!current || current.seq < move.seq) this.acked.set(key, move);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.acked.size === 0) return;
    const moves = [...this.acked.values()];
    this.acked = new Map();
    this.flushing = this.messages
      .markDelivered(moves)
      .then((moved) => {
        for (const { others, ...receipt } of moved) this.receipt(receipt, others);
      })
      .catch((error: Error) => {
        this.logger.warn(`chat delivered cursors: ${error.message}; retrying`);
        for (const move of moves) this.merge(move);
        if (!this.stopped) this.timer ??= setTimeout(() => void this.flush(), RETRY_MS);
      })
      .finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** At shutdown, after the last flush: later acks are not written (those messages come again on the next connect). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
