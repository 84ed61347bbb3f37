import type { DataSourceOptions } from 'typeorm';
import { migrations } from './migrations/index.js';

/** The options the app and the migration CLI share. */
export function dataSourceOptions(url: string, poolSize: number): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false,
    migrations,
    migrationsTableName: 'migrations',
    uuidExtension: 'pgcrypto',
    poolSize,
    extra: { connectionTimeoutMillis: 3_000, idleTimeoutMillis: 30_000 },
  };
}
