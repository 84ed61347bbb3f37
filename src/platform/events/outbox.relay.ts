/**
 * Hands committed outbox events to registered handlers: at least once, once per handler in the
 * normal case, in id order per handler and partition key; different keys run in parallel, in
 * OUTBOX_LANES lanes per instance and across instances.
 *
 * Keys map to OUTBOX_PARTITIONS partitions (domain-event.ts), and relays lease partitions, so the
 * lease table holds at most 64 rows however many keys there are (a lease per key cost two row
 * writes per event where keys are many: users, matches). A partition's row stays once made: a
 * lease ends by moving `until` to now, not by a DELETE, so the claims' many small writes are HOT
 * updates in a page or two (inserted and deleted rows left 68 pages of dead rows to read per
 * claim between autovacuums, 0.6 ms of each claim).
 *
 * A lane claims, handles, then records, and holds no transaction while a handler runs:
 *  1. Claim: take the lease (`outbox_leases`) of its share of the partitions among those of the
 *     oldest pending events that no relay holds; then (a statement of its own, so that it sees what
 *     the partition's previous holder recorded) read those partitions' pending events (at most
 *     OUTBOX_BATCH_SIZE in all, a prefix of each partition), each with the handlers that already
 *     finished it. A lease lasts OUTBOX_LEASE_MS and is renewed while the lane works.
 *  2. Handle: each handler gets its events of the batch in one call. If that throws, it is called
 *     key by key, and a key that fails again event by event: the events before the failing one
 *     are done, the failing one is retried later, and the key's later events wait for it (for that
 *     handler), so in the batch a failure blocks only its own key, and each key stays in order.
 *  3. Record (one statement): what each handler finished of the events that stay pending
 *     (`outbox_handled`, also the record of a dead-letter), events every handler finished
 *     (`processed_at`), attempts and the last error of failed events; end the leases, and put a
 *     failed key in backoff (`outbox_backoffs`: none of its events is claimed for 100 ms, doubling
 *     per failure in a row up to 5 s; the other keys of its partition go on). A key that gets
 *     through again leaves the backoff. After OUTBOX_MAX_ATTEMPTS a failing event is dead-lettered for that
 *     handler and logged, and an `outbox.dead_lettered` event is recorded in the same transaction
 *     (none about an operational event: a handler failing on those cannot loop).
 * A relay that dies between claim and record loses nothing: its leases run out and another relay
 * runs the unrecorded handlers again (at least once). An event of a rolled-back transaction is never
 * seen: only committed rows are read.
 *
 * Latency: LISTEN/NOTIFY wakes the relay on commit; a slow poll covers lost notifications.
 *
 * The claim, read and record statements run on a pool of their own as prepared statements with
 * generic plans (platform/database/prepared-pool.ts), written to be answered from indexes; the
 * record of a dead-letter, which writes its notice in the same transaction, goes through TypeORM.
 */
import { randomBytes } from 'node:crypto';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import pg from 'pg';
import { Counter } from 'prom-client';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { msInterval, rows as sqlRows } from '#src/platform/database/sql.js';
import { PreparedPool } from '#src/platform/database/prepared-pool.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { SpanKind, inSpan } from '#src/platform/observability/tracing.js';
import {
  type DomainEvent,
  type DomainEventHandler,
  type NewDomainEvent,
  OPERATIONAL_EVENT_TYPES,
  OUTBOX_CHANNEL,
  OUTBOX_PARTITIONS,
} from './domain-event.js';
import { OutboxService } from './outbox.service.js';

interface Registration {
  name: string;
  types: ReadonlySet<string> | '*';
  handle: DomainEventHandler;
  maxAttempts?: number;
}

export interface HandlerOptions {
  /**
   * Attempts before an event is dead-lettered for this handler (default `OUTBOX_MAX_ATTEMPTS`).
   * `Infinity` for handlers that must never skip an event, such as a feed publisher waiting for
   * Redis to come back: it keeps blocking (and retrying) its own key's later events instead.
   */
  maxAttempts?: number;
}

