/**
 * The delivery hot path's Postgres statements: what an endpoint's pump claims (a batch of due
 * deliveries in one statement, or an ordered endpoint's head), when it should wake next, and attempt
 * records. Records are batched across every pump of the instance (Batcher), so a busy worker pays one
 * round trip per batch rather than per delivery. An attempt record also writes the operational events
 * it causes (`delivery.exhausted`, `endpoint.recovered`) to the outbox.
 *
 * A claim is a lease (`lease_until`, as long as the worker's BullMQ lock): a leased delivery is
 * being sent or recorded, and nothing else takes it until the record clears the lease or the lease
 * runs out (its sender died; it is then sent again, same webhook-id: at least once).
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

/** The next delivery of an ordered endpoint, due or not (it blocks the rest until it is done). */
export interface SequenceHead {
  id: string;
  rate: number | null;
  waitMs: number;
}

/** What an endpoint's pump needs to know before it starts. */
export interface PumpTarget {
  ordered: boolean;
  rate: number | null;
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

/** A delivery that can be taken now: pending, due (within 50 ms) and not leased. */
const FREE_NOW = `d.status = 'pending' AND d.next_attempt_at <= now() + interval '50 milliseconds'
  AND (d.lease_until IS NULL OR d.lease_until < now())`;

const CLAIMABLE = `e.id = d.endpoint_id AND m.id = d.message_id AND e.status = 'active' AND ${FREE_NOW}`;

/** When a pending delivery can next be claimed: its next attempt, or when its lease runs out. */
const FREE_AT = `GREATEST(d.next_attempt_at, COALESCE(d.lease_until, d.next_attempt_at))`;
const msUntil = (at: string) => `GREATEST(0, EXTRACT(EPOCH FROM (${at}) - now()) * 1000)::float8`;

/** Of an unordered endpoint being drained (`drain_up_to`, after a resume or a replay): a held delivery. */
const HELD = `d.attempts = 0 AND d.message_id <= COALESCE(e.drain_up_to, 0)`;

/**
 * $1 endpoint, $2 lease ms, $3 at most this many. Due deliveries of an unordered endpoint, lowest
 * message first, locked and leased in one statement (SKIP LOCKED: a row another transaction holds is
 * left for the next claim). Held deliveries (a drain) go one at a time in message order, so "resumed:
 * all arrive, in order" holds: the lowest held one joins the batch only when it is free, that is
 * when the one before it has been recorded. Plans that stay right whatever the table's statistics
 * said when the prepared statement was planned (OutboundDb): `d.endpoint_id = $1` lets the pending
 * index give message order (the scan stops at the limit instead of sorting the backlog), the held
 * bound is a scalar (an index bound, not a filter on every pending row: HELD, written out), and the
 * leased rows are found by primary key (`= ANY (ARRAY(…))`).
 */
const CLAIM_DUE_SQL = (columns: string) => `
WITH e AS (
  SELECT id, drain_up_to FROM webhook_endpoints WHERE id = $1 AND status = 'active' AND NOT ordered
), due AS (
  SELECT d.id FROM webhook_deliveries d JOIN e ON d.endpoint_id = e.id
  WHERE d.endpoint_id = $1 AND ${FREE_NOW} AND NOT (${HELD})
  ORDER BY d.message_id LIMIT $3
  FOR UPDATE OF d SKIP LOCKED
), held AS (
  SELECT d.id FROM webhook_deliveries d
  WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.attempts = 0
    AND d.message_id <= (SELECT COALESCE(drain_up_to, 0) FROM e)
  ORDER BY d.message_id LIMIT 1
), picked AS (
  SELECT id FROM held UNION ALL SELECT id FROM due LIMIT $3
)
UPDATE webhook_deliveries d SET lease_until = now() + ${msInterval('$2')}
FROM webhook_endpoints e, webhook_messages m
WHERE d.id = ANY (ARRAY(SELECT id FROM picked)) AND ${CLAIMABLE}
RETURNING ${columns}`;

/**
 * $1 endpoint. Ms until the endpoint's pump has something to claim (0: now), null when it has
 * nothing pending (or is not active). Counts each pending delivery at its next attempt or lease end,
 * but of the held ones only the lowest (the rest wait for it). Ends a drain with nothing left.
 */
const NEXT_WAKE_SQL = `
WITH e AS (
  SELECT id, drain_up_to FROM webhook_endpoints WHERE id = $1 AND status = 'active'
), undrain AS (
  UPDATE webhook_endpoints w SET drain_up_to = NULL FROM e
  WHERE w.id = e.id AND e.drain_up_to IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending' AND ${HELD})
)
SELECT CASE WHEN w.at IS NULL THEN NULL ELSE ${msUntil('w.at')} END AS "waitMs"
FROM (
  SELECT LEAST(
    (SELECT min(${FREE_AT}) FROM webhook_deliveries d
     WHERE d.endpoint_id = e.id AND d.status = 'pending' AND NOT (${HELD})),
    (SELECT ${FREE_AT} FROM webhook_deliveries d
     WHERE d.endpoint_id = e.id AND d.status = 'pending' AND ${HELD} ORDER BY d.message_id LIMIT 1)) AS at
  FROM e
) w`;

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
  private readonly records: Batcher<AttemptRecord, Date | null>;

