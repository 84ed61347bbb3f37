/**
 * The delivery hot path's Postgres statements: leases, heads of sequences, and attempt records.
 * Claims of `deliver` jobs and attempt records are batched across concurrent jobs (Batcher), so a
 * busy worker pays one round trip per batch rather than per delivery. An attempt record also writes
 * the operational events it causes (`delivery.exhausted`, `endpoint.recovered`) to the outbox.
 */
import { Injectable } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { Batcher } from '#src/platform/batcher.js';
import type { PreviousSecret } from './entities/endpoint.entity.js';
import { OutboundDb } from './outbound-db.js';
import { outboundTiming } from './outbound-timing.js';
import { msInterval } from '#src/platform/database/sql.js';
import { tracingEnabled } from '#src/platform/observability/tracing.js';
import { OPERATIONAL_EVENT_TYPES, OUTBOX_CHANNEL, partitionOf } from '#src/platform/events/domain-event.js';

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
  /** The trace of its domain event (the outbox row's `traceparent`); read only with tracing on. */
  traceContext?: string | null;
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

export interface AttemptRecord {
  deliveryId: string;
  endpointId: string;
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  excerpt: string | null;
  /** The delivery's status after this attempt. */
  status: 'pending' | 'succeeded' | 'failed';
  /** Until the next attempt (pending only). */
  delayMs: number;
}

const CLAIMED_COLUMNS = `d.id, d.endpoint_id AS "endpointId", d.message_id AS "messageId", d.attempts,
  e.url, e.secret, e.previous_secrets AS "previousSecrets", e.rate_limit_per_second AS rate,
  m.webhook_id AS "webhookId", m.body`;

/** With tracing on, a claim also reads the trace of the message's domain event (a primary-key lookup). */
const claimedColumns = () =>
  tracingEnabled()
    ? `${CLAIMED_COLUMNS}, (SELECT o.trace_context FROM outbox_events o WHERE o.id = m.event_id) AS "traceContext"`
    : CLAIMED_COLUMNS;

const CLAIMABLE = `e.id = d.endpoint_id AND m.id = d.message_id
  AND d.status = 'pending' AND e.status = 'active'
  AND d.next_attempt_at <= now() + interval '50 milliseconds'
  AND (d.lease_until IS NULL OR d.lease_until < now())`;

const WAIT_MS = `GREATEST(0, EXTRACT(EPOCH FROM (GREATEST(d.next_attempt_at, COALESCE(d.lease_until, d.next_attempt_at)) - now())) * 1000)::float8`;

