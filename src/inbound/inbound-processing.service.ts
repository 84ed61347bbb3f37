/**
 * Processes one stored event, exactly once: the row is locked, its status checked, the handler's
 * effects and domain events written and the status set, all in one transaction. A retry or a
 * second copy of the job finds the status already final and does nothing.
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { InboundStatus } from './inbound-event.entity.js';
import { InboundHandlers } from './inbound-handlers.js';
import { InboundMetrics } from './inbound.metrics.js';

interface LockedRow {
  id: string;
  provider: string;
  external_id: string;
  type: string;
  payload: string;
  status: InboundStatus;
  received_at: Date;
}

export type ProcessOutcome = 'processed' | 'ignored' | 'skipped' | 'missing';

@Injectable()
export class InboundProcessingService {
  private readonly logger = new Logger(InboundProcessingService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly handlers: InboundHandlers,
    private readonly metrics: InboundMetrics,
  ) {}

  /**
   * `lastAttempt`: when this attempt fails, the event becomes `failed` (else it stays `received`
   * with the error, waiting for the queue's next attempt). Throws the handler's error.
   */
  async process(id: string, lastAttempt: boolean): Promise<ProcessOutcome> {
    let row: LockedRow | undefined;
    try {
      const outcome = await this.dataSource.transaction(async (manager): Promise<ProcessOutcome> => {
        [row] = (await manager.query(
          `SELECT id, provider, external_id, type, payload, status, received_at
           FROM inbound_events WHERE id = $1 FOR UPDATE`,
          [id],
        )) as LockedRow[];
        if (!row) return 'missing';
        if (row.status !== 'received') return 'skipped'; // done already, or given up (replay re-opens it)
        const handler = this.handlers.find(row.provider, row.type);
        let status: 'processed' | 'ignored' = 'ignored';
        let note: string | null = null;
        if (handler) {
          const result = await handler({
            manager,
            event: { id: row.id, provider: row.provider, externalId: row.external_id, type: row.type },
            payload: JSON.parse(row.payload),
          });
          if (result?.ignored) note = `ignored: ${result.ignored}`;
          else status = 'processed';
        }
        await manager.query(
          `UPDATE inbound_events SET status = $2, attempts = attempts + 1, last_error = $3, processed_at = now()
           WHERE id = $1`,
          [id, status, note],
        );
        return status;
      });
      if (row && (outcome === 'processed' || outcome === 'ignored')) {
        this.metrics.processingLatency.observe(
          { provider: row.provider, status: outcome },
          (Date.now() - new Date(row.received_at).getTime()) / 1000,
        );
      }
      return outcome;
    } catch (error) {
      // The transaction rolled back every effect; record the attempt on its own.
      const message = (error as Error).message || String(error);
      this.metrics.failures.inc({ provider: row?.provider ?? 'unknown', type: row?.type ?? 'unknown' });
      await this.dataSource
        .query(
          `UPDATE inbound_events SET status = $2, attempts = attempts + 1, last_error = $3
           WHERE id = $1 AND status = 'received'`,
          [id, lastAttempt ? 'failed' : 'received', message.slice(0, 2_000)],
        )
        .catch((recordError: Error) =>
          this.logger.warn(`could not record the failure of inbound event ${id}: ${recordError.message}`),
        );
      throw error;
    }
  }
}
