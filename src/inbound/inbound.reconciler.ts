/**
 * Postgres is the source of truth: an event still `received` a while after it arrived must have a
 * job. If Redis lost it (flushed, failed over, down when the event came, or the app was killed
 * between commit and queueing), queue it again. Job ids are deterministic, so queueing twice is
 * harmless; a BullMQ job scheduler (QueueWorkers.every) makes one instance per interval do the scan.
 */
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { rows as sqlRows } from '#src/platform/database/sql.js';
import { InboundEventsService } from './inbound-events.service.js';
import { type InboundJobData, inboundJobId } from './inbound.jobs.js';
import { InboundMetrics } from './inbound.metrics.js';

const BATCH = 500;

@Injectable()
export class InboundReconciler implements OnModuleInit {
  private readonly logger = new Logger(InboundReconciler.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(QUEUES.inbound) private readonly queue: Queue<InboundJobData>,
    private readonly events: InboundEventsService,
    private readonly redis: RedisService,
    private readonly workers: QueueWorkers,
    private readonly config: AppConfig,
    private readonly metrics: InboundMetrics,
  ) {}

  onModuleInit(): void {
    this.workers.every('inbound.reconcile', this.config.inbound.reconcileIntervalMs, () => this.reconcile());
  }

  /** Queues every waiting event whose job is gone (or finished without reaching Postgres). */
  async reconcile(): Promise<number> {
    let queued = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      // With its storing request's trace, so the job queued again continues it.
      const rows = await sqlRows<{ id: string; replays: number; trace: string | null }>(
        this.dataSource,
        `SELECT id, replays, trace_context AS trace FROM inbound_events
         WHERE status = 'received' AND received_at < now() - make_interval(secs => $1) AND id > $2
         ORDER BY id LIMIT $3`,
        [this.config.inbound.reconcileAfterMs / 1000, after, BATCH],
      );
      // One round trip for the batch: each job's hash (gone → queue it again; finished → its
      // outcome never reached Postgres, e.g. it was down: run it again, the status guard makes
      // that safe; otherwise it is waiting, delayed or running).
      const pipeline = this.redis.command.pipeline();
      for (const row of rows)
        pipeline.hmget(this.queue.toKey(inboundJobId(row.id, row.replays)), 'timestamp', 'finishedOn');
      const states = (await pipeline.exec()) ?? [];
      const lost: typeof rows = [];
      for (const [index, row] of rows.entries()) {
        const [error, fields] = states[index] ?? [];
        if (error) throw error;
        const [timestamp, finishedOn] = fields as (string | null)[];
        if (timestamp !== null && finishedOn === null) continue;
        if (finishedOn !== null) await this.queue.remove(inboundJobId(row.id, row.replays));
        lost.push(row);
      }
      if (lost.length > 0 && (await this.events.enqueue(lost))) queued += lost.length;
      if (rows.length < BATCH) break;
      after = rows[rows.length - 1].id;
    }
    if (queued > 0) {
      this.metrics.reconciled.inc(queued);
      this.logger.log(`re-queued ${queued} stored inbound event(s) whose job was missing`);
    }
    return queued;
  }
}
