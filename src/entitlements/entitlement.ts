/**
 * What a plan may read from the feeds (the contract of issue 18): per feed a delivery mode and,
 * for the ticker, the instrument tiers; and how many streams a user may hold open at once.
 * Defaults per plan come from here (what anonymous reads from FEED_ANONYMOUS_ACCESS: nothing in
 * production unless DEMO_MODE); an operator overrides them with `PUT /admin/entitlements/:plan`
 * (the `entitlements` table).
 */
import { PLANS as USER_PLANS } from '#src/users/user.entity.js';

export const ACCESS_PLANS = ['anonymous', ...USER_PLANS] as const;
export type AccessPlan = (typeof ACCESS_PLANS)[number];

export const TIERS = ['basic', 'premium'] as const;
export type Tier = (typeof TIERS)[number];

export const TICKER_MODES = ['realtime', 'delayed', 'conflated', 'none'] as const;
export const SCORES_MODES = ['realtime', 'delayed', 'none'] as const;
export type TickerMode = (typeof TICKER_MODES)[number];
export type ScoresMode = (typeof SCORES_MODES)[number];

export interface Entitlement {
  plan: AccessPlan;
  ticker: { mode: TickerMode; delaySeconds?: number; maxPerSecond?: number; tiers: Tier[] };
  scores: { mode: ScoresMode; delaySeconds?: number };
  maxStreams: number;
}

const MAX_DELAY_SECONDS = 86_400;

const everything = (plan: AccessPlan, maxStreams: number): Entitlement => ({
  plan,
  ticker: { mode: 'realtime', tiers: ['basic', 'premium'] },
  scores: { mode: 'realtime' },
  maxStreams,
});

/** The built-in entitlements; what anonymous reads is FEED_ANONYMOUS_ACCESS. */
export function defaultEntitlements(anonymous: 'none' | 'basic' | 'all'): Entitlement[] {
  return [
    anonymous === 'none'
      ? { plan: 'anonymous', ticker: { mode: 'none', tiers: [] }, scores: { mode: 'none' }, maxStreams: 0 }
      : anonymous === 'all'
        ? everything('anonymous', 100_000)
        : { ...everything('anonymous', 100_000), ticker: { mode: 'realtime', tiers: ['basic'] } },
    { plan: 'free', ticker: { mode: 'realtime', tiers: ['basic'] }, scores: { mode: 'realtime' }, maxStreams: 5 },
    everything('pro', 20),
    everything('team', 100),
  ];
}

/**
 * The body of `PUT /admin/entitlements/:plan`, checked: the entitlement, or the problems, each
 * naming its field (a 422).
 */
export function parseEntitlement(plan: AccessPlan, body: unknown): { value?: Entitlement; problems: string[] } {
  const problems: string[] = [];
  const object = (value: unknown, field: string): Record<string, unknown> => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    problems.push(`${field} must be an object`);
    return {};
  };
  const unknownKeys = (value: Record<string, unknown>, allowed: string[], field: string) => {
    for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${field}.${key} is not a field`);
  };
  const oneOf = <T extends string>(value: unknown, allowed: readonly T[], field: string): T => {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`${field} must be one of ${allowed.join(', ')}`);
    return allowed[0];
  };
  const int = (value: unknown, field: string, min: number, max: number): number => {
    if (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max) return value as number;
    problems.push(`${field} must be an integer from ${min} to ${max}`);
    return min;
  };
  const delay = (feed: Record<string, unknown>, mode: string, field: string) => {
    if (mode === 'delayed') return int(feed.delaySeconds, `${field}.delaySeconds`, 1, MAX_DELAY_SECONDS);
    if (feed.delaySeconds !== undefined) problems.push(`${field}.delaySeconds is only for mode delayed`);
    return undefined;
  };

  const root = object(body, 'body');
  unknownKeys(root, ['ticker', 'scores', 'maxStreams'], 'body');
  const ticker = object(root.ticker, 'ticker');
  unknownKeys(ticker, ['mode', 'delaySeconds', 'maxPerSecond', 'tiers'], 'ticker');
  const tickerMode = oneOf(ticker.mode, TICKER_MODES, 'ticker.mode');
  let maxPerSecond: number | undefined;
  if (tickerMode === 'conflated') {
    const value = ticker.maxPerSecond;
    if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 1000) maxPerSecond = value;
    else problems.push('ticker.maxPerSecond must be a number above 0 and at most 1000');
  } else if (ticker.maxPerSecond !== undefined) problems.push('ticker.maxPerSecond is only for mode conflated');
  let tiers: Tier[] = [];
  if (!Array.isArray(ticker.tiers)) problems.push(`ticker.tiers must be an array of ${TIERS.join(', ')}`);
  else tiers = [...new Set(ticker.tiers.map((tier, i) => oneOf(tier, TIERS, `ticker.tiers[${i}]`)))];
  const scores = object(root.scores, 'scores');
  unknownKeys(scores, ['mode', 'delaySeconds'], 'scores');
  const scoresMode = oneOf(scores.mode, SCORES_MODES, 'scores.mode');
  const value: Entitlement = {
    plan,
    ticker: { mode: tickerMode, delaySeconds: delay(ticker, tickerMode, 'ticker'), maxPerSecond, tiers },
    scores: { mode: scoresMode, delaySeconds: delay(scores, scoresMode, 'scores') },
    maxStreams: int(root.maxStreams, 'maxStreams', 0, 1_000_000),
  };
  if (value.ticker.delaySeconds === undefined) delete value.ticker.delaySeconds;
  if (value.ticker.maxPerSecond === undefined) delete value.ticker.maxPerSecond;
  if (value.scores.delaySeconds === undefined) delete value.scores.delaySeconds;
  return problems.length > 0 ? { problems } : { value, problems };
}
