/**
 * One attempt of one delivery, with Postgres as the record: claim (a lease, so two jobs never send
 * the same delivery at once), sign, send, then write the attempt and the delivery's next state in one
 * statement. Also disables endpoints (410, or failing for the whole auto-disable window) and records
 * the `endpoint.disabled` domain event in the same transaction.
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import type { PreviousSecret } from './entities/endpoint.entity.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { outboundTiming } from './outbound-timing.js';
import { RetryPolicy } from './retry-policy.js';
import { Signer, activeSecrets } from './signer.js';
import { msInterval, rows } from './sql.js';
import { WebhookSender } from './webhook-sender.js';

export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  messageId: string;
  attempts: number;
  url: string;
  secret: string;
  previousSecrets: PreviousSecret[];
  rate: number | null;
  webhookId: string;
  body: string;
}

export interface DeliveryState {
  status: string;
  endpointStatus: string;
  ordered: boolean;
  attempts: number;
  /** Until it is due and not leased (0 = now). */
  waitMs: number;
}

export interface SequenceHead {
  id: string;
  endpointId: string;
  messageId: string;
  ordered: boolean;
  rate: number | null;
  waitMs: number;
}

export type Outcome =
  { kind: 'succeeded' } | { kind: 'retry'; delayMs: number } | { kind: 'failed' } | { kind: 'disabled' };

const CLAIMED_COLUMNS = `d.id, d.endpoint_id AS "endpointId", d.message_id AS "messageId", d.attempts,
  e.url, e.secret, e.previous_secrets AS "previousSecrets", e.rate_limit_per_second AS rate,
  m.webhook_id AS "webhookId", m.body`;

const WAIT_MS = `GREATEST(0, EXTRACT(EPOCH FROM (GREATEST(d.next_attempt_at, COALESCE(d.lease_until, d.next_attempt_at)) - now())) * 1000)::float8`;

