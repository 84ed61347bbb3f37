import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { DOMAIN_EVENT_TYPES, type DomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { ChatError, isUuid } from './chat-message.js';
import { MessagePoster } from './message-poster.js';

export const GITHUB_EVENT_TYPES = Object.keys(DOMAIN_EVENT_TYPES).filter((type) => type.startsWith('github.'));

/**
 * `github.*` domain events with `data.conversationIds` (string[]) and `data.summary` (string) become
 * a system message in each of those conversations, once per (event, conversation) even when the
 * relay delivers the event again. A conversation that does not exist is skipped (logged); a
 * database error throws, so the relay retries.
 */
@Injectable()
export class GithubEventsHandler implements OnModuleInit {
  private readonly logger = new Logger(GithubEventsHandler.name);

  constructor(
    private readonly relay: OutboxRelay,
    private readonly poster: MessagePoster,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.relay.register('chat.github-system-messages', GITHUB_EVENT_TYPES, async (events) => {
      for (const event of events) await this.handle(event);
    });
  }

  async handle(event: DomainEvent): Promise<void> {
    const { conversationIds, summary } = event.data as { conversationIds?: unknown; summary?: unknown };
    if (!Array.isArray(conversationIds) || typeof summary !== 'string' || summary.trim() === '') {
      this.logger.debug?.(`${event.type} ${event.id}: no conversationIds or summary; nothing to post`);
      return;
    }
    const body = truncate(summary.trim(), this.config.chat.maxMessageChars);
    for (const conversationId of new Set(conversationIds)) {
      if (!isUuid(conversationId)) {
        this.logger.warn(`${event.type} ${event.id}: conversation id ${String(conversationId)} is not a UUID; skipped`);
        continue;
      }
      try {
        await this.poster.postSystem(conversationId, body, `event:${event.id}`);
      } catch (error) {
        if (error instanceof ChatError && (error.code === 'not_found' || error.code === 'invalid')) {
          this.logger.warn(`${event.type} ${event.id}: ${error.message}; skipped`);
          continue;
        }
        throw error;
      }
    }
  }
}

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}
