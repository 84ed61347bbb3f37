/**
 * Postgres is the source of truth; the queue is a schedule that can be lost (FLUSHALL, a Redis
 * without persistence, an enqueue that failed while Redis was down). Every
 * `OUTBOUND_RECONCILE_INTERVAL_MS` one instance (a BullMQ job scheduler, QueueWorkers.every; two
 * runs at once would be harmless) walks the pending deliveries of active endpoints:
 * - unordered endpoints: a delivery whose job is missing gets it back, delayed until its next attempt
 *   (held ones that a drain owns are left to the drain; leased ones are being sent or recorded, and
 *   come back here only if their lease runs out);
 * - endpoints that need a sequence job (ordered, or draining) get it back.
 * Adding a job that exists is a no-op (deterministic ids), so a race with the intake is harmless.
 * Once an hour it also deletes messages past `OUTBOUND_RETENTION_DAYS` that nothing waits for.
 */
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { DeliveryQueue } from './delivery-queue.js';
import { deliveryJobId, sequenceJobId } from './outbound.constants.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { rows } from '#src/platform/database/sql.js';

const PAGE = 1_000;
const MAX_PER_RUN = 50_000;
const CLEANUP_EVERY_MS = 3_600_000;

interface PendingRow {
  id: string;
  endpointId: string;
  messageId: string;
  waitMs: number;
}

@Injectable()
export class DeliveryReconciler implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryReconciler.name);
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly queue: DeliveryQueue,
    private readonly workers: QueueWorkers,
    private readonly config: AppConfig,
    private readonly metrics: OutboundMetrics,
  ) {}

  onModuleInit(): void {
    this.workers.every('outbound.reconcile', this.config.outbound.reconcileIntervalMs, () => this.reconcile());
    this.workers.every('outbound.retention', CLEANUP_EVERY_MS, () => this.cleanup());
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  /** One pass; resolves with how many jobs it had to put back. */
  async reconcile(): Promise<number> {
    let requeued = 0;
    let after: [string, string] = ['00000000-0000-0000-0000-000000000000', '0'];
    for (let seen = 0; seen < MAX_PER_RUN && !this.stopped; seen += PAGE) {
      const page = await rows<PendingRow>(
        this.dataSource,
        `SELECT d.id, d.endpoint_id AS "endpointId", d.message_id AS "messageId",
                GREATEST(0, EXTRACT(EPOCH FROM d.next_attempt_at - now()) * 1000)::float8 AS "waitMs"
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND e.status = 'active' AND NOT e.ordered
           AND NOT (d.attempts = 0 AND d.message_id <= COALESCE(e.drain_up_to, 0))
           AND (d.lease_until IS NULL OR d.lease_until < now())
           AND (d.endpoint_id, d.message_id) > ($1::uuid, $2::bigint)
         ORDER BY d.endpoint_id, d.message_id LIMIT ${PAGE}`,
        after,
      );
      if (page.length === 0) break;
      const ids = page.map((row) => deliveryJobId(row.endpointId, row.messageId));
      const present = await this.queue.existing(ids);
      const missing = page.filter((_, i) => !present.has(ids[i]));
      if (missing.length > 0) {
        await this.queue.enqueueDeliveries(missing.map((row) => ({ ...row, deliveryId: row.id, delayMs: row.waitMs })));
        requeued += missing.length;
      }
      const last = page[page.length - 1];
      after = [last.endpointId, last.messageId];
      if (page.length < PAGE) break;
    }

    const sequences = await rows<{ id: string }>(
      this.dataSource,
      `SELECT e.id FROM webhook_endpoints e
       WHERE e.status = 'active' AND (e.ordered OR e.drain_up_to IS NOT NULL)
         AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending')`,
    );
    const present = await this.queue.existing(sequences.map((e) => sequenceJobId(e.id)));
    for (const endpoint of sequences) {
      if (present.has(sequenceJobId(endpoint.id))) continue;
      await this.queue.kickSequence(endpoint.id);
      requeued++;
    }
    if (requeued > 0) {
      this.metrics.reconciled.inc(requeued);
      this.logger.log(`re-enqueued ${requeued} outbound job(s) missing from the queue`);
    }
    return requeued;
  }

  private async cleanup(): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM webhook_messages m
       WHERE m.created_at < now() - make_interval(days => $1)
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status = 'pending')`,
      [this.config.outbound.retentionDays],
    );
  }
}
