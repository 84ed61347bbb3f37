/**
 * The realtime core: creates feeds (each subscribes in Redis only the topics its local listeners
 * hold), serves SSE streams and long polls with resume, and keeps the metrics. Features call `createFeed` and `stream`/`poll`; they never
 * touch Redis streams or sockets themselves.
 */
import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { streamHeaders } from '#src/platform/http/security-headers.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { Feed } from './feed.js';
import type { FeedDefinition } from './feed-event.js';
import { FeedStream, LIVE, type SnapshotReader, type StreamPolicy } from './feed-stream.js';
import { SseConnection, type SseOptions, type SseStats, streamFormatOf } from './sse-connection.js';
import { WS_RESUME, WsConnection } from './ws-connection.js';

/** A feed's stream on a WebSocket: an open stream whose topics can change. */
export interface SocketStream extends OpenStream {
  /** Sends the starting point (snapshot, or replay after `cursor`), then goes on live. */
  start(cursor: string | undefined): Promise<void>;
  /** Serves these topics from now on; an added one gets its own snapshot first. */
  changeTopics(topics: ReadonlySet<string>): Promise<void>;
  /** Ends this feed's stream on the socket (unsubscribed), leaving the socket open. */
  end(): void;
}

/** One open connection as the instance registry reports it (the console's "slowest connections"). */
export interface ConnectionView {
  transport: 'sse' | 'ndjson' | 'ws';
  feeds: string[];
  /** Topics its streams serve; null when one of them serves its whole feed. */
  topics: number | null;
  bufferedBytes: number;
  ageSeconds: number;
}

/** What is open on this instance, per transport and per feed, and the connections that buffer most. */
export interface ConnectionsReport {
  connections: { sse: number; ndjson: number; ws: number; longPoll: number };
  /** Open streams per feed, SSE, NDJSON and WebSocket alike. */
  subscribers: Record<string, number>;
  slowest: ConnectionView[];
}

/** What `report()` needs of an open connection beyond the connection itself (kept small: one per open connection). */
interface TrackedConnection {
  transport: ConnectionView['transport'];
  openedAt: number;
  streams: FeedStream[];
}

export interface StreamOptions {
  topics?: ReadonlySet<string>;
  /** `Last-Event-ID` header, or the `lastEventId` query on first connect. */
  lastEventId?: string;
  /** What a new (or reset) client gets first: `event: snapshot` (as of `asOfMs` for a delayed stream). */
  snapshot: SnapshotReader;
  /** How the stream delivers (default live); `OpenStream.setPolicy` changes it while open. */
  policy?: StreamPolicy;
  /** The stream's access control (feed access by plan): one object, not two closures per stream. */
  hold?: StreamHold;
}

/** What keeps an SSE/NDJSON stream under its rights: told once it is open, and once it ends. */
export interface StreamHold {
  /** The stream is open: `stream` is the handle to revoke topics or change its policy by. */
  follow(stream: OpenStream): void;
  /** The stream ended, however it ended (once). */
  release(): void;
}

/** An open SSE stream, for what watches its rights. */
export interface OpenStream {
  /** Stops the stream's events of these topics and tells the client (`event: revoked`); closes it when none remain. */
  revoke(topics: string[], reason: string): void;
  /** The topics it serves now (undefined: all of the feed's, less the revoked ones). */
  topics(): ReadonlySet<string> | undefined;
  /** A new delivery policy, from the current position (no gap, no repeat). */
  setPolicy(policy: StreamPolicy): void;
  /** A control event (not a feed event: no id). */
  sendControl(type: string, data: unknown): void;
  close(): void;
}

