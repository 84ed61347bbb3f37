/**
 * Outbound metrics: deliveries by outcome, attempt latency, queue depth (pump jobs: one per endpoint
 * with work) and endpoints by status. The two gauges are read on scrape (from BullMQ and Postgres),
 * so they cost nothing between scrapes.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type Counter, Gauge, type Histogram } from 'prom-client';
import type { DataSource } from 'typeorm';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { DeliveryQueue } from './delivery-queue.js';

export type AttemptResult = 'succeeded' | 'retrying' | 'failed' | 'gone' | 'held';

@Injectable()
export class OutboundMetrics {
  /** One per attempt: succeeded, retrying (will try again), failed (exhausted), gone (410, endpoint disabled). */
  readonly attempts: Counter<'outcome'>;
  readonly latency: Histogram<'class'>;
  readonly reconciled: Counter;
  readonly heldBack: Counter;

  constructor(metrics: MetricsService, queue: DeliveryQueue, @InjectDataSource() dataSource: DataSource) {
    this.attempts = metrics.counter('outbound_deliveries_total', 'Outbound delivery attempts by outcome', ['outcome']);
    this.latency = metrics.histogram(
      'outbound_attempt_duration_seconds',
      'Outbound attempt latency by response class (2xx, 4xx, 5xx, error)',
      ['class'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    );
    this.reconciled = metrics.counter(
      'outbound_reconciled_total',
      'Endpoint pumps put back because the queue had lost them (endpoints with pending deliveries and no job)',
    );
    this.heldBack = metrics.counter(
      'outbound_slow_endpoint_held_total',
      "Times a slow endpoint's pump, its share of slots in flight and more due, waited for one to end",
    );
    if (!metrics.registry.getSingleMetric('outbound_queue_jobs')) {
      new Gauge({
        name: 'outbound_queue_jobs',
        help: 'Outbound jobs in the queue, by state',
        labelNames: ['state'],
        registers: [metrics.registry],
        async collect() {
          const counts = await queue.counts().catch(() => ({}) as Record<string, number>);
          for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
        },
      });
      new Gauge({
        name: 'outbound_endpoints',
        help: 'Outbound endpoints by status (active, paused, disabled)',
        labelNames: ['status'],
        registers: [metrics.registry],
        async collect() {
          const rows: { status: string; count: string }[] = await dataSource
            .query('SELECT status, count(*) AS count FROM webhook_endpoints GROUP BY status')
            .catch(() => []);
          this.reset();
          for (const status of ['active', 'paused', 'disabled']) this.set({ status }, 0);
          for (const row of rows) this.set({ status: row.status }, Number(row.count));
        },
      });
    }
  }

  observe(statusCode: number | null, latencyMs: number): void {
    const cls = statusCode === null ? 'error' : `${Math.floor(statusCode / 100)}xx`;
    this.latency.observe({ class: cls }, latencyMs / 1000);
  }
}
