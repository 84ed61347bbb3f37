/**
 * Cross-instance chat fan-out on channels that only the instances holding a recipient hear.
 *
 * An instance subscribes to `chat:c:<conversation>` for every conversation a user connected to it
 * belongs to, and to `chat:u:<user>` for every such user. Messages and typing go on the
 * conversation's channel, and so do receipts (each instance hearing it delivers to its sockets of
 * the users named); presence and "you were added to a conversation" go on the recipients' user
 * channels. Redis does the fan-out: one PUBLISH per conversation (not one per
 * instance), and each interested instance gets one copy. Before publishing, one `PUBSUB NUMSUB`
 * per batch asks how many instances listen on each channel: a channel nobody else hears (every
 * recipient offline) costs no publish, and the inbox serves them on connect.
 *
 * Why it loses nothing: Redis orders the NUMSUB after or before an instance's SUBSCRIBE. If after,
 * the publish reaches it; if before, the message was committed before that instance subscribed,
 * and an instance reads the store only once its subscriptions are confirmed (the inbox on
 * connect, or the catch-up after a join) — so it finds the message there. A crashed instance's
 * subscriptions go with its connection: there is no routing table to go stale.
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

/** Users added to a conversation: the instances holding them start hearing it and catch up. */
export interface Join {
  conversationId: string;
  to: string[];
}

/** What instances send each other: messages, signals and joins, each with the users it is for. */
export interface Fanout {
  messages: { m: ChatMessage; to: string[] }[];
  signals: RoutedSignal[];
  joins: Join[];
}

interface Envelope extends Fanout {
  /** The publishing instance: it hears its own publish and drops it. */
  o: string;
}

/** Gather sends for this long: one NUMSUB and one publish per channel for all of them. */
const LINGER_MS = 3;
/** A batch that failed (Redis away) goes again after this, with at most this many items waiting. */
const RETRY_MS = 500;
const MAX_RETRY_ITEMS = 10_000;

const emptyFanout = (): Fanout => ({ messages: [], signals: [], joins: [] });

/** A user's channel, some conversations' channels, or both. */
export interface Holding {
  user?: string;
  conversations?: Iterable<string>;
}

interface Held {
  count: number;
  /** Resolves once Redis confirmed the subscription; then `confirmed` is true. */
  ready: Promise<void>;
  confirmed: boolean;
  stop?: () => Promise<void>;
}

