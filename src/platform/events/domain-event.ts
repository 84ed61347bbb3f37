/** A domain event as handlers see it. `id` is the outbox row id: unique and increasing. */
export interface DomainEvent<T = Record<string, unknown>> {
  id: string;
  type: string;
  data: T;
  occurredAt: Date;
}

export interface NewDomainEvent<T = Record<string, unknown>> {
  type: string;
  data: T;
}

export type DomainEventHandler = (event: DomainEvent) => Promise<void>;

export const OUTBOX_CHANNEL = 'outbox_events';

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
} as const;
