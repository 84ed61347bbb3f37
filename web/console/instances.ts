/**
 * The instance heartbeat registry as the admin API reports it (`GET /admin/instances`, `…/history`),
 * shared by the overview, feeds, webhooks-in and chat pages, with the chart series they draw from it.
 * The shapes are copies of the server's (src/platform/instances/): web/ cannot import src/, whose
 * `#src` imports resolve to dist/ and bring Nest along; the OpenAPI schemas (InstancesDto) are the
 * contract, and test/console.e2e-spec.ts reads the pages against the real routes.
 */
import { admin } from './api.js';
import { type Series } from './chart.js';

export type FeedName = 'ticker' | 'scores';
export const FEEDS: FeedName[] = ['ticker', 'scores'];
/** A feed with nothing to count may be missing. */
export type PerFeed = Partial<Record<FeedName, number>>;

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
  /** null when the stream serves its whole feed. */
  topics: number | null;
  bufferedBytes: number;
  ageSeconds: number;
}

export interface Instance {
  id: string;
  host: string;
  pid: number;
  /** The Node.js version it runs. */
  node: string;
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

/** One series per name, each value read from a history point (a missing count is 0). */
export function seriesOf(
  points: HistoryPoint[],
  pick: Record<string, (point: HistoryPoint) => number | null | undefined>,
): Series[] {
  return Object.entries(pick).map(([name, read]) => ({
    name,
    points: points.map((point) => [Date.parse(point.at), read(point) ?? 0] as [number, number | null]),
  }));
}
