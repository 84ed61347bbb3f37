/**
 * A domain event as handlers see it. `id` is the outbox row id: unique and increasing. `key` is its
 * partition key: each handler gets the events of one key in id order; different keys go in parallel.
 */
export interface DomainEvent<T = Record<string, unknown>> {
  id: string;
  type: string;
  key: string;
  data: T;
  occurredAt: Date;
}

export interface NewDomainEvent<T = Record<string, unknown>> {
  type: string;
  data: T;
  /**
   * What must stay in order (a match, a conversation, a user): events of one key reach each handler
   * in the order they were recorded, as long as their transactions commit in that order (the writer
   * serializes them per key, e.g. with a row lock). Unkeyed events share the key ''.
   */
  key?: string;
  /** The trace it continues (a W3C `traceparent`); default: the active span's, if tracing is on. */
  traceContext?: string | null;
}

/**
 * Handles a batch: events of one or more keys, in id order within each key. It returns once all of
 * them are handled, or throws; the relay then retries key by key, then event by event, to find the
 * one that fails (so a handler must be idempotent: at least once, as always).
 */
export type DomainEventHandler = (events: DomainEvent[]) => Promise<void>;

export const OUTBOX_CHANNEL = 'outbox_events';

/**
 * Partitions of the outbox: a key's events all go to one (by an FNV-1a hash of the key; unkeyed
 * events to 0), and relays lease partitions, not keys, so the lease table stays small however many
 * keys there are. Fixed: changing it would move keys between partitions while their events wait.
 */
export const OUTBOX_PARTITIONS = 64;

export function partitionOf(key: string): number {
  if (key === '') return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % OUTBOX_PARTITIONS;
}

/**
 * The catalog of domain event types. Features add theirs here so outbound endpoints can be
 * checked against it (`GET /webhooks/event-types`).
 */
export const DOMAIN_EVENT_TYPES = {
  'match.started': 'A match kicked off.',
  'score.updated': 'A match event changed the score, period or timeline.',
  'match.finished': 'A match ended.',
  'payment.succeeded': 'A Stripe payment intent succeeded.',
  'subscription.updated': "A user's plan changed through Stripe.",
  'github.push': 'Commits were pushed to a bound GitHub repository.',
  'github.release': 'A release was published on GitHub.',
  'github.pull_request': 'A pull request was opened, closed or changed.',
  'github.issues': 'An issue was opened, closed or changed.',
  'endpoint.disabled': 'An outbound webhook endpoint was disabled.',
  'endpoint.recovered': 'An outbound webhook endpoint that was failing (or was disabled) delivered successfully again.',
  'delivery.exhausted': 'An outbound webhook delivery used up its retries and failed for good.',
  'inbound.rejected.spike': 'Inbound webhooks of one source failed signature checks more often than the threshold.',
  'outbox.dead_lettered': 'A domain event was dead-lettered for one of its handlers after OUTBOX_MAX_ATTEMPTS.',
  'webhook.test':
    'A test event an operator sent to one endpoint (POST /admin/webhooks/endpoints/:id/test); only that endpoint gets it, whatever it subscribes to.',
} as const;

/** Delivered only to the endpoint named in its `endpointId`, not by subscription. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';

/**
 * Operational events: about the system itself, for operators. None is ever recorded about one of
 * them (a delivery of an operational event that is exhausted or ends a failing streak, or an
 * operational event that a handler dead-letters), so they cannot feed themselves in a loop.
 */
export const OPERATIONAL_EVENT_TYPES: readonly string[] = [
  'endpoint.disabled',
  'endpoint.recovered',
  'delivery.exhausted',
  'inbound.rejected.spike',
  'outbox.dead_lettered',
  'webhook.test',
];
