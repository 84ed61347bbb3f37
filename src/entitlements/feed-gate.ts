/**
 * The one way a feed serves a client under access control: decide (401 / 403), take a stream slot
 * (429), serve through RealtimeService, and keep the open stream under watch so a plan or
 * entitlement change revokes what is no longer allowed. Ticker and scores controllers call it for
 * SSE and polls; the feed WebSocket (feed-socket.session.ts) calls `admit` for each feed it serves.
 */
import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Feed } from '#src/platform/realtime/feed.js';
import type { Gauge } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import type { StreamPolicy } from '#src/platform/realtime/feed-stream.js';
import {
  type OpenStream,
  RealtimeService,
  type StreamHold,
  type StreamOptions,
} from '#src/platform/realtime/realtime.service.js';
import {
  FeedAccessService,
  type Grant,
  type TopicCatalog,
  type Viewer,
  type WatchedStream,
} from './feed-access.service.js';
import type { FeedName } from './feed-tokens.service.js';

export interface GatedFeed {
  name: FeedName;
  feed: Feed;
  catalog: TopicCatalog;
}

/** A stream's hold on its slot and rights (FeedGate.admit): what an SSE stream keeps as its `hold`. */
export type Admission = StreamHold;

@Injectable()
export class FeedGate {
  /** What every admission of this instance shares (one object, not a copy per stream). */
  private readonly watcher: Watcher;

  constructor(
    private readonly access: FeedAccessService,
    private readonly realtime: RealtimeService,
    config: AppConfig,
    metrics: MetricsService,
  ) {
    this.watcher = {
      access,
      graceMs: config.auth.feedTokenGraceSeconds * 1000,
      open: metrics.gauge(
        'feed_streams_by_plan',
        'Open SSE streams on this instance, by feed, plan and delivery mode',
        ['feed', 'plan', 'mode'],
      ),
    };
  }

  /** The topics this request may have, and how far behind it is served (short polls: quotes). */
  async topics(request: FastifyRequest, feed: GatedFeed, topics: ReadonlySet<string> | undefined) {
    const grant = await this.access.authorize(request, feed.name, topics, feed.catalog);
    return { topics: grant.topics, delayMs: grant.policy.delayMs };
  }

  async stream(
    request: FastifyRequest,
    reply: FastifyReply,
    feed: GatedFeed,
    topics: ReadonlySet<string> | undefined,
    options: Pick<StreamOptions, 'lastEventId' | 'snapshot'>,
  ): Promise<void> {
    const grant = await this.access.authorize(request, feed.name, topics, feed.catalog);
    const admission = await this.admit(grant, feed);
    try {
      await this.realtime.stream(request, reply, feed.feed, {
        topics: grant.topics,
        lastEventId: options.lastEventId,
        snapshot: options.snapshot,
        policy: grant.policy,
        hold: admission,
      });
    } catch (error) {
      admission.release();
      throw error;
    }
  }

  /**
   * Takes a stream slot for a granted stream (429 past the plan's `maxStreams`), on any transport.
   * `follow` then keeps the open stream under its viewer's rights (revocations, plan changes, token
   * expiry) and in the gauge; `release` (idempotent) gives all of it back when the stream ends.
   */
  async admit(grant: Grant, feed: GatedFeed): Promise<Admission> {
    const slot = await this.access.openSlot(grant.viewer, feed.name);
    return new StreamAdmission(this.watcher, grant, feed, slot);
  }

  async poll(
    request: FastifyRequest,
    reply: FastifyReply,
    feed: GatedFeed,
    topics: ReadonlySet<string> | undefined,
    cursor: string | undefined,
    timeoutMs: number,
  ) {
    const grant = await this.access.authorize(request, feed.name, topics, feed.catalog);
    // A held poll is an open stream while it waits.
    const slot =
      cursor !== undefined && timeoutMs > 0 ? await this.access.openSlot(grant.viewer, feed.name) : undefined;
    try {
      return await this.realtime.poll(reply, feed.feed, grant.topics, cursor, timeoutMs, grant.policy.delayMs);
    } finally {
      slot?.release();
    }
  }
}

function modeOf(policy: StreamPolicy): 'realtime' | 'delayed' | 'conflated' {
  if (policy.delayMs > 0) return 'delayed';
  return policy.maxPerSecond ? 'conflated' : 'realtime';
}

interface Watcher {
  access: FeedAccessService;
  graceMs: number;
  open: Gauge<'feed' | 'plan' | 'mode'>;
}

/**
 * One stream's slot and rights, from admission to release: the watched stream FeedAccessService
 * reviews, the gauge's labels (they follow the stream's plan and mode), the token's expiry timers.
 */
class StreamAdmission implements Admission, WatchedStream {
  readonly viewer: Viewer;
  readonly feed: FeedName;
  readonly catalog: TopicCatalog;
  private labels: { feed: string; plan: string; mode: string };
  private stream?: OpenStream;
  private closed = false;
  private warnTimer?: NodeJS.Timeout;
  private endTimer?: NodeJS.Timeout;

  constructor(
    private readonly watcher: Watcher,
    grant: Grant,
    feed: GatedFeed,
    private readonly slot: { release(): void },
  ) {
    this.viewer = grant.viewer;
    this.feed = feed.name;
    this.catalog = feed.catalog;
    this.labels = { feed: feed.name, plan: grant.viewer.plan, mode: modeOf(grant.policy) };
    watcher.open.inc(this.labels);
  }

  follow(stream: OpenStream): void {
    if (this.closed) return;
    this.stream = stream;
    this.expireWithToken();
    this.watcher.access.watch(this);
  }

  release(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.access.unwatch(this);
    clearTimeout(this.warnTimer);
    clearTimeout(this.endTimer);
    this.watcher.open.dec(this.labels);
    this.slot.release();
  }

  revoke(topics: string[], reason: string): void {
    this.stream?.revoke(topics, reason);
  }

  topics(): ReadonlySet<string> | undefined {
    return this.stream?.topics();
  }

  setPolicy(policy: StreamPolicy): void {
    const next = { feed: this.feed, plan: this.viewer.plan, mode: modeOf(policy) };
    if (!this.closed && (next.plan !== this.labels.plan || next.mode !== this.labels.mode)) {
      this.watcher.open.dec(this.labels);
      this.watcher.open.inc((this.labels = next));
    }
    this.stream?.setPolicy(policy);
  }

  end(): void {
    this.stream?.close();
  }

  /**
   * A stream whose token expires: `event: refresh` FEED_TOKEN_GRACE_SECONDS before, and the close
   * that long after (the client resumes with a new token and the same Last-Event-ID).
   */
  private expireWithToken(): void {
    const expiresAt = this.viewer.expiresAt;
    if (expiresAt === undefined) return;
    const at = expiresAt * 1000;
    const grace = this.watcher.graceMs;
    this.warnTimer = setTimeout(
      () => this.stream?.sendControl('refresh', { expiresAt: new Date(at).toISOString() }),
      Math.max(0, at - grace - Date.now()),
    ).unref();
    this.endTimer = setTimeout(() => this.stream?.close(), Math.max(0, at + grace - Date.now())).unref();
  }
}
