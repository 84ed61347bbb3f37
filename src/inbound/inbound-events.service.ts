/**
 * The table of inbound events after intake: queueing jobs, and what operators read and replay.
 */
import { InjectQueue } from '@nestjs/bullmq';
import {
  type BeforeApplicationShutdown,
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import type { DataSource, Repository } from 'typeorm';
import { type Page, page } from '#src/platform/http/page.js';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import type { ListInboundEventsDto } from './dto/list-inbound-events.dto.js';
import { InboundEvent } from './inbound-event.entity.js';
import { INBOUND_JOB, type InboundJobData, inboundJobId } from './inbound.jobs.js';
import { InboundMetrics } from './inbound.metrics.js';
import { rows } from '#src/platform/database/sql.js';
import { Batcher } from '#src/platform/batcher.js';

export type InboundEventDetail = Omit<InboundEvent, 'payload'> & { payload: unknown };

/**
 * An event whose job is to be queued: its id, how many times it was replayed (the job id's suffix)
 * and, with tracing on, the trace of the request that stored it.
 */
type QueuedEvent = { id: string; replays: number; trace?: string | null };

/** How long a job waits for others to share its trip to Redis, and the most that go together. */
const ENQUEUE_WINDOW_MS = 10;
const ENQUEUE_MAX = 500;

@Injectable()
export class InboundEventsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(InboundEventsService.name);
  /** Calls within a few milliseconds share one round trip to Redis. */
  private readonly enqueues = new Batcher<QueuedEvent, boolean>((events) => this.add(events), {
    maxBatch: ENQUEUE_MAX,
    lingerMs: ENQUEUE_WINDOW_MS,
    maxInFlight: 2,
  });
  /** Enqueues not yet answered, so that a graceful shutdown waits for them. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(InboundEvent) private readonly events: Repository<InboundEvent>,
    @InjectQueue(QUEUES.inbound) private readonly queue: Queue<InboundJobData>,
    private readonly redis: RedisService,
    private readonly metrics: InboundMetrics,
  ) {}

  /**
   * Queues the jobs of these events (the 2xx never waits for this: the row is the promise).
   * Resolves false (and counts) if Redis cannot take them now; the reconciler queues them later.
   */
  async enqueue(events: QueuedEvent[]): Promise<boolean> {
    if (events.length === 0) return true;
    const done = Promise.all(events.map((event) => this.enqueues.submit(event)));
    this.pending.add(done);
    try {
      return (await done).every(Boolean);
    } finally {
      this.pending.delete(done);
    }
  }

  /** Nothing submitted is left behind on a graceful shutdown. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.pending);
  }

  /** One batch's jobs in one round trip: an answer per event (all the same). */
  private async add(events: QueuedEvent[]): Promise<boolean[]> {
    const answer = (ok: boolean) => events.map(() => ok);
    if (this.redis.command.status !== 'ready') {
      // Redis is down: do not pile up commands in memory.
      this.metrics.enqueueFailures.inc(events.length);
      return answer(false);
    }
    const jobs = events.map(({ id, replays, trace }) => ({
      name: INBOUND_JOB,
      data: (trace ? { id, trace } : { id }) as InboundJobData,
      // Completed jobs are not kept: Postgres has the outcome, and a lost one is found by the reconciler.
      opts: { jobId: inboundJobId(id, replays), removeOnComplete: true },
    }));
    try {
      if (jobs.length === 1) await this.queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
      else await this.queue.addBulk(jobs);
      return answer(true);
    } catch (error) {
      this.metrics.enqueueFailures.inc(events.length);
      this.logger.warn(`could not queue ${events.length} inbound event(s): ${(error as Error).message}`);
      return answer(false);
    }
  }

  async list(query: ListInboundEventsDto): Promise<Page<InboundEvent>> {
    const builder = this.events.createQueryBuilder('e');
    if (query.provider) builder.andWhere('e.provider = :provider', { provider: query.provider });
    if (query.status) builder.andWhere('e.status = :status', { status: query.status });
    if (query.type) builder.andWhere('e.type = :type', { type: query.type });
    const [items, total] = await builder
      .orderBy('e.receivedAt', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .skip((query.page - 1) * query.limit)
      .take(query.limit)
      .getManyAndCount();
    return page(items, total, query);
  }

  /** Events received in the last `hours`, counted by provider, status and type (the console's Webhooks in). */
  async stats(hours: number): Promise<{ provider: string; status: string; type: string; count: number }[]> {
    return rows(
      this.dataSource,
      `SELECT provider, status, type, count(*)::int AS count FROM inbound_events
       WHERE received_at > now() - make_interval(hours => $1)
       GROUP BY provider, status, type ORDER BY count DESC, provider, type, status LIMIT 500`,
      [hours],
    );
  }

  /** One event with its payload (parsed; the stored text is exactly what was signed). */
  async get(id: string): Promise<InboundEventDetail> {
    const event = await this.events.createQueryBuilder('e').addSelect('e.payload').where('e.id = :id', { id }).getOne();
    if (!event) throw new NotFoundException(`inbound event ${id} not found`);
    let payload: unknown = event.payload;
    try {
      payload = JSON.parse(event.payload);
    } catch {
      // stored before verification rules changed: show the text
    }
    return { ...event, payload };
  }

  /**
   * Processes a failed event again as a new job (the replay count is part of its id). An event
   * still waiting is queued again (a no-op if its job exists). Processed or ignored → 409.
   */
  async replay(id: string): Promise<InboundEvent> {
    const [updated] = await rows<{ id: string; replays: number }>(
      this.dataSource,
      `UPDATE inbound_events
       SET status = 'received', replays = replays + CASE WHEN status = 'failed' THEN 1 ELSE 0 END
       WHERE id = $1 AND status IN ('failed', 'received')
       RETURNING id, replays`,
      [id],
    );
    if (!updated) {
      const existing = await this.events.findOneBy({ id });
      if (!existing) throw new NotFoundException(`inbound event ${id} not found`);
      throw new ConflictException(
        `inbound event ${id} is ${existing.status}; only failed or waiting events can be replayed`,
      );
    }
    await this.enqueue([updated]);
    return (await this.events.findOneBy({ id }))!;
  }
}