@Injectable()
export class ChatRouter implements OnModuleDestroy {
  private readonly logger = new Logger(ChatRouter.name);
  private outgoing = emptyFanout();
  private scheduled = false;
  private failing = false;
  private deliver: (fanout: Fanout) => void = () => undefined;
  /** Channels this instance listens on, with how many local holders each has. */
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
    private readonly metrics: ChatMetrics,
  ) {}

  private conversationChannel(conversationId: string): string {
    return this.redis.key(`chat:c:${conversationId}`);
  }

  private userChannel(userId: string): string {
    return this.redis.key(`chat:u:${userId}`);
  }

  /** Where other instances' fan-out for this instance's sockets goes. */
  start(deliver: (fanout: Fanout) => void): void {
    this.deliver = deliver;
  }

  async onModuleDestroy(): Promise<void> {
    const held = [...this.held.values()];
    this.held.clear();
    await Promise.all(held.map((h) => h.ready.then(() => h.stop?.())));
  }

  /**
   * Listens for a user's sockets here: their user channel and/or these conversations. Resolves once
   * every subscription is confirmed, with whether any of them was not yet confirmed when called
   * (then what the caller read from the store before may miss what was published meanwhile).
   */
  async hold(what: Holding): Promise<boolean> {
    let fresh = false;
    const waits = this.channelsOf(what).map((channel) => {
      const existing = this.held.get(channel);
      if (existing) {
        existing.count++;
        if (!existing.confirmed) fresh = true;
        return existing.ready;
      }
      fresh = true;
      const held: Held = { count: 1, confirmed: false, ready: Promise.resolve() };
      held.ready = this.redis
        .listen(channel, (raw) => this.received(raw))
        .then(
          (stop) => {
            held.stop = stop;
            held.confirmed = true;
            // Released while subscribing: stop now.
            if (this.held.get(channel) !== held) void stop();
          },
          (error: Error) => {
            if (this.held.get(channel) === held) this.held.delete(channel);
            throw error;
          },
        );
      this.held.set(channel, held);
      return held.ready;
    });
    await Promise.all(waits);
    return fresh;
  }

  /** The counterpart of `hold` (the same user and conversations). */
  release(what: Holding): void {
    for (const channel of this.channelsOf(what)) {
      const held = this.held.get(channel);
      if (!held || --held.count > 0) continue;
      this.held.delete(channel);
      if (held.confirmed) void held.stop?.();
    }
  }

  private channelsOf({ user, conversations = [] }: Holding): string[] {
    const channels = [...conversations].map((id) => this.conversationChannel(id));
    if (user !== undefined) channels.push(this.userChannel(user));
    return channels;
  }

  private received(raw: string): void {
    const envelope = JSON.parse(raw) as Envelope;
    if (envelope.o === this.config.app.instanceId) return; // our own publish, delivered locally already
    const fanout: Fanout = {
      messages: envelope.messages ?? [],
      signals: envelope.signals ?? [],
      joins: envelope.joins ?? [],
    };
    this.metrics.fanoutReceived.inc(fanout.messages.length + fanout.signals.length + fanout.joins.length);
    this.metrics.fanoutBytesReceived.inc(Buffer.byteLength(raw));
    this.deliver(fanout);
  }

  /** Queues items for the other instances; sent within LINGER_MS. */
  send(part: Partial<Fanout>): void {
    if (part.messages) this.outgoing.messages.push(...part.messages);
    if (part.signals) this.outgoing.signals.push(...part.signals);
    if (part.joins) this.outgoing.joins.push(...part.joins);
    this.flushIn(LINGER_MS);
  }

  /** Routes what is queued after `ms`, unless a flush is already scheduled. */
  private flushIn(ms: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      const batch = this.outgoing;
      this.outgoing = emptyFanout();
      void this.route(batch);
    }, ms).unref();
  }

  /** Channel → what goes on it: conversation-wide items on the conversation, the rest per user. */
  private byChannel(batch: Fanout): Map<string, Fanout> {
    const out = new Map<string, Fanout>();
    const on = (channel: string) => {
      let fanout = out.get(channel);
      if (!fanout) out.set(channel, (fanout = emptyFanout()));
      return fanout;
    };
    for (const item of batch.messages) on(this.conversationChannel(item.m.conversationId)).messages.push(item);
    for (const signal of batch.signals) {
      if (signal.e === 'presence') {
        for (const user of signal.to) on(this.userChannel(user)).signals.push({ ...signal, to: [user] });
      } else on(this.conversationChannel(signal.d.conversationId)).signals.push(signal);
    }
    for (const join of batch.joins) {
      for (const user of join.to) on(this.userChannel(user)).joins.push({ ...join, to: [user] });
    }
    return out;
  }

  private async route(batch: Fanout): Promise<void> {
    const channels = this.byChannel(batch);
    try {
      const listeners = await this.redis.listenerCounts([...channels.keys()]);
      const publishes: Promise<number>[] = [];
      for (const [channel, fanout] of channels) {
        const held = this.held.get(channel);
        // While our own SUBSCRIBE is in flight, Redis may or may not count it: publish if anyone listens.
        const own = held?.confirmed ? 1 : 0;
        if ((listeners.get(channel) ?? 0) <= own) continue;
        const envelope: Envelope = { o: this.config.app.instanceId, ...fanout };
        publishes.push(this.redis.publish(channel, JSON.stringify(envelope)));
      }
      const published = publishes.length;
      if (published === 0) return;
      await Promise.all(publishes);
      this.metrics.fanoutPublished.inc(published);
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn(`chat fan-out failed, retrying: ${(error as Error).message}`);
      this.failing = true;
      this.retry(batch);
    }
  }

  /**
   * A batch that did not go out (Redis away) goes again with the next one, after RETRY_MS, up to
   * MAX_RETRY_ITEMS waiting; receivers drop seqs they have, so a publish that ran after all costs
   * nothing twice. Past the bound the oldest are dropped: the recipients' instances read the store
   * when their subscriber is back (DeliveryService), and a socket's next message repairs any gap.
   */
  private retry(batch: Fanout): void {
    const waiting = this.outgoing.messages.length + this.outgoing.signals.length + this.outgoing.joins.length;
    if (waiting + batch.messages.length + batch.signals.length + batch.joins.length > MAX_RETRY_ITEMS) return;
    this.outgoing = {
      messages: [...batch.messages, ...this.outgoing.messages],
      signals: [...batch.signals, ...this.outgoing.signals],
      joins: [...batch.joins, ...this.outgoing.joins],
    };
    this.flushIn(RETRY_MS);
  }
}
