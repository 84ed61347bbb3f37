/**
 * Postgres is the source of truth; the queue is a schedule that can be lost (FLUSHALL, a Redis
 * without persistence, a kick that failed while Redis was down). Every
 * `OUTBOUND_RECONCILE_INTERVAL_MS` one instance (a BullMQ job scheduler, QueueWorkers.every; two
 * runs at once would be harmless) walks the active endpoints that have pending deliveries:
 * - one whose pump job is missing gets it back (the pump then sends what is due and delays itself
 *   until the next due time, so retries keep their schedule);
 * - one whose pump job waits out a delay while a delivery is already due (a kick was lost) is woken.
 * Adding a job that exists is a no-op (deterministic ids), so a race with the intake is harmless.
 * Once an hour it also deletes messages past `OUTBOUND_RETENTION_DAYS` that nothing waits for.
 */
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { DeliveryQueue } from './delivery-queue.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { rows } from '#src/platform/database/sql.js';

const PAGE = 1_000;
const MAX_PER_RUN = 50_000;
const CLEANUP_EVERY_MS = 3_600_000;

interface EndpointRow {
  id: string;
  /** A pending delivery is due and free now. */
  due: boolean;
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

  /** One pass; resolves with how many pump jobs it had to put back. */
  async reconcile(): Promise<number> {
    let requeued = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (let seen = 0; seen < MAX_PER_RUN && !this.stopped; seen += PAGE) {
      const page = await rows<EndpointRow>(
        this.dataSource,
        `SELECT e.id, EXISTS (
                  SELECT 1 FROM webhook_deliveries d
                  WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                    AND (d.lease_until IS NULL OR d.lease_until < now())) AS due
         FROM webhook_endpoints e
         WHERE e.status = 'active' AND e.id > $1::uuid
           AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending')
         ORDER BY e.id LIMIT ${PAGE}`,
        [after],
      );
      if (page.length === 0) break;
      const states = await this.queue.pumpStates(page.map((e) => e.id));
      const missing = page.filter((e) => states.get(e.id) === 'missing').map((e) => e.id);
      const asleep = page.filter((e) => e.due && states.get(e.id) === 'delayed').map((e) => e.id);
      if (missing.length + asleep.length > 0) await this.queue.kick([...missing, ...asleep]);
      requeued += missing.length;
      after = page[page.length - 1].id;
      if (page.length < PAGE) break;
    }
    if (requeued > 0) {
      this.metrics.reconciled.inc(requeued);
      this.logger.log(`put back ${requeued} outbound pump job(s) missing from the queue`);
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
