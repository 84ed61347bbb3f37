import { Injectable } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { DeliveryService } from './delivery.service.js';
import { MessagesService, type Stored } from './messages.service.js';

/**
 * "Store, then publish", the one way a message enters the chat, for users and for the system:
 * committed to Postgres first, then handed to delivery (this instance's sockets, and the
 * instances holding a member's socket). Other modules post system messages through domain events
 * (see GithubEventsHandler).
 */
@Injectable()
export class MessagePoster {
  constructor(
    private readonly messages: MessagesService,
    private readonly delivery: DeliveryService,
  ) {}

  /** `message:send` from a user's socket, which gets the message in its ack rather than as `message:new`. */
  async send(userId: string, payload: unknown, origin?: Socket): Promise<Stored> {
    return this.publish(await this.messages.send(userId, payload), origin);
  }

  /**
   * A system message, idempotent per (conversation, idempotency key): posting again returns the
   * first message and stores nothing. Delivered again on a repeat too: harmless (sockets skip seqs
   * they have), and it covers a crash between the commit and the first fan-out.
   */
  async postSystem(conversationId: string, body: string, idempotencyKey: string): Promise<Stored> {
    return this.publish(await this.messages.postSystem(conversationId, body, idempotencyKey));
  }

  private publish(stored: Stored, origin?: Socket): Stored {
    this.delivery.publish(stored, origin);
    return stored;
  }
}
