/**
 * The whole configuration, read from the environment once at boot and validated.
 * One namespace per concern; inject `AppConfig` and read `config.redis.url`, fully typed.
 * A malformed or missing value stops the boot with a message naming the variable.
 */
import { accessSync, constants } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, type Env, EnvReader } from './env.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/livefeed';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default retry schedule for outbound webhooks, in seconds after the first attempt. */
export const DEFAULT_OUTBOUND_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];

/** `host:port,host:port` → addresses; a malformed item is a problem naming the variable. */
function hostPorts(r: EnvReader, name: string, items: string[]): { host: string; port: number }[] {
  const parsed = items.map((item) => /^(\[[0-9a-fA-F:]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item));
  const bad = items.filter((item, i) => !parsed[i] || Number(parsed[i]![2]) < 1 || Number(parsed[i]![2]) > 65535);
  if (bad.length > 0) {
    r.problems.push(`${name} must be a comma-separated list of host:port (bad: ${bad.join(', ')})`);
    return [];
  }
  return parsed.map((match) => ({ host: match![1].replace(/^\[|\]$/g, ''), port: Number(match![2]) }));
}

function loadAll(env: Env) {
  const r = new EnvReader(env);
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const production = nodeEnv === 'production';

  const generated: string[] = [];
  const secret = (name: string, minLength: number): string => {
    if (!r.has(name)) {
      if (production) return r.string(name);
      generated.push(name);
      return randomBytes(24).toString('base64url');
    }
    const value = r.string(name);
    if (value.length < minLength) r.problems.push(`${name} must be at least ${minLength} characters`);
    return value;
  };

  // Generated (development) or required (production) in this order: the messages name them so.
  const adminApiKey = secret('ADMIN_API_KEY', 16);
  const jwtSecret = secret('JWT_SECRET', 32);
  const sentinelsRaw = r.list('REDIS_SENTINELS');
  const demoMode = r.bool('DEMO_MODE', false);
  const anonymousDefault = production && !demoMode ? 'none' : 'basic';
  // Demo mode's own Stripe signing secret (derived from JWT_SECRET, so only this app knows it): the
  // dashboard's plan switch signs its Stripe-shaped events with it (POST /demo/stripe/subscription).
  const stripeDemoSecret = demoMode
    ? `whsec_${createHmac('sha256', jwtSecret).update('livefeed stripe demo').digest('base64')}`
    : undefined;
  const feedTokenSecret = r.optionalString('FEED_TOKEN_SECRET');
  if (feedTokenSecret !== undefined && feedTokenSecret.length < 32) {
    r.problems.push('FEED_TOKEN_SECRET must be at least 32 characters');
  }

  const config = {
    app: {
      nodeEnv,
      production,
      port: r.int('PORT', 3000, 0, 65535),
      host: r.string('HOST', '0.0.0.0'),
      instanceId: r.string('INSTANCE_ID', `${hostname()}-${process.pid}`),
      /** How often an instance writes its heartbeat (connections, rates) to the registry the console reads. */
      instanceHeartbeatMs: r.int('INSTANCE_HEARTBEAT_MS', 2_000, 100, 60_000),
      demoMode,
      corsOrigins: r.list('CORS_ORIGINS'),
      logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
      bodyLimitBytes: r.int('BODY_LIMIT_BYTES', 1_048_576, 1024, 100 * 1_048_576),
      shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 9_000, 100, 60_000),
      /**
       * Headers and body of a request must arrive within this time (408 after it), large webhook
       * bodies included; a response that streams (SSE, long poll, socket.io) is not limited by it.
       */
      requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 30_000, 500, 300_000),
      /**
       * Which proxies may set X-Forwarded-For (the client address used by rate limits and logs):
       * `false` (default: the socket's peer is the client), `true` (any), or a comma list of
       * addresses, CIDRs and `loopback` / `linklocal` / `uniquelocal`.
       */
      trustProxy: r.trustProxy('TRUST_PROXY'),
      /**
       * PEM certificate and key files: both set, the app serves HTTPS with HTTP/2, and HTTP/1.1 on
       * the same port for clients that do not offer h2 (ALPN); neither, plain HTTP/1.1.
       */
      tls: tlsFiles(r),
    },
    rateLimit: {
      /** Fixed window, per client address, shared by every instance through Redis. */
      windowSeconds: r.int('RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86_400),
      /** Requests per window to the public API, feeds and polls (0 turns the limit off). */
      public: r.int('RATE_LIMIT_PUBLIC', 1_200, 0, 1_000_000_000),
      /** Requests per window to the webhook intake routes (providers burst; 0 turns it off). */
      webhooks: r.int('RATE_LIMIT_WEBHOOKS', 12_000, 0, 1_000_000_000),
      /** Sign-ins per window (`POST /auth/demo`; 0 turns it off). */
      auth: r.int('RATE_LIMIT_AUTH', 30, 0, 1_000_000_000),
    },
    database: {
      url: r.url('DATABASE_URL', DEFAULT_DATABASE_URL, ['postgres:', 'postgresql:']),
      poolSize: r.int('DATABASE_POOL_SIZE', 20, 1, 500),
      createIfMissing: r.bool('DATABASE_CREATE', true),
    },
    redis: {
      /** One node; ignored when `sentinels` or `clusterNodes` is set. */
      url: r.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis:', 'rediss:']),
      /** Cluster mode when set: seed nodes of a Redis Cluster (≥ 7, for sharded pub/sub). */
      clusterNodes: hostPorts(r, 'REDIS_CLUSTER_NODES', r.list('REDIS_CLUSTER_NODES')),
      /** Sentinel mode when set: the sentinels to ask for the current master of `sentinelName`. */
      sentinels: hostPorts(r, 'REDIS_SENTINELS', sentinelsRaw),
      sentinelName: r.string('REDIS_SENTINEL_NAME', 'mymaster'),
      /** The sentinels' own password (`requirepass` in sentinel.conf), if any. */
      sentinelPassword: r.optionalString('REDIS_SENTINEL_PASSWORD'),
      /** The data nodes' password (Sentinel and Cluster modes, or single node when the URL has none). */
      password: r.optionalString('REDIS_PASSWORD'),
      keyPrefix: r.string('REDIS_KEY_PREFIX', 'lf:'),
      /**
       * Longest wait for a command on the shared command and publish connections. While Redis is away
       * ioredis queues commands until a reconnect attempt gives up on them, which with its backoff can
       * be 10 s; past this the caller gets an error (a 503 on the HTTP path) instead.
       */
      commandTimeoutMs: r.int('REDIS_COMMAND_TIMEOUT_MS', 2_000, 100, 60_000),
      /**
       * Replicas a feed publish must reach (Redis WAIT) before it is acknowledged; default 1 in
       * Sentinel mode, so a failover loses no acknowledged tick or score event, else 0.
       */
      waitReplicas: r.int('REDIS_WAIT_REPLICAS', sentinelsRaw.length > 0 ? 1 : 0, 0, 10),
    },
    auth: {
      adminApiKey,
      jwtSecret,
      jwtTtlSeconds: r.int('JWT_TTL_SECONDS', 86_400, 60, 30 * 86_400),
      /**
       * HS256 secret of feed tokens (shared with backends that mint their own). Unset: derived from
       * JWT_SECRET, distinct from it, so only this app mints them.
       */
      feedTokenSecret:
        feedTokenSecret ?? createHmac('sha256', jwtSecret).update('livefeed feed tokens').digest('base64url'),
      /**
       * What a client without credentials may read, until an operator sets the anonymous plan's
       * entitlement: nothing in production (unless DEMO_MODE), basic instruments and scores otherwise.
       */
      anonymousAccess: r.oneOf('FEED_ANONYMOUS_ACCESS', ['none', 'basic', 'all'] as const, anonymousDefault),
      /** How long before a stream's token expires it gets `event: refresh`; it is closed this long after expiry. */
      feedTokenGraceSeconds: r.int('FEED_TOKEN_GRACE_SECONDS', 30, 1, 3_600),
    },
    outbox: {
      pollIntervalMs: r.int('OUTBOX_POLL_INTERVAL_MS', 1_000, 50, 60_000),
      /** Events per claim (and partition keys per claim). */
      batchSize: r.int('OUTBOX_BATCH_SIZE', 200, 1, 10_000),
      /** Batches an instance handles at once (each of other partition keys). */
      lanes: r.int('OUTBOX_LANES', 4, 1, 64),
      /** How long a claimed key is the relay's (renewed while it works); a dead relay's keys free up after it. */
      leaseMs: r.int('OUTBOX_LEASE_MS', 30_000, 1_000, 600_000),
      maxAttempts: r.int('OUTBOX_MAX_ATTEMPTS', 50, 1, 10_000),
      retentionHours: r.int('OUTBOX_RETENTION_HOURS', 72, 1, 24 * 365),
    },
    queue: {
      attempts: r.int('QUEUE_DEFAULT_ATTEMPTS', 5, 1, 100),
      backoffMs: r.int('QUEUE_DEFAULT_BACKOFF_MS', 1_000, 10, 3_600_000),
      keepCompleted: r.int('QUEUE_KEEP_COMPLETED', 1_000, 0, 1_000_000),
      keepFailed: r.int('QUEUE_KEEP_FAILED', 10_000, 0, 1_000_000),
    },
    realtime: {
      tickerLogLength: r.int('TICKER_LOG_LENGTH', 100_000, 100, 10_000_000),
      /** Logs each feed is split over by topic hash (on a cluster: spread over the masters). */
      feedShards: r.int('FEED_SHARDS', 1, 1, 64),
      scoresLogLength: r.int('SCORES_LOG_LENGTH', 100_000, 100, 10_000_000),
      sseConnectionBudgetBytes: r.int('SSE_CONNECTION_BUDGET_BYTES', 65_536, 1024, 16 * 1_048_576),
      sseHardLimitBytes: r.int('SSE_HARD_LIMIT_BYTES', 1_048_576, 4096, 64 * 1_048_576),
      sseHeartbeatMs: r.int('SSE_HEARTBEAT_MS', 15_000, 100, 300_000),
      sseRetryMs: r.int('SSE_RETRY_MS', 2_000, 100, 60_000),
      maxSseConnections: r.int('MAX_SSE_CONNECTIONS', 20_000, 1, 1_000_000),
      maxTopicsPerSubscription: r.int('MAX_TOPICS_PER_SUBSCRIPTION', 100, 1, 10_000),
      longPollMaxMs: r.int('LONG_POLL_MAX_MS', 30_000, 1_000, 120_000),
      maxTicksPerBatch: r.int('MAX_TICKS_PER_BATCH', 1_000, 1, 100_000),
      demoTickRatePerSecond: r.int('DEMO_TICK_RATE', 20, 1, 100_000),
      demoScoreStepMs: r.int('DEMO_SCORE_STEP_MS', 2_000, 100, 600_000),
    },
    chat: {
      maxMessageChars: r.int('CHAT_MAX_MESSAGE_CHARS', 4_000, 1, 100_000),
      messagesPerMinute: r.int('CHAT_MESSAGES_PER_MINUTE', 120, 1, 100_000),
      presenceTtlSeconds: r.int('CHAT_PRESENCE_TTL_SECONDS', 60, 5, 3_600),
      maxGroupMembers: r.int('CHAT_MAX_GROUP_MEMBERS', 200, 2, 10_000),
      typingThrottleMs: r.int('CHAT_TYPING_THROTTLE_MS', 2_000, 0, 60_000),
      syncLimit: r.int('CHAT_SYNC_LIMIT', 1_000, 1, 10_000),
    },
    inbound: {
      /** STRIPE_WEBHOOK_SECRETS, and in demo mode the demo secret after them. */
      stripeSecrets: [...r.list('STRIPE_WEBHOOK_SECRETS'), ...(stripeDemoSecret ? [stripeDemoSecret] : [])],
      /** Demo mode only: what the dashboard's plan switch signs with. */
      stripeDemoSecret,
      githubSecrets: r.list('GITHUB_WEBHOOK_SECRETS'),
      standardSources: r.pairs('STANDARD_WEBHOOK_SOURCES'),
      stripeBodyLimitBytes: r.int('STRIPE_BODY_LIMIT_BYTES', 1_048_576, 1024, 100 * 1_048_576),
      githubBodyLimitBytes: r.int('GITHUB_BODY_LIMIT_BYTES', 25 * 1_048_576, 1024, 100 * 1_048_576),
      standardBodyLimitBytes: r.int('STANDARD_WEBHOOK_BODY_LIMIT_BYTES', 1_048_576, 1024, 100 * 1_048_576),
      toleranceSeconds: r.int('WEBHOOK_TOLERANCE_SECONDS', 300, 1, 86_400),
      /** Longest wait for Postgres on the intake path before answering 503. */
      storeTimeoutMs: r.int('INBOUND_STORE_TIMEOUT_MS', 5_000, 100, 60_000),
      workerConcurrency: r.int('INBOUND_WORKER_CONCURRENCY', 50, 1, 1_000),
      /** BullMQ job lock; a job of a killed worker is taken up again after about twice this. */
      jobLockMs: r.int('INBOUND_JOB_LOCK_MS', 30_000, 1_000, 600_000),
      reconcileIntervalMs: r.int('INBOUND_RECONCILE_INTERVAL_MS', 30_000, 200, 3_600_000),
      /** A stored event still waiting after this long is checked for a missing job. */
      reconcileAfterMs: r.int('INBOUND_RECONCILE_AFTER_MS', 10_000, 0, 86_400_000),
      /** Signature failures of one source within a window that record `inbound.rejected.spike` (0 = never). */
      rejectionSpikeThreshold: r.int('INBOUND_REJECTION_SPIKE_THRESHOLD', 20, 0, 1_000_000),
      rejectionSpikeWindowSeconds: r.int('INBOUND_REJECTION_SPIKE_WINDOW_SECONDS', 300, 1, 86_400),
    },
    outbound: {
      allowedCidrs: r.cidrs('OUTBOUND_ALLOWED_CIDRS'),
      retrySchedule: r.intList('OUTBOUND_RETRY_SCHEDULE', DEFAULT_OUTBOUND_RETRY_SCHEDULE, 0, 7 * 86_400),
      connectTimeoutMs: r.int('OUTBOUND_CONNECT_TIMEOUT_MS', 5_000, 100, 60_000),
      requestTimeoutMs: r.int('OUTBOUND_REQUEST_TIMEOUT_MS', 15_000, 100, 300_000),
      secretGraceHours: r.int('OUTBOUND_SECRET_GRACE_HOURS', 24, 0, 24 * 30),
      disableAfterHours: r.int('OUTBOUND_DISABLE_AFTER_HOURS', 120, 1, 24 * 365),
      /** Deliveries in flight per instance (BullMQ worker concurrency). */
      concurrency: r.int('OUTBOUND_CONCURRENCY', 32, 1, 1_000),
      /** An endpoint answering this slowly on average (ms) is held to `slowEndpointInFlight` (endpoint-gate.ts). */
      slowEndpointMs: r.int('OUTBOUND_SLOW_ENDPOINT_MS', 500, 1, 600_000),
      /** Attempts in flight per instance for a slow endpoint, so it cannot take every slot. */
      slowEndpointInFlight: r.int('OUTBOUND_SLOW_ENDPOINT_IN_FLIGHT', 8, 1, 1_000),
      /** Keep-alive connections per receiver origin, per instance. */
      connectionsPerOrigin: r.int('OUTBOUND_CONNECTIONS_PER_ORIGIN', 32, 1, 1_000),
      /** How often Postgres is compared with the queue (pending deliveries missing from Redis are re-enqueued). */
      reconcileIntervalMs: r.int('OUTBOUND_RECONCILE_INTERVAL_MS', 30_000, 100, 3_600_000),
      /** Messages (and their deliveries and attempts) older than this are deleted, unless still pending. */
      retentionDays: r.int('OUTBOUND_RETENTION_DAYS', 30, 1, 3_650),
    },
  };

  for (const source of Object.keys(config.inbound.standardSources)) {
    // The source name is the event's provider, next to `stripe` and `github`.
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(source) || source === 'stripe' || source === 'github') {
      r.problems.push(
        `STANDARD_WEBHOOK_SOURCES: source name "${source}" must be 1-32 of a-z, 0-9, _ or - and not stripe or github`,
      );
    }
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return { config, generated };
}

export type AppConfigShape = ReturnType<typeof loadAll>['config'];

/** Injection token and type: `constructor(private readonly config: AppConfig)`. */
/* eslint-disable @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type */
export abstract class AppConfig {}
export interface AppConfig extends AppConfigShape {}
/* eslint-enable @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type */

/**
 * Parse and validate the environment. In development, a missing admin key or JWT secret is
 * generated and reported through `generated` so the caller can print it once.
 */
export function loadConfig(env: Env = process.env): { config: AppConfig; generated: string[] } {
  return loadAll(env);
}

/** TLS_CERT_FILE and TLS_KEY_FILE: both (readable files) or neither. */
function tlsFiles(r: EnvReader): { certFile: string; keyFile: string } | undefined {
  const certFile = r.optionalString('TLS_CERT_FILE');
  const keyFile = r.optionalString('TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    r.problems.push('TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither');
    return undefined;
  }
  for (const [name, file] of [
    ['TLS_CERT_FILE', certFile],
    ['TLS_KEY_FILE', keyFile],
  ]) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      r.problems.push(`${name}: cannot read ${file}`);
    }
  }
  return { certFile, keyFile };
}
