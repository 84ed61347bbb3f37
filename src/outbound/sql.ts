import type { DataSource, EntityManager } from 'typeorm';

/**
 * Rows of a raw query. TypeORM's Postgres driver answers an UPDATE/DELETE … RETURNING with
 * `[rows, rowCount]` and everything else with `rows`; this hides the difference.
 */
export async function rows<T>(db: DataSource | EntityManager, sql: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await db.query(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

/** Milliseconds as a Postgres interval expression over parameter `$n`. */
export const msInterval = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;
