/**
 * Stores verified events before they are acknowledged, with group commit: while a few inserts are
 * in flight, newly verified events wait and go together in the next multi-row INSERT (one
 * statement, one commit). Alone, an event is written at once; under load, rows per commit grow and
 * commits per event fall. Each caller learns its own outcome only after its statement committed.
 */
import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { isUnavailable } from '#src/platform/http/error.filter.js';
import { InboundEventsService } from './inbound-events.service.js';
import { InboundMetrics } from './inbound.metrics.js';
import type { VerifiedEvent } from './inbound.verifier.js';
import { Batcher } from '#src/platform/batcher.js';
import { pgPool } from '#src/platform/database/sql.js';
import { activeTraceparent } from '#src/platform/observability/tracing.js';

export interface StoreResult {
  received: true;
  /** Our id of the stored event (absent for a duplicate). */
  id?: string;
  duplicate: boolean;
}

interface Pending {
  provider: string;
  event: VerifiedEvent;
  payload: string;
  /** The request's trace (null with tracing off), for the job: batches run outside the request. */
  trace: string | null;
}

/** Statements in flight at once; more events wait for the next batch. */
const MAX_IN_FLIGHT = 4;
const MAX_ROWS = 200;
const MAX_BYTES = 4 * 1_048_576;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' })),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

@Injectable()
export class IntakeWriter {
  private readonly logger = new Logger(IntakeWriter.name);
  /**
   * A batch never fails for one member: a statement Postgres refused for its data (not for being
   * unreachable) is retried one event at a time, so only the event it cannot take is refused.
   */
  private readonly writes = new Batcher<Pending, StoreResult>((batch) => this.write(batch), {
    maxBatch: MAX_ROWS,
    maxSize: MAX_BYTES,
    sizeOf: (p) => p.payload.length,
    maxInFlight: MAX_IN_FLIGHT,
    isolate: (error) => !isUnavailable(error),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly events: InboundEventsService,
    private readonly config: AppConfig,
    private readonly metrics: InboundMetrics,
  ) {}

  /**
   * Resolves once the event is committed (or found already stored: a duplicate); rejects with a
   * 503 if Postgres cannot take it, so the provider retries. The job is queued after the commit
   * and not awaited: if Redis cannot take it, the reconciler queues it later.
   */
  async store(provider: string, event: VerifiedEvent, raw: Buffer): Promise<StoreResult> {
    try {
      return await this.writes.submit({
        provider,
        event,
        payload: event.json ?? raw.toString('utf8'),
        trace: activeTraceparent(),
      });
    } catch {
      this.metrics.rejected.inc({ provider, reason: 'storage_unavailable' });
      throw new ServiceUnavailableException('the event could not be stored; retry later');
    }
  }

  /**
   * The pg pool under TypeORM: this one statement is the whole hot path of the intake, and a
   * TypeORM query runner per batch costs more CPU than the statement itself.
   */
  private pool(): pg.Pool {
    return pgPool(this.dataSource);
  }

  private async write(batch: Pending[]): Promise<StoreResult[]> {
    let rows: { id: string; provider: string; external_id: string }[];
    try {
      rows = await withTimeout(
        this.pool()
          .query(
            `INSERT INTO inbound_events (provider, external_id, type, headers, payload, trace_context)
           SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::jsonb[], $5::text[], $6::text[])
           ON CONFLICT (provider, external_id) DO NOTHING
           RETURNING id, provider, external_id`,
            [
              batch.map((p) => p.provider),
              batch.map((p) => p.event.externalId),
              batch.map((p) => p.event.type),
              batch.map((p) => JSON.stringify(p.event.headers)),
              batch.map((p) => p.payload),
              batch.map((p) => p.trace),
            ],
          )
          .then((result: { rows: { id: string; provider: string; external_id: string }[] }) => result.rows),
        this.config.inbound.storeTimeoutMs,
        'storing the event',
      );
    } catch (error) {
      if (batch.length === 1 || isUnavailable(error)) {
        this.logger.warn(`could not store ${batch.length} inbound event(s): ${(error as Error).message}`);
      }
      throw error;
    }
    // A row comes back only if it was inserted now; the first of two copies in one batch gets it.
    const inserted = new Map(rows.map((row) => [`${row.provider}\u0000${row.external_id}`, row.id]));
    const stored: { id: string; replays: number; trace: string | null }[] = [];
    const results: StoreResult[] = [];
    for (const p of batch) {
      const key = `${p.provider}\u0000${p.event.externalId}`;
      const id = inserted.get(key);
      if (id) {
        inserted.delete(key);
        stored.push({ id, replays: 0, trace: p.trace });
        this.metrics.received.inc({ provider: p.provider });
        results.push({ received: true, id, duplicate: false });
      } else {
        this.metrics.duplicates.inc({ provider: p.provider });
        results.push({ received: true, duplicate: true });
      }
    }
    void this.events.enqueue(stored);
    return results;
  }
}
