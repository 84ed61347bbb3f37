/**
 * One conversation as a chat session holds it, and how what the server says changes it: a view
 * from the REST API (counts and cursors), messages (by seq, so a repeat is a no-op), receipts.
 */
import type { ChatMessage, ConversationView, Receipt } from './wire.js';

/** A conversation as the session holds it. */
export interface Conversation extends Omit<ConversationView, 'unreadCount'> {
  unread: number;
  /** The highest seq the unread count already accounts for (a message is never counted twice). */
  countedUpTo: number;
  messages: Map<number, ChatMessage>;
  /** undefined: history not loaded yet; null: nothing older on the server. */
  nextBeforeSeq?: number | null;
  /** Other members' cursors, from `message:receipt`. */
  receipts: Map<string, { deliveredSeq: number; readSeq: number }>;
  /** Who is typing, until when (epoch ms). */
  typing: Map<string, number>;
}

export function fromView({ unreadCount, ...fields }: ConversationView): Conversation {
  return {
    ...fields,
    unread: unreadCount,
    countedUpTo: fields.lastSeq,
    messages: new Map(),
    receipts: new Map(),
    typing: new Map(),
  };
}

/** A newer view of a conversation held: its members, title, cursors, and its count if it covers more. */
export function mergeView(conversation: Conversation, view: ConversationView): void {
  if (view.lastSeq >= conversation.countedUpTo) {
    // The server's count covers everything up to its lastSeq; a newer local count wins.
    Object.assign(conversation, { unread: view.unreadCount, countedUpTo: view.lastSeq });
  }
  conversation.members = view.members;
  conversation.title = view.title;
  conversation.readSeq = Math.max(conversation.readSeq, view.readSeq);
  if (view.lastSeq >= conversation.lastSeq)
    Object.assign(conversation, { lastSeq: view.lastSeq, lastMessage: view.lastMessage });
}

export function addMessages(conversation: Conversation, messages: ChatMessage[]): void {
  for (const message of messages) {
    conversation.messages.set(message.seq, message);
    if (message.seq >= conversation.lastSeq)
      Object.assign(conversation, { lastSeq: message.seq, lastMessage: message });
  }
}

/** Another member's cursors (they only move forward; read implies delivered). */
export function applyReceipt(conversation: Conversation, receipt: Receipt): void {
  const current = conversation.receipts.get(receipt.userId) ?? { deliveredSeq: 0, readSeq: 0 };
  conversation.receipts.set(receipt.userId, {
    deliveredSeq: Math.max(current.deliveredSeq, receipt.deliveredSeq, receipt.readSeq),
    readSeq: Math.max(current.readSeq, receipt.readSeq),
  });
}
