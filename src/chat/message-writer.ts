/**
 * Inserts messages with their per-conversation seq, batching concurrent sends into one statement
 * (one round trip and one commit for many messages).
 *
 * Seqs are race-free across instances: the statement locks the conversations' rows (in id order,
 * so two batches never deadlock), numbers the new messages from `last_seq`, moves `last_seq` and
 * inserts, all in one implicit transaction. A batch that hits a unique violation (the same
 * idempotency key in flight twice) is rolled back whole, so no seq is burnt, and retried one by one.
 *
 * Sends are spread over two lanes by conversation, each with one statement in flight: while one
 * runs, the next batch gathers (a busy conversation batches with itself instead of queueing on its
 * own row lock).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { isUnavailable } from '#src/platform/http/error.filter.js';
import { type ChatMessage, type MessageRow, toChatMessage } from './chat-message.js';
import { Batcher } from '#src/platform/batcher.js';
import { pgPool } from '#src/platform/database/sql.js';

export interface NewMessage {
  conversationId: string;
  /** null: a system message. */
  senderId: string | null;
  body: string;
  /** Idempotency key: per sender, or per conversation for system messages. */
  clientMsgId: string;
}

/** `inserted`: the new message and who is in its conversation; `skipped`: nothing written (not a member, duplicate, no conversation). */
export type WriteResult = { inserted: ChatMessage; memberIds: string[] } | { skipped: true };

const MAX_BATCH = 200;
const LINGER_MS = 3;
const UNIQUE_VIOLATION = '23505';

const INSERT_BATCH = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::varchar[], $5::int[])
    AS t(conversation_id, sender_id, body, client_msg_id, ord)
),
allowed AS (
  SELECT i.* FROM input i
  WHERE (i.sender_id IS NULL OR EXISTS (
          SELECT 1 FROM conversation_members m WHERE m.conversation_id = i.conversation_id AND m.user_id = i.sender_id))
    AND (i.sender_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM messages x WHERE x.sender_id = i.sender_id AND x.client_msg_id = i.client_msg_id))
    AND (i.sender_id IS NOT NULL OR NOT EXISTS (
          SELECT 1 FROM messages x
          WHERE x.sender_id IS NULL AND x.conversation_id = i.conversation_id AND x.client_msg_id = i.client_msg_id))
),
locked AS MATERIALIZED (
  SELECT c.id, c.last_seq FROM conversations c
  WHERE c.id IN (SELECT conversation_id FROM allowed)
  ORDER BY c.id
  FOR UPDATE
),
numbered AS (
  SELECT a.*, l.last_seq + row_number() OVER (PARTITION BY a.conversation_id ORDER BY a.ord) AS seq
  FROM allowed a JOIN locked l ON l.id = a.conversation_id
),
bumped AS (
  UPDATE conversations c SET last_seq = n.max_seq, last_message_at = now()
  FROM (SELECT conversation_id, max(seq) AS max_seq FROM numbered GROUP BY conversation_id) n
  WHERE c.id = n.conversation_id
),
inserted AS (
  INSERT INTO messages (conversation_id, seq, sender_id, body, client_msg_id)
  SELECT conversation_id, seq, sender_id, body, client_msg_id FROM numbered
  RETURNING id, conversation_id, seq, sender_id, body, client_msg_id, created_at
)
SELECT i.*, (SELECT array_agg(m.user_id) FROM conversation_members m WHERE m.conversation_id = i.conversation_id) AS member_ids
FROM inserted i`;

interface InsertedRow extends MessageRow {
  client_msg_id: string;
  member_ids: string[] | null;
}

@Injectable()
export class MessageWriter {
  private readonly writes: Batcher<NewMessage, WriteResult>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    config: AppConfig,
  ) {
    // Few lanes: each statement costs a round trip and a commit whatever its size, so fewer, fuller
    // batches are cheaper; two let one conversation's batch overlap another's. An idle lane lingers
    // a moment so that sends arriving together share one statement; a busy lane gathers the next
    // batch while its statement runs.
    const lanes = Math.max(1, Math.min(2, Math.floor(config.database.poolSize / 2)));
    this.writes = new Batcher((batch) => this.runBatch(batch), {
      maxBatch: MAX_BATCH,
      lingerMs: LINGER_MS,
      laneOf: (input) => laneOf(input.conversationId, lanes),
      // A unique violation means a send with the same key committed meanwhile (on another lane or
      // instance); any other refusal of the statement (a value Postgres would not take) may be one
      // message's too. Either way the statement rolled back (no seq burnt), so the batch is retried
      // one by one, in order. Only an unreachable database fails the batch as a whole.
      isolate: (error) => !isUnavailable(error),
    });
  }

  /** The clash of a send retried alone finds the earlier row: reported as skipped. */
  async write(input: NewMessage): Promise<WriteResult> {
    try {
      return await this.writes.submit(input);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) return { skipped: true };
      throw error;
    }
  }

  /** TypeORM's own pg pool (the app's one pool), for a named prepared statement. */
  private pool(): pg.Pool {
    return pgPool(this.dataSource);
  }

  private async runBatch(batch: NewMessage[]): Promise<WriteResult[]> {
    // The same idempotency key twice in one batch: insert it once, answer both.
    const unique = new Map<string, number[]>();
    batch.forEach((input, index) => {
      const key = `${input.senderId ?? `system:${input.conversationId}`}\u0000${input.clientMsgId}`;
      const list = unique.get(key);
      if (list) list.push(index);
      else unique.set(key, [index]);
    });
    const items = [...unique.values()].map((list) => batch[list[0]]);
    // A named statement: parsed and planned once per pooled connection, not on every batch.
    const { rows } = await this.pool().query<InsertedRow>({
      name: 'chat_insert_batch',
      text: INSERT_BATCH,
      values: [
        items.map((m) => m.conversationId),
        items.map((m) => m.senderId),
        items.map((m) => m.body),
        items.map((m) => m.clientMsgId),
        items.map((_, index) => index),
      ],
    });
    const byKey = new Map<string, InsertedRow>();
    for (const row of rows) {
      byKey.set(`${row.sender_id ?? `system:${row.conversation_id}`}\u0000${row.client_msg_id}`, row);
    }
    const results: WriteResult[] = new Array(batch.length);
    for (const [key, waiting] of unique) {
      const row = byKey.get(key);
      const result: WriteResult = row
        ? { inserted: toChatMessage(row), memberIds: row.member_ids ?? [] }
        : { skipped: true };
      for (const index of waiting) results[index] = result;
    }
    return results;
  }
}

function laneOf(id: string, lanes: number): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) | 0;
  return Math.abs(hash) % lanes;
}
