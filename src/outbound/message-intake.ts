/**
 * Domain events → messages and deliveries, as one outbox handler for every type. For each event: one
 * message (unique on the event id, so a redelivered event makes nothing new) and one delivery per
 * matching endpoint that is not disabled (unique on endpoint + message), in one statement, so in one
 * transaction (committed without waiting for the WAL flush: outbound-db.ts says why that is safe).
 * Deliveries of active endpoints are then enqueued; a paused endpoint's are held in Postgres.
 *
 * Look-ahead. The relay hands events over one at a time and waits for each, so one round trip per
 * event would cap the whole pipeline at one event per Postgres round trip. When the intake is handed
 * event N, the same statement also takes the committed, unprocessed events after N (up to
 * LOOKAHEAD) in id order, and remembers their ids: when the relay hands those over, they are done
 * and the handler returns at once. This is safe because the statement is atomic and idempotent: if
 * this process dies, or another instance's relay hands them over, the handler runs normally, finds
 * the message (ON CONFLICT) and only re-enqueues its pending deliveries. Message ids follow event ids
 * within a statement and statements follow the relay's order, so message order is the order in which
 * the relay hands events over either way. (A batch handler API on the relay would make this simpler.)
 *
 * Enqueueing is off the relay's path: jobs go to a buffer flushed by one `addBulk` at a time. If that
 * fails (Redis down) or the process dies first, nothing is lost: the rows are committed and the
 * reconciler enqueues pending deliveries that have no job.
 */
import { type BeforeApplicationShutdown, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { DomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { DeliveryQueue } from './delivery-queue.js';
import { patternMatchSql } from './event-type-patterns.js';
import { OutboundDb } from './outbound-db.js';
import { OUTBOX_HANDLER } from './outbound.constants.js';

/** Events taken per statement (the one handed over plus those after it). */
const LOOKAHEAD = 500;
/** Ids remembered as taken; past this the oldest are forgotten (and those events take the normal path). */
const MAX_REMEMBERED = 20_000;

interface IntakeRow {
  kind: 'taken' | 'delivery';
  eventId: string | null;
  deliveryId: string;
  endpointId: string;
  messageId: string;
  ordered: boolean;
  status: string;
}

/**
 * $1 = the event handed over, $2 = look-ahead. The body is `{ type, timestamp, data }` with the
 * timestamp as ISO 8601 UTC with milliseconds (what `Date.toISOString()` gives).
 */
const INTAKE_SQL = `
WITH ev AS (
  SELECT id, type, data, occurred_at FROM outbox_events
  WHERE id >= $1 AND processed_at IS NULL
  ORDER BY id LIMIT $2
), msg AS (
  INSERT INTO webhook_messages (event_id, webhook_id, type, body, created_at)
  SELECT id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), type,
         json_build_object(
           'type', type,
           'timestamp', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'data', data)::text,
         occurred_at
  FROM ev ORDER BY id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING id, event_id, type
), d AS (
  INSERT INTO webhook_deliveries (endpoint_id, message_id)
  SELECT e.id, msg.id FROM msg JOIN webhook_endpoints e
    ON e.status <> 'disabled' AND ${patternMatchSql('msg.type', 'e.event_types')}
  ORDER BY msg.id
  ON CONFLICT (endpoint_id, message_id) DO NOTHING
  RETURNING id, endpoint_id, message_id
)
SELECT 'taken' AS kind, ev.id AS "eventId", NULL::uuid AS "deliveryId", NULL::uuid AS "endpointId",
       NULL::bigint AS "messageId", NULL::boolean AS ordered, NULL::varchar AS status
FROM ev
UNION ALL
SELECT 'delivery', NULL, d.id, d.endpoint_id, d.message_id, e.ordered, e.status
FROM d JOIN webhook_endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT 'delivery', NULL, d.id, d.endpoint_id, d.message_id, e.ordered, e.status
FROM webhook_messages m
JOIN webhook_deliveries d ON d.message_id = m.id AND d.status = 'pending'
JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE m.event_id = $1 AND NOT EXISTS (SELECT 1 FROM msg WHERE msg.event_id = $1)`;

@Injectable()
export class MessageIntake implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(MessageIntake.name);
  private readonly taken = new Set<string>();
  private buffered: IntakeRow[] = [];
  private inFlight?: Promise<void>;
  private scheduled = false;

  constructor(
    private readonly relay: OutboxRelay,
    private readonly db: OutboundDb,
    private readonly queue: DeliveryQueue,
  ) {}

  onModuleInit(): void {
    this.relay.register(OUTBOX_HANDLER, '*', (event) => this.take(event));
  }

  async take(event: DomainEvent): Promise<void> {
    if (this.taken.delete(event.id)) return; // taken by an earlier look-ahead
    const rows = await this.db.rows<IntakeRow>(INTAKE_SQL, [event.id, LOOKAHEAD]);
    for (const row of rows) {
      if (row.kind === 'taken' && row.eventId !== event.id) this.remember(row.eventId!);
    }
    const active = rows.filter((row) => row.kind === 'delivery' && row.status === 'active');
    if (active.length === 0) return;
    this.buffered.push(...active);
    this.schedule();
  }

  private remember(eventId: string): void {
    this.taken.add(eventId);
    if (this.taken.size > MAX_REMEMBERED) this.taken.delete(this.taken.values().next().value!);
  }

  /** One `addBulk` in flight at a time; what arrives meanwhile goes in the next one. */
  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch = this.buffered;
    this.buffered = [];
    if (batch.length === 0 || this.inFlight) return;
    this.inFlight = this.enqueue(batch)
      .catch((error: Error) => {
        this.logger.warn(`enqueue of ${batch.length} deliveries failed (the reconciler will retry): ${error.message}`);
      })
      .finally(() => {
        this.inFlight = undefined;
        if (this.buffered.length > 0) this.schedule();
      });
  }

  /** Lets the last buffered jobs reach Redis before the queue closes (else the reconciler would). */
  async beforeApplicationShutdown(): Promise<void> {
    await this.inFlight;
    this.flush();
    await this.inFlight;
  }

  private async enqueue(deliveries: IntakeRow[]): Promise<void> {
    const sequences = new Set(deliveries.filter((d) => d.ordered).map((d) => d.endpointId));
    await Promise.all([
      this.queue.enqueueDeliveries(deliveries.filter((d) => !d.ordered)),
      ...[...sequences].map((endpointId) => this.queue.kickSequence(endpointId)),
    ]);
  }
}
