import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { NewDomainEvent } from '#src/platform/events/domain-event.js';

export interface HandlerContext {
  /** The processing transaction: effects, domain events and the status change commit together. */
  manager: EntityManager;
  event: { id: string; provider: string; externalId: string; type: string };
  /** The parsed body (verified, but its shape is the sender's: check what you read). */
  payload: unknown;
  /** Records a domain event in the processing transaction (the outbox; written with the status). */
  record(event: NewDomainEvent): void;
}

/** Nothing to do for this event after all (recorded as `ignored` with the reason). */
export interface Ignored {
  ignored: string;
}

export type InboundHandler = (context: HandlerContext) => Promise<Ignored | void>;

/** Handlers by provider and event type. An event without one is `ignored`. */
@Injectable()
export class InboundHandlers {
  private readonly handlers = new Map<string, InboundHandler>();

  /** Register in `onModuleInit`. One handler per (provider, type). */
  register(provider: string, types: readonly string[], handler: InboundHandler): void {
    for (const type of types) {
      const key = `${provider}\u0000${type}`;
      if (this.handlers.has(key)) throw new Error(`an inbound handler for ${provider} ${type} is already registered`);
      this.handlers.set(key, handler);
    }
  }

  find(provider: string, type: string): InboundHandler | undefined {
    return this.handlers.get(`${provider}\u0000${type}`);
  }
}
