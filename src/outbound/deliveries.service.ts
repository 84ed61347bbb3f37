/** The delivery log for operators (with every attempt) and the manual retry. */
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { type Page, page } from '#src/platform/http/page.js';
import { DeliveryQueue } from './delivery-queue.js';
import type { ListDeliveriesQueryDto } from './dto/list-query.dto.js';
import { EndpointsService } from './endpoints.service.js';
import { rows } from '#src/platform/database/sql.js';

export interface AttemptView {
  /** 1-based position in the delivery's whole log (manual retries count on). */
  number: number;
  attemptedAt: Date;
  outcome: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  messageId: string;
  webhookId: string;
  eventType: string;
  status: string;
  attemptCount: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  succeededAt: Date | null;
  createdAt: Date;
  attempts: AttemptView[];
}

const DELIVERY_COLUMNS = `d.id, d.endpoint_id AS "endpointId", d.message_id AS "messageId", m.webhook_id AS "webhookId",
  m.type AS "eventType", d.status, d.attempts AS "attemptCount",
  CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS "nextAttemptAt",
  d.last_attempt_at AS "lastAttemptAt", d.last_status_code AS "lastStatusCode", d.last_error AS "lastError",
  d.succeeded_at AS "succeededAt", d.created_at AS "createdAt"`;

/** Attempts shown per delivery (the newest ones). */
const ATTEMPTS_SHOWN = 50;

@Injectable()
export class DeliveriesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly endpoints: EndpointsService,
    private readonly queue: DeliveryQueue,
  ) {}

  /** Newest message first, each with its attempts (oldest first). */
  async list(endpointId: string, query: ListDeliveriesQueryDto): Promise<Page<DeliveryView>> {
    await this.endpoints.find(endpointId);
    const params: unknown[] = [endpointId];
    let where = 'd.endpoint_id = $1';
    const filters: [unknown, string][] = [
      [query.status, 'd.status ='],
      [query.eventType, 'm.type ='],
      [query.since, 'd.created_at >='],
      [query.until, 'd.created_at <'],
    ];
    for (const [value, condition] of filters) {
      if (value === undefined) continue;
      params.push(value);
      where += ` AND ${condition} $${params.length}`;
    }
    const [{ total }] = await rows<{ total: number }>(
      this.dataSource,
      `SELECT count(*)::int AS total FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id WHERE ${where}`,
      params,
    );
    const items = await rows<Omit<DeliveryView, 'attempts'>>(
      this.dataSource,
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
       WHERE ${where} ORDER BY d.message_id DESC LIMIT ${query.limit} OFFSET ${(query.page - 1) * query.limit}`,
      params,
    );
    const attempts = await this.attemptsOf(items.map((item) => item.id));
    return page(
      items.map((item) => ({ ...item, attempts: attempts.get(item.id) ?? [] })),
      total,
      query,
    );
  }

  /** One delivery with its attempts (oldest first), as the list shows it. */
  async get(id: string): Promise<DeliveryView> {
    const [delivery] = await rows<Omit<DeliveryView, 'attempts'>>(
      this.dataSource,
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id WHERE d.id = $1`,
      [id],
    );
    if (!delivery) throw new NotFoundException(`delivery ${id} not found`);
    const attempts = await this.attemptsOf([id]);
    return { ...delivery, attempts: attempts.get(id) ?? [] };
  }

  /** The newest ATTEMPTS_SHOWN attempts of each delivery, oldest first, numbered over the whole log. */
  private async attemptsOf(deliveryIds: string[]): Promise<Map<string, AttemptView[]>> {
    const found = await rows<AttemptView & { deliveryId: string }>(
      this.dataSource,
      `SELECT "deliveryId", number::int, "attemptedAt", outcome, "statusCode", "latencyMs", error, "responseExcerpt"
       FROM (
         SELECT delivery_id AS "deliveryId", attempted_at AS "attemptedAt", outcome, status_code AS "statusCode",
                latency_ms AS "latencyMs", error, response_excerpt AS "responseExcerpt",
                row_number() OVER (PARTITION BY delivery_id ORDER BY attempted_at, id) AS number,
                row_number() OVER (PARTITION BY delivery_id ORDER BY attempted_at DESC, id DESC) AS newest
         FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])) a
       WHERE a.newest <= ${ATTEMPTS_SHOWN} ORDER BY "deliveryId", number`,
      [deliveryIds],
    );
    const byDelivery = new Map<string, AttemptView[]>();
    for (const { deliveryId, ...attempt } of found) {
      (byDelivery.get(deliveryId) ?? byDelivery.set(deliveryId, []).get(deliveryId)!).push(attempt);
    }
    return byDelivery;
  }

  /**
   * Sends a delivery again now. A failed or succeeded one starts a fresh round of the retry schedule;
   * a pending one keeps its count and is just due now. Held while the endpoint is paused or disabled.
   */
  async retry(id: string): Promise<DeliveryView> {
    const [row] = await rows<{ endpointId: string }>(
      this.dataSource,
      `UPDATE webhook_deliveries SET
         attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END,
         lease_until = CASE WHEN status = 'pending' THEN lease_until END,
         status = 'pending', next_attempt_at = now()
       WHERE id = $1 RETURNING endpoint_id AS "endpointId"`,
      [id],
    );
    if (!row) throw new NotFoundException(`delivery ${id} not found`);
    const endpoint = await this.endpoints.find(row.endpointId);
    if (endpoint.status === 'active') await this.queue.kick([endpoint.id]);
    return this.get(id);
  }
}
