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
import { type OpenStream, RealtimeService, type StreamOptions } from '#src/platform/realtime/realtime.service.js';
import { FeedAccessService, type Grant, type TopicCatalog } from './feed-access.service.js';
import type { FeedName } from './feed-tokens.service.js';

export interface GatedFeed {
  name: FeedName;
  feed: Feed;
  catalog: TopicCatalog;
}

/** A stream's hold on its slot and rights (FeedGate.admit). */
export interface Admission {
  follow(open: OpenStream): void;
  release(): void;
}

@Injectable()
export class FeedGate {
  private readonly open: Gauge<'feed' | 'plan' | 'mode'>;

  constructor(
    private readonly access: FeedAccessService,
    private readonly realtime: RealtimeService,
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.open = metrics.gauge(
      'feed_streams_by_plan',
      'Open SSE streams on this instance, by feed, plan and delivery mode',
      ['feed', 'plan', 'mode'],
    );
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
    options: Pick<StreamOptions, 'lastEventId'> & {
      snapshot: (topics: ReadonlySet<string> | undefined, asOfMs?: number) => Promise<unknown>;
    },
  ): Promise<void> {
    const grant = await this.access.authorize(request, feed.name, topics, feed.catalog);
    const admission = await this.admit(grant, feed);
    try {
      await this.realtime.stream(request, reply, feed.feed, {
        topics: grant.topics,
        lastEventId: options.lastEventId,
        snapshot: (asOfMs, topics) => options.snapshot(topics ?? grant.topics, asOfMs),
        policy: grant.policy,
        onOpen: (open) => admission.follow(open),
        onClose: () => admission.release(),
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
    const giveBack = await this.access.openSlot(grant.viewer, feed.name);
    // The gauge follows the stream's plan and mode as they change.
    let labels = { feed: feed.name, plan: grant.viewer.plan, mode: modeOf(grant.policy) };
    this.open.inc(labels);
    let closed = false;
    let unwatch: (() => void) | undefined;
    return {
      follow: (open) => {
        if (closed) return;
        const expiry = this.expiry(grant.viewer.expiresAt, open);
        const stopWatching = this.access.watch({
          viewer: grant.viewer,
          feed: feed.name,
          catalog: feed.catalog,
          revoke: (revoked, reason) => open.revoke(revoked, reason),
          topics: () => open.topics(),
          setPolicy: (policy) => {
            const next = { feed: feed.name, plan: grant.viewer.plan, mode: modeOf(policy) };
            if (!closed && (next.plan !== labels.plan || next.mode !== labels.mode)) {
              this.open.dec(labels);
              this.open.inc((labels = next));
            }
            open.setPolicy(policy);
          },
          end: () => open.close(),
        });
        unwatch = () => {
          expiry();
          stopWatching();
        };
      },
      release: () => {
        if (closed) return;
        closed = true;
        unwatch?.();
        this.open.dec(labels);
        giveBack();
      },
    };
  }

  /**
   * A stream whose token expires: `event: refresh` FEED_TOKEN_GRACE_SECONDS before, and the close
   * that long after (the client resumes with a new token and the same Last-Event-ID).
   */
  private expiry(expiresAt: number | undefined, open: OpenStream): () => void {
    if (expiresAt === undefined) return () => undefined;
    const grace = this.config.auth.feedTokenGraceSeconds * 1000;
    const at = expiresAt * 1000;
    const warn = setTimeout(
      () => open.sendControl('refresh', { expiresAt: new Date(at).toISOString() }),
      Math.max(0, at - grace - Date.now()),
    );
    const end = setTimeout(() => open.close(), Math.max(0, at + grace - Date.now()));
    warn.unref();
    end.unref();
    return () => {
      clearTimeout(warn);
      clearTimeout(end);
    };
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
    const release =
      cursor !== undefined && timeoutMs > 0 ? await this.access.openSlot(grant.viewer, feed.name) : undefined;
    try {
      return await this.realtime.poll(reply, feed.feed, grant.topics, cursor, timeoutMs, grant.policy.delayMs);
    } finally {
      release?.();
    }
  }
}

function modeOf(policy: StreamPolicy): 'realtime' | 'delayed' | 'conflated' {
  if (policy.delayMs > 0) return 'delayed';
  return policy.maxPerSecond ? 'conflated' : 'realtime';
}
