import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QUEUES, registerQueue } from '#src/platform/queue/queue.constants.js';
import { AdminDeliveriesController } from './admin-deliveries.controller.js';
import { AdminEndpointsController } from './admin-endpoints.controller.js';
import { DeliveriesService } from './deliveries.service.js';
import { DeliveryAttemptsService } from './delivery-attempts.service.js';
import { DeliveryQueue } from './delivery-queue.js';
import { DeliveryStore } from './delivery-store.js';
import { DeliveryProcessor } from './delivery.processor.js';
import { DeliveryReconciler } from './delivery.reconciler.js';
import { DeliveryWorker } from './delivery.worker.js';
import { EndpointsService } from './endpoints.service.js';
import { WebhookAttempt } from './entities/attempt.entity.js';
import { WebhookDelivery } from './entities/delivery.entity.js';
import { WebhookEndpoint } from './entities/endpoint.entity.js';
import { WebhookMessage } from './entities/message.entity.js';
import { EventTypesController } from './event-types.controller.js';
import { MessageIntake } from './message-intake.js';
import { OutboundDb } from './outbound-db.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { RateLimiter } from './rate-limiter.js';
import { WebhookSender } from './webhook-sender.js';

/**
 * Outbound webhooks: endpoints, messages from the outbox, signed deliveries with retries, ordering,
 * rate limits and a network guard, sent by one pump per endpoint (a BullMQ job that claims due
 * deliveries from Postgres in batches); Postgres is the record, a reconciler repairs the queue.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([WebhookEndpoint, WebhookMessage, WebhookDelivery, WebhookAttempt]),
    registerQueue(QUEUES.outbound),
  ],
  controllers: [AdminEndpointsController, AdminDeliveriesController, EventTypesController],
  providers: [
    OutboundDb,
    WebhookSender,
    DeliveryQueue,
    OutboundMetrics,
    RateLimiter,
    DeliveryStore,
    DeliveryAttemptsService,
    DeliveryProcessor,
    DeliveryWorker,
    DeliveryReconciler,
    MessageIntake,
    EndpointsService,
    DeliveriesService,
  ],
  exports: [EndpointsService],
})
export class OutboundModule {}
