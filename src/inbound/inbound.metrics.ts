import { Injectable } from '@nestjs/common';
import type { Counter, Histogram } from 'prom-client';
import { MetricsService } from '#src/platform/observability/metrics.service.js';

/** Inbound webhook metrics. `provider` is stripe, github, a configured source, or `unknown`. */
@Injectable()
export class InboundMetrics {
  readonly received: Counter<'provider'>;
  readonly rejected: Counter<'provider' | 'reason'>;
  readonly duplicates: Counter<'provider'>;
  readonly processingLatency: Histogram<'provider' | 'status'>;
  readonly failures: Counter<'provider' | 'type'>;
  readonly enqueueFailures: Counter;
  readonly reconciled: Counter;

  constructor(metrics: MetricsService) {
    this.received = metrics.counter('inbound_webhooks_received_total', 'Inbound webhooks stored', ['provider']);
    this.rejected = metrics.counter('inbound_webhooks_rejected_total', 'Inbound webhooks refused, by reason', [
      'provider',
      'reason',
    ]);
    this.duplicates = metrics.counter(
      'inbound_webhooks_duplicates_total',
      'Inbound webhooks received again (already stored; acknowledged, not processed again)',
      ['provider'],
    );
    this.processingLatency = metrics.histogram(
      'inbound_webhook_processing_latency_seconds',
      'From receipt to processed/ignored',
      ['provider', 'status'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    );
    this.failures = metrics.counter('inbound_webhook_failures_total', 'Failed processing attempts', [
      'provider',
      'type',
    ]);
    this.enqueueFailures = metrics.counter(
      'inbound_webhook_enqueue_failures_total',
      'Stored events whose job could not be queued at once (the reconciler queues them later)',
    );
    this.reconciled = metrics.counter(
      'inbound_webhooks_reconciled_total',
      'Stored events re-queued by the reconciler because their job was missing',
    );
  }
}
