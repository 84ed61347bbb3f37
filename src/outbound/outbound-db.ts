/**
 * The delivery hot path's own small Postgres pool, with `synchronous_commit = off`.
 *
 * Each delivery commits a few single-statement transactions (the intake, the lease, the attempt
 * record). Waiting for a WAL flush on each costs a disk sync per statement (milliseconds), and the
 * intake runs one event at a time, so it would cap the whole pipeline. Skipping the wait is safe
 * here: Postgres still writes the WAL in order, so
 * - an intake commit is durable as soon as the outbox relay's own (synchronous) commit that marks the
 *   event handled is, which comes after it; if the relay's commit is lost too, the event is handed
 *   over again and taken again (idempotent);
 * - a lost lease only allows a second sender after a crash, and a lost attempt record makes a
 *   delivery pending again: it is sent again (same webhook-id), never lost; the operational events
 *   an attempt record writes (`delivery.exhausted`, `endpoint.recovered`) are lost only with it, and
 *   recorded again by the attempt that repeats it.
 * A Postgres crash can therefore cause a duplicate delivery, which at-least-once allows, but no loss.
 * Everything else (admin changes, disabling with its domain event) goes through TypeORM as usual.
 *
 * Every statement here is a named prepared statement (named by a hash of its text; pg prepares it
 * once per connection). The hot path's statements are large CTEs: planning one afresh costs as much
 * as running it (0.5 to 0.8 ms each, measured with pg_stat_statements' track_planning), and a named
 * statement lets Postgres settle on a generic plan after a few runs. A generic plan is kept for the
 * connection's life, so it must not depend on how big the tables were when it was made (a fresh
 * database: a few rows, where a sequential scan looks cheapest, then a backlog of thousands): every
 * statement here is written to be answered from an index, and the pool runs with
 * `enable_seqscan = off` so that a plan made on small tables still uses them, and `jit = off`
 * (compiling costs more than any of these statements; with seq scans priced out, the estimates
 * would otherwise cross the JIT threshold).
 */
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { AppConfig } from '#src/config/app-config.js';

@Injectable()
export class OutboundDb implements OnApplicationShutdown {
  private readonly logger = new Logger(OutboundDb.name);
  private readonly pool: pg.Pool;
  /** Statement text → its prepared statement's name. */
  private readonly names = new Map<string, string>();

  constructor(config: AppConfig) {
    this.pool = new pg.Pool({
      connectionString: config.database.url,
      max: Math.max(2, Math.min(config.database.poolSize, 10)),
      options: '-c synchronous_commit=off -c enable_seqscan=off -c jit=off',
      connectionTimeoutMillis: 3_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection (Postgres restarting) must not crash the process.
    this.pool.on('error', (error) => this.logger.warn(`postgres: ${error.message}`));
  }

  async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async count(sql: string, params: unknown[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `ob_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
      this.names.set(text, name);
    }
    return this.pool.query({ name, text, values });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
