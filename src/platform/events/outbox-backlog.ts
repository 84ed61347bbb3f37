/**
 * The outbox backlog, read one way for the admin route (`GET /admin/outbox/stats`) and for
 * Prometheus (`outbox_pending_events`, `outbox_oldest_pending_seconds`, `outbox_dead_letters`,
 * read once per scrape). Pending events are counted on their partial index.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import type { DataSource } from 'typeorm';
import { rows } from '#src/platform/database/sql.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';

export interface Backlog {
  pending: number;
  oldestPendingSeconds: number | null;
  deadLettered: number;
}

@Injectable()
export class OutboxBacklog {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    metrics: MetricsService,
  ) {
    if (metrics.registry.getSingleMetric('outbox_pending_events')) return;
    // A scrape collects the three gauges together: they share one read.
    let reading: Promise<Backlog> | undefined;
    const read = () =>
      (reading ??= this.read().finally(() => {
        reading = undefined;
      }));
    const gauge = (name: string, help: string, pick: (backlog: Backlog) => number) =>
      new Gauge({
        name,
        help,
        registers: [metrics.registry],
        async collect() {
          const backlog = await read().catch(() => undefined);
          if (backlog) this.set(pick(backlog));
        },
      });
    gauge('outbox_pending_events', 'Outbox events some handler has still to handle', (b) => b.pending);
    gauge(
      'outbox_oldest_pending_seconds',
      'Age of the oldest pending outbox event (0 when none)',
      (b) => b.oldestPendingSeconds ?? 0,
    );
    gauge('outbox_dead_letters', 'Outbox events a handler gave up on', (b) => b.deadLettered);
  }

  async read(): Promise<Backlog> {
    const [row] = await rows<{ pending: number; oldest: number | null; dead: number }>(
      this.dataSource,
      `SELECT (SELECT count(*)::int FROM outbox_events WHERE processed_at IS NULL) AS pending,
              (SELECT extract(epoch FROM now() - min(occurred_at))::float FROM outbox_events WHERE processed_at IS NULL) AS oldest,
              (SELECT count(*)::int FROM outbox_handled WHERE outcome = 'dead') AS dead`,
    );
    return {
      pending: row.pending,
      oldestPendingSeconds: row.oldest === null ? null : Math.round(row.oldest),
      deadLettered: row.dead,
    };
  }
}