interface Row {
  id: string;
  type: string;
  key: string;
  data: Record<string, unknown>;
  occurred_at: Date;
  attempts: number;
  /** The recording span's `traceparent` (null with tracing off). */
  trace: string | null;
  done: string[];
}

/** What handling a batch came to, to be recorded. */
interface Outcome {
  handled: { eventId: string; handler: string; outcome: 'done' | 'dead' }[];
  /** Failed events (not dead-lettered) and the last error. */
  errors: Map<string, string>;
  /** Events some handler has not finished (failed, or waiting behind a failure of its key). */
  incomplete: Set<string>;
  /** Keys with a failure: they back off. */
  failedKeys: Set<string>;
}

/** An event (`e`) whose key is not in backoff. */
const NOT_BACKING_OFF = `NOT EXISTS (SELECT 1 FROM outbox_backoffs b WHERE b.partition_key = e.partition_key AND b.until > now())`;

/**
 * Claim, first statement: leases. $1 owner, $2 lease (ms), $3 partitions per claim. Each partition's
 * oldest pending event (not backing off) is one probe of the pending (partition, id) index, so the
 * statement costs the same however long the backlog is; the partitions whose oldest events are the
 * oldest go first.
 */
const LEASE_SQL = `
WITH pending AS (
  SELECT t.partition, f.first FROM generate_series(0, ${OUTBOX_PARTITIONS - 1}) AS t(partition)
  CROSS JOIN LATERAL (
    SELECT e.id AS first FROM outbox_events e
    WHERE e.partition = t.partition AND e.processed_at IS NULL AND ${NOT_BACKING_OFF}
    ORDER BY e.id LIMIT 1
  ) f
), free AS (
  SELECT p.partition, p.first FROM pending p
  LEFT JOIN outbox_leases l ON l.partition = p.partition
  WHERE l.partition IS NULL OR l.until < now()
  ORDER BY p.first LIMIT $3
)
INSERT INTO outbox_leases AS l (partition, owner, until)
SELECT partition, $1, now() + ${msInterval('$2')} FROM free
ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, until = excluded.until
  WHERE l.until < now()
RETURNING l.partition`;

/**
 * Claim, second statement: the leased partitions' pending events ($1 partitions, $2 at most), with
 * the handlers done with each. A statement of its own, so that its snapshot holds everything the
 * relay that had a partition before recorded (a lease is free only once that record has committed).
 */
const EVENTS_SQL = `
SELECT e.id, e.type, e.partition_key AS key, e.data, e.occurred_at, e.attempts, e.trace_context AS trace,
       ARRAY(SELECT h.handler FROM outbox_handled h WHERE h.event_id = e.id) AS done
FROM unnest($1::smallint[]) AS t(partition) CROSS JOIN LATERAL (
  SELECT * FROM outbox_events e
  WHERE e.partition = t.partition AND e.processed_at IS NULL AND ${NOT_BACKING_OFF}
  ORDER BY e.id LIMIT $2
) e
ORDER BY e.id LIMIT $2`;

/**
 * $1-$3 handled (event, handler, outcome), $4-$6 per event: complete, error; $7 owner, $8 partitions
 * to free, $9 keys with a failure (into backoff: 100 ms, doubling, at most 5 s), $10 keys that were
 * failing and got through (out of backoff).
 */
const RECORD_SQL = `
WITH handled AS (
  INSERT INTO outbox_handled (event_id, handler, outcome)
  SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[]) ON CONFLICT DO NOTHING
), events AS (
  UPDATE outbox_events e SET
    processed_at = CASE WHEN f.complete THEN now() ELSE e.processed_at END,
    attempts = e.attempts + CASE WHEN f.error IS NULL THEN 0 ELSE 1 END,
    last_error = coalesce(f.error, e.last_error)
  FROM unnest($4::bigint[], $5::boolean[], $6::text[]) AS f(id, complete, error)
  WHERE e.id = f.id AND (f.complete OR f.error IS NOT NULL)
), freed AS (
  UPDATE outbox_leases SET until = now() WHERE owner = $7 AND partition = ANY($8::smallint[])
), recovered AS (
  DELETE FROM outbox_backoffs WHERE partition_key = ANY($10::varchar[])
)
INSERT INTO outbox_backoffs AS b (partition_key, failures, until)
SELECT key, 1, now() + interval '100 milliseconds' FROM unnest($9::varchar[]) AS k(key)
ON CONFLICT (partition_key) DO UPDATE SET failures = b.failures + 1,
  until = now() + ${msInterval('least(100 * power(2, least(b.failures, 6)), 5000)')}`;

