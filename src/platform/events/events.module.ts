import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminOutboxController } from './admin-outbox.controller.js';
import { OutboxBacklog } from './outbox-backlog.js';
import { OutboxEvent } from './outbox-event.entity.js';
import { OutboxHandled } from './outbox-handled.entity.js';
import { OutboxLease } from './outbox-lease.entity.js';
import { OutboxRelay } from './outbox.relay.js';
import { OutboxService } from './outbox.service.js';

/** Domain events: the transactional outbox and its relay. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([OutboxEvent, OutboxHandled, OutboxLease])],
  controllers: [AdminOutboxController],
  providers: [OutboxService, OutboxRelay, OutboxBacklog],
  exports: [OutboxService, OutboxRelay],
})
export class EventsModule {}
