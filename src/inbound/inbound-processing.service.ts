/**
 * Processes stored events, each exactly once: its row is locked and its status checked, then the
 * handler's effects, its domain events and the new status are written in one transaction. A retry
 * or a second copy of the job finds the status already final and does nothing.
 *
 * Jobs that run at the same time share a transaction (group commit: one commit, one outbox insert
 * for the lot). If any handler in a shared transaction throws, it is rolled back and each of its
 * events is processed again alone, so a failure is attributed to its own event and no other.
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { NewDomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { parseProviderJson } from '#src/platform/http/safe-text.js';
import type { InboundStatus } from './inbound-event.entity.js';
import { InboundHandlers } from './inbound-handlers.js';
import { InboundMetrics } from './inbound.metrics.js';
import { Batcher } from '#src/platform/batcher.js';
import { rows } from '#src/platform/database/sql.js';
import { activeTraceparent } from '#src/platform/observability/tracing.js';

interface LockedRow {
  id: string;
  provider: string;
  external_id: string;
  type: string;
  payload: string;
  status: InboundStatus;
  received_at: Date;
}

/** A job's event, and its span's `traceparent` (null with tracing off). */
interface Submitted {
  id: string;
  trace: string | null;
}

export type ProcessOutcome = 'processed' | 'ignored' | 'skipped' | 'missing';

/** Shared transactions in flight at once, and events per transaction. */
const MAX_IN_FLIGHT = 2;
const MAX_BATCH = 50;

@Injectable()
export class InboundProcessingService {
  private readonly logger = new Logger(InboundProcessingService.name);
  /** Group commit; a rolled-back batch is run again event by event (the Batcher's isolation). */
  private readonly shared = new Batcher<Submitted, ProcessOutcome>(
    async (jobs) => {
      const outcomes = await this.transaction(jobs);
      return jobs.map((job) => outcomes.get(job.id) ?? 'missing');
    },
    { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT },
  );

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly handlers: InboundHandlers,
    private readonly outbox: OutboxService,
    private readonly metrics: InboundMetrics,
  ) {}

  /**
   * `lastAttempt`: if this attempt fails, the event becomes `failed` (else it stays `received`
   * with the error, waiting for the queue's next attempt). Rejects with the handler's error.
   */
  async process(id: string, lastAttempt: boolean): Promise<ProcessOutcome> {
    try {
      return await this.shared.submit({ id, trace: activeTraceparent() });
    } catch (error) {
      const message = (error as Error).message || String(error);
      const [row] = await rows<{ provider: string; type: string }>(
        this.dataSource,
        `UPDATE inbound_events SET status = $2, attempts = attempts + 1, last_error = $3
         WHERE id = $1 AND status = 'received' RETURNING provider, type`,
        [id, lastAttempt ? 'failed' : 'received', message.slice(0, 2_000)],
      ).catch((recordError: Error) => {
        this.logger.warn(`could not record the failure of inbound event ${id}: ${recordError.message}`);
        return [];
      });
      this.metrics.failures.inc({ provider: row?.provider ?? 'unknown', type: row?.type ?? 'unknown' });
      throw error;
    }
  }

  /** One transaction for these events; throws (having rolled back everything) if any handler throws. */
  private async transaction(jobs: Submitted[]): Promise<Map<string, ProcessOutcome>> {
    const ids = jobs.map((job) => job.id);
    // Each event's domain events continue its own job's trace, though the transaction is shared.
    const traces = new Map(jobs.map((job) => [job.id, job.trace]));
    const outcomes = new Map<string, ProcessOutcome>();
    const done: { row: LockedRow; status: 'processed' | 'ignored' }[] = [];
    await this.dataSource.transaction(async (manager) => {
      const rows = (await manager.query(
        `SELECT id, provider, external_id, type, payload, status, received_at
         FROM inbound_events WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        [ids],
      )) as LockedRow[];
      const domainEvents: NewDomainEvent[] = [];
      const notes: (string | null)[] = [];
      for (const row of rows) {
        if (row.status !== 'received') {
          outcomes.set(row.id, 'skipped'); // done already, or given up (a replay re-opens it)
          continue;
        }
        const handler = this.handlers.find(row.provider, row.type);
        const recorded: NewDomainEvent[] = [];
        const result = handler
          ? await handler({
              manager,
              event: { id: row.id, provider: row.provider, externalId: row.external_id, type: row.type },
              payload: parseProviderJson(row.payload),
              record: (event) => void recorded.push({ ...event, traceContext: traces.get(row.id) ?? null }),
            })
          : { ignored: '' };
        domainEvents.push(...recorded);
        const status = result?.ignored !== undefined ? 'ignored' : 'processed';
        done.push({ row, status });
        notes.push(result?.ignored ? `ignored: ${result.ignored}` : null);
        outcomes.set(row.id, status);
      }
      if (domainEvents.length > 0) await this.outbox.record(manager, ...domainEvents);
      if (done.length > 0) {
        await manager.query(
          `UPDATE inbound_events e
           SET status = u.status, attempts = e.attempts + 1, last_error = u.note, processed_at = now()
           FROM unnest($1::uuid[], $2::varchar[], $3::text[]) AS u(id, status, note) WHERE e.id = u.id`,
          [done.map((d) => d.row.id), done.map((d) => d.status), notes],
        );
      }
    });
    const now = Date.now();
    for (const { row, status } of done) {
      this.metrics.processingLatency.observe(
        { provider: row.provider, status },
        (now - new Date(row.received_at).getTime()) / 1000,
      );
    }
    return outcomes;
  }
}
