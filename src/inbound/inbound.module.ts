/**
 * Inbound webhooks: Stripe, GitHub and Standard Webhooks senders POST to us. Each request is
 * verified with the provider's library over the raw bytes, stored in `inbound_events` before the
 * 2xx, then processed once through the `inbound-webhooks` BullMQ queue into domain events (and a
 * user's plan). A reconciler re-queues stored events whose job Redis lost; a spike of signature
 * failures from one source records `inbound.rejected.spike`. Owns the tables
 * `inbound_events` and `github_bindings`; exports `InboundHandlers` for more event handlers.
 */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QUEUES, registerQueue } from '#src/platform/queue/queue.constants.js';
import { UsersModule } from '#src/users/users.module.js';
import { AdminGithubBindingsController } from './admin-github-bindings.controller.js';
import { AdminInboundController } from './admin-inbound.controller.js';
import { DemoStripeController } from './demo-stripe.controller.js';
import { GithubBinding } from './github-binding.entity.js';
import { GithubBindingsService } from './github-bindings.service.js';
import { GithubEffects } from './github.effects.js';
import { InboundEvent } from './inbound-event.entity.js';
import { InboundEventsService } from './inbound-events.service.js';
import { InboundHandlers } from './inbound-handlers.js';
import { InboundProcessingService } from './inbound-processing.service.js';
import { InboundRoutes } from './inbound-routes.js';
import { InboundWebhooksController } from './inbound-webhooks.controller.js';
import { InboundMetrics } from './inbound.metrics.js';
import { InboundProcessor } from './inbound.processor.js';
import { InboundReconciler } from './inbound.reconciler.js';
import { InboundVerifier } from './inbound.verifier.js';
import { IntakeWriter } from './intake-writer.js';
import { RejectionSpikes } from './rejection-spikes.js';
import { StripeEffects } from './stripe.effects.js';

@Module({
  imports: [TypeOrmModule.forFeature([InboundEvent, GithubBinding]), registerQueue(QUEUES.inbound), UsersModule],
  controllers: [InboundWebhooksController, DemoStripeController, AdminInboundController, AdminGithubBindingsController],
  providers: [
    InboundMetrics,
    InboundRoutes,
    InboundVerifier,
    InboundEventsService,
    IntakeWriter,
    RejectionSpikes,
    InboundHandlers,
    InboundProcessingService,
    InboundProcessor,
    InboundReconciler,
    GithubBindingsService,
    StripeEffects,
    GithubEffects,
  ],
  exports: [InboundHandlers],
})
export class InboundModule {}
