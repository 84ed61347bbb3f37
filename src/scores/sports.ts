/**
 * The sports we score and their rules: which point values a scoring event may carry, and how many
 * regular periods a match has (overtime periods may follow).
 */
export const SPORTS = {
  football: { points: [1], defaultPoints: 1, periods: 2 },
  basketball: { points: [1, 2, 3], defaultPoints: undefined, periods: 4 },
  hockey: { points: [1], defaultPoints: 1, periods: 3 },
} as const satisfies Record<string, { points: readonly number[]; defaultPoints?: number; periods: number }>;

export type Sport = keyof typeof SPORTS;
export const SPORT_NAMES = Object.keys(SPORTS) as Sport[];

/** Overtime periods allowed after the regular ones. */
export const MAX_EXTRA_PERIODS = 10;

export const MATCH_STATUSES = ['scheduled', 'live', 'finished'] as const;
export type MatchStatus = (typeof MATCH_STATUSES)[number];

export const EVENT_KINDS = ['kickoff', 'score', 'period', 'final'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const TEAMS = ['home', 'away'] as const;
export type Team = (typeof TEAMS)[number];

/** The status each kind of event requires (the state machine). */
export const REQUIRED_STATUS: Record<EventKind, MatchStatus> = {
  kickoff: 'scheduled',
  score: 'live',
  period: 'live',
  final: 'live',
};

/** Domain event recorded for each kind. */
export const DOMAIN_EVENT_OF: Record<EventKind, 'match.started' | 'score.updated' | 'match.finished'> = {
  kickoff: 'match.started',
  score: 'score.updated',
  period: 'score.updated',
  final: 'match.finished',
};
