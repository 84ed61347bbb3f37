/**
 * One attempt of one delivery: sign (every active secret), send, record (DeliveryStore) and decide
 * what happens next. Also disables endpoints (410, or failing for the whole auto-disable window) and
 * records the `endpoint.disabled` domain event in the same transaction. (`delivery.exhausted` and
 * `endpoint.recovered` are recorded by the attempt record itself: DeliveryStore.)
 */
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { type AttemptRecord, type ClaimedDelivery, DeliveryStore } from './delivery-store.js';
import { OutboundMetrics } from './outbound.metrics.js';
import { RetryPolicy } from './retry-policy.js';
import { type SignedHeaders, Signer, activeSecrets } from './signer.js';
import { rows } from '#src/platform/database/sql.js';
import { WebhookSender } from './webhook-sender.js';
import { SpanKind, inSpan, tracingEnabled } from '#src/platform/observability/tracing.js';

export type Outcome =
  { kind: 'succeeded' } | { kind: 'retry'; delayMs: number } | { kind: 'failed' } | { kind: 'disabled' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
export class DeliveryAttemptsService {
  private readonly logger = new Logger('OutboundDelivery');
  private readonly signer = new Signer();
  readonly policy: RetryPolicy;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: DeliveryStore,
    private readonly config: AppConfig,
    private readonly sender: WebhookSender,
    private readonly outbox: OutboxService,
    private readonly metrics: OutboundMetrics,
  ) {
    this.policy = new RetryPolicy(config.outbound.retrySchedule);
  }

  /**
   * The send in a span that continues the trace of the delivery's domain event (its outbox row's
   * context); the HTTP client span under it carries `traceparent` to the receiver.
   */
  private tracedSend(delivery: ClaimedDelivery, headers: SignedHeaders) {
    return inSpan(
      'webhook.deliver',
      {
        kind: SpanKind.PRODUCER,
        parents: [delivery.traceContext],
        attributes: {
          'webhook.delivery_id': delivery.id,
          'webhook.endpoint_id': delivery.endpointId,
          'webhook.attempt': delivery.attempts + 1,
        },
      },
      () => this.sender.send(delivery.url, { ...headers }, delivery.body),
    );
  }

  /**
   * Signs (every active secret), sends, records the attempt and decides what happens next. `onSent`
   * is told as soon as the request has its answer (the pump gives its send slot back then, while the
   * record is still on its way). Until the record lands the delivery keeps its lease, so nothing
   * re-sends it; if the process dies first, the lease runs out and it is sent again (at least once).
   */
  async attempt(delivery: ClaimedDelivery, onSent?: (latencyMs: number) => void): Promise<Outcome> {
    const secrets = activeSecrets(delivery.secret, delivery.previousSecrets);
    const headers = this.signer.sign(delivery.webhookId, delivery.body, secrets);
    const result = tracingEnabled()
      ? await this.tracedSend(delivery, headers)
      : await this.sender.send(delivery.url, { ...headers }, delivery.body);
    onSent?.(result.latencyMs);
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

    const record: AttemptRecord = {
      deliveryId: delivery.id,
      endpointId: delivery.endpointId,
      ok,
      statusCode: code,
      latencyMs: result.latencyMs,
      error: result.error,
      excerpt: result.excerpt,
      status,
      delayMs,
    };
    const metric = { succeeded: 'succeeded', retry: 'retrying', failed: 'failed', disabled: 'gone' } as const;
    this.metrics.attempts.inc({ outcome: metric[outcome.kind] });
    if (code === 410) {
      // Disabled before the record frees the delivery (still pending, due at once): the endpoint's
      // pump, claiming beside this attempt, must not send it again in between.
      await this.disable(delivery.endpointId, `410 Gone from the endpoint (delivery ${delivery.id})`);
      await this.recordWithRetries(record);
      return outcome;
    }
    const failingSince = await this.recordWithRetries(record);

    if (outcome.kind === 'failed') {
      this.logger.warn(
        `delivery ${delivery.id} (endpoint ${delivery.endpointId}) failed after ${attemptNo} attempts: ${result.error}`,
      );
    }
    if (!ok && failingSince) {
      // `failingSince` is the value before this attempt: set by an earlier failure, never by this one.
      const windowMs = this.config.outbound.disableAfterHours * 3_600_000;
      if (Date.now() - new Date(failingSince).getTime() >= windowMs) {
        const since = new Date(failingSince).toISOString();
        if (await this.disable(delivery.endpointId, `every delivery failed since ${since}`)) {
          return { kind: 'disabled' };
        }
      }
    }
    return outcome;
  }

  /**
   * The request went out: losing its record would make the delivery pending again (a duplicate after
   * the lease expires), so a failed write is tried again a few times before giving up.
   */
  private async recordWithRetries(record: AttemptRecord): Promise<Date | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store.record(record);
      } catch (error) {
        if (attempt >= 4) throw error;
        this.logger.warn(`recording an attempt of ${record.deliveryId} failed, retrying: ${(error as Error).message}`);
        await sleep(200 * 4 ** (attempt - 1));
      }
    }
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
        key: `endpoint:${endpointId}`,
        data: { endpointId, url: row.url, reason, disabledAt: new Date(row.disabledAt).toISOString() },
      });
      return true;
    });
    if (disabled) this.logger.warn(`endpoint ${endpointId} disabled: ${reason}`);
    return disabled;
  }
}
