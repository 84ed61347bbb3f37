/**
 * Hands committed outbox events to registered handlers: at least once, once per handler in the
 * normal case, in event order per handler.
 *
 * Several instances may run it. A batch runs inside one transaction that first takes a
 * transaction-scoped advisory lock, so one relay at a time delivers (which keeps order: two relays
 * splitting a batch would race their publishes), and rows are claimed `FOR UPDATE SKIP LOCKED`.
 * What a handler finished is recorded in `outbox_handled` in that same transaction. A handler that
 * fails blocks its own later events (head-of-line, so scores stay ordered) and the relay backs off;
 * after `OUTBOX_MAX_ATTEMPTS` the event is dead-lettered for that handler and logged.
 *
 * Latency: LISTEN/NOTIFY wakes the relay on commit; a slow poll covers lost notifications.
 */
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import pg from 'pg';
import { Counter } from 'prom-client';
import type { DataSource, QueryRunner } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { type DomainEvent, type DomainEventHandler, OUTBOX_CHANNEL } from './domain-event.js';

const RELAY_LOCK_KEY = 7_420_001;

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
   * Redis to come back: it keeps blocking (and retrying) its own later events instead.
   */
  maxAttempts?: number;
}

interface Row {
  id: string;
  type: string;
  data: Record<string, unknown>;
  occurred_at: Date;
  attempts: number;
}

@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly handlers = new Map<string, Registration>();
  private listener?: pg.Client;
  private pollTimer?: NodeJS.Timeout;
  private cleanupTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  private failures = 0;
  private readonly delivered: Counter;
  private readonly failed: Counter;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
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
    this.cleanupTimer = setInterval(() => void this.cleanup(), 3_600_000);
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.cleanupTimer);
    clearTimeout(this.retryTimer);
    await this.running;
    await this.listener?.end().catch(() => undefined);
  }

  /** Ask for a drain; coalesces with one already running. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped) {
        const outcome = await this.runBatch();
        if (outcome === 'failed') {
          this.failures++;
          this.scheduleRetry();
          return;
        }
        this.failures = 0;
        if (outcome !== 'more') return;
      }
    } catch (error) {
      this.failures++;
      this.logger.warn(`outbox relay: ${(error as Error).message}`);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const delay = Math.min(100 * 2 ** Math.min(this.failures, 6), 5_000);
    this.retryTimer = setTimeout(() => this.kick(), delay);
  }

  private async runBatch(): Promise<'empty' | 'more' | 'failed' | 'busy'> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [{ locked }] = await runner.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [RELAY_LOCK_KEY]);
      if (!locked) {
        await runner.rollbackTransaction();
        return 'busy';
      }
      const rows: Row[] = await runner.query(
        `SELECT id, type, data, occurred_at, attempts FROM outbox_events
         WHERE processed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.config.outbox.batchSize],
      );
      if (rows.length === 0) {
        await runner.commitTransaction();
        return 'empty';
      }
      const anyFailed = await this.deliver(runner, rows);
      await runner.commitTransaction();
      if (anyFailed) return 'failed';
      return rows.length === this.config.outbox.batchSize ? 'more' : 'empty';
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  private async deliver(runner: QueryRunner, rows: Row[]): Promise<boolean> {
    const ids = rows.map((row) => String(row.id));
    const already: { event_id: string; handler: string }[] = await runner.query(
      'SELECT event_id, handler FROM outbox_handled WHERE event_id = ANY($1::bigint[])',
      [ids],
    );
    const done = new Set(already.map((row) => `${row.event_id}:${row.handler}`));
    const newlyDone: { eventId: string; handler: string; outcome: 'done' | 'dead' }[] = [];
    const errors = new Map<string, string>();
    const incomplete = new Set<string>();

    for (const handler of this.handlers.values()) {
      let blocked = false;
      for (const row of rows) {
        const id = String(row.id);
        if (handler.types !== '*' && !handler.types.has(row.type)) continue;
        if (done.has(`${id}:${handler.name}`)) continue;
        if (blocked) {
          incomplete.add(id);
          continue;
        }
        const event: DomainEvent = { id, type: row.type, data: row.data, occurredAt: row.occurred_at };
        try {
          await handler.handle(event);
          newlyDone.push({ eventId: id, handler: handler.name, outcome: 'done' });
          this.delivered.inc({ handler: handler.name });
        } catch (error) {
          this.failed.inc({ handler: handler.name });
          const message = `${handler.name}: ${(error as Error).message}`;
          errors.set(id, message);
          if (row.attempts + 1 >= (handler.maxAttempts ?? this.config.outbox.maxAttempts)) {
            this.logger.error(`outbox event ${id} (${row.type}) dead-lettered for ${message}`);
            newlyDone.push({ eventId: id, handler: handler.name, outcome: 'dead' });
          } else {
            incomplete.add(id);
            blocked = true;
          }
        }
      }
    }

    if (newlyDone.length > 0) {
      await runner.query(
        `INSERT INTO outbox_handled (event_id, handler, outcome)
         SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[]) ON CONFLICT DO NOTHING`,
        [newlyDone.map((d) => d.eventId), newlyDone.map((d) => d.handler), newlyDone.map((d) => d.outcome)],
      );
    }
    const complete = ids.filter((id) => !incomplete.has(id));
    if (complete.length > 0) {
      await runner.query('UPDATE outbox_events SET processed_at = now() WHERE id = ANY($1::bigint[])', [complete]);
    }
    if (errors.size > 0) {
      await runner.query(
        `UPDATE outbox_events e SET attempts = e.attempts + 1, last_error = f.error
         FROM unnest($1::bigint[], $2::text[]) AS f(id, error) WHERE e.id = f.id`,
        [[...errors.keys()], [...errors.values()]],
      );
    }
    return incomplete.size > 0;
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

  /** Retention: processed events older than OUTBOX_RETENTION_HOURS are deleted. */
  async cleanup(): Promise<number> {
    const hours = this.config.outbox.retentionHours;
    try {
      const deleted = await this.dataSource.query(
        `WITH gone AS (DELETE FROM outbox_events WHERE processed_at < now() - make_interval(hours => $1) RETURNING id)
         DELETE FROM outbox_handled h USING gone WHERE h.event_id = gone.id`,
        [hours],
      );
      return Array.isArray(deleted) ? Number(deleted[1] ?? 0) : 0;
    } catch (error) {
      this.logger.warn(`outbox cleanup: ${(error as Error).message}`);
      return 0;
    }
  }
}