/** A timestamp as ISO 8601 UTC with milliseconds, as message bodies write it. */
const iso = (expr: string) => `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Records attempts (one row per input) and moves each delivery on; clears or sets the endpoints'
 * `failing_since` (any success in the batch clears it); answers each endpoint's `failing_since` as it
 * was before (the statement's snapshot), for the auto-disable check.
 *
 * The same statement (so the same transaction) records the operational events of what it changed,
 * as outbox rows keyed `endpoint:<id>` ($10 is that key's partition, $11 the operational types,
 * $12 the outbox channel to wake the relay):
 * - `delivery.exhausted`: a pending delivery became failed (its retries are used up);
 * - `endpoint.recovered`: a success cleared `failing_since` (the first success after failures).
 * Neither is recorded about a delivery of an operational event (no loops): such a success still
 * clears `failing_since`, silently.
 */
const RECORD_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::boolean[], $4::int[], $5::int[], $6::text[], $7::text[],
                       $8::varchar[], $9::float8[], $10::smallint[])
    AS t(delivery_id, endpoint_id, ok, status_code, latency_ms, error, excerpt, status, delay_ms, partition)
), before AS (
  SELECT i.delivery_id, w.status AS was, w.attempts, m.id AS message_id, m.type, m.type = ANY($11::varchar[]) AS operational
  FROM input i JOIN webhook_deliveries w ON w.id = i.delivery_id JOIN webhook_messages m ON m.id = w.message_id
), a AS (
  INSERT INTO webhook_attempts (delivery_id, endpoint_id, outcome, status_code, latency_ms, error, response_excerpt)
  SELECT i.delivery_id, i.endpoint_id, CASE WHEN i.ok THEN 'succeeded' ELSE 'failed' END, i.status_code,
         i.latency_ms, i.error, i.excerpt
  FROM input i WHERE EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.id = i.delivery_id)
), d AS (
  UPDATE webhook_deliveries w SET status = i.status, attempts = w.attempts + 1, lease_until = NULL,
    last_attempt_at = now(), last_status_code = i.status_code, last_error = i.error,
    next_attempt_at = now() + ${msInterval('i.delay_ms')},
    succeeded_at = CASE WHEN i.ok THEN now() ELSE w.succeeded_at END
  FROM input i WHERE w.id = i.delivery_id
), per_endpoint AS (
  SELECT i.endpoint_id, bool_or(i.ok) AS any_ok, coalesce(bool_or(i.ok AND NOT b.operational), false) AS recovers,
         min(i.partition) AS partition
  FROM input i LEFT JOIN before b ON b.delivery_id = i.delivery_id GROUP BY i.endpoint_id
), f AS (
  UPDATE webhook_endpoints e SET failing_since = CASE WHEN p.any_ok THEN NULL ELSE now() END
  FROM per_endpoint p
  WHERE e.id = p.endpoint_id
    AND (CASE WHEN p.any_ok THEN e.failing_since IS NOT NULL ELSE e.failing_since IS NULL END)
  RETURNING e.id, e.url, p.any_ok, p.recovers, p.partition
), exhausted AS (
  INSERT INTO outbox_events (type, data, partition_key, partition)
  SELECT 'delivery.exhausted',
         jsonb_build_object('deliveryId', i.delivery_id, 'endpointId', i.endpoint_id, 'url', e.url,
           'messageId', b.message_id::text, 'eventType', b.type, 'attempts', b.attempts + 1,
           'lastStatusCode', i.status_code, 'lastError', i.error),
         'endpoint:' || i.endpoint_id, i.partition
  FROM input i JOIN before b ON b.delivery_id = i.delivery_id JOIN webhook_endpoints e ON e.id = i.endpoint_id
  WHERE i.status = 'failed' AND b.was = 'pending' AND NOT b.operational
  RETURNING id
), recovered AS (
  -- From f's rows: an endpoint whose failing_since this statement really cleared (under its row
  -- lock), so two concurrent records cannot both report one recovery; e is the snapshot (before).
  INSERT INTO outbox_events (type, data, partition_key, partition)
  SELECT 'endpoint.recovered',
         jsonb_build_object('endpointId', f.id, 'url', f.url, 'failingSince', ${iso('e.failing_since')},
           'recoveredAt', ${iso('now()')},
           'failedAttempts', (SELECT count(*) FROM webhook_attempts t
                              WHERE t.endpoint_id = f.id AND t.attempted_at >= e.failing_since AND t.outcome = 'failed')),
         'endpoint:' || f.id, f.partition
  FROM f JOIN webhook_endpoints e ON e.id = f.id
  WHERE f.any_ok AND f.recovers
  RETURNING id
), wake AS (
  SELECT pg_notify($12, '') FROM (SELECT id FROM exhausted UNION ALL SELECT id FROM recovered LIMIT 1) x
)
SELECT e.id AS "endpointId", e.failing_since AS "failingSince", (SELECT count(*) FROM wake)::int AS woke
FROM webhook_endpoints e WHERE e.id IN (SELECT endpoint_id FROM per_endpoint)`;

@Injectable()
export class DeliveryStore {
  private readonly leaseMs: number;
  private readonly claims: Batcher<string, ClaimedDelivery | null>;
  private readonly records: Batcher<AttemptRecord, Date | null>;

