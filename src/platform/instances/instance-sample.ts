/**
 * What an instance reports in its heartbeat, read from its own Prometheus registry: the counters
 * the features already keep (so the console and Grafana show the same numbers) and, as rates, their
 * change since the previous heartbeat. Pure functions over metric values; the registry does the I/O.
 */
import type { Registry } from 'prom-client';

export type PerFeed = Record<string, number>;

/** Cumulative counts since the instance started. */
export interface Totals {
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

/** Per second over the last heartbeat interval: the same fields as `Totals`. */
export type Rates = Totals;

type Values = { value: number; labels: Record<string, string | number | undefined> }[];

async function values(registry: Registry, name: string): Promise<Values> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  const { values } = (await metric.get()) as { values: Values };
  return values;
}

const sum = (rows: Values) => rows.reduce((total, row) => total + row.value, 0);

function byLabel(rows: Values, label: string, into: Record<string, number> = {}): Record<string, number> {
  for (const row of rows) {
    const key = String(row.labels[label] ?? '');
    into[key] = (into[key] ?? 0) + row.value;
  }
  return into;
}

/** The counters of this instance's registry that the heartbeat reports. */
export async function readTotals(registry: Registry): Promise<Totals> {
  const [published, sseWritten, wsWritten, sseConflated, wsConflated, sseCloses, wsCloses] = await Promise.all(
    [
      'feed_events_published_total',
      'sse_frames_written_total',
      'ws_frames_written_total',
      'sse_frames_conflated_total',
      'ws_frames_conflated_total',
      'sse_slow_consumer_closes_total',
      'ws_slow_consumer_closes_total',
    ].map((name) => values(registry, name)),
  );
  const [chat, chatLimited, outbound, received, rejected] = await Promise.all(
    [
      'chat_messages_sent_total',
      'chat_rate_limited_total',
      'outbound_deliveries_total',
      'inbound_webhooks_received_total',
      'inbound_webhooks_rejected_total',
    ].map((name) => values(registry, name)),
  );
  const outcomes = byLabel(outbound, 'outcome');
  return {
    feedEvents: byLabel(published, 'feed'),
    framesWritten: byLabel(wsWritten, 'feed', byLabel(sseWritten, 'feed')),
    framesConflated: byLabel(wsConflated, 'feed', byLabel(sseConflated, 'feed')),
    slowConsumerCloses: byLabel(wsCloses, 'feed', byLabel(sseCloses, 'feed')),
    chatMessages: sum(chat),
    chatRateLimited: sum(chatLimited),
    outboundSucceeded: outcomes.succeeded ?? 0,
    outboundFailed: sum(outbound) - (outcomes.succeeded ?? 0),
    inboundReceived: sum(received),
    inboundRejected: sum(rejected),
    inboundRejectedByReason: byLabel(rejected, 'reason'),
  };
}

function ratesOf(now: Record<string, number>, before: Record<string, number>, seconds: number) {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(now)) out[key] = rate(value, before[key] ?? 0, seconds);
  return out;
}

/** Counters restart at 0 with the process; a drop is not a negative rate. */
function rate(now: number, before: number, seconds: number): number {
  return seconds > 0 ? Math.round((Math.max(0, now - before) / seconds) * 100) / 100 : 0;
}

/** The change from `before` to `now` per second. */
export function ratesBetween(now: Totals, before: Totals, seconds: number): Rates {
  return {
    feedEvents: ratesOf(now.feedEvents, before.feedEvents, seconds),
    framesWritten: ratesOf(now.framesWritten, before.framesWritten, seconds),
    framesConflated: ratesOf(now.framesConflated, before.framesConflated, seconds),
    slowConsumerCloses: ratesOf(now.slowConsumerCloses, before.slowConsumerCloses, seconds),
    chatMessages: rate(now.chatMessages, before.chatMessages, seconds),
    chatRateLimited: rate(now.chatRateLimited, before.chatRateLimited, seconds),
    outboundSucceeded: rate(now.outboundSucceeded, before.outboundSucceeded, seconds),
    outboundFailed: rate(now.outboundFailed, before.outboundFailed, seconds),
    inboundReceived: rate(now.inboundReceived, before.inboundReceived, seconds),
    inboundRejected: rate(now.inboundRejected, before.inboundRejected, seconds),
    inboundRejectedByReason: ratesOf(now.inboundRejectedByReason, before.inboundRejectedByReason, seconds),
  };
}

function addInto(into: Record<string, number>, more: Record<string, number>): void {
  for (const [key, value] of Object.entries(more)) into[key] = Math.round(((into[key] ?? 0) + value) * 100) / 100;
}

/** Field by field sum of several instances' rates (or totals). */
export function sumRates(all: Rates[]): Rates {
  const out = emptyTotals();
  for (const r of all) {
    addInto(out.feedEvents, r.feedEvents);
    addInto(out.framesWritten, r.framesWritten);
    addInto(out.framesConflated, r.framesConflated);
    addInto(out.slowConsumerCloses, r.slowConsumerCloses);
    addInto(out.inboundRejectedByReason, r.inboundRejectedByReason);
    for (const key of SCALARS) out[key] = Math.round((out[key] + r[key]) * 100) / 100;
  }
  return out;
}

const SCALARS = [
  'chatMessages',
  'chatRateLimited',
  'outboundSucceeded',
  'outboundFailed',
  'inboundReceived',
  'inboundRejected',
] as const satisfies readonly (keyof Totals)[];

export function emptyTotals(): Totals {
  return {
    feedEvents: {},
    framesWritten: {},
    framesConflated: {},
    slowConsumerCloses: {},
    chatMessages: 0,
    chatRateLimited: 0,
    outboundSucceeded: 0,
    outboundFailed: 0,
    inboundReceived: 0,
    inboundRejected: 0,
    inboundRejectedByReason: {},
  };
}
