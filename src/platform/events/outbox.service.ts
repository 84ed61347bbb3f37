import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { activeTraceparent } from '#src/platform/observability/tracing.js';
import { type DomainEvent, type NewDomainEvent, OUTBOX_CHANNEL, partitionOf } from './domain-event.js';

/**
 * Writes domain events in the caller's transaction. Nothing is published here: the relay picks the
 * rows up after the commit, so an event of a rolled-back transaction never leaves.
 */
@Injectable()
export class OutboxService {
  async record(manager: EntityManager, ...events: NewDomainEvent[]): Promise<DomainEvent[]> {
    if (!manager.queryRunner?.isTransactionActive) {
      throw new Error('OutboxService.record must be called inside a transaction');
    }
    if (events.length === 0) return [];
    // The trace the event continues: the relay makes it the parent of its handlers' spans.
    const active = activeTraceparent();
    // One statement; the notification is delivered by Postgres only if and when the transaction
    // commits (and once per transaction, however many rows ask for it).
    const rows: { id: string; occurred_at: Date }[] = await manager.query(
      `WITH inserted AS (
         INSERT INTO outbox_events (type, data, partition_key, partition, trace_context)
         SELECT * FROM unnest($1::varchar[], $2::jsonb[], $3::varchar[], $5::smallint[], $6::text[])
         RETURNING id, occurred_at
       )
       SELECT id, occurred_at, pg_notify($4, '') FROM inserted ORDER BY id`,
      [
        events.map((event) => event.type),
        events.map((event) => JSON.stringify(event.data)),
        events.map((event) => event.key ?? ''),
        OUTBOX_CHANNEL,
        events.map((event) => partitionOf(event.key ?? '')),
        events.map((event) => event.traceContext ?? active),
      ],
    );
    return rows.map((row, index) => ({
      id: String(row.id),
      occurredAt: row.occurred_at,
      type: events[index].type,
      data: events[index].data,
      key: events[index].key ?? '',
    }));
  }
}