@Injectable()
export class DeliveryAttemptsService {
  private readonly logger = new Logger('OutboundDelivery');
  private readonly signer = new Signer();
  readonly policy: RetryPolicy;
  private readonly leaseMs: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly sender: WebhookSender,
    private readonly outbox: OutboxService,
    private readonly metrics: OutboundMetrics,
  ) {
    this.policy = new RetryPolicy(config.outbound.retrySchedule);
    this.leaseMs = outboundTiming(config).lockDurationMs;
  }

  /**
   * Takes the lease of a due, pending delivery of an active endpoint. A `deliver` job may not take
   * one of an ordered endpoint (its sequence job owns those); `freshOnly` (a drain) takes only
   * never-attempted ones.
   */
  async claim(
    deliveryId: string,
    options: { sequence: boolean; freshOnly?: boolean },
  ): Promise<ClaimedDelivery | null> {
    const [row] = await rows<ClaimedDelivery>(
      this.dataSource,
      `UPDATE webhook_deliveries d SET lease_until = now() + ${msInterval('$2')}
       FROM webhook_endpoints e, webhook_messages m
       WHERE d.id = $1 AND e.id = d.endpoint_id AND m.id = d.message_id
         AND d.status = 'pending' AND e.status = 'active'
         AND d.next_attempt_at <= now() + interval '50 milliseconds'
         AND (d.lease_until IS NULL OR d.lease_until < now())
         AND ($3::boolean OR NOT e.ordered)
         AND (NOT $4::boolean OR d.attempts = 0)
       RETURNING ${CLAIMED_COLUMNS}`,
      [deliveryId, this.leaseMs, options.sequence, options.freshOnly ?? false],
    );
    return row ?? null;
  }

  /** Gives a lease back without an attempt (the rate limit said "later"). */
  async release(deliveryId: string): Promise<void> {
    await this.dataSource.query('UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1', [deliveryId]);
  }

  async state(deliveryId: string): Promise<DeliveryState | null> {
    const [row] = await rows<DeliveryState>(
      this.dataSource,
      `SELECT d.status, e.status AS "endpointStatus", e.ordered, d.attempts, ${WAIT_MS} AS "waitMs"
       FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`,
      [deliveryId],
    );
    return row ?? null;
  }

  /**
   * The next delivery an endpoint's sequence job must send: the lowest pending message for an
   * ordered endpoint (even if not due yet: it blocks the rest), or the lowest never-attempted one up
   * to `drain_up_to` for an unordered endpoint being drained. Null when there is none.
   */
  async head(endpointId: string): Promise<SequenceHead | null> {
    const [row] = await rows<SequenceHead>(
      this.dataSource,
      `SELECT d.id, e.id AS "endpointId", d.message_id AS "messageId", e.ordered,
              e.rate_limit_per_second AS rate, ${WAIT_MS} AS "waitMs"
       FROM webhook_endpoints e
       CROSS JOIN LATERAL (
         SELECT d.* FROM webhook_deliveries d
         WHERE d.endpoint_id = e.id AND d.status = 'pending'
           AND (e.ordered OR (d.attempts = 0 AND d.message_id <= e.drain_up_to
                              AND (d.lease_until IS NULL OR d.lease_until < now())))
         ORDER BY d.message_id LIMIT 1
       ) d
       WHERE e.id = $1 AND e.status = 'active' AND (e.ordered OR e.drain_up_to IS NOT NULL)`,
      [endpointId],
    );
    return row ?? null;
  }

  /** Ends a drain that has nothing left; false when a replay widened it meanwhile (keep going). */
  async finishDrain(endpointId: string): Promise<boolean> {
    const [, count] = (await this.dataSource.query(
      `UPDATE webhook_endpoints e SET drain_up_to = NULL
       WHERE e.id = $1 AND e.drain_up_to IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries d
         WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.attempts = 0 AND d.message_id <= e.drain_up_to)`,
      [endpointId],
    )) as [unknown, number];
    if (count > 0) return true;
    const [row] = await rows<{ draining: boolean }>(
      this.dataSource,
      'SELECT drain_up_to IS NOT NULL AND status = $2 AND NOT ordered AS draining FROM webhook_endpoints WHERE id = $1',
      [endpointId, 'active'],
    );
    return !row?.draining;
  }

  /** Whether the endpoint still needs its sequence job (checked after one completes). */
  async needsSequence(endpointId: string): Promise<boolean> {
    const [row] = await rows<{ needed: boolean }>(
      this.dataSource,
      `SELECT EXISTS (
         SELECT 1 FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.status = 'pending'
         WHERE e.id = $1 AND e.status = 'active'
           AND (e.ordered OR (d.attempts = 0 AND d.message_id <= e.drain_up_to))
       ) AS needed`,
      [endpointId],
    );
    return row?.needed ?? false;
  }

  /** Signs (every active secret), sends, records the attempt and decides what happens next. */
  async attempt(delivery: ClaimedDelivery): Promise<Outcome> {
    const secrets = activeSecrets(delivery.secret, delivery.previousSecrets);
    const headers = this.signer.sign(delivery.webhookId, delivery.body, secrets);
    const result = await this.sender.send(delivery.url, { ...headers }, delivery.body);
    this.metrics.observe(result.statusCode, result.latencyMs);

    const attemptNo = delivery.attempts + 1;
    const code = result.statusCode;
    const ok = code !== null && code >= 200 && code < 300;
    let outcome: Outcome;
    let status: 'pending' | 'succeeded' | 'failed' = 'pending';
    let delayMs = 0;
    if (ok) {
      outcome = { kind: 'succeeded' };
      status = 'succeeded';
    } else if (code === 410) {
      // Held (not failed): if an operator resumes the endpoint, this delivery goes again.
      outcome = { kind: 'disabled' };
    } else {
      const next = this.policy.nextDelayMs(attemptNo, result.retryAfterMs);
      if (next === null) {
        outcome = { kind: 'failed' };
        status = 'failed';
      } else {
        outcome = { kind: 'retry', delayMs: next };
        delayMs = next;
      }
    }

    const [endpoint] = await rows<{ failingSince: Date | null; url: string }>(
      this.dataSource,
      `WITH a AS (
         INSERT INTO webhook_attempts (delivery_id, endpoint_id, outcome, status_code, latency_ms, error, response_excerpt)
         VALUES ($1::uuid, $2::uuid, $3::varchar, $4::int, $5::int, $6::text, $7::text)
       ), d AS (
         UPDATE webhook_deliveries SET status = $8::varchar, attempts = attempts + 1, lease_until = NULL,
           last_attempt_at = now(), last_status_code = $4::int, last_error = $6::text,
           next_attempt_at = now() + ${msInterval('$9')},
           succeeded_at = CASE WHEN $8::varchar = 'succeeded' THEN now() ELSE succeeded_at END
         WHERE id = $1::uuid
       ), f AS (
         UPDATE webhook_endpoints SET failing_since = CASE WHEN $10::boolean THEN NULL ELSE now() END
         WHERE id = $2::uuid
           AND (CASE WHEN $10::boolean THEN failing_since IS NOT NULL ELSE failing_since IS NULL END)
       )
       SELECT failing_since AS "failingSince", url FROM webhook_endpoints WHERE id = $2::uuid`,
      [
        delivery.id,
        delivery.endpointId,
        ok ? 'succeeded' : 'failed',
        code,
        result.latencyMs,
        result.error,
        result.excerpt,
        status,
        delayMs,
        ok,
      ],
    );

    const metric = { succeeded: 'succeeded', retry: 'retrying', failed: 'failed', disabled: 'gone' } as const;
    this.metrics.attempts.inc({ outcome: metric[outcome.kind] });
    if (outcome.kind === 'failed') {
      this.logger.warn(
        `delivery ${delivery.id} (endpoint ${delivery.endpointId}) failed after ${attemptNo} attempts: ${result.error}`,
      );
    }
    if (code === 410) {
      await this.disable(delivery.endpointId, `410 Gone from the endpoint (delivery ${delivery.id})`);
    } else if (!ok && endpoint?.failingSince) {
      // `failingSince` is the value before this attempt: set by an earlier failure, never by this one.
      const windowMs = this.config.outbound.disableAfterHours * 3_600_000;
      if (Date.now() - new Date(endpoint.failingSince).getTime() >= windowMs) {
        const since = new Date(endpoint.failingSince).toISOString();
        if (await this.disable(delivery.endpointId, `every delivery failed since ${since}`)) {
          return { kind: 'disabled' };
        }
      }
    }
    return outcome;
  }

  /**
   * Disables an endpoint and records `endpoint.disabled` in the same transaction (so other endpoints
   * can be told). False when it was already disabled.
   */
  async disable(endpointId: string, reason: string): Promise<boolean> {
    const disabled = await this.dataSource.transaction(async (manager) => {
      const [row] = await rows<{ url: string; disabledAt: Date }>(
        manager,
        `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, disabled_at = now(),
           drain_up_to = NULL, updated_at = now()
         WHERE id = $1 AND status <> 'disabled' RETURNING url, disabled_at AS "disabledAt"`,
        [endpointId, reason],
      );
      if (!row) return false;
      await this.outbox.record(manager, {
        type: 'endpoint.disabled',
        data: { endpointId, url: row.url, reason, disabledAt: new Date(row.disabledAt).toISOString() },
      });
      return true;
    });
    if (disabled) this.logger.warn(`endpoint ${endpointId} disabled: ${reason}`);
    return disabled;
  }
}