@Injectable()
export class RealtimeService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(RealtimeService.name);
  private readonly feeds = new Map<string, Feed>();
  private readonly connections = new Set<SseConnection>();
  private readonly sockets = new Set<WsConnection>();
  /** Every open connection with its streams, for `report()`. */
  private readonly tracked = new Map<SseConnection | WsConnection, TrackedConnection>();
  private longPolls = 0;
  private heartbeat?: NodeJS.Timeout;
  private readonly feedState = new Map<
    string,
    {
      /** The feed's metric labels, one object for all of its streams. */
      labels: { feed: string };
      stats: SseStats;
      reported: SseStats;
      sseOptions: SseOptions;
      ws: SseStats;
      wsReported: SseStats;
    }
  >();
  /** Received from Redis per feed, as plain numbers on the hot path (handed to prom-client on scrape). */
  private readonly received = new Map<string, { events: number; bytes: number }>();
  private readonly openGauge: Gauge<'feed'>;
  private readonly socketsGauge: Gauge;
  private readonly channelsGauge: Gauge<'feed'>;
  private readonly published: Counter<'feed'>;
  private readonly written: Counter<'feed'>;
  private readonly conflated: Counter<'feed'>;
  private readonly slowCloses: Counter<'feed'>;
  private readonly lag: Histogram<'feed'>;

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.openGauge = metrics.gauge('sse_connections_open', 'Open SSE connections per feed', ['feed']);
    this.published = metrics.counter('feed_events_published_total', 'Events published per feed', ['feed']);
    this.channelsGauge = metrics.gauge(
      'feed_channels_subscribed',
      'Redis channels this instance subscribes per feed (topics and the whole-batch one)',
      ['feed'],
    );
    const received = this.received;
    const fromReceived = (key: 'events' | 'bytes') => {
      const reported = new Map<string, number>();
      return function (this: Counter<'feed'>) {
        for (const [feed, counts] of received) {
          const delta = counts[key] - (reported.get(feed) ?? 0);
          if (delta > 0) this.inc({ feed }, delta);
          reported.set(feed, counts[key]);
        }
      };
    };
    metrics.counter(
      'feed_events_received_total',
      'Events received from Redis pub/sub per feed (once per event per instance)',
      ['feed'],
      fromReceived('events'),
    );
    metrics.counter(
      'feed_bytes_received_total',
      'Pub/sub message bytes received from Redis per feed',
      ['feed'],
      fromReceived('bytes'),
    );
    // Frames written, conflated and slow closes are counted as plain numbers on the hot path (one
    // shared stats object per feed) and handed to prom-client when it is scraped.
    const feedState = this.feedState;
    const fromStats = (key: keyof SseStats, transport: 'sse' | 'ws' = 'sse') =>
      function (this: Counter<'feed'>) {
        for (const [feed, state] of feedState) {
          const [stats, reported] = transport === 'sse' ? [state.stats, state.reported] : [state.ws, state.wsReported];
          const delta = stats[key] - reported[key];
          if (delta > 0) this.inc({ feed }, delta);
          reported[key] = stats[key];
        }
      };
    this.socketsGauge = metrics.gauge('ws_connections_open', 'Open feed WebSockets (/feeds/ws)');
    metrics.counter(
      'ws_frames_written_total',
      'Feed frames written to WebSockets',
      ['feed'],
      fromStats('written', 'ws'),
    );
    metrics.counter(
      'ws_frames_conflated_total',
      'WebSocket feed frames replaced by a newer one while congested',
      ['feed'],
      fromStats('conflated', 'ws'),
    );
    metrics.counter(
      'ws_slow_consumer_closes_total',
      'WebSockets closed past the hard limit',
      ['feed'],
      fromStats('slowCloses', 'ws'),
    );
    this.written = metrics.counter(
      'sse_frames_written_total',
      'SSE frames written per feed',
      ['feed'],
      fromStats('written'),
    );
    this.conflated = metrics.counter(
      'sse_frames_conflated_total',
      'Frames replaced by a newer one while congested',
      ['feed'],
      fromStats('conflated'),
    );
    this.slowCloses = metrics.counter(
      'sse_slow_consumer_closes_total',
      'Connections closed past the hard limit',
      ['feed'],
      fromStats('slowCloses'),
    );
    this.lag = metrics.histogram(
      'feed_publish_to_write_seconds',
      'Publish to SSE write lag',
      ['feed'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
  }

  onModuleInit(): void {
    // One timer for every stream of this instance, not one per connection.
    this.heartbeat = setInterval(() => {
      for (const connection of this.connections) connection.heartbeat();
      for (const socket of this.sockets) socket.heartbeat();
    }, this.config.realtime.sseHeartbeatMs).unref();
    // Pub/sub is fire-and-forget: while the subscriber was disconnected, events may have been
    // published that this instance never heard of. Every open stream may have a gap, so end them
    // all; each client resumes from its Last-Event-ID (replay from the log, or `reset` if Redis
    // lost the log), which has no gap. Clients spread their reconnects by the `retry:` hint.
    this.redis.onSubscriberBack(() => {
      for (const feed of this.feeds.values()) feed.reannounce();
      if (this.connections.size + this.sockets.size === 0) return;
      this.logger.warn(
        `Redis subscriber reconnected: ending ${this.connections.size} streams and ${this.sockets.size} sockets so they resume`,
      );
      for (const connection of [...this.connections]) connection.close();
      for (const socket of [...this.sockets]) socket.close(WS_RESUME, 'resume from your cursors');
    });
  }

  /** A feed over FEED_SHARDS logs. */
  createFeed(spec: Omit<FeedDefinition, 'shards'>): Feed {
    const definition: FeedDefinition = { ...spec, shards: this.config.realtime.feedShards };
    if (this.feeds.has(definition.name)) throw new Error(`feed ${definition.name} exists`);
    const labels = { feed: definition.name };
    const received = { events: 0, bytes: 0 };
    this.received.set(definition.name, received);
    this.channelsGauge.set(labels, 0);
    const options = { instanceId: this.config.app.instanceId, subscribeTimeoutMs: this.config.redis.commandTimeoutMs };
    const feed = new Feed(definition, this.redis, options, {
      onPublished: (count) => this.published.inc(labels, count),
      onReceived: (bytes, events) => {
        received.bytes += bytes;
        received.events += events;
      },
      // Once per event per instance, after the whole local fan-out: the lag of the last subscriber.
      onFannedOut: (event) => this.lag.observe(labels, Math.max(0, Date.now() - event.publishedAt) / 1000),
      onChannels: (count) => this.channelsGauge.set(labels, count),
      onBadMessage: (error) => this.logger.error(`feed ${definition.name}: bad fan-out message: ${error.message}`),
    });
    const rt = this.config.realtime;
    const stats: SseStats = { written: 0, conflated: 0, slowCloses: 0 };
    this.feedState.set(definition.name, {
      labels,
      stats,
      reported: { written: 0, conflated: 0, slowCloses: 0 },
      ws: { written: 0, conflated: 0, slowCloses: 0 },
      wsReported: { written: 0, conflated: 0, slowCloses: 0 },
      sseOptions: {
        policy: definition.policy,
        budgetBytes: rt.sseConnectionBudgetBytes,
        hardLimitBytes: rt.sseHardLimitBytes,
        retryMs: rt.sseRetryMs,
        stats,
      },
    });
    this.feeds.set(definition.name, feed);
    return feed;
  }

  /** Open SSE connections on this instance, with what each buffers (for tests and diagnostics). */
  connectionStats(): { count: number; maxBufferedBytes: number } {
    let max = 0;
    for (const connection of this.connections) max = Math.max(max, connection.bufferedBytes);
    return { count: this.connections.size, maxBufferedBytes: max };
  }

  /** Open feed WebSockets on this instance, with what each buffers (for tests and diagnostics). */
  socketStats(): { count: number; maxBufferedBytes: number } {
    let max = 0;
    for (const socket of this.sockets) max = Math.max(max, socket.bufferedBytes);
    return { count: this.sockets.size, maxBufferedBytes: max };
  }

  /**
   * Connections per transport, streams per feed, and the `slowest` connections by buffered bytes
   * (then age). Runs every heartbeat over every open connection, so it allocates nothing per
   * connection: it counts, keeps the `slowest` best candidates in a small sorted array, and builds
   * views of those alone.
   */
  report(slowest: number): ConnectionsReport {
    const connections = { sse: 0, ndjson: 0, ws: this.sockets.size, longPoll: this.longPolls };
    const subscribers: Record<string, number> = {};
    for (const name of this.feeds.keys()) subscribers[name] = 0;
    type Entry = [SseConnection | WsConnection, TrackedConnection];
    const top: Entry[] = [];
    const before = ([a, ta]: Entry, [b, tb]: Entry) =>
      a.bufferedBytes > b.bufferedBytes || (a.bufferedBytes === b.bufferedBytes && ta.openedAt < tb.openedAt);
    // forEach, not for…of: a Map's entries iterator makes a [key, value] pair per connection.
    this.tracked.forEach((tracked, connection) => {
      if (tracked.transport !== 'ws') connections[tracked.transport]++;
      for (let i = 0; i < tracked.streams.length; i++) {
        const feed = tracked.streams[i].feedName;
        subscribers[feed] = (subscribers[feed] ?? 0) + 1;
      }
      if (slowest <= 0) return;
      const entry: Entry = [connection, tracked];
      if (top.length === slowest) {
        if (!before(entry, top[top.length - 1])) return;
        top.pop();
      }
      // Insertion into the sorted candidates (at most `slowest` of them).
      let at = top.length;
      top.push(entry);
      while (at > 0 && before(entry, top[at - 1])) {
        top[at] = top[at - 1];
        at--;
      }
      top[at] = entry;
    });
    const now = Date.now();
    const views = top.map(([connection, tracked]): ConnectionView => {
      let topics: number | null = 0;
      for (const stream of tracked.streams) {
        const served = stream.topics();
        topics = served === undefined || topics === null ? null : topics + served.size;
      }
      return {
        transport: tracked.transport,
        feeds: tracked.streams.map((stream) => stream.feedName),
        topics,
        bufferedBytes: connection.bufferedBytes,
        ageSeconds: Math.round((now - tracked.openedAt) / 1000),
      };
    });
    return { connections, subscribers, slowest: views };
  }

  /** Whether this instance takes another stream, poll or socket (MAX_SSE_CONNECTIONS counts them all). */
  hasCapacity(): boolean {
    return this.connections.size + this.sockets.size + this.longPolls < this.config.realtime.maxSseConnections;
  }

  private assertCapacity(reply: FastifyReply): void {
    if (!this.hasCapacity()) {
      reply.header('retry-after', '5');
      throw new HttpException(
        { message: 'too many open streams on this instance; retry later' },
        HttpStatus.SERVICE_UNAVAILABLE,
      );
    }
  }

  /**
   * Serves a stream, SSE or (`Accept: application/x-ndjson`) NDJSON: snapshot or replay, then live
   * (or delayed), with no gap and no duplicate (feed-stream.ts).
   */
  async stream(request: FastifyRequest, reply: FastifyReply, feed: Feed, options: StreamOptions): Promise<void> {
    this.assertCapacity(reply);
    const state = this.feedState.get(feed.name)!;
    const labels = state.labels;
    const format = streamFormatOf(request.headers.accept);
    const connection = new SseConnection(reply.raw, state.sseOptions, format);
    const stream = new FeedStream(
      feed,
      connection,
      options.topics,
      options.policy ?? LIVE,
      options.snapshot,
      this.logger,
    );
    this.connections.add(connection);
    this.tracked.set(connection, { transport: format, openedAt: Date.now(), streams: [stream] });
    this.openGauge.inc(labels);
    const hold = options.hold; // what the close handler keeps (not the whole options)
    connection.onClose(() => {
      this.connections.delete(connection);
      this.tracked.delete(connection);
      this.openGauge.dec(labels);
      hold?.release();
    });
    hold?.follow(stream);
    reply.hijack();
    connection.open(streamHeaders(reply.getHeaders()));
    await stream.start(options.lastEventId);
  }

  /** A new feed WebSocket: kept under the heartbeat, the metrics and shutdown. */
  adoptSocket(ws: WebSocket, socket: Duplex): WsConnection {
    const rt = this.config.realtime;
    const connection = new WsConnection(ws, socket, {
      budgetBytes: rt.sseConnectionBudgetBytes,
      hardLimitBytes: rt.sseHardLimitBytes,
    });
    this.sockets.add(connection);
    this.tracked.set(connection, { transport: 'ws', openedAt: Date.now(), streams: [] });
    this.socketsGauge.inc();
    connection.onClose(() => {
      this.sockets.delete(connection);
      this.tracked.delete(connection);
      this.socketsGauge.dec();
    });
    return connection;
  }

  /** A feed's stream on a WebSocket, with the same starting points, policies and resume as SSE (feed-stream.ts). */
  socketStream(
    connection: WsConnection,
    feed: Feed,
    options: Omit<StreamOptions, 'lastEventId' | 'hold'> & { onClose?: () => void },
  ): SocketStream {
    const sink = connection.sink(feed.name, feed.definition.policy, this.feedState.get(feed.name)!.ws);
    const stream = new FeedStream(feed, sink, options.topics, options.policy ?? LIVE, options.snapshot, this.logger);
    const streams = this.tracked.get(connection)?.streams;
    streams?.push(stream);
    sink.onClose(() => {
      streams?.splice(streams.indexOf(stream), 1);
      options.onClose?.();
    });
    return stream;
  }

  /**
   * An operator's tail of one topic (the console): the events after `cursor` at once, none and the
   * current head without one; a `reset` for a cursor the logs cannot vouch for. Undefined: no such feed.
   */
  async tail(name: string, topic: string, cursor: string | undefined) {
    const feed = this.feeds.get(name);
    return feed ? feed.poll(new Set([topic]), cursor, 0) : undefined;
  }

  /** Long poll with a concurrency cap shared with SSE connections. */
  async poll(
    reply: FastifyReply,
    feed: Feed,
    topics: ReadonlySet<string> | undefined,
    cursor: string | undefined,
    timeoutMs: number,
    delayMs = 0,
  ) {
    this.assertCapacity(reply);
    const abort = new AbortController();
    const onClose = () => abort.abort();
    reply.raw.on('close', onClose);
    this.longPolls++;
    try {
      const wait = Math.min(timeoutMs, this.config.realtime.longPollMaxMs);
      return await feed.poll(topics, cursor, wait, abort.signal, delayMs);
    } finally {
      this.longPolls--;
      reply.raw.off('close', onClose);
    }
  }

  /** Before the HTTP server closes: end every stream so clients reconnect (to another instance). */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const connection of [...this.connections]) connection.close();
    for (const socket of [...this.sockets]) socket.close(1001, 'server shutting down');
    await Promise.all([...this.feeds.values()].map((feed) => feed.close()));
  }
}
