/** The chat's wire shapes (ARCHITECTURE.md "Chat") and what the page keeps per conversation. */
export interface ChatMessage {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string | null;
  body: string;
  createdAt: string;
}

export interface Member {
  userId: string;
  role: string;
  /** Not in the contract today; shown when a server sends it. */
  name?: string;
}

export interface ConversationView {
  id: string;
  type: 'direct' | 'group';
  title: string | null;
  members: Member[];
  lastSeq: number;
  lastMessage: ChatMessage | null;
  unreadCount: number;
  readSeq: number;
}

export interface User {
  id: string;
  name: string;
}

export type Ack<T extends object = object> =
  ({ ok: true } & T) | { ok: false; error: { code: string; message: string } };

export interface Conversation {
  id: string;
  type: 'direct' | 'group';
  title: string | null;
  members: Member[];
  lastSeq: number;
  lastMessage: ChatMessage | null;
  unread: number;
  /** The highest seq the unread count already accounts for (a message is never counted twice). */
  countedUpTo: number;
  readSeq: number;
  messages: Map<number, ChatMessage>;
  /** undefined: history not loaded yet; null: nothing older on the server. */
  nextBeforeSeq?: number | null;
  /** Other members' cursors, from `message:receipt`. */
  receipts: Map<string, { deliveredSeq: number; readSeq: number }>;
  /** Who is typing, until when (epoch ms). */
  typing: Map<string, number>;
}

/** A message typed here, waiting for the server's ack (kept across reconnects and reloads). */
export interface Outgoing {
  clientMsgId: string;
  conversationId: string;
  body: string;
  status: 'queued' | 'sending' | 'failed';
  error?: string;
}

export type ChatState = 'signed-out' | 'connecting' | 'connected' | 'reconnecting';
