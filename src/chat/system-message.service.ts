import { Injectable } from '@nestjs/common';
import type { ChatMessage } from './chat-message.js';
import { DeliveryService } from './delivery.service.js';
import { MessagesService } from './messages.service.js';

/**
 * Posts a message as the system (no sender) into a conversation and delivers it like any other.
 * Idempotent per (conversation, idempotency key): posting again returns the first message and
 * stores nothing. Other modules reach it through domain events (see GithubEventsHandler).
 */
@Injectable()
export class SystemMessageService {
  constructor(
    private readonly messages: MessagesService,
    private readonly delivery: DeliveryService,
  ) {}

  async post(conversationId: string, body: string, idempotencyKey: string): Promise<ChatMessage> {
    const stored = await this.messages.postSystem(conversationId, body, idempotencyKey);
    // Delivered again on a repeat too: harmless (sockets skip seqs they have), and it covers a
    // crash between the commit and the first fan-out.
    this.delivery.publish(stored);
    return stored.message;
  }
}
