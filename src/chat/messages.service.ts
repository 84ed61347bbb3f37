/**
 * Messages in Postgres: sending (validated, rate limited, idempotent, numbered by MessageWriter),
 * system messages, history and sync reads, and the per-member delivered and read cursors.
 * Nothing here talks to sockets: the gateway and DeliveryService fan out what this stored.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { ChatMetrics } from './chat.metrics.js';
import {
  ChatError,
  type ChatMessage,
  MESSAGE_COLUMNS,
  type MessageRow,
  charCount,
  isUuid,
  toChatMessage,
} from './chat-message.js';
import { ConversationsService } from './conversations.service.js';
import { MessageWriter } from './message-writer.js';
import { RateLimiter } from './rate-limiter.js';

/** A stored message and who should get it. `created` is false when an idempotency key matched an earlier send. */
export interface Stored {
  message: ChatMessage;
  memberIds: string[];
  created: boolean;
}

export interface CursorMove {
  conversationId: string;
  userId: string;
  deliveredSeq: number;
  readSeq: number;
  /** The other members, who get the receipt. */
  others: string[];
}

const CLIENT_MSG_ID = /^[\x21-\x7e]{1,100}$/;

@Injectable()
export class MessagesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writer: MessageWriter,
    private readonly conversations: ConversationsService,
    private readonly limiter: RateLimiter,
    private readonly metrics: ChatMetrics,
    private readonly config: AppConfig,
  ) {}

  /** `message:send`: validate, rate limit, insert with the next seq (or find the earlier send with that clientMsgId). */
  async send(userId: string, payload: unknown): Promise<Stored> {
    const { conversationId, body, clientMsgId } = (payload ?? {}) as Record<string, unknown>;
    if (!isUuid(conversationId)) throw new ChatError('invalid', 'conversationId must be a UUID');
    if (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId)) {
      throw new ChatError('invalid', 'clientMsgId must be 1 to 100 printable ASCII characters without spaces');
    }
    const text = this.validBody(body);
    if (!(await this.limiter.take(userId))) {
      this.metrics.rateLimited.inc();
      throw new ChatError(
        'rate_limited',
        `too many messages: at most ${this.config.chat.messagesPerMinute} per minute; try again shortly`,
      );
    }
    const result = await this.writer.write({ conversationId, senderId: userId, body: text, clientMsgId });
    if ('inserted' in result) {
      this.metrics.sent.inc({ kind: 'user' });
      return { message: result.inserted, memberIds: result.memberIds, created: true };
    }
    const [existing]: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1 AND client_msg_id = $2`,
      [userId, clientMsgId],
    );
    if (existing) {
      if (existing.conversation_id !== conversationId) {
        throw new ChatError('invalid', 'clientMsgId was already used for a message in another conversation');
      }
      return {
        message: toChatMessage(existing),
        memberIds: await this.conversations.memberIds(conversationId),
        created: false,
      };
    }
    await this.conversations.assertMember(userId, conversationId);
    throw new ChatError('unavailable', 'the message was not stored; send it again');
  }

  /** A message from the system (no sender), idempotent per (conversation, idempotency key). */
  async postSystem(conversationId: string, body: string, idempotencyKey: string): Promise<Stored> {
    if (!isUuid(conversationId)) throw new ChatError('invalid', 'conversationId must be a UUID');
    if (!CLIENT_MSG_ID.test(idempotencyKey)) {
      throw new ChatError('invalid', 'idempotencyKey must be 1 to 100 printable ASCII characters without spaces');
    }
    const text = this.validBody(body);
    const result = await this.writer.write({ conversationId, senderId: null, body: text, clientMsgId: idempotencyKey });
    if ('inserted' in result) {
      this.metrics.sent.inc({ kind: 'system' });
      return { message: result.inserted, memberIds: result.memberIds, created: true };
    }
    const [existing]: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender_id IS NULL AND conversation_id = $1 AND client_msg_id = $2`,
      [conversationId, idempotencyKey],
    );
    if (!existing) throw new ChatError('not_found', `conversation ${conversationId} not found`);
    return {
      message: toChatMessage(existing),
      memberIds: await this.conversations.memberIds(conversationId),
      created: false,
    };
  }

  private validBody(body: unknown): string {
    const max = this.config.chat.maxMessageChars;
    if (typeof body !== 'string') throw new ChatError('invalid', 'body must be a string');
    const text = body.trim();
    const length = charCount(text);
    if (length === 0) throw new ChatError('invalid', 'body must not be empty');
    if (length > max) throw new ChatError('invalid', `body must be at most ${max} characters (got ${length})`);
    return text;
  }

  /** A keyset page of history, oldest first: the `limit` messages before `beforeSeq`. */
  async history(userId: string, conversationId: string, beforeSeq: number | undefined, limit: number) {
    await this.conversations.assertMember(userId, conversationId);
    const rows: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2)
       ORDER BY seq DESC LIMIT $3`,
      [conversationId, beforeSeq ?? null, limit],
    );
    const items = rows.reverse().map(toChatMessage);
    const first = items[0]?.seq;
    return { items, limit, nextBeforeSeq: items.length === limit && first > 1 ? first : null };
  }

  /** `sync`: messages after `afterSeq`, oldest first, at most CHAT_SYNC_LIMIT (`more` says ask again). */
  async sync(userId: string, payload: unknown): Promise<{ messages: ChatMessage[]; more: boolean }> {
    const { conversationId, afterSeq, limit } = (payload ?? {}) as Record<string, unknown>;
    if (!isUuid(conversationId)) throw new ChatError('invalid', 'conversationId must be a UUID');
    if (!Number.isSafeInteger(afterSeq) || (afterSeq as number) < 0) {
      throw new ChatError('invalid', 'afterSeq must be an integer ≥ 0');
    }
    const max = this.config.chat.syncLimit;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > max)) {
      throw new ChatError('invalid', `limit must be an integer from 1 to ${max}`);
    }
    await this.conversations.assertMember(userId, conversationId);
    const take = (limit as number | undefined) ?? max;
    const messages = await this.after(conversationId, afterSeq as number, take + 1);
    return { messages: messages.slice(0, take), more: messages.length > take };
  }

  /** Messages of a conversation after a seq (up to `limit`), oldest first. */
  async after(conversationId: string, afterSeq: number, limit: number, uptoSeq?: number): Promise<ChatMessage[]> {
    const rows: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE conversation_id = $1 AND seq > $2 AND ($4::bigint IS NULL OR seq <= $4)
       ORDER BY seq LIMIT $3`,
      [conversationId, afterSeq, limit, uptoSeq ?? null],
    );
    return rows.map(toChatMessage);
  }

  /** The user's conversations with their delivered cursor and newest seq (inbox on connect). */
  async cursors(userId: string): Promise<{ conversationId: string; deliveredSeq: number; lastSeq: number }[]> {
    const rows: { conversation_id: string; delivered_seq: string; last_seq: string }[] = await this.dataSource.query(
      `SELECT m.conversation_id, m.delivered_seq, c.last_seq FROM conversation_members m
       JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = $1`,
      [userId],
    );
    return rows.map((row) => ({
      conversationId: row.conversation_id,
      deliveredSeq: Number(row.delivered_seq),
      lastSeq: Number(row.last_seq),
    }));
  }

  /** The user's delivered cursor in one conversation, or undefined if not a member. */
  async cursor(userId: string, conversationId: string): Promise<number | undefined> {
    const [row]: { delivered_seq: string }[] = await this.dataSource.query(
      'SELECT delivered_seq FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
      [conversationId, userId],
    );
    return row ? Number(row.delivered_seq) : undefined;
  }

  /** Moves delivered cursors forward (never back); returns the ones that moved. */
  async markDelivered(moves: { conversationId: string; userId: string; seq: number }[]): Promise<CursorMove[]> {
    if (moves.length === 0) return [];
    const rows = await this.update<CursorRow>(
      `UPDATE conversation_members m SET delivered_seq = v.seq
       FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS v(conversation_id, user_id, seq)
       WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id AND m.delivered_seq < v.seq
       RETURNING m.conversation_id, m.user_id, m.delivered_seq, m.read_seq, ${OTHERS}`,
      [moves.map((m) => m.conversationId), moves.map((m) => m.userId), moves.map((m) => m.seq)],
    );
    return rows.map(toCursorMove);
  }

  /** `message:read`: moves the read cursor (and the delivered one with it). */
  async markRead(userId: string, payload: unknown): Promise<CursorMove> {
    const { conversationId, seq } = (payload ?? {}) as Record<string, unknown>;
    if (!isUuid(conversationId)) throw new ChatError('invalid', 'conversationId must be a UUID');
    if (!Number.isSafeInteger(seq) || (seq as number) < 1) throw new ChatError('invalid', 'seq must be an integer ≥ 1');
    const [row] = await this.update<CursorRow>(
      `UPDATE conversation_members m
       SET read_seq = GREATEST(m.read_seq, $3), delivered_seq = GREATEST(m.delivered_seq, $3)
       FROM conversations c
       WHERE c.id = m.conversation_id AND m.conversation_id = $1 AND m.user_id = $2 AND $3 <= c.last_seq
       RETURNING m.conversation_id, m.user_id, m.delivered_seq, m.read_seq, ${OTHERS}`,
      [conversationId, userId, seq],
    );
    if (row) return toCursorMove(row);
    await this.conversations.assertMember(userId, conversationId);
    throw new ChatError('invalid', `seq ${seq as number} is after the conversation's newest message`);
  }

  /** UPDATE … RETURNING rows (TypeORM answers an UPDATE with `[rows, affected]`). */
  private async update<T>(sql: string, params: unknown[]): Promise<T[]> {
    const [rows] = (await this.dataSource.query(sql, params)) as [T[], number];
    return rows;
  }
}

interface CursorRow {
  conversation_id: string;
  user_id: string;
  delivered_seq: string;
  read_seq: string;
  others: string[] | null;
}

const OTHERS = `(SELECT array_agg(o.user_id) FROM conversation_members o
  WHERE o.conversation_id = m.conversation_id AND o.user_id <> m.user_id) AS others`;

function toCursorMove(row: CursorRow): CursorMove {
  return {
    conversationId: row.conversation_id,
    userId: row.user_id,
    deliveredSeq: Number(row.delivered_seq),
    readSeq: Number(row.read_seq),
    others: row.others ?? [],
  };
}
