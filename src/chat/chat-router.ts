/**
 * Cross-instance chat fan-out, routed by the presence registry (the seed design's
 * `userID : serverID` map): each instance listens on its own channel, and a batch of messages and
 * signals is published only to the instances that hold a socket of a recipient, each getting only
 * its own recipients' items. A recipient with no live registry entry costs no publish: the inbox
 * serves them on connect. A stale entry (a crashed instance, a socket that just moved) costs at
 * most a publish nobody hears; the inbox replay and the per-socket gap repair read Postgres, so no
 * message is lost either way.
 *
 * Hand-written rather than socket.io's sharded adapter: the adapter routes per room, emitting
 * straight to client sockets, so it would bypass the per-socket seq bookkeeping (gap repair, no
 * repeat) that DeliveryService does on the receiving instance, and it publishes for offline users too.
 */
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import type { RoutedSignal } from './chat-events.js';
import type { ChatMessage } from './chat-message.js';
import { ChatMetrics } from './chat.metrics.js';
import { PresenceService } from './presence.service.js';

/** What instances send each other: messages and signals, each with the users it is for. */
export interface Fanout {
  messages: { m: ChatMessage; to: string[] }[];
  signals: RoutedSignal[];
}

/** Gather sends for this long: one registry lookup and one publish per instance for all of them. */
const LINGER_MS = 3;

const emptyFanout = (): Fanout => ({ messages: [], signals: [] });

@Injectable()
export class ChatRouter implements OnModuleDestroy {
  private readonly logger = new Logger(ChatRouter.name);
  private outgoing = emptyFanout();
  private scheduled = false;
  private failing = false;
  private unlisten?: () => Promise<void>;

  constructor(
    private readonly redis: RedisService,
    private readonly presence: PresenceService,
    private readonly config: AppConfig,
    private readonly metrics: ChatMetrics,
  ) {}

  private channel(instanceId: string): string {
    return this.redis.key(`chat:instance:${instanceId}`);
  }

  /** Starts hearing this instance's channel; resolves once subscribed. */
  async start(deliver: (fanout: Fanout) => void): Promise<void> {
    this.unlisten = await this.redis.listen(this.channel(this.config.app.instanceId), (raw) => {
      const fanout = JSON.parse(raw) as Fanout;
      this.metrics.fanoutReceived.inc(fanout.messages.length + fanout.signals.length);
      this.metrics.fanoutBytesReceived.inc(Buffer.byteLength(raw));
      deliver(fanout);
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.unlisten?.();
  }

  /** Queues items for the other instances; sent within LINGER_MS. */
  send(part: Partial<Fanout>): void {
    if (part.messages) this.outgoing.messages.push(...part.messages);
    if (part.signals) this.outgoing.signals.push(...part.signals);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      const batch = this.outgoing;
      this.outgoing = emptyFanout();
      void this.route(batch);
    }, LINGER_MS);
  }

  private async route(batch: Fanout): Promise<void> {
    const users = new Set<string>();
    for (const item of [...batch.messages, ...batch.signals]) for (const user of item.to) users.add(user);
    try {
      const where = await this.presence.instancesOf([...users]);
      const byInstance = new Map<string, Fanout>();
      const forInstance = (id: string) => {
        let fanout = byInstance.get(id);
        if (!fanout) byInstance.set(id, (fanout = emptyFanout()));
        return fanout;
      };
      const split = <T extends { to: string[] }>(item: T, add: (fanout: Fanout, item: T) => void) => {
        const recipients = new Map<string, string[]>();
        for (const user of item.to) {
          for (const instance of where.get(user) ?? []) {
            if (instance === this.config.app.instanceId) continue; // delivered locally already
            const list = recipients.get(instance);
            if (list) list.push(user);
            else recipients.set(instance, [user]);
          }
        }
        for (const [instance, to] of recipients) add(forInstance(instance), { ...item, to });
      };
      for (const item of batch.messages) split(item, (fanout, part) => fanout.messages.push(part));
      for (const item of batch.signals) split(item, (fanout, part) => fanout.signals.push(part));
      if (byInstance.size === 0) return;
      const pipeline = this.redis.publisher.pipeline();
      for (const [instance, fanout] of byInstance) pipeline.publish(this.channel(instance), JSON.stringify(fanout));
      await pipeline.exec();
      this.metrics.fanoutPublished.inc(byInstance.size);
      this.failing = false;
    } catch (error) {
      // Best effort: the store and the per-socket gap repair make delivery complete.
      if (!this.failing) this.logger.warn(`chat fan-out failed: ${(error as Error).message}`);
      this.failing = true;
    }
  }
}
