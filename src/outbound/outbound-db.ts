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
 * Its statements run as named prepared statements with generic plans (platform PreparedPool: why,
 * and why every one of them is written to be answered from indexes).
 */
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { PreparedPool } from '#src/platform/database/prepared-pool.js';

@Injectable()
export class OutboundDb extends PreparedPool implements OnApplicationShutdown {
  constructor(config: AppConfig) {
    super(config.database.url, {
      name: 'outbound',
      max: Math.max(2, Math.min(config.database.poolSize, 10)),
      synchronousCommit: false,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.end();
  }
}
