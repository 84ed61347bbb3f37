import { Injectable } from '@nestjs/common';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '#src/platform/observability/metrics.service.js';

/** The chat's Prometheus metrics, in one place. */
@Injectable()
export class ChatMetrics {
  readonly connected: Gauge;
  readonly sent: Counter<'kind'>;
  readonly delivered: Counter;
  readonly rateLimited: Counter;
  readonly sendAck: Histogram;
  readonly deliveryAck: Histogram;

  constructor(metrics: MetricsService) {
    this.connected = metrics.gauge('chat_connected_sockets', 'Chat sockets connected to this instance');
    this.sent = metrics.counter('chat_messages_sent_total', 'Chat messages stored, by kind (user, system)', ['kind']);
    this.delivered = metrics.counter(
      'chat_messages_delivered_total',
      'message:new acknowledged by a client connected to this instance',
    );
    this.rateLimited = metrics.counter('chat_rate_limited_total', 'Socket events refused by the per-user rate limits');
    this.sendAck = metrics.histogram(
      'chat_send_ack_seconds',
      'message:send received → ack sent (validation, rate limit, insert and commit)',
    );
    this.deliveryAck = metrics.histogram('chat_delivery_ack_seconds', 'message:new emitted → client acknowledgement');
  }
}
