/**
 * The instance heartbeat registry as the admin API reports it (`GET /admin/instances`, `…/history`),
 * shared by the overview, feeds, webhooks-in and chat pages, with the chart series they draw from it.
 */
import { admin } from './api.js';
import { type Series } from './chart.js';

export type FeedName = 'ticker' | 'scores';
export const FEEDS: FeedName[] = ['ticker', 'scores'];
export type PerFeed = Record<FeedName, number>;

export interface Rates {
  feedEvents: PerFeed;
  framesWritten: PerFeed;
  framesConflated: PerFeed;
  slowConsumerCloses: PerFeed;
  chatMessages: number;
  chatRateLimited: number;
  outboundSucceeded: number;
  outboundFailed: number;
  inboundReceived: number;
  inboundRejected: number;
  inboundRejectedByReason: Record<string, number>;
}

export interface Connections {
  sse: number;
  ndjson: number;
  ws: number;
  longPoll: number;
  chat: number;
}

export interface SlowConnection {
  transport: 'sse' | 'ndjson' | 'ws';
  feeds: string[];
  topics: number;
  bufferedBytes: number;
  ageSeconds: number;
}

export interface Instance {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  lastSeenAt: string;
  connections: Connections;
  subscribers: PerFeed;
  rates: Rates;
  slowest: SlowConnection[];
}

export interface HistoryPoint {
  at: string;
  instances: number;
  connections: Connections;
  rates: Rates;
}

export const instances = () => admin<{ intervalMs: number; instances: Instance[] }>('/admin/instances');

export const history = (minutes = 5) =>
  admin<{ intervalMs: number; points: HistoryPoint[] }>(`/admin/instances/history?minutes=${minutes}`);

/** One series per name, each value read from a history point. */
export function seriesOf(
  points: HistoryPoint[],
  pick: Record<string, (point: HistoryPoint) => number | null>,
): Series[] {
  return Object.entries(pick).map(([name, read]) => ({
    name,
    points: points.map((point) => [Date.parse(point.at), read(point)] as [number, number | null]),
  }));
}
