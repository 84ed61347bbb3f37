/** The delivery log for operators (with every attempt) and the manual retry. */
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { type Page, page } from '#src/platform/http/page.js';
import { DeliveryQueue } from './delivery-queue.js';
import type { ListDeliveriesQueryDto } from './dto/list-query.dto.js';
import { EndpointsService } from './endpoints.service.js';
import { deliveryJobId } from './outbound.constants.js';
import { rows } from './sql.js';

export interface AttemptView {
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
  attempts?: AttemptView[];
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
    if (query.status) {
      params.push(query.status);
      where += ` AND d.status = $${params.length}`;
    }
    const [{ total }] = await rows<{ total: number }>(
      this.dataSource,
      `SELECT count(*)::int AS total FROM webhook_deliveries d WHERE ${where}`,
      params,
    );
    const items = await rows<DeliveryView>(
      this.dataSource,
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
       WHERE ${where} ORDER BY d.message_id DESC LIMIT ${query.limit} OFFSET ${(query.page - 1) * query.limit}`,
      params,
    );
    const attempts = await rows<AttemptView & { deliveryId: string }>(
      this.dataSource,
      `SELECT * FROM (
         SELECT delivery_id AS "deliveryId", attempted_at AS "attemptedAt", outcome, status_code AS "statusCode",
                latency_ms AS "latencyMs", error, response_excerpt AS "responseExcerpt",
                row_number() OVER (PARTITION BY delivery_id ORDER BY attempted_at DESC, id DESC) AS n, id
         FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])) a
       WHERE a.n <= ${ATTEMPTS_SHOWN} ORDER BY a."attemptedAt", a.id`,
      [items.map((item) => item.id)],
    );
    const byDelivery = new Map<string, AttemptView[]>();
    for (const { deliveryId, ...attempt } of attempts) {
      const { n: _n, id: _id, ...view } = attempt as AttemptView & { n: string; id: string };
      (byDelivery.get(deliveryId) ?? byDelivery.set(deliveryId, []).get(deliveryId)!).push(view);
    }
    return page(
      items.map((item) => ({ ...item, attempts: byDelivery.get(item.id) ?? [] })),
      total,
      query,
    );
  }

  async get(id: string): Promise<DeliveryView> {
    const [delivery] = await rows<DeliveryView>(
      this.dataSource,
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id WHERE d.id = $1`,
      [id],
    );
    if (!delivery) throw new NotFoundException(`delivery ${id} not found`);
    return delivery;
  }

  /**
   * Sends a delivery again now. A failed or succeeded one starts a fresh round of the retry schedule;
   * a pending one keeps its count and is just due now. Held while the endpoint is paused or disabled.
   */
  async retry(id: string): Promise<DeliveryView> {
    const [row] = await rows<{ endpointId: string; messageId: string }>(
      this.dataSource,
      `UPDATE webhook_deliveries SET
         attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END,
         lease_until = CASE WHEN status = 'pending' THEN lease_until END,
         status = 'pending', next_attempt_at = now()
       WHERE id = $1 RETURNING endpoint_id AS "endpointId", message_id AS "messageId"`,
      [id],
    );
    if (!row) throw new NotFoundException(`delivery ${id} not found`);
    const endpoint = await this.endpoints.find(row.endpointId);
    if (endpoint.status === 'active') {
      if (endpoint.ordered) await this.queue.kickSequence(endpoint.id, true);
      else {
        await this.queue.enqueueDeliveries([{ deliveryId: id, endpointId: row.endpointId, messageId: row.messageId }]);
        await this.queue.promote(deliveryJobId(row.endpointId, row.messageId));
      }
    }
    return this.get(id);
  }
}
