/**
 * Who reads a feed and what they may read, decided the same way for every transport (SSE, long
 * poll, short poll). The client is a user JWT or a feed token, as `Authorization: Bearer` or
 * `?token=` (EventSource cannot set headers; the access log never records query strings), or
 * nobody (the `anonymous` plan). Its plan's entitlement (entitlements.service.ts), narrowed by the
 * feed token's grants, says which topics are allowed; a request for another is a 403 naming it,
 * no credentials where anonymous may read nothing is a 401, and past the plan's `maxStreams` open
 * streams (across instances, stream-slots.ts) a 429.
 *
 * Open streams follow changes: a plan change (users.updated_at, polled every
 * ENTITLEMENT_REFRESH_MS for the users with open streams here) or an entitlement change re-decides
 * each stream, and topics no longer allowed are revoked on it (`event: revoked`).
 */
import {
  ForbiddenException,
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { TokenService, bearerToken } from '#src/platform/auth/token.service.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { LIVE, type StreamPolicy } from '#src/platform/realtime/feed-stream.js';
import { UsersService } from '#src/users/users.service.js';
import type { AccessPlan, Entitlement, Tier } from './entitlement.js';
import { ENTITLEMENT_REFRESH_MS, EntitlementsService } from './entitlements.service.js';
import { type FeedGrants, type FeedName, FeedTokensService } from './feed-tokens.service.js';
import { StreamSlots } from './stream-slots.js';

/** The slot key of the admin API key: an operator, on the team plan's rights, with no stream limit. */
const OPERATOR = 'operator';

export interface Viewer {
  plan: AccessPlan;
  userId?: string;
  /** A feed token's grants (it narrows the plan). */
  grants?: FeedGrants;
  /** When the credentials expire (epoch seconds). */
  expiresAt?: number;
  /** Whose streams count against `maxStreams`: the user, or the client address for anonymous. */
  slotKey: string;
}

/** What a feed asks of access: the tier of each of its topics, and every topic it has (for "all topics"). */
export interface TopicCatalog {
  tierOf(topic: string): Tier;
  all(): Iterable<string>;
  /** Calls `listener` when tiers change (open streams are reviewed then). */
  onChange?(listener: () => void): void;
}

export interface Grant {
  viewer: Viewer;
  /** The topics to serve: the requested ones, or (asked for all, but not all allowed) the allowed ones. */
  topics: ReadonlySet<string> | undefined;
  /** How the plan is served: live, delayed or conflated. */
  policy: StreamPolicy;
}

/** An open stream that follows its viewer's rights. */
export interface WatchedStream {
  viewer: Viewer;
  feed: FeedName;
  catalog: TopicCatalog;
  /** Called with the topics no longer allowed (and why); the stream drops them, or closes if none remain. */
  revoke(topics: string[], reason: string): void;
  /** The topics it serves now. */
  topics(): ReadonlySet<string> | undefined;
  /** Serves it live, delayed or conflated from now on (a plan change). */
  setPolicy(policy: StreamPolicy): void;
  /** Ends it (nothing of the feed is allowed any more). */
  end(): void;
}

/** An operator's streams take no slot. */
const NO_SLOT = { release: () => undefined };

@Injectable()
export class FeedAccessService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(FeedAccessService.name);
  private readonly refusals: Counter<'feed' | 'reason'>;
  private readonly watched = new Set<WatchedStream>();
  private readonly catalogs = new Set<TopicCatalog>();
  /** Plans of users with open streams here, with how many streams each has. */
  private readonly plans = new Map<string, { plan: AccessPlan; streams: number }>();
  private timer?: NodeJS.Timeout;
  private unwatchEntitlements?: () => void;

  constructor(
    private readonly tokens: TokenService,
    private readonly feedTokens: FeedTokensService,
    private readonly users: UsersService,
    private readonly entitlements: EntitlementsService,
    private readonly slots: StreamSlots,
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.refusals = metrics.counter('feed_access_refusals_total', 'Feed requests refused, by feed and reason', [
      'feed',
      'reason',
    ]);
  }

  onModuleInit(): void {
    this.unwatchEntitlements = this.entitlements.onChange(() => this.reviewAll());
    this.timer = setInterval(() => void this.pollPlans(), ENTITLEMENT_REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.unwatchEntitlements?.();
  }

  /** The client of a request: 401 for credentials that are present but not valid. */
  async viewer(request: FastifyRequest): Promise<Viewer> {
    return this.viewerOf(bearerToken(request.headers.authorization) ?? queryToken(request), request.ip);
  }

  /** The client of a token (none: anonymous, by its address); 401 for a token that is not valid. */
  async viewerOf(token: string | undefined, ip: string): Promise<Viewer> {
    if (!token) return { plan: 'anonymous', slotKey: `ip:${ip}` };
    // Operators read everything, without a stream limit.
    if (token === this.config.auth.adminApiKey) return { plan: 'team', slotKey: OPERATOR };
    const user = await this.tokens.verify(token);
    const feedToken = user ? undefined : await this.feedTokens.verify(token);
    const userId = user?.id ?? feedToken?.sub;
    if (!userId) throw new UnauthorizedException('the token is not valid (forged, malformed or expired)');
    const plan = await this.planOf(userId);
    if (!plan) throw new UnauthorizedException('the token names no user');
    return {
      plan,
      userId,
      grants: feedToken?.feeds,
      expiresAt: user?.expiresAt ?? feedToken?.exp,
      slotKey: `user:${userId}`,
    };
  }

  private async planOf(userId: string): Promise<AccessPlan | undefined> {
    const known = this.plans.get(userId);
    if (known) return known.plan;
    return (await this.users.plansOf([userId])).get(userId);
  }

  /**
   * Checks a request for these topics of a feed (undefined: all of them): the topics to serve, or
   * a 401 / 403 naming the refused topics.
   */
  async authorize(
    request: FastifyRequest,
    feed: FeedName,
    topics: ReadonlySet<string> | undefined,
    catalog: TopicCatalog,
  ): Promise<Grant> {
    let viewer: Viewer;
    try {
      viewer = await this.viewer(request);
    } catch (error) {
      this.refusals.inc({ feed, reason: 'token' });
      throw error;
    }
    return this.grant(viewer, feed, topics, catalog);
  }

  /** What a known viewer may have of these topics of a feed: the grant, or a 401 / 403 naming the refused topics. */
  grant(viewer: Viewer, feed: FeedName, topics: ReadonlySet<string> | undefined, catalog: TopicCatalog): Grant {
    const decision = this.decide(viewer, feed, topics, catalog);
    if (decision.refused) {
      if (viewer.plan === 'anonymous' && decision.none) {
        this.refusals.inc({ feed, reason: 'anonymous' });
        throw new UnauthorizedException(`${feed} needs a token: sign in or use a feed token`);
      }
      this.refusals.inc({ feed, reason: 'topic' });
      throw new ForbiddenException({
        message: `not allowed on your plan (${viewer.plan}${viewer.grants ? ', narrowed by the feed token' : ''}): ${decision.refused.slice(0, 10).join(', ')}`,
        topics: decision.refused,
      });
    }
    return { viewer, topics: decision.topics, policy: this.policyOf(viewer.plan, feed) };
  }

  /** The delivery a plan gets on a feed. */
  private policyOf(plan: AccessPlan, feed: FeedName): StreamPolicy {
    const entitlement = this.entitlements.get(plan);
    if (feed === 'scores') {
      const { mode, delaySeconds } = entitlement.scores;
      return mode === 'delayed' ? { delayMs: (delaySeconds ?? 0) * 1000 } : LIVE;
    }
    const { mode, delaySeconds, maxPerSecond } = entitlement.ticker;
    if (mode === 'delayed') return { delayMs: (delaySeconds ?? 0) * 1000 };
    if (mode === 'conflated') return { delayMs: 0, maxPerSecond };
    return LIVE;
  }

  /** The topics allowed of those asked for, or the refused ones (`none`: the plan allows nothing of the feed). */
  private decide(
    viewer: Viewer,
    feed: FeedName,
    topics: ReadonlySet<string> | undefined,
    catalog: TopicCatalog,
  ): { topics?: ReadonlySet<string>; refused?: string[]; none?: boolean } {
    const entitlement = this.entitlements.get(viewer.plan);
    const allowed = (topic: string) => allows(entitlement, viewer.grants, feed, topic, catalog);
    const mode = feed === 'ticker' ? entitlement.ticker.mode : entitlement.scores.mode;
    if (mode === 'none') return { refused: topics ? [...topics] : [feed], none: true };
    if (topics) {
      const refused = [...topics].filter((topic) => !allowed(topic));
      return refused.length > 0 ? { refused } : { topics };
    }
    const granted = viewer.grants?.[feed];
    const narrowed = granted !== undefined && !granted.includes('*');
    if (viewer.grants && !granted) return { refused: [feed] };
    if (!narrowed) {
      // Everything, if everything there is now is allowed (a topic of a refused tier that appears
      // later is revoked then: the catalog's onChange reviews open streams).
      if (feed === 'scores' || entitlement.ticker.tiers.length === 2) return { topics: undefined };
      const all = [...catalog.all()];
      const allowedNow = all.filter(allowed);
      if (allowedNow.length === all.length) return { topics: undefined };
      return allowedNow.length > 0 ? { topics: new Set(allowedNow) } : { refused: [feed] };
    }
    // A feed token naming its topics: those of them the plan allows.
    const mine = granted.filter(allowed);
    return mine.length > 0 ? { topics: new Set(mine) } : { refused: [feed] };
  }

  /** Takes one of the viewer's `maxStreams` slots for an open stream or held poll (429 past it). */
  async openSlot(viewer: Viewer, feed: FeedName): Promise<{ release(): void }> {
    if (viewer.slotKey === OPERATOR) return NO_SLOT;
    const max = this.entitlements.get(viewer.plan).maxStreams;
    const slot = await this.slots.take(viewer.slotKey, max);
    if (!slot) {
      this.refusals.inc({ feed, reason: 'max_streams' });
      throw new HttpException(
        { message: `at most ${max} open streams on your plan (${viewer.plan}); close one first` },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    return slot;
  }

  /** Follows an open stream's rights until `unwatch`. */
  watch(stream: WatchedStream): void {
    if (!this.catalogs.has(stream.catalog)) {
      this.catalogs.add(stream.catalog);
      stream.catalog.onChange?.(() => this.reviewAll());
    }
    if (this.watched.has(stream)) return;
    this.watched.add(stream);
    const userId = stream.viewer.userId;
    if (userId) {
      const known = this.plans.get(userId);
      if (known) known.streams++;
      else this.plans.set(userId, { plan: stream.viewer.plan, streams: 1 });
    }
  }

  unwatch(stream: WatchedStream): void {
    if (!this.watched.delete(stream)) return;
    const userId = stream.viewer.userId;
    const known = userId ? this.plans.get(userId) : undefined;
    if (known && --known.streams === 0) this.plans.delete(userId!);
  }

  /** Re-reads the plans of users with open streams here; a changed plan re-decides their streams. */
  private async pollPlans(): Promise<void> {
    if (this.plans.size === 0) return;
    try {
      const rows = await this.users.plansOf([...this.plans.keys()]);
      const changed = new Set<string>();
      for (const [userId, plan] of rows) {
        const known = this.plans.get(userId);
        if (!known || known.plan === plan) continue;
        known.plan = plan;
        changed.add(userId);
      }
      if (changed.size === 0) return;
      for (const stream of this.watched) {
        if (!stream.viewer.userId || !changed.has(stream.viewer.userId)) continue;
        stream.viewer.plan = this.plans.get(stream.viewer.userId)!.plan;
        this.review(stream);
      }
    } catch (error) {
      this.logger.warn(`plan refresh: ${(error as Error).message}`);
    }
  }

  private reviewAll(): void {
    for (const stream of this.watched) this.review(stream);
  }

  /** Revokes what a stream may no longer read, and serves the rest as its plan says now. */
  private review(stream: WatchedStream): void {
    const entitlement = this.entitlements.get(stream.viewer.plan);
    const mode = stream.feed === 'ticker' ? entitlement.ticker.mode : entitlement.scores.mode;
    if (mode !== 'none') stream.setPolicy(this.policyOf(stream.viewer.plan, stream.feed));
    const topics = stream.topics();
    const serving = topics ?? new Set(stream.catalog.all());
    const revoked =
      mode === 'none'
        ? [...serving]
        : [...serving].filter(
            (topic) => !allows(entitlement, stream.viewer.grants, stream.feed, topic, stream.catalog),
          );
    const reason = `not allowed on the ${stream.viewer.plan} plan`;
    if (revoked.length > 0) stream.revoke(revoked, reason);
    if (mode === 'none') stream.end();
  }
}

function allows(
  entitlement: Entitlement,
  grants: FeedGrants | undefined,
  feed: FeedName,
  topic: string,
  catalog: TopicCatalog,
): boolean {
  if (grants) {
    const granted = grants[feed];
    if (!granted || !(granted.includes('*') || granted.includes(topic))) return false;
  }
  if (feed === 'ticker') return entitlement.ticker.tiers.includes(catalog.tierOf(topic));
  return true;
}

function queryToken(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