@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly handlers = new Map<string, Registration>();
  /** This process's name on its leases. */
  private readonly owner: string;
  private listener?: pg.Client;
  private pollTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  /** Lanes at work; a kick while all are busy is remembered. */
  private readonly lanes = new Set<Promise<void>>();
  private again = false;
  private stopped = true;
  private readonly delivered: Counter;
  private readonly failed: Counter;
  /** The claim, read and record statements' own pool (prepared-pool.ts): a lane and a renewal each. */
  private readonly db: PreparedPool;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly outbox: OutboxService,
    workers: QueueWorkers,
    metrics: MetricsService,
  ) {
    workers.every('outbox.retention', 3_600_000, () => this.cleanup());
    this.owner = `${config.app.instanceId}:${randomBytes(4).toString('hex')}`.slice(0, 200);
    this.db = new PreparedPool(config.database.url, {
      name: 'outbox',
      max: config.outbox.lanes + 1,
      synchronousCommit: true,
    });
    this.delivered = metrics.counter('outbox_handled_total', 'Outbox events handled, by handler', ['handler']);
    this.failed = metrics.counter('outbox_handler_failures_total', 'Outbox handler failures, by handler', ['handler']);
  }

  /** Register a handler before the app starts (in `onModuleInit`). `name` must be stable across releases. */
  register(
    name: string,
    types: readonly string[] | '*',
    handle: DomainEventHandler,
    options: HandlerOptions = {},
  ): void {
    if (this.handlers.has(name)) throw new Error(`outbox handler ${name} is already registered`);
    this.handlers.set(name, { name, types: types === '*' ? '*' : new Set(types), handle, ...options });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.stopped = false;
    void this.listen();
    this.pollTimer = setInterval(() => this.kick(), this.config.outbox.pollIntervalMs);
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.retryTimer);
    await Promise.all(this.lanes);
    await this.listener?.end().catch(() => undefined);
    await this.db.end();
  }

  /** Ask for work: starts a lane if one is free, else the next lane to finish looks again. */
  kick(): void {
    if (this.stopped) return;
    if (this.lanes.size >= this.config.outbox.lanes) {
      this.again = true;
      return;
    }
    const lane: Promise<void> = this.lane().finally(() => {
      this.lanes.delete(lane);
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
    this.lanes.add(lane);
  }

  /** Claims and handles batches until none is left; a full batch asks for one more lane. */
  private async lane(): Promise<void> {
    try {
      while (!this.stopped) {
        const { claimed, full, failed } = await this.runBatch();
        if (failed) this.scheduleRetry();
        if (claimed === 0) return;
        if (full) this.kick();
      }
    } catch (error) {
      this.logger.warn(`outbox relay: ${(error as Error).message}`);
      this.scheduleRetry();
    }
  }

  /** A failed key is free again after its backoff (at most 5 s): look then. */
  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, 250);
  }

  private async runBatch(): Promise<{ claimed: number; full: boolean; failed: boolean }> {
    const { batchSize, leaseMs } = this.config.outbox;
    // A lane takes its share of the partitions, so that the instance's other lanes find work too.
    const perClaim = Math.max(1, Math.ceil(OUTBOX_PARTITIONS / this.config.outbox.lanes));
    const leased = await this.db.rows<{ partition: number }>(LEASE_SQL, [this.owner, leaseMs, perClaim]);
    if (leased.length === 0) return { claimed: 0, full: false, failed: false };
    const partitions = leased.map((lease) => lease.partition);
    const rows = await this.db.rows<Row>(EVENTS_SQL, [partitions, batchSize]);
    const renew = setInterval(() => void this.renew(partitions), Math.max(100, Math.floor(leaseMs / 3)));
    let outcome: Outcome;
    try {
      outcome = await this.handle(rows);
    } finally {
      clearInterval(renew);
    }
    await this.record(rows, partitions, outcome);
    return { claimed: rows.length, full: rows.length >= batchSize, failed: outcome.failedKeys.size > 0 };
  }

  private async renew(partitions: number[]): Promise<void> {
    await this.db
      .count(
        `UPDATE outbox_leases SET until = now() + ${msInterval('$3')}
         WHERE owner = $1 AND partition = ANY($2::smallint[])`,
        [this.owner, partitions, this.config.outbox.leaseMs],
      )
      .catch((error: Error) => this.logger.warn(`outbox lease renewal: ${error.message}`));
  }

  /** Every handler on its events of the batch, in parallel. */
  private async handle(rows: Row[]): Promise<Outcome> {
    const outcome: Outcome = { handled: [], errors: new Map(), incomplete: new Set(), failedKeys: new Set() };
    await Promise.all(
      [...this.handlers.values()].map(async (handler) => {
        const mine = rows.filter(
          (row) => (handler.types === '*' || handler.types.has(row.type)) && !row.done.includes(handler.name),
        );
        if (mine.length > 0) await this.runHandler(handler, mine, outcome);
      }),
    );
    return outcome;
  }

  /** The whole list in one call; on failure key by key, and a failing key event by event. */
  private async runHandler(handler: Registration, rows: Row[], outcome: Outcome): Promise<void> {
    const done = (list: Row[]) => {
      for (const row of list) outcome.handled.push({ eventId: String(row.id), handler: handler.name, outcome: 'done' });
      this.delivered.inc({ handler: handler.name }, list.length);
    };
    const first = await this.attempt(handler, rows);
    if (first === undefined) return done(rows);
    const byKey = new Map<string, Row[]>();
    for (const row of rows) {
      const list = byKey.get(row.key);
      if (list) list.push(row);
      else byKey.set(row.key, [row]);
    }
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        // A call already made is not made again: one key's is the first, one event's is its key's.
        const whole = byKey.size === 1 ? first : await this.attempt(handler, list);
        if (whole === undefined) return done(list);
        for (let i = 0; i < list.length; i++) {
          const error = list.length === 1 ? whole : await this.attempt(handler, [list[i]]);
          if (error === undefined) done([list[i]]);
          else if (this.failedAt(handler, list, i, error, outcome)) return;
        }
      }),
    );
  }

  /** Undefined when the handler took the events, else its error. */
  private async attempt(handler: Registration, rows: Row[]): Promise<string | undefined> {
    try {
      // The span continues the events' trace (links if the batch holds several); no-op when off.
      await inSpan(
        `outbox.handle ${handler.name}`,
        {
          kind: SpanKind.CONSUMER,
          parents: rows.map((row) => row.trace),
          attributes: { 'outbox.handler': handler.name, 'outbox.events': rows.length },
        },
        () => handler.handle(rows.map(toEvent)),
      );
      return undefined;
    } catch (error) {
      this.failed.inc({ handler: handler.name });
      return `${handler.name}: ${(error as Error).message}`;
    }
  }

  /**
   * `list[i]` failed for this handler: dead-lettered if out of attempts (the key goes on), else the
   * key's later events wait for it. Returns whether the key is blocked.
   */
  private failedAt(handler: Registration, list: Row[], i: number, error: string, outcome: Outcome): boolean {
    const row = list[i];
    const id = String(row.id);
    outcome.errors.set(id, error);
    if (row.attempts + 1 >= (handler.maxAttempts ?? this.config.outbox.maxAttempts)) {
      this.logger.error(`outbox event ${id} (${row.type}) dead-lettered for ${error}`);
      outcome.handled.push({ eventId: id, handler: handler.name, outcome: 'dead' });
      return false;
    }
    outcome.failedKeys.add(row.key);
    for (const later of list.slice(i)) outcome.incomplete.add(String(later.id));
    return true;
  }

  /**
   * One statement (so one short transaction): what was handled, for the events that stay pending
   * (a complete event is never claimed again, so its handlers need no record; a dead-letter is
   * kept as the record of it), which events are complete, what failed, and the leases. With a
   * dead-letter, its `outbox.dead_lettered` joins that statement in one transaction.
   */
  private async record(rows: Row[], partitions: number[], outcome: Outcome): Promise<void> {
    const { handled, errors, incomplete, failedKeys } = outcome;
    // Keys that had failed before (an event of theirs has attempts) and had none now leave the backoff.
    const recovered = new Set(rows.filter((row) => row.attempts > 0).map((row) => row.key));
    for (const key of failedKeys) recovered.delete(key);
    const kept = handled.filter((entry) => entry.outcome === 'dead' || incomplete.has(entry.eventId));
    const ids = rows.map((row) => String(row.id));
    const params = [
      kept.map((entry) => entry.eventId),
      kept.map((entry) => entry.handler),
      kept.map((entry) => entry.outcome),
      ids,
      ids.map((id) => !incomplete.has(id)),
      ids.map((id) => errors.get(id) ?? null),
      this.owner,
      partitions,
      [...failedKeys],
      [...recovered],
    ];
    const notices = deadLetterNotices(rows, handled, errors);
    if (notices.length === 0) {
      await this.db.count(RECORD_SQL, params);
      return;
    }
    await this.dataSource.transaction(async (manager) => {
      await manager.query(RECORD_SQL, params);
      await this.outbox.record(manager, ...notices);
    });
  }

  private async listen(attempt = 0): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.config.database.url, connectionTimeoutMillis: 3_000 });
    const reconnect = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      if (!this.stopped) setTimeout(() => void this.listen(attempt + 1), Math.min(200 * 2 ** attempt, 5_000)).unref();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', () => this.kick());
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      attempt = 0;
      this.kick();
    } catch {
      reconnect();
    }
  }

  /** Retention: processed events older than OUTBOX_RETENTION_HOURS are deleted, and backoffs long run out. */
  async cleanup(): Promise<number> {
    const hours = this.config.outbox.retentionHours;
    try {
      const deleted = await sqlRows<{ id: string }>(
        this.dataSource,
        `WITH gone AS (DELETE FROM outbox_events WHERE processed_at < now() - make_interval(hours => $1) RETURNING id),
         handled AS (DELETE FROM outbox_handled h USING gone WHERE h.event_id = gone.id)
         SELECT id FROM gone`,
        [hours],
      );
      await this.dataSource.query(`DELETE FROM outbox_backoffs WHERE until < now() - interval '1 hour'`);
      return deleted.length;
    } catch (error) {
      this.logger.warn(`outbox cleanup: ${(error as Error).message}`);
      return 0;
    }
  }
}

/**
 * `outbox.dead_lettered` for each dead-letter of a non-operational event, keyed by the handler.
 * Recorded with the dead-letter, so a relay that dies before its record leaves neither.
 */
function deadLetterNotices(rows: Row[], handled: Outcome['handled'], errors: Map<string, string>): NewDomainEvent[] {
  const byId = new Map(rows.map((row) => [String(row.id), row]));
  return handled.flatMap(({ eventId, handler, outcome }) => {
    const row = byId.get(eventId);
    if (outcome !== 'dead' || !row || OPERATIONAL_EVENT_TYPES.includes(row.type)) return [];
    const lastError = errors.get(eventId) ?? null;
    return [
      {
        type: 'outbox.dead_lettered',
        key: `outbox:${handler}`,
        data: { eventId, eventType: row.type, eventKey: row.key, handler, attempts: row.attempts + 1, lastError },
      },
    ];
  });
}

function toEvent(row: Row): DomainEvent {
  return { id: String(row.id), type: row.type, key: row.key, data: row.data, occurredAt: row.occurred_at };
}