  constructor(
    private readonly db: OutboundDb,
    config: AppConfig,
  ) {
    this.leaseMs = outboundTiming(config).lockDurationMs;
    this.claims = new Batcher((ids) => this.claimMany(ids), { maxBatch: 200, maxInFlight: 4 });
    this.records = new Batcher((records) => this.recordMany(records), { maxBatch: 200, maxInFlight: 4 });
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
    if (!options.sequence) return this.claims.submit(deliveryId);
    const [row] = await this.db.rows<ClaimedDelivery>(
      `UPDATE webhook_deliveries d SET lease_until = now() + ${msInterval('$2')}
       FROM webhook_endpoints e, webhook_messages m
       WHERE d.id = $1 AND ${CLAIMABLE} AND (NOT $3::boolean OR d.attempts = 0)
       RETURNING ${claimedColumns()}`,
      [deliveryId, this.leaseMs, options.freshOnly ?? false],
    );
    return row ?? null;
  }

  private async claimMany(ids: string[]): Promise<(ClaimedDelivery | null)[]> {
    const claimed = await this.db.rows<ClaimedDelivery>(
      `UPDATE webhook_deliveries d SET lease_until = now() + ${msInterval('$2')}
       FROM webhook_endpoints e, webhook_messages m
       WHERE d.id = ANY($1::uuid[]) AND ${CLAIMABLE} AND NOT e.ordered
       RETURNING ${claimedColumns()}`,
      [ids, this.leaseMs],
    );
    const byId = new Map(claimed.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** Gives a lease back without an attempt (the rate limit said "later"). */
  async release(deliveryId: string): Promise<void> {
    await this.db.count('UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1', [deliveryId]);
  }

  async state(deliveryId: string): Promise<DeliveryState | null> {
    const [row] = await this.db.rows<DeliveryState>(
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
    const [row] = await this.db.rows<SequenceHead>(
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
    const count = await this.db.count(
      `UPDATE webhook_endpoints e SET drain_up_to = NULL
       WHERE e.id = $1 AND e.drain_up_to IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries d
         WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.attempts = 0 AND d.message_id <= e.drain_up_to)`,
      [endpointId],
    );
    if (count > 0) return true;
    const [row] = await this.db.rows<{ draining: boolean }>(
      `SELECT drain_up_to IS NOT NULL AND status = 'active' AND NOT ordered AS draining
       FROM webhook_endpoints WHERE id = $1`,
      [endpointId],
    );
    return !row?.draining;
  }

  /** Whether the endpoint still needs its sequence job (checked after one completes). */
  async needsSequence(endpointId: string): Promise<boolean> {
    const [row] = await this.db.rows<{ needed: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.status = 'pending'
         WHERE e.id = $1 AND e.status = 'active'
           AND (e.ordered OR (d.attempts = 0 AND d.message_id <= e.drain_up_to))
       ) AS needed`,
      [endpointId],
    );
    return row?.needed ?? false;
  }

  /** Records an attempt; resolves with the endpoint's `failing_since` from before it. */
  record(record: AttemptRecord): Promise<Date | null> {
    return this.records.submit(record);
  }

  private async recordMany(records: AttemptRecord[]): Promise<(Date | null)[]> {
    const rows = await this.db.rows<{ endpointId: string; failingSince: Date | null }>(RECORD_SQL, [
      records.map((r) => r.deliveryId),
      records.map((r) => r.endpointId),
      records.map((r) => r.ok),
      records.map((r) => r.statusCode),
      records.map((r) => r.latencyMs),
      records.map((r) => r.error),
      records.map((r) => r.excerpt),
      records.map((r) => r.status),
      records.map((r) => r.delayMs),
      records.map((r) => partitionOf(`endpoint:${r.endpointId}`)),
      OPERATIONAL_EVENT_TYPES,
      OUTBOX_CHANNEL,
    ]);
    const byEndpoint = new Map(rows.map((row) => [row.endpointId, row.failingSince]));
    return records.map((r) => byEndpoint.get(r.endpointId) ?? null);
  }
}
