/**
 * What the scale bench reads from each app instance and from Redis: the counters of `/metrics`
 * (Prometheus text) and `INFO commandstats`, as snapshots the driver subtracts.
 */
import type { Redis } from 'ioredis';

/** The counters the report is about; a name missing from /metrics stays missing (unknown). */
export const COUNTERS = {
  fanoutReceived: 'chat_fanout_received_total',
  fanoutBytes: 'chat_fanout_bytes_received_total',
  fanoutPublished: 'chat_fanout_published_total',
  chatDelivered: 'chat_messages_delivered_total',
  feedEventsReceived: 'feed_events_received_total{feed="ticker"}',
  feedBytesReceived: 'feed_bytes_received_total{feed="ticker"}',
  sseFramesWritten: 'sse_frames_written_total{feed="ticker"}',
  sseFramesConflated: 'sse_frames_conflated_total{feed="ticker"}',
} as const;
export type CounterName = keyof typeof COUNTERS;
export type Snapshot = Partial<Record<CounterName, number>>;

/** `name{labels} value` lines → the counters above (labels compared as written, without spaces). */
export function parseMetrics(text: string): Snapshot {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space).replace(/\s/g, ''), Number(line.slice(space + 1)));
  }
  const snapshot: Snapshot = {};
  for (const [key, series] of Object.entries(COUNTERS) as [CounterName, string][]) {
    const value = values.get(series);
    if (value !== undefined) snapshot[key] = value;
  }
  return snapshot;
}

export async function scrape(url: string): Promise<Snapshot> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${url}/metrics → ${res.status}`);
  return parseMetrics(await res.text());
}

/** after − before per counter; undefined when either side lacks it (the metric does not exist there). */
export function delta(before: Snapshot, after: Snapshot): Snapshot {
  const out: Snapshot = {};
  for (const key of Object.keys(COUNTERS) as CounterName[]) {
    const a = before[key];
    const b = after[key];
    if (b !== undefined) out[key] = b - (a ?? 0);
  }
  return out;
}

/** Calls per command since the server started (`cmdstat_publish:calls=12,...` → { publish: 12 }). */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1], Number(match[2]));
  return calls;
}

/**
 * Commands between two commandstats snapshots, leaving out the driver's own INFO calls (one per
 * snapshot): total and per command, largest first.
 */
export function commandDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): { total: number; byCommand: Record<string, number> } {
  const rows: [string, number][] = [];
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0) - (name === 'info' ? 1 : 0);
    if (d > 0) rows.push([name, d]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return { total: rows.reduce((sum, [, d]) => sum + d, 0), byCommand: Object.fromEntries(rows) };
}
