/**
 * What the scores bench's processes share: the admin key, the paths both servers serve, and the
 * score frame the baseline writes (the same fields, in the same order, as the app's `event: score`).
 */
export const ADMIN_API_KEY = 'bench-admin-key-0123456789';
export const ADMIN_HEADERS = { Authorization: `Bearer ${ADMIN_API_KEY}` };

export const matchesPath = '/admin/scores/matches';
export const eventsPath = (matchId: string) => `/admin/scores/matches/${matchId}/events`;
export const streamPath = (matchId: string) => `/scores/stream?matches=${matchId}`;

export interface ScoreState {
  id: string;
  status: 'scheduled' | 'live' | 'finished';
  home: number;
  away: number;
  period: number;
  seq: number;
}

export interface EventView {
  id: string;
  seq: number;
  kind: string;
  team: string | null;
  points: number | null;
  period: number;
  home: number;
  away: number;
  at: string;
}

/** `{ matchId, home, away, status, event }`, as ScoresService publishes it. */
export function scoreFrameData(match: ScoreState, event: EventView): string {
  return JSON.stringify({ matchId: match.id, home: match.home, away: match.away, status: match.status, event });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
