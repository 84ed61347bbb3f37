/**
 * One SSE stream of a feed, from its starting point (a snapshot, or a replay after Last-Event-ID)
 * on, under a delivery policy that may change while it is open:
 *  - live: the feed's fan-out, events held while the starting point is read, then only newer ones;
 *  - delayed: the same log read `delayMs` behind its newest entries (entry ids are the log's own
 *    publish times), with the same ids and resume, no second pipeline; the snapshot is the state
 *    as of that point;
 *  - conflated: live, at most `maxPerSecond` events per topic, the latest of a topic winning.
 * Switching keeps the position: delayed → live replays from it to now and joins the fan-out,
 * live → delayed waits until the delayed point passes it. Either way no gap and no repeat. Topics
 * can be revoked (`event: revoked`), and (a WebSocket) added or dropped while it is open: an added
 * topic gets a snapshot of its own, then its events after it; an event of a new epoch ends the
 * stream (its log was lost: the client resumes into `reset` + snapshot).
 */
import type { Logger } from '@nestjs/common';
import { type Position, type StreamPosition, compareIds } from './cursor.js';
import type { Feed, FeedSubscription } from './feed.js';
import type { FeedEvent, FeedListener } from './feed-event.js';

/** Where a stream writes: one SSE / NDJSON response (sse-connection.ts) or one feed of a WebSocket (ws-connection.ts). */
export interface StreamSink {
  readonly isClosed: boolean;
  onClose(handler: () => void): void;
  /** The stream's starting point: each event's id from now on is the cursor after it. */
  startAt(position: StreamPosition): void;
  /** A control event (snapshot, reset, revoked, refresh): never conflated. */
  sendControl(type: string, data: unknown, id?: string): void;
  /** A live event, under the sink's slow-consumer policy. */
  send(event: FeedEvent): void;
  /** Replayed events, written with backpressure. */
  replay(events: FeedEvent[]): Promise<void>;
  /** Ends the stream so that its client resumes (an SSE response; a WebSocket: the whole socket). */
  close(abort?: boolean): void;
  /** Ends this stream only (a WebSocket's feed, unsubscribed: the socket stays); an SSE response closes. */
  end(): void;
}

/** A stream's snapshot: of these topics (undefined: all), now or as of `asOfMs` (a delayed stream). */
export type SnapshotReader = (topics: ReadonlySet<string> | undefined, asOfMs?: number) => Promise<unknown>;

export interface StreamPolicy {
  /** Deliver this long after publish (0: live). */
  delayMs: number;
  /** Live, at most this many events per topic per second (undefined: all). */
  maxPerSecond?: number;
}

export const LIVE: StreamPolicy = { delayMs: 0 };

/** Live events that arrive while a stream replays are held; past this the client is asked to resume. */
const MAX_HELD_DURING_REPLAY = 50_000;
/** How often a delayed stream reads its log, and how often it checks the log's epoch. */
const DELAYED_POLL_MS = 200;
const EPOCH_CHECK_EVERY = 10;

/**
 * The fan-out listener of one subscription of a stream (a new one per topic change: the fan-out
 * files it under the topics it had when added). Methods, not two closures per stream.
 */
class StreamListener implements FeedListener {
  constructor(
    private readonly stream: FeedStream,
    readonly topics: ReadonlySet<string> | undefined,
  ) {}

  onEvent(event: FeedEvent): void {
    this.stream.heard(event);
  }

  /** Events may have been missed: the client resumes from its Last-Event-ID. */
  onGap(): void {
    this.stream.close();
  }
}

/**
 * The stream is also the handle its access control and its WebSocket session keep (OpenStream,
 * SocketStream in realtime.service.ts): methods, not per-stream closures, since every open
 * connection holds one.
 */
export class FeedStream {
  private position?: StreamPosition;
  private subscription?: FeedSubscription;
  private held?: FeedEvent[];
  private revoked?: Set<string>;
  private serving: ReadonlySet<string> | undefined;
  private pump?: NodeJS.Timeout;
  private pumping = false;
  private polls = 0;
  /** Conflated delivery: when each topic was last sent, and what waits for its turn. */
  private lastSent?: Map<string, number>;
  private waiting?: Map<string, { event: FeedEvent; timer: NodeJS.Timeout }>;
  /** While topics are added: each added topic's log head when its snapshot was read (what it already holds). */
  private floors?: Map<string, Position>;
  /** Serializes policy and topic switches (each may read the log). */
  private switching: Promise<void> = Promise.resolve();

  constructor(
    private readonly feed: Feed,
    private readonly connection: StreamSink,
    topics: ReadonlySet<string> | undefined,
    private policy: StreamPolicy,
    private readonly snapshot: SnapshotReader,
    private readonly logger: Logger,
  ) {
    this.serving = topics;
    connection.onClose(() => this.stop());
  }

