/**
 * A small pg pool of its own for a hot path's statements, each run as a named prepared statement.
 *
 * Why: the hot paths' statements are large CTEs, and planning one afresh on every call costs about
 * as much as running it (0.2 to 0.8 ms each, measured with pg_stat_statements' track_planning; in
 * the scores path planning was ~45 % of Postgres' time). A named statement (named by a hash of its
 * text; pg prepares it once per connection) is planned once, generically (`plan_cache_mode =
 * force_generic_plan`: left to choose, Postgres kept re-planning some of them on every call, as its
 * generic estimate for a `LIMIT $n` or an array parameter looked dearer than the custom plans).
 *
 * A generic plan is kept for the connection's life, so it must not depend on how big the tables
 * were when it was made (a fresh database: a few rows, where a sequential scan looks cheapest, then
 * a backlog of thousands). Every statement run here is written to be answered from indexes, and the
 * pool runs with `enable_seqscan = off`, so that a plan made on small tables still uses them, and
 * `jit = off` (compiling costs more than any of these statements, and with sequential scans priced
 * out the estimates would cross the JIT threshold). That is why these statements get a pool of
 * their own rather than TypeORM's, which runs everything else (admin queries, migrations) with the
 * server's defaults.
 *
 * `synchronousCommit: false` skips waiting for the WAL flush on commit, for paths whose owner says
 * why that is safe (outbound-db.ts).
 */
import { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import pg from 'pg';

export interface PreparedPoolOptions {
  /** Names its statements and its log lines. */
  name: string;
  max: number;
  synchronousCommit: boolean;
}

export class PreparedPool {
  private readonly logger: Logger;
  private readonly pool: pg.Pool;
  /** Statement text → its prepared statement's name. */
  private readonly names = new Map<string, string>();

  constructor(
    url: string,
    private readonly options: PreparedPoolOptions,
  ) {
    this.logger = new Logger(`PreparedPool(${options.name})`);
    const settings = ['plan_cache_mode=force_generic_plan', 'enable_seqscan=off', 'jit=off'];
    if (!options.synchronousCommit) settings.push('synchronous_commit=off');
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max,
      options: settings.map((setting) => `-c ${setting}`).join(' '),
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

  async end(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `${this.options.name}_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
      this.names.set(text, name);
    }
    return this.pool.query({ name, text, values });
  }
}
