import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { dataSourceOptions } from './data-source.options.js';
import { ensureDatabase } from './ensure-database.js';

const MIGRATION_LOCK_KEY = 7_420_000;

/**
 * Runs pending migrations under a session advisory lock, so replicas booting together migrate
 * once: the others wait, then find nothing pending.
 */
export async function migrate(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    if (applied.length > 0) new Logger('Database').log(`applied migrations: ${applied.map((m) => m.name).join(', ')}`);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}

/** Postgres through TypeORM: creates the database if absent and runs committed migrations at start. */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        if (config.database.createIfMissing && (await ensureDatabase(config.database.url))) {
          new Logger('Database').log('created the database');
        }
        return {
          ...dataSourceOptions(config.database.url, config.database.poolSize),
          autoLoadEntities: true,
          retryAttempts: 10,
          retryDelay: 1_000,
        };
      },
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options!).initialize();
        await migrate(dataSource);
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule {}