  constructor(
    private readonly db: OutboundDb,
    config: AppConfig,
  ) {
    this.leaseMs = outboundTiming(config).lockDurationMs;
    this.records = new Batcher((records) => this.recordMany(records), { maxBatch: 200, maxInFlight: 4 });
  }

  /** Whether the endpoint is active, and how its pump sends; null when it is not active (or gone). */
  async target(endpointId: string): Promise<PumpTarget | null> {
    const [row] = await this.db.rows<PumpTarget>(
      `SELECT ordered, rate_limit_per_second AS rate FROM webhook_endpoints WHERE id = $1 AND status = 'active'`,
      [endpointId],
    );
    return row ?? null;
  }

  /** Leases up to `limit` due deliveries of an active unordered endpoint (CLAIM_DUE_SQL), in one statement. */
  claimDue(endpointId: string, limit: number): Promise<ClaimedDelivery[]> {
    return this.db.rows<ClaimedDelivery>(CLAIM_DUE_SQL(claimedColumns()), [endpointId, this.leaseMs, limit]);
  }

  /** Leases one delivery (an ordered endpoint's head) if it is due, not leased and its endpoint active. */
  async claim(deliveryId: string): Promise<ClaimedDelivery | null> {
    const [row] = await this.db.rows<ClaimedDelivery>(
      `UPDATE webhook_deliveries d SET lease_until = now() + ${msInterval('$2')}
       FROM webhook_endpoints e, webhook_messages m
       WHERE d.id = $1 AND ${CLAIMABLE}
       RETURNING ${claimedColumns()}`,
      [deliveryId, this.leaseMs],
    );
    return row ?? null;
  }

  /** Gives leases back without an attempt (the rate limit said "much later"). */
  async release(deliveryIds: string[]): Promise<void> {
    await this.db.count('UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ANY($1::uuid[])', [deliveryIds]);
  }

  /** Ms until the unordered endpoint has something to claim; null when nothing is pending (NEXT_WAKE_SQL). */
  async nextWake(endpointId: string): Promise<number | null> {
    const [row] = await this.db.rows<{ waitMs: number | null }>(NEXT_WAKE_SQL, [endpointId]);
    return row?.waitMs ?? null;
  }

  /**
   * The next delivery an ordered endpoint must send: its lowest pending message, even if not due yet
   * (it blocks the rest). Null when there is none or the endpoint is not active and ordered.
   */
  async head(endpointId: string): Promise<SequenceHead | null> {
    const [row] = await this.db.rows<SequenceHead>(
      `SELECT d.id, e.rate_limit_per_second AS rate, ${msUntil(FREE_AT)} AS "waitMs"
       FROM webhook_endpoints e
       CROSS JOIN LATERAL (
         SELECT d.* FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending'
         ORDER BY d.message_id LIMIT 1
       ) d
       WHERE e.id = $1 AND e.status = 'active' AND e.ordered`,
      [endpointId],
    );
    return row ?? null;
  }

  /** Whether the endpoint still needs its pump (checked after one completes): active, something pending. */
  async needsPump(endpointId: string): Promise<boolean> {
    const [row] = await this.db.rows<{ needed: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.status = 'pending'
         WHERE e.id = $1 AND e.status = 'active'
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
