/**
 * Raw SQL, one way. TypeORM's Postgres driver answers an UPDATE/DELETE … RETURNING with
 * `[rows, rowCount]` and everything else with `rows`: `rows()` hides the difference. `pgPool()` is
 * TypeORM's own pg pool (the app's one pool), for the hot paths where a TypeORM query runner per
 * statement costs more CPU than the statement itself.
 */
import type pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

export async function rows<T>(db: DataSource | EntityManager, sql: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await db.query(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

export function pgPool(dataSource: DataSource): pg.Pool {
  return (dataSource.driver as unknown as { master: pg.Pool }).master;
}

/** Milliseconds as a Postgres interval expression over parameter `$n`. */
export const msInterval = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;
