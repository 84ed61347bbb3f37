/**
 * Outbound endpoints for operators: create (URL through the network guard, patterns against the
 * catalog), change, pause/resume, rotate the secret, replay, a test event, and per-endpoint stats. Whatever puts
 * held deliveries back in motion goes through `schedulePending`.
 */
import { ConflictException, Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { DOMAIN_EVENT_TYPES, WEBHOOK_TEST_EVENT } from '#src/platform/events/domain-event.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { type Page, page } from '#src/platform/http/page.js';
import { DeliveryQueue } from './delivery-queue.js';
import type { CreateEndpointDto } from './dto/create-endpoint.dto.js';
import type { ListEndpointsQueryDto } from './dto/list-query.dto.js';
import type { UpdateEndpointDto } from './dto/update-endpoint.dto.js';
import { WebhookEndpoint } from './entities/endpoint.entity.js';
import { patternMatchSql, patternProblems } from './event-type-patterns.js';
import { generateSecret } from './signer.js';
import { rows } from '#src/platform/database/sql.js';
import { WebhookSender } from './webhook-sender.js';

export type EndpointView = Omit<WebhookEndpoint, 'secret' | 'previousSecrets' | 'drainUpTo'>;

export function endpointView(e: WebhookEndpoint): EndpointView {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes,
    ordered: e.ordered,
    rateLimitPerSecond: e.rateLimitPerSecond,
    status: e.status,
    disabledReason: e.disabledReason,
    disabledAt: e.disabledAt,
    failingSince: e.failingSince,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}

export interface EndpointStats {
  endpointId: string;
  windowHours: number;
  attempts: number;
  succeededAttempts: number;
  successRate: number | null;
  p95LatencyMs: number | null;
  lastSuccessAt: Date | null;
  deliveries: { pending: number; succeeded: number; failed: number };
}

const STATS_WINDOW_HOURS = 24;
/** A timeline has this many buckets at most, whatever its span. */
const TIMELINE_BUCKETS = 60;

export interface EndpointTimeline {
  bucketSeconds: number;
  points: { at: Date; attempts: number; succeeded: number; failed: number; p95LatencyMs: number | null }[];
}

@Injectable()
export class EndpointsService {
  constructor(
    @InjectRepository(WebhookEndpoint) private readonly endpoints: Repository<WebhookEndpoint>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly sender: WebhookSender,
    private readonly outbox: OutboxService,
    private readonly queue: DeliveryQueue,
  ) {}

  private async checkUrl(url: string): Promise<void> {
    const problem = await this.sender.guard.checkUrl(url, this.config.app.production);
    if (problem) throw new UnprocessableEntityException(problem);
  }

  private checkPatterns(patterns: string[]): string[] {
    const problems = patternProblems(patterns, Object.keys(DOMAIN_EVENT_TYPES));
    if (problems.length > 0) throw new UnprocessableEntityException(problems.join('; '));
    return [...new Set(patterns)];
  }

  async create(dto: CreateEndpointDto): Promise<EndpointView & { secret: string }> {
    const eventTypes = this.checkPatterns(dto.eventTypes);
    await this.checkUrl(dto.url);
    const saved = await this.endpoints.save(
      this.endpoints.create({
        url: dto.url,
        eventTypes,
        description: dto.description ?? null,
        ordered: dto.ordered ?? false,
        rateLimitPerSecond: dto.rateLimitPerSecond ?? null,
        secret: generateSecret(),
        previousSecrets: [],
      }),
    );
    return { ...endpointView(saved), secret: saved.secret };
  }

  async list(query: ListEndpointsQueryDto): Promise<Page<EndpointView>> {
    const [items, total] = await this.endpoints.findAndCount({
      where: query.status ? { status: query.status } : {},
      order: { createdAt: 'DESC', id: 'ASC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return page(items.map(endpointView), total, query);
  }

  async find(id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.endpoints.findOneBy({ id });
    if (!endpoint) throw new NotFoundException(`endpoint ${id} not found`);
    return endpoint;
  }

  async get(id: string): Promise<EndpointView> {
    return endpointView(await this.find(id));
  }

  async update(id: string, dto: UpdateEndpointDto): Promise<EndpointView> {
    const endpoint = await this.find(id);
    const eventTypes = dto.eventTypes !== undefined ? this.checkPatterns(dto.eventTypes) : undefined;
    if (dto.url !== undefined) await this.checkUrl(dto.url);
    const orderChanged = dto.ordered !== undefined && dto.ordered !== endpoint.ordered;
    const changes: Partial<WebhookEndpoint> = {};
    if (dto.url !== undefined) changes.url = dto.url;
    if (eventTypes) changes.eventTypes = eventTypes;
    if (dto.description !== undefined) changes.description = dto.description;
    if (dto.ordered !== undefined) changes.ordered = dto.ordered;
    if (dto.rateLimitPerSecond !== undefined) changes.rateLimitPerSecond = dto.rateLimitPerSecond;
    if (Object.keys(changes).length > 0) await this.endpoints.update({ id }, changes);
    if (orderChanged && endpoint.status === 'active') await this.schedulePending(id);
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const result = await this.endpoints.delete({ id });
    if (!result.affected) throw new NotFoundException(`endpoint ${id} not found`);
  }

  async secret(id: string): Promise<{ secret: string; previousSecretsExpireAt: string[] }> {
    const endpoint = await this.find(id);
    const now = Date.now();
    return {
      secret: endpoint.secret,
      previousSecretsExpireAt: endpoint.previousSecrets
        .filter((p) => Date.parse(p.expiresAt) > now)
        .map((p) => p.expiresAt),
    };
  }

  /** New secret; the old one keeps signing (a second signature) for OUTBOUND_SECRET_GRACE_HOURS. */
  async rotateSecret(id: string): Promise<{ secret: string; previousSecretExpiresAt: string | null }> {
    const secret = generateSecret();
    const graceMs = this.config.outbound.secretGraceHours * 3_600_000;
    const expiresAt = new Date(Date.now() + graceMs).toISOString();
    const updated = await this.dataSource.transaction(async (manager) => {
      const endpoint = await manager.findOne(WebhookEndpoint, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!endpoint) throw new NotFoundException(`endpoint ${id} not found`);
      const now = Date.now();
      const previous = endpoint.previousSecrets.filter((p) => Date.parse(p.expiresAt) > now);
      if (graceMs > 0) previous.unshift({ secret: endpoint.secret, expiresAt });
      await manager.update(WebhookEndpoint, { id }, { secret, previousSecrets: previous });
      return graceMs > 0;
    });
    return { secret, previousSecretExpiresAt: updated ? expiresAt : null };
  }

  async pause(id: string): Promise<EndpointView> {
    const endpoint = await this.find(id);
    if (endpoint.status === 'disabled') {
      throw new ConflictException(`endpoint ${id} is disabled (${endpoint.disabledReason}); resume it instead`);
    }
    await this.endpoints.update({ id, status: 'active' }, { status: 'paused' });
    return this.get(id);
  }

  /**
   * Active again (from paused or disabled); held deliveries go out, in message order. One that was
   * disabled or failing stays failing until a delivery succeeds (which records `endpoint.recovered`),
   * with `failing_since` restarted now, so the auto-disable window starts again.
   */
  async resume(id: string): Promise<EndpointView> {
    const endpoint = await this.find(id);
    if (endpoint.status !== 'active') {
      const failing = endpoint.status === 'disabled' || endpoint.failingSince !== null;
      await this.endpoints.update(
        { id },
        { status: 'active', disabledReason: null, disabledAt: null, failingSince: failing ? () => 'now()' : null },
      );
      await this.schedulePending(id);
    }
    return this.get(id);
  }

  /**
   * A `webhook.test` event for this endpoint alone, through the normal path (outbox, intake,
   * signed delivery with retries): its delivery and attempts show up like any other. A disabled
   * endpoint takes none (409, resume it first); a paused one holds it.
   */
  async sendTest(id: string): Promise<{ eventId: string; type: string }> {
    const [event] = await this.dataSource.transaction(async (manager) => {
      const endpoint = await manager.findOne(WebhookEndpoint, { where: { id } });
      if (!endpoint) throw new NotFoundException(`endpoint ${id} not found`);
      if (endpoint.status === 'disabled') {
        throw new ConflictException(`endpoint ${id} is disabled (${endpoint.disabledReason}); resume it first`);
      }
      return this.outbox.record(manager, {
        type: WEBHOOK_TEST_EVENT,
        key: `endpoint:${id}`,
        data: { endpointId: id, url: endpoint.url, sentAt: new Date().toISOString() },
      });
    });
    return { eventId: event.id, type: event.type };
  }

  /** Every message since `since` that the endpoint subscribes to becomes pending again (or new). */
  async replay(id: string, since: Date): Promise<{ replayed: number }> {
    if (since.getTime() > Date.now()) throw new UnprocessableEntityException('since must not be in the future');
    const endpoint = await this.find(id);
    const replayed = await rows<{ id: string }>(
      this.dataSource,
      `INSERT INTO webhook_deliveries (endpoint_id, message_id)
       SELECT e.id, m.id FROM webhook_endpoints e JOIN webhook_messages m
         ON m.created_at >= $2 AND ${patternMatchSql('m.type', 'e.event_types')}
       WHERE e.id = $1
       ON CONFLICT (endpoint_id, message_id) DO UPDATE
         SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL
         WHERE webhook_deliveries.status <> 'pending'
       RETURNING id`,
      [id, since],
    );
    if (endpoint.status === 'active' && replayed.length > 0) await this.schedulePending(id);
    return { replayed: replayed.length };
  }

  /**
   * Puts an active endpoint's pending deliveries back in motion: kicks its pump. Unordered: the
   * never-attempted ones are marked as a drain (`drain_up_to`), which the pump sends one at a time in
   * message order; ones already in their retry schedule go when due. Ordered: in order anyway.
   */
  async schedulePending(id: string): Promise<void> {
    const endpoint = await this.find(id);
    if (endpoint.status !== 'active') return;
    if (!endpoint.ordered) {
      await this.dataSource.query(
        `UPDATE webhook_endpoints e SET drain_up_to = NULLIF(GREATEST(COALESCE(e.drain_up_to, 0), (
           SELECT max(d.message_id) FROM webhook_deliveries d
           WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.attempts = 0)), 0)
         WHERE e.id = $1`,
        [id],
      );
    }
    await this.queue.kick([id]);
  }

  async stats(id: string): Promise<EndpointStats> {
    await this.find(id);
    const [window] = await rows<{ attempts: number; succeeded: number; p95: number | null }>(
      this.dataSource,
      `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE outcome = 'succeeded')::int AS succeeded,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
       FROM webhook_attempts WHERE endpoint_id = $1 AND attempted_at > now() - make_interval(hours => $2)`,
      [id, STATS_WINDOW_HOURS],
    );
    const [last] = await rows<{ at: Date | null }>(
      this.dataSource,
      `SELECT max(attempted_at) AS at FROM webhook_attempts WHERE endpoint_id = $1 AND outcome = 'succeeded'`,
      [id],
    );
    const byStatus = await rows<{ status: 'pending' | 'succeeded' | 'failed'; count: number }>(
      this.dataSource,
      'SELECT status, count(*)::int AS count FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY status',
      [id],
    );
    const deliveries = { pending: 0, succeeded: 0, failed: 0 };
    for (const row of byStatus) deliveries[row.status] = row.count;
    return {
      endpointId: id,
      windowHours: STATS_WINDOW_HOURS,
      attempts: window.attempts,
      succeededAttempts: window.succeeded,
      successRate: window.attempts > 0 ? Number((window.succeeded / window.attempts).toFixed(4)) : null,
      p95LatencyMs: window.p95 === null ? null : Math.round(Number(window.p95)),
      lastSuccessAt: last?.at ?? null,
      deliveries,
    };
  }

  /** Attempts, successes and p95 latency per bucket over the last `hours` (the console's charts); empty buckets left out. */
  async timeline(id: string, hours: number): Promise<EndpointTimeline> {
    await this.find(id);
    const bucketSeconds = (hours * 3600) / TIMELINE_BUCKETS;
    const points = await rows<{ at: Date; attempts: number; succeeded: number; p95: number | null }>(
      this.dataSource,
      `SELECT to_timestamp(floor(extract(epoch FROM attempted_at) / $2) * $2) AS at, count(*)::int AS attempts,
              count(*) FILTER (WHERE outcome = 'succeeded')::int AS succeeded,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
       FROM webhook_attempts WHERE endpoint_id = $1 AND attempted_at > now() - make_interval(hours => $3)
       GROUP BY 1 ORDER BY 1`,
      [id, bucketSeconds, hours],
    );
    return {
      bucketSeconds,
      points: points.map((point) => ({
        at: point.at,
        attempts: point.attempts,
        succeeded: point.succeeded,
        failed: point.attempts - point.succeeded,
        p95LatencyMs: point.p95 === null ? null : Math.round(Number(point.p95)),
      })),
    };
  }
}