  /** The topics it serves now (undefined: all of the feed's, less the revoked ones). */
  topics(): ReadonlySet<string> | undefined {
    return this.serving;
  }

  get feedName(): string {
    return this.feed.name;
  }

  /** A control event (not a feed event: no id). */
  sendControl(type: string, data: unknown): void {
    this.connection.sendControl(type, data);
  }

  close(): void {
    this.connection.close();
  }

  end(): void {
    this.connection.end();
  }

  /** Sends the starting point, then keeps the stream going under its policy. */
  async start(lastEventId: string | undefined): Promise<void> {
    try {
      if (this.policy.delayMs === 0) this.listen(); // hear the fan-out before reading the log
      await this.subscription?.ready;
      const check = lastEventId !== undefined ? await this.feed.check(lastEventId, this.serving) : undefined;
      if (check?.ok) {
        this.position = check.position;
        this.connection.startAt(this.position);
        if (this.policy.delayMs === 0) await this.replay();
      } else {
        if (check) this.connection.sendControl('reset', { reason: check.reason });
        const asOf = this.policy.delayMs > 0 ? Date.now() - this.policy.delayMs : undefined;
        this.position = asOf === undefined ? await this.feed.startingNow() : await this.feed.positionAt(asOf);
        this.connection.startAt(this.position);
        this.connection.sendControl('snapshot', await this.snapshot(this.serving, asOf), this.position.cursor);
      }
      if (this.policy.delayMs === 0) this.release();
      else this.startPump();
    } catch (error) {
      this.logger.warn(`stream ${this.feed.name}: ${(error as Error).message}`);
      this.connection.close(true);
    }
  }

  /** A new policy for the open stream (a plan change): takes effect from the current position. */
  setPolicy(policy: StreamPolicy): void {
    const before = this.policy;
    this.policy = policy;
    if (before.delayMs === policy.delayMs) return; // conflation applies to the next events by itself
    this.switching = this.switching
      .then(() => this.switchTo(policy))
      .catch((error: Error) => {
        this.logger.warn(`stream ${this.feed.name}: ${error.message}`);
        this.connection.close(true);
      });
  }

  private async switchTo(policy: StreamPolicy): Promise<void> {
    if (this.connection.isClosed || !this.position || this.policy !== policy) return;
    if (policy.delayMs > 0) {
      // Live → delayed: stop hearing the fan-out; the delayed reads resume past what was sent.
      this.unlisten();
      this.flushConflated();
      this.startPump();
      return;
    }
    // Delayed → live: hear the fan-out, read the log from the position to now, then go live.
    this.stopPump();
    while (this.pumping) await new Promise((resolve) => setTimeout(resolve, 5));
    this.listen();
    await this.subscription!.ready;
    await this.replay();
    this.release();
  }

  /**
   * Serves these topics from now on (a WebSocket subscribing or unsubscribing on the open stream).
   * Live: the fan-out of the new set is heard, and everything held, before the old subscription
   * goes; an added topic gets `snapshot` of its own, then only its events newer than the log head
   * the snapshot was read after. Delayed: the delayed reads take the new set from the position on.
   * Resolves when the change is made (the snapshot sent).
   */
  changeTopics(next: ReadonlySet<string>): Promise<void> {
    const change = this.switching.then(() => this.retopic(next));
    this.switching = change.catch((error: Error) => {
      this.logger.warn(`stream ${this.feed.name}: ${error.message}`);
      this.connection.close(true);
    });
    return this.switching;
  }

  private async retopic(next: ReadonlySet<string>): Promise<void> {
    if (this.connection.isClosed || !this.position) return;
    const before = this.serving;
    const added = new Set([...next].filter((topic) => !before?.has(topic) && !this.revoked?.has(topic)));
    this.serving = next;
    if (this.policy.delayMs > 0) {
      this.stopPump();
      while (this.pumping) await new Promise((resolve) => setTimeout(resolve, 5));
      if (added.size > 0) {
        const asOf = Date.now() - this.policy.delayMs;
        this.connection.sendControl('snapshot', await this.snapshot(added, asOf), this.position.cursor);
      }
      this.startPump();
      return;
    }
    const previous = this.subscription;
    this.listen(); // both subscriptions hold into `held` until it is released; repeats are old by position
    await this.subscription!.ready;
    previous?.unsubscribe();
    if (added.size > 0) {
      const heads = await this.feed.currentPositions();
      this.floors = new Map([...added].map((topic) => [topic, heads[this.feed.shardOf(topic)]]));
      this.connection.sendControl('snapshot', await this.snapshot(added), this.position.cursor);
    }
    this.release();
    this.floors = undefined;
  }

