import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '#src/users/users.module.js';
import { AdminEntitlementsController } from './admin-entitlements.controller.js';
import { EntitlementRow } from './entitlement.entity.js';
import { EntitlementsService } from './entitlements.service.js';
import { FeedAccessService } from './feed-access.service.js';
import { FeedGate } from './feed-gate.js';
import { FeedSocketServer } from './feed-socket.server.js';
import { FeedTokensController } from './feed-tokens.controller.js';
import { FeedTokensService } from './feed-tokens.service.js';
import { StreamSlots } from './stream-slots.js';

/**
 * Feed access by plan: entitlements per plan, instrument tiers, feed tokens, refusals and stream
 * limits, enforced by FeedGate on every feed route and on the feed WebSocket (`/feeds/ws`), and
 * followed live on open streams.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([EntitlementRow]), UsersModule],
  controllers: [AdminEntitlementsController, FeedTokensController],
  providers: [EntitlementsService, FeedTokensService, FeedAccessService, StreamSlots, FeedGate, FeedSocketServer],
  exports: [FeedGate, FeedSocketServer],
})
export class EntitlementsModule {}
