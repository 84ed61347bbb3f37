/**
 * Domain events → messages and deliveries. Registered on the outbox relay for every type: per event,
 * one statement inserts the message (unique on the event id, so a redelivered event makes nothing
 * new) and one delivery per matching endpoint that is not disabled (unique on endpoint + message).
 * A single statement is a single transaction. Then the deliveries of active endpoints are enqueued;
 * paused endpoints' deliveries are held in Postgres until resume.
 *
 * If enqueueing fails (Redis down) the handler still succeeds: the rows are committed, and the
 * reconciler enqueues pending deliveries that have no job. If the event was taken before (the relay
 * redelivers after a crash), its pending deliveries are enqueued again, which is a no-op for jobs
 * that exist.
 */
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { DomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { DeliveryQueue } from './delivery-queue.js';
import { patternMatchSql } from './event-type-patterns.js';
import { OUTBOX_HANDLER } from './outbound.constants.js';
import { rows } from './sql.js';

interface IntakeRow {
  deliveryId: string;
  endpointId: string;
  messageId: string;
  ordered: boolean;
  status: string;
}

const INTAKE_SQL = `
WITH msg AS (
  INSERT INTO webhook_messages (event_id, webhook_id, type, body, created_at)
  VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (event_id) DO NOTHING
  RETURNING id
), d AS (
  INSERT INTO webhook_deliveries (endpoint_id, message_id)
  SELECT e.id, msg.id FROM msg JOIN webhook_endpoints e
    ON e.status <> 'disabled' AND ${patternMatchSql('$3', 'e.event_types')}
  ON CONFLICT (endpoint_id, message_id) DO NOTHING
  RETURNING id, endpoint_id, message_id
)
SELECT d.id AS "deliveryId", d.endpoint_id AS "endpointId", d.message_id AS "messageId", e.ordered, e.status
FROM d JOIN webhook_endpoints e ON e.id = d.endpoint_id
UNION ALL
SELECT d.id, d.endpoint_id, d.message_id, e.ordered, e.status
FROM webhook_messages m
JOIN webhook_deliveries d ON d.message_id = m.id AND d.status = 'pending'
JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE m.event_id = $1 AND NOT EXISTS (SELECT 1 FROM msg)`;

@Injectable()
export class MessageIntake implements OnModuleInit {
  private readonly logger = new Logger(MessageIntake.name);

  constructor(
    private readonly relay: OutboxRelay,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly queue: DeliveryQueue,
  ) {}

  onModuleInit(): void {
    this.relay.register(OUTBOX_HANDLER, '*', (event) => this.take(event));
  }

  async take(event: DomainEvent): Promise<void> {
    const occurredAt = event.occurredAt instanceof Date ? event.occurredAt : new Date(event.occurredAt);
    const body = JSON.stringify({ type: event.type, timestamp: occurredAt.toISOString(), data: event.data });
    const webhookId = `msg_${randomUUID().replace(/-/g, '')}`;
    const deliveries = await rows<IntakeRow>(this.dataSource, INTAKE_SQL, [
      event.id,
      webhookId,
      event.type,
      body,
      occurredAt,
    ]);
    try {
      await this.enqueue(deliveries.filter((d) => d.status === 'active'));
    } catch (error) {
      this.logger.warn(`event ${event.id}: enqueue failed (the reconciler will retry): ${(error as Error).message}`);
    }
  }

  private async enqueue(deliveries: IntakeRow[]): Promise<void> {
    const sequences = new Set(deliveries.filter((d) => d.ordered).map((d) => d.endpointId));
    await Promise.all([
      this.queue.enqueueDeliveries(deliveries.filter((d) => !d.ordered)),
      ...[...sequences].map((endpointId) => this.queue.kickSequence(endpointId)),
    ]);
  }
}