  /** Stops the stream's events of these topics and tells the client; closes it when none remain. */
  revoke(topics: string[], reason: string): void {
    const fresh = topics.filter((topic) => !this.revoked?.has(topic));
    if (fresh.length === 0) return;
    this.revoked ??= new Set();
    for (const topic of fresh) this.revoked.add(topic);
    this.connection.sendControl('revoked', { topics: fresh, reason });
    if (this.serving) {
      this.serving = new Set([...this.serving].filter((topic) => !this.revoked!.has(topic)));
      // Nothing left to serve: this stream ends (on a WebSocket its feed only; the client has `revoked`).
      if (this.serving.size === 0) this.connection.end();
    }
  }

  private listen(): void {
    this.held = [];
    this.subscription = this.feed.subscribe(new StreamListener(this, this.serving));
  }

  /** An event of the fan-out (StreamListener): held while the log is read, else delivered. */
  heard(event: FeedEvent): void {
    if (!this.held) return this.deliver(event);
    this.held.push(event);
    if (this.held.length > MAX_HELD_DURING_REPLAY) this.connection.close();
  }

  private unlisten(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.held = undefined;
  }

  /**
   * Sends the log from the position on, with backpressure: to its end, or (`delayed`) up to
   * `delayMs` ago, stopping if the stream has gone live meanwhile.
   */
  private async replay(delayed = false): Promise<void> {
    const position = this.position!;
    for (;;) {
      const until = delayed ? Date.now() - this.policy.delayMs : undefined;
      const { events, ends, more } = await this.feed.readAfter(position, this.serving, 1_000, until);
      if (this.connection.isClosed || (delayed && this.policy.delayMs === 0)) return;
      await this.connection.replay(events.filter((event) => !this.revoked?.has(event.topic)));
      for (const [shard, id] of ends) position.move(shard, id);
      if (!more) return;
    }
  }

  /** The starting point is sent: what the fan-out brought meanwhile goes out if it is newer. */
  private release(): void {
    const pending = this.held ?? [];
    this.held = undefined;
    for (const event of pending) this.deliver(event);
  }

  private deliver(event: FeedEvent): void {
    if (this.revoked?.has(event.topic) || (this.serving && !this.serving.has(event.topic))) return;
    const floor = this.floors?.get(event.topic);
    if (floor && floor.epoch === event.epoch && compareIds(event.id, floor.id) <= 0) return; // in its snapshot
    const seen = this.position!.accept(event);
    if (seen === 'epoch') {
      this.connection.close(); // its log was lost: the client resumes into a reset and a snapshot
      return;
    }
    if (seen === 'old') return;
    if (this.policy.maxPerSecond) this.conflated(event, 1_000 / this.policy.maxPerSecond);
    else this.connection.send(event);
  }

  /** At most one event per topic per interval; a newer one replaces the one waiting. */
  private conflated(event: FeedEvent, intervalMs: number): void {
    const lastSent = (this.lastSent ??= new Map());
    const waiting = (this.waiting ??= new Map());
    const due = (lastSent.get(event.topic) ?? 0) + intervalMs;
    const queued = waiting.get(event.topic);
    if (queued) {
      queued.event = event;
      return;
    }
    const now = Date.now();
    if (now >= due) {
      lastSent.set(event.topic, now);
      this.connection.send(event);
      return;
    }
    const timer = setTimeout(() => {
      const entry = waiting.get(event.topic);
      waiting.delete(event.topic);
      if (!entry || this.connection.isClosed) return;
      lastSent.set(event.topic, Date.now());
      this.connection.send(entry.event);
    }, due - now);
    timer.unref();
    waiting.set(event.topic, { event, timer });
  }

  private flushConflated(): void {
    if (!this.waiting) return;
    for (const { event, timer } of this.waiting.values()) {
      clearTimeout(timer);
      this.connection.send(event);
    }
    this.waiting.clear();
  }

  private startPump(): void {
    this.stopPump();
    const tick = async () => {
      if (this.connection.isClosed || this.policy.delayMs === 0) return;
      this.pumping = true;
      try {
        await this.readDelayed();
      } catch (error) {
        this.logger.warn(`delayed stream ${this.feed.name}: ${(error as Error).message}`);
      } finally {
        this.pumping = false;
      }
      if (!this.connection.isClosed && this.policy.delayMs > 0 && this.pump !== undefined) {
        this.pump = setTimeout(() => void tick(), DELAYED_POLL_MS);
      }
    };
    this.pump = setTimeout(() => void tick(), 0);
  }

  private stopPump(): void {
    clearTimeout(this.pump);
    this.pump = undefined;
  }

  /** Sends what the log has up to `delayMs` ago, past the position (and ends the stream if a log was lost). */
  private async readDelayed(): Promise<void> {
    if (++this.polls % EPOCH_CHECK_EVERY === 0 && (await this.feed.epochChanged(this.position!, this.serving))) {
      this.connection.close(); // a lost log (new epoch): the client resumes into a reset
      return;
    }
    await this.replay(true);
  }

  private stop(): void {
    this.stopPump();
    this.unlisten();
    if (this.waiting) for (const { timer } of this.waiting.values()) clearTimeout(timer);
  }
}
