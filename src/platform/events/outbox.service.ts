import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { activeTraceparent } from '#src/platform/observability/tracing.js';
import { type DomainEvent, type NewDomainEvent, OUTBOX_CHANNEL, partitionOf } from './domain-event.js';

/** The outbox insert as part of a caller's statement (`OutboxService.inStatement`). */
export interface OutboxStatementPart {
  /** CTEs to append after the caller's own: starts with a comma. */
  ctes: string;
  /** An expression the final SELECT must select: it sends the relay's NOTIFY when events were recorded. */
  notify: string;
  params: unknown[];
}

/** $n..$n+4: the five columns of the events, as arrays. */
const INSERT_EVENTS = (n: number) => `INSERT INTO outbox_events (type, data, partition_key, partition, trace_context)
  SELECT * FROM unnest($${n}::varchar[], $${n + 1}::jsonb[], $${n + 2}::varchar[], $${n + 3}::smallint[], $${n + 4}::text[])`;

function columns(events: NewDomainEvent[]): unknown[] {
  // The trace the event continues: the relay makes it the parent of its handlers' spans.
  const active = activeTraceparent();
  return [
    events.map((event) => event.type),
    events.map((event) => JSON.stringify(event.data)),
    events.map((event) => event.key ?? ''),
    events.map((event) => partitionOf(event.key ?? '')),
    events.map((event) => event.traceContext ?? active),
  ];
}

/**
 * Writes domain events in the caller's transaction. Nothing is published here: the relay picks the
 * rows up after the commit, so an event of a rolled-back transaction never leaves.
 *
 * Two ways in: `record` in a TypeORM transaction, or `inStatement`, the same insert as CTEs of the
 * caller's own single statement (a hot path's fact and its events in one round trip, its one
 * implicit transaction).
 */
@Injectable()
export class OutboxService {
  async record(manager: EntityManager, ...events: NewDomainEvent[]): Promise<DomainEvent[]> {
    if (!manager.queryRunner?.isTransactionActive) {
      throw new Error('OutboxService.record must be called inside a transaction');
    }
    if (events.length === 0) return [];
    // One statement; the notification is delivered by Postgres only if and when the transaction
    // commits (and once per transaction, however many rows ask for it).
    const rows: { id: string; occurred_at: Date }[] = await manager.query(
      `WITH inserted AS (${INSERT_EVENTS(2)} RETURNING id, occurred_at)
       SELECT id, occurred_at, pg_notify($1, '') FROM inserted ORDER BY id`,
      [OUTBOX_CHANNEL, ...columns(events)],
    );
    return rows.map((row, index) => ({
      id: String(row.id),
      occurredAt: row.occurred_at,
      type: events[index].type,
      data: events[index].data,
      key: events[index].key ?? '',
    }));
  }

  /**
   * `record`'s insert as CTEs (`outbox_rows`, `outbox_notify`) of the caller's own statement, with
   * parameters numbered from `$first`. `when` is a condition over the caller's CTEs: the events are
   * recorded only if it holds (the fact itself was written). The caller's final SELECT must select
   * `notify`, or no NOTIFY is sent (a CTE that only reads runs when it is read).
   */
  inStatement(events: NewDomainEvent[], first: number, when: string): OutboxStatementPart {
    return {
      ctes: `, outbox_rows AS (${INSERT_EVENTS(first + 1)} WHERE ${when} RETURNING id),
        outbox_notify AS (SELECT pg_notify($${first}, '') FROM (SELECT 1 FROM outbox_rows LIMIT 1) r)`,
      notify: '(SELECT count(*) FROM outbox_notify)',
      params: [OUTBOX_CHANNEL, ...columns(events)],
    };
  }
}
