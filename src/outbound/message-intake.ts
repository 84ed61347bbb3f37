/**
 * Domain events → messages and deliveries, as one outbox handler for every type. For each event: one
 * message (unique on the event id, so a redelivered event makes nothing new) and one delivery per
 * matching endpoint that is not disabled (unique on endpoint + message; a `webhook.test` event goes to
 * the one endpoint it names), in one statement, so in one
 * transaction (committed without waiting for the WAL flush: outbound-db.ts says why that is safe).
 * The pump of each active endpoint that got deliveries is then kicked (one job per endpoint, not per
 * delivery: DeliveryProcessor); a paused endpoint's deliveries are held in Postgres.
 *
 * The relay hands over a batch (events of several partition keys, each key's in id order): one
 * statement takes them all. It is idempotent: a batch handed over again (a retry, another
 * instance after a crash) finds its messages (ON CONFLICT) and only kicks the endpoints of their
 * pending deliveries again. Message ids follow event ids within a statement, and a pump claims the
 * lowest messages first, so an endpoint gets each key's events in order (strictly so when ordered).
 *
 * Kicking is off the relay's path: endpoint ids go to a Batcher that runs one kick (`addBulk`) at a
 * time. If that fails (Redis down) or the process dies first, nothing is lost: the rows are committed
 * and the reconciler kicks endpoints that have pending deliveries and no pump job.
 */
import { type BeforeApplicationShutdown, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { type DomainEvent, WEBHOOK_TEST_EVENT } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { Batcher } from '#src/platform/batcher.js';
import { DeliveryQueue } from './delivery-queue.js';
import { patternMatchSql } from './event-type-patterns.js';
import { OutboundDb } from './outbound-db.js';
import { OUTBOX_HANDLER } from './outbound.constants.js';

/**
 * $1 = the events handed over (ids); answers the active endpoints that got deliveries (new ones, or
 * pending ones of events handed over again). The body is `{ type, timestamp, data }` with the
 * timestamp as ISO 8601 UTC with milliseconds (what `Date.toISOString()` gives).
 */
const INTAKE_SQL = `
WITH ev AS (
  SELECT id, type, data, occurred_at FROM outbox_events WHERE id = ANY($1::bigint[])
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
  SELECT e.id, msg.id FROM msg JOIN ev ON ev.id = msg.event_id JOIN webhook_endpoints e
    ON e.status <> 'disabled' AND CASE WHEN msg.type = '${WEBHOOK_TEST_EVENT}'
      THEN e.id::text = ev.data->>'endpointId'
      ELSE ${patternMatchSql('msg.type', 'e.event_types')} END
  ORDER BY msg.id
  ON CONFLICT (endpoint_id, message_id) DO NOTHING
  RETURNING id, endpoint_id, message_id
)
SELECT DISTINCT e.id AS "endpointId"
FROM (
  SELECT endpoint_id FROM d
  UNION ALL
  SELECT d.endpoint_id FROM webhook_messages m JOIN webhook_deliveries d ON d.message_id = m.id AND d.status = 'pending'
  WHERE m.event_id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM msg WHERE msg.event_id = m.event_id)
) x JOIN webhook_endpoints e ON e.id = x.endpoint_id AND e.status = 'active'`;

@Injectable()
export class MessageIntake implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(MessageIntake.name);
  /** One kick in flight at a time; what arrives meanwhile goes in the next one. */
  private readonly kicks = new Batcher<string, void>((endpointIds) => this.kickLogged(endpointIds), {
    maxBatch: 10_000,
  });
  /** Kicks not yet done, for shutdown. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly relay: OutboxRelay,
    private readonly db: OutboundDb,
    private readonly queue: DeliveryQueue,
  ) {}

  onModuleInit(): void {
    this.relay.register(OUTBOX_HANDLER, '*', (events) => this.take(events));
  }

  async take(events: DomainEvent[]): Promise<void> {
    const rows = await this.db.rows<{ endpointId: string }>(INTAKE_SQL, [events.map((event) => event.id)]);
    if (rows.length === 0) return;
    const done = Promise.all(rows.map((row) => this.kicks.submit(row.endpointId)));
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  /** Lets the last buffered kicks reach Redis before the queue closes (else the reconciler would). */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  /** Never fails: a failed kick is logged, and the reconciler kicks those endpoints later. */
  private async kickLogged(endpointIds: string[]): Promise<void[]> {
    await this.queue.kick(endpointIds).catch((error: Error) => {
      this.logger.warn(
        `kick of ${endpointIds.length} endpoint(s) failed (the reconciler will retry): ${error.message}`,
      );
    });
    return endpointIds.map(() => undefined);
  }
}
