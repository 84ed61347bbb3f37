/**
 * Postgres is the source of truth: an event still `received` a while after it arrived must have a
 * job. If Redis lost it (flushed, failed over, down when the event came, or the app was killed
 * between commit and queueing), queue it again. Job ids are deterministic, so queueing twice is
 * harmless; a short Redis lease makes one instance per interval do the scan.
 */
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { InboundEventsService } from './inbound-events.service.js';
import { type InboundJobData, inboundJobId } from './inbound.jobs.js';
import { InboundMetrics } from './inbound.metrics.js';

const BATCH = 500;

@Injectable()
export class InboundReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(InboundReconciler.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(QUEUES.inbound) private readonly queue: Queue<InboundJobData>,
    private readonly events: InboundEventsService,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
    private readonly metrics: InboundMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.tick(), this.config.inbound.reconcileIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.runOnce()
      .catch((error: Error) => this.logger.warn(`inbound reconcile: ${error.message}`))
      .finally(() => (this.running = undefined));
  }

  /** One pass if this instance holds the lease for this interval; returns how many were queued. */
  async runOnce(): Promise<number> {
    const lease = await this.redis.command.set(
      this.redis.key('inbound:reconcile-lease'),
      this.config.app.instanceId,
      'PX',
      Math.max(this.config.inbound.reconcileIntervalMs - 100, 100),
      'NX',
    );
    return lease === 'OK' ? this.reconcile() : 0;
  }

  /** Queues every waiting event whose job is gone (or finished without reaching Postgres). */
  async reconcile(): Promise<number> {
    let queued = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows: { id: string; replays: number }[] = await this.dataSource.query(
        `SELECT id, replays FROM inbound_events
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
