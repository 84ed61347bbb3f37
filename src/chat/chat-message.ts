/**
 * The chat's wire shapes (the client SDK's, `@livefeed/client/wire`, so the compiler holds the server
 * to them) and its one error type. A `ChatError` is an HttpException, so REST routes answer with the
 * usual envelope, and the gateway turns it into `{ ok: false, error: { code, message } }`.
 */
import { HttpException, HttpStatus } from '@nestjs/common';
import type { ChatAck, ChatMessage, ChatErrorCode as WireErrorCode } from '@livefeed/client/wire';

/** `ChatMessage`: `message:new` payload and every message the API returns; `Receipt`: `message:receipt`. */
export type { ChatMessage, Receipt } from '@livefeed/client/wire';

export const CHAT_ERROR_CODES = {
  unauthorized: HttpStatus.UNAUTHORIZED,
  forbidden: HttpStatus.FORBIDDEN,
  invalid: HttpStatus.BAD_REQUEST,
  rate_limited: HttpStatus.TOO_MANY_REQUESTS,
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  unavailable: HttpStatus.SERVICE_UNAVAILABLE,
} as const satisfies Record<WireErrorCode, HttpStatus>;
export type ChatErrorCode = keyof typeof CHAT_ERROR_CODES;

export class ChatError extends HttpException {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
  ) {
    super(message, CHAT_ERROR_CODES[code]);
  }
}

export type Ack<T extends object = Record<string, unknown>> = ChatAck<T>;
/** What a refused chat event acks. */
export type Refusal = Extract<Ack, { ok: false }>;

export interface MessageRow {
  id: string;
  conversation_id: string;
  seq: string | number;
  sender_id: string | null;
  body: string;
  created_at: Date | string;
}

export function toChatMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    seq: Number(row.seq),
    senderId: row.sender_id,
    body: row.body,
    createdAt: row.created_at instanceof Date ? row.created_at.toISOString() : new Date(row.created_at).toISOString(),
  };
}

export const MESSAGE_COLUMNS = 'id, conversation_id, seq, sender_id, body, created_at';

export { isUuid } from '#src/platform/http/uuid.js';

/** Length in code points, so an emoji counts as one character. */
export function charCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) i++;
    count++;
  }
  return count;
}
