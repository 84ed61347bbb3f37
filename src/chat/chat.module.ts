import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '#src/users/users.module.js';
import { AdminChatController } from './admin-chat.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatMetrics } from './chat.metrics.js';
import { ChatRouter } from './chat-router.js';
import { ConversationsController } from './conversations.controller.js';
import { ConversationsService } from './conversations.service.js';
import { DeliveryService } from './delivery.service.js';
import { ConversationMember } from './entities/conversation-member.entity.js';
import { Conversation } from './entities/conversation.entity.js';
import { Message } from './entities/message.entity.js';
import { GithubEventsHandler } from './github-events.handler.js';
import { MessageWriter } from './message-writer.js';
import { MessagesService } from './messages.service.js';
import { PresenceService } from './presence.service.js';
import { RateLimiter } from './rate-limiter.js';
import { MessagePoster } from './message-poster.js';

/** Chat over socket.io: conversations, messages, inbox and delivery, presence, typing, system messages. */
@Module({
  imports: [TypeOrmModule.forFeature([Conversation, ConversationMember, Message]), UsersModule],
  controllers: [ConversationsController, AdminChatController],
  providers: [
    ChatGateway,
    ChatMetrics,
    ChatRouter,
    ConversationsService,
    MessagesService,
    MessageWriter,
    DeliveryService,
    PresenceService,
    RateLimiter,
    MessagePoster,
    GithubEventsHandler,
  ],
  exports: [MessagePoster],
})
export class ChatModule {}
