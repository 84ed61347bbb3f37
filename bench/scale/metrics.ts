/**
 * What the scale bench reads from each app instance and from Redis: the counters of `/metrics`
 * (Prometheus text) and `INFO commandstats` (per node, summed over a cluster's masters), as
 * snapshots the driver subtracts; the pub/sub channels of a run's prefix; latency percentiles of
 * the samples the load clients took.
 */
import type { Redis } from 'ioredis';
import type { PrivateRedis } from './cluster.js';

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

/** Calls per command since the server started (`cmdstat_publish:calls=12,...` → { publish: 12 }), one map per node. */
export async function commandStats(redis: PrivateRedis): Promise<Map<string, number>[]> {
  return Promise.all(redis.nodes.map((node) => nodeCommandStats(node)));
}

async function nodeCommandStats(node: Redis): Promise<Map<string, number>> {
  const text = await node.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1], Number(match[2]));
  return calls;
}

/**
 * Commands between two commandstats snapshots, summed over the nodes, leaving out the driver's own
 * INFO calls (one per node and snapshot): total, per command (largest first) and per node.
 */
export function commandDelta(
  before: Map<string, number>[],
  after: Map<string, number>[],
): { total: number; byCommand: Record<string, number>; byNode: number[] } {
  const sums = new Map<string, number>();
  const byNode = after.map((node, i) => {
    let total = 0;
    for (const [name, calls] of node) {
      const d = calls - (before[i]?.get(name) ?? 0) - (name === 'info' ? 1 : 0);
      if (d <= 0) continue;
      sums.set(name, (sums.get(name) ?? 0) + d);
      total += d;
    }
    return total;
  });
  const rows = [...sums].sort((a, b) => b[1] - a[1]);
  return { total: rows.reduce((sum, [, d]) => sum + d, 0), byCommand: Object.fromEntries(rows), byNode };
}

/**
 * Pub/sub channels of the run's prefix and how many subscriptions they have (instances per channel,
 * summed): PUBSUB CHANNELS / NUMSUB on one node, SHARDCHANNELS / SHARDNUMSUB on every master of a
 * cluster (where a feed's channels are hash-tagged: `{<prefix>feed:…}`).
 */
export async function pubsubChannels(
  redis: PrivateRedis,
  prefix: string,
): Promise<{ channels: number; subscriptions: number }> {
  const [list, count] = redis.mode === 'cluster' ? ['SHARDCHANNELS', 'SHARDNUMSUB'] : ['CHANNELS', 'NUMSUB'];
  let channels = 0;
  let subscriptions = 0;
  for (const node of redis.nodes) {
    const names = (await node.call('PUBSUB', list, `*${prefix}*`)) as string[];
    if (names.length === 0) continue;
    channels += names.length;
    const numsub = (await node.call('PUBSUB', count, ...names)) as (string | number)[];
    for (let i = 1; i < numsub.length; i += 2) subscriptions += Number(numsub[i]);
  }
  return { channels, subscriptions };
}

/** p50 / p99 (nearest rank, ms, one decimal) of latency samples; null without samples. */
export function percentiles(samples: number[]): { n: number; p50Ms: number | null; p99Ms: number | null } {
  if (samples.length === 0) return { n: 0, p50Ms: null, p99Ms: null };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)].toFixed(1));
  return { n: samples.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}
