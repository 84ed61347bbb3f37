/**
 * The registry of running instances (the console's Overview and Feeds pages, `GET /admin/instances`).
 * Every `INSTANCE_HEARTBEAT_MS` each instance writes to Redis what it has open (connections per
 * transport, streams per feed, the connections that buffer most) and its rates since the previous
 * heartbeat, read from its own metrics (instance-sample.ts), and appends a point to its history.
 *
 * Keys: `instances` (sorted set: instance id → last heartbeat, ms), `instance:<id>` (its latest
 * snapshot, expiring after a few missed heartbeats, so a crashed instance leaves the list on its own)
 * and `instance:<id>:history` (its points of the last HISTORY_MINUTES, newest first). An instance
 * that stops cleanly removes its snapshot at once; its history stays until it ages out.
 */
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { hostname } from 'node:os';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { type ConnectionView, RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import {
  type PerFeed,
  type Rates,
  type Totals,
  emptyTotals,
  ratesBetween,
  readTotals,
  sumRates,
} from './instance-sample.js';

/** How far back the history goes (`GET /admin/instances/history?minutes=` at most). */
export const HISTORY_MINUTES = 30;
/** Connections listed per instance, most buffered first. */
const SLOWEST = 10;
/** A snapshot outlives its heartbeat this many intervals. */
const MISSED_BEATS = 3;

export interface Connections {
  sse: number;
  ndjson: number;
  ws: number;
  longPoll: number;
  chat: number;
}

export interface InstanceSnapshot {
  id: string;
  host: string;
  pid: number;
  node: string;
  startedAt: string;
  lastSeenAt: string;
  connections: Connections;
  subscribers: PerFeed;
  rates: Rates;
  slowest: ConnectionView[];
}

export interface HistoryPoint {
  at: string;
  instances: number;
  connections: Connections;
  rates: Rates;
}

@Injectable()
export class InstanceRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(InstanceRegistry.name);
  private readonly id: string;
  private readonly intervalMs: number;
  private readonly startedAt = new Date().toISOString();
  private timer?: NodeJS.Timeout;
  private previous: { totals: Totals; at: number } = { totals: emptyTotals(), at: Date.now() };
  private failing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly realtime: RealtimeService,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.id = config.app.instanceId;
    this.intervalMs = config.app.instanceHeartbeatMs;
  }

  get heartbeatMs(): number {
    return this.intervalMs;
  }

  onModuleInit(): void {
    void this.readTotalsNow();
    this.timer = setInterval(() => void this.beat(), this.intervalMs).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // Its history stays readable (its id stays in the index until the history ages out).
    await this.redis.command.del(this.key(this.id)).catch(() => undefined);
  }

  /** The instances whose heartbeat is current, by id. */
  async list(): Promise<InstanceSnapshot[]> {
    const ids = await this.liveIds(Date.now() - MISSED_BEATS * this.intervalMs);
    const snapshots = await Promise.all(ids.map((id) => this.redis.command.get(this.key(id))));
    return snapshots
      .filter((json): json is string => json !== null)
      .map((json) => JSON.parse(json) as InstanceSnapshot)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * The last `minutes`, one point per heartbeat interval, summed over the instances alive then
   * (each counted once per interval); oldest first.
   */
  async history(minutes: number): Promise<HistoryPoint[]> {
    const since = Date.now() - minutes * 60_000;
    const ids = await this.liveIds(since);
    // Newest first: the points of the last `minutes` are the head of each list (one more for a late beat).
    const points = Math.ceil((minutes * 60_000) / this.intervalMs) + 1;
    const lists = await Promise.all(ids.map((id) => this.redis.command.lrange(this.historyKey(id), 0, points - 1)));
    // Each instance's points, oldest first; the buckets are the intervals any of them fell in.
    const interval = this.intervalMs;
    const perInstance = lists.map((list) =>
      list
        .map((json) => {
          const point = JSON.parse(json) as HistoryPoint;
          return { point, at: Date.parse(point.at) };
        })
        .filter(({ at }) => at >= since)
        .sort((x, y) => x.at - y.at),
    );
    const buckets = [...new Set(perInstance.flat().map(({ at }) => Math.floor(at / interval) * interval))].sort(
      (a, b) => a - b,
    );
    // Heartbeats drift against the buckets' edges: an instance can beat twice in one interval and
    // not at all in the next. So a bucket takes, of each instance, its latest point up to the
    // bucket's end, if that point is no older than the interval before: one point per instance.
    // Buckets and points are both oldest first: one cursor per instance walks its list once.
    const next = perInstance.map(() => 0);
    return buckets.map((bucket) => {
      const members: HistoryPoint[] = [];
      perInstance.forEach((list, i) => {
        while (next[i] < list.length && list[next[i]].at < bucket + interval) next[i]++;
        const latest = list[next[i] - 1];
        if (latest && latest.at >= bucket - interval) members.push(latest.point);
      });
      return {
        at: new Date(bucket).toISOString(),
        instances: members.length,
        connections: sumConnections(members.map((p) => p.connections)),
        rates: sumRates(members.map((p) => p.rates)),
      };
    });
  }

  /** One heartbeat: what is open, the rates since the last one, written with the history point. */
  async beat(): Promise<void> {
    try {
      const now = Date.now();
      const totals = await readTotals(this.metrics.registry);
      const rates = ratesBetween(totals, this.previous.totals, (now - this.previous.at) / 1000);
      this.previous = { totals, at: now };
      const report = this.realtime.report(SLOWEST);
      const chat = await this.gaugeSum('chat_connected_sockets');
      const connections: Connections = { ...report.connections, chat };
      const snapshot: InstanceSnapshot = {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        node: process.version,
        startedAt: this.startedAt,
        lastSeenAt: new Date(now).toISOString(),
        connections,
        subscribers: report.subscribers,
        rates,
        slowest: report.slowest,
      };
      const point: Omit<HistoryPoint, 'instances'> = { at: snapshot.lastSeenAt, connections, rates };
      const historyKey = this.historyKey(this.id);
      const windowMs = HISTORY_MINUTES * 60_000;
      await Promise.all([
        this.redis.command
          .multi()
          .set(this.key(this.id), JSON.stringify(snapshot), 'PX', MISSED_BEATS * this.intervalMs)
          .lpush(historyKey, JSON.stringify(point))
          .ltrim(historyKey, 0, Math.ceil(windowMs / this.intervalMs))
          .pexpire(historyKey, windowMs)
          .exec(),
        this.redis.command.zadd(this.indexKey(), now, this.id),
        this.redis.command.zremrangebyscore(this.indexKey(), '-inf', now - windowMs),
      ]);
      if (this.failing) this.logger.log('heartbeat written again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn(`heartbeat not written: ${(error as Error).message}`);
      this.failing = true;
    }
  }

  private async readTotalsNow(): Promise<void> {
    this.previous = { totals: await readTotals(this.metrics.registry), at: Date.now() };
  }

  private async gaugeSum(name: string): Promise<number> {
    const metric = this.metrics.registry.getSingleMetric(name);
    if (!metric) return 0;
    const { values } = await metric.get();
    return values.reduce((total, row) => total + row.value, 0);
  }

  private liveIds(since: number): Promise<string[]> {
    return this.redis.command.zrangebyscore(this.indexKey(), since, '+inf');
  }

  private indexKey(): string {
    return this.redis.key('instances');
  }

  /** An instance's snapshot and history share a slot (one transaction writes both). */
  private key(id: string): string {
    return this.redis.tagged(`instance:${id}`);
  }

  private historyKey(id: string): string {
    return `${this.key(id)}:history`;
  }
}

function sumConnections(all: Connections[]): Connections {
  const out: Connections = { sse: 0, ndjson: 0, ws: 0, longPoll: 0, chat: 0 };
  for (const c of all) for (const key of Object.keys(out) as (keyof Connections)[]) out[key] += c[key];
  return out;
}
