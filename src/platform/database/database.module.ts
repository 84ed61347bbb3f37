import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { dataSourceOptions } from './data-source.options.js';
import { ensureDatabase } from './ensure-database.js';

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
          migrationsRun: true,
          autoLoadEntities: true,
          retryAttempts: 10,
          retryDelay: 1_000,
        };
      },
    }),
  ],
})
export class DatabaseModule {}
