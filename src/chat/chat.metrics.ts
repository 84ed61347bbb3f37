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
  readonly fanoutReceived: Counter;
  readonly fanoutBytesReceived: Counter;
  readonly fanoutPublished: Counter;

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
    this.fanoutReceived = metrics.counter(
      'chat_fanout_received_total',
      'Messages and signals (receipts, typing, presence) this instance received from other instances through Redis',
    );
    this.fanoutBytesReceived = metrics.counter(
      'chat_fanout_bytes_received_total',
      'Bytes of chat fan-out this instance received through Redis',
    );
    this.fanoutPublished = metrics.counter(
      'chat_fanout_published_total',
      'Fan-out publishes from this instance (one per batch and channel another instance listens on)',
    );
  }
}
