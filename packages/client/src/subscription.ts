/**
 * One feed subscription that stays up: WebSocket, else SSE, else the long poll (a transport that
 * cannot open, or cannot reopen after a drop, gives way to the next), and from a lower one, every
 * `upgradeIntervalMs`, a try of the better ones. Only one transport is open at a time and each
 * opens from the cursor of the last event delivered, so a switch loses and repeats nothing; a
 * `score` at or below the seq already seen for its match (a resume overlap, a snapshot that
 * already counts it) is dropped. `refresh` renews the token for the next connection.
 */
import { openPoll } from './poll-transport.js';
import { openSse } from './sse-transport.js';
import type { TokenSource } from './token.js';
import type { Connection, TransportContext, TransportError, TransportKind } from './transport.js';
import type { FeedEvent, FeedName } from './wire.js';
import { openWs } from './ws-transport.js';

export interface SubscribeOptions<F extends FeedName = FeedName> {
  feed: F;
  /** The topics (symbols, match ids); none: every topic of the feed. */
  topics?: string[];
  onEvent(event: FeedEvent<F>): void;
  /** Resume from this cursor (an event's id) instead of starting with a snapshot. */
  cursor?: string;
  /** Each time the transport in use changes (the first one included). */
  onTransport?(transport: TransportKind): void;
  /**
   * `open` each time a connection opens (on whichever transport), `reconnecting` when one drops or
   * none could open: for a connection indicator.
   */
  onState?(state: 'open' | 'reconnecting', transport: TransportKind): void;
  /** A transport that failed to open or dropped (informational: the subscription goes on). */
  onError?(error: Error): void;
}

export interface Subscription {
  readonly transport: TransportKind | undefined;
  readonly cursor: string | undefined;
  close(): void;
}

export interface SubscriptionSettings {
  baseUrl: string;
  transports: TransportKind[];
  upgradeIntervalMs: number;
  connectTimeoutMs: number;
  pollTimeoutMs: number;
  /** First wait before trying again when no transport opens; doubles up to 15 s. */
  retryDelayMs: number;
}

const OPENERS: Record<TransportKind, (context: TransportContext) => Promise<Connection>> = {
  ws: openWs,
  sse: openSse,
  poll: openPoll,
};
const MAX_RETRY_DELAY_MS = 15_000;
/** A connection that ends sooner than this after opening waits a little before the next one. */
const QUICK_DROP_MS = 1_000;

export class FeedSubscription<F extends FeedName> implements Subscription {
  transport: TransportKind | undefined;
  cursor: string | undefined;
  private closed = false;
  private readonly seqs = new Map<string, number>();
  /** Pending pauses, ended early by close(). */
  private readonly waits = new Set<() => void>();
  private current?: Connection;

  constructor(
    private readonly options: SubscribeOptions<F>,
    private readonly settings: SubscriptionSettings,
    private readonly tokens: TokenSource,
  ) {
    this.cursor = options.cursor;
  }

  start(): this {
    void this.run();
    return this;
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    for (const wake of [...this.waits]) wake();
  }

  private async run(): Promise<void> {
    const order = this.settings.transports;
    let index = 0;
    let delay = this.settings.retryDelayMs;
    let renewed = false;
    while (!this.closed) {
      const kind = order[index];
      let connection: Connection;
      try {
        connection = await OPENERS[kind](await this.context());
      } catch (error) {
        if (this.closed) return;
        this.report(error);
        if ((error as TransportError).status === 401 && this.tokens.renewable && !renewed) {
          renewed = true;
          await this.tokens.renew();
          continue;
        }
        if (index < order.length - 1) {
          index++;
          continue;
        }
        this.options.onState?.('reconnecting', kind);
        await this.pause(delay); // nothing opens: try them all again, best first
        delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
        index = 0;
        continue;
      }
      if (this.closed) return connection.close();
      this.current = connection;
      renewed = false;
      delay = this.settings.retryDelayMs;
      if (this.transport !== kind) {
        this.transport = kind;
        this.options.onTransport?.(kind);
      }
      this.options.onState?.('open', kind);
      const openedAt = Date.now();
      const upgrade = index > 0 ? this.pause(this.settings.upgradeIntervalMs) : undefined;
      const outcome = await Promise.race([
        connection.ended.then((reason) => ({ upgrade: false, reason })),
        ...(upgrade ? [upgrade.then(() => ({ upgrade: !this.closed, reason: undefined }))] : []),
      ]);
      upgrade?.cancel();
      connection.close();
      this.current = undefined;
      if (this.closed) return;
      if (outcome.upgrade) {
        index = 0; // the better transports are tried from the cursor; a refusal comes back down
        continue;
      }
      if (outcome.reason instanceof Error) this.report(outcome.reason);
      this.options.onState?.('reconnecting', kind);
      // Dropped: the same transport again; if it cannot reopen, the next one.
      if (Date.now() - openedAt < QUICK_DROP_MS) await this.pause(this.settings.retryDelayMs);
    }
  }

  private async context(): Promise<TransportContext> {
    return {
      baseUrl: this.settings.baseUrl,
      feed: this.options.feed,
      topics: this.options.topics,
      token: await this.tokens.get(),
      connectTimeoutMs: this.settings.connectTimeoutMs,
      pollTimeoutMs: this.settings.pollTimeoutMs,
      cursor: () => this.cursor,
      setCursor: (cursor) => {
        this.cursor = cursor;
      },
      deliver: (event) => this.deliver(event as FeedEvent<F>),
    };
  }

  private deliver(event: FeedEvent<F>): void {
    if (this.closed) return;
    if (event.id) this.cursor = event.id;
    if (event.type === 'score') {
      const { matchId, event: change } = event.data;
      if (change.seq <= (this.seqs.get(matchId) ?? 0)) return; // already counted
      this.seqs.set(matchId, change.seq);
    } else if (event.type === 'snapshot' && 'matches' in event.data) {
      for (const match of event.data.matches)
        this.seqs.set(match.id, Math.max(match.seq, this.seqs.get(match.id) ?? 0));
    } else if (event.type === 'reset') {
      this.seqs.clear(); // the snapshot that follows says what is counted
    } else if (event.type === 'refresh') {
      void this.tokens.renew();
    }
    try {
      this.options.onEvent(event);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
  }

  /** Waits `ms`, or less if the subscription is closed (or the wait cancelled) meanwhile. */
  private pause(ms: number): Promise<void> & { cancel(): void } {
    let cancel = () => undefined as void;
    const promise = new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const waits = this.waits;
      function done() {
        clearTimeout(timer);
        waits.delete(done);
        resolve();
      }
      waits.add(done);
      cancel = done;
    });
    return Object.assign(promise, { cancel });
  }
}
