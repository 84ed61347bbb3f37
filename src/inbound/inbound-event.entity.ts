import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

export const INBOUND_STATUSES = ['received', 'processed', 'ignored', 'failed'] as const;
/**
 * `received`: stored, waiting for (another) attempt; `processed`: its effects are applied;
 * `ignored`: a type we do not handle, or nothing to do; `failed`: gave up after the last retry
 * (replay it from the admin API).
 */
export type InboundStatus = (typeof INBOUND_STATUSES)[number];

/** One webhook we received, stored before we answered: Postgres is its source of truth. */
@Entity('inbound_events')
@Unique('inbound_events_provider_external_id_key', ['provider', 'externalId'])
@Index('inbound_events_received_at_idx', ['receivedAt'])
@Index('inbound_events_waiting_idx', ['receivedAt'], { where: `status = 'received'` })
export class InboundEvent {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** `stripe`, `github`, or the name of a Standard Webhooks source. */
  @Column({ type: 'varchar', length: 32 })
  provider: string;

  /** The provider's id: Stripe event id, GitHub delivery id, `webhook-id`. */
  @Column({ name: 'external_id', type: 'varchar', length: 255 })
  externalId: string;

  @Column({ type: 'varchar', length: 200 })
  type: string;

  /** A few request headers worth keeping (never the signatures). */
  @Column({ type: 'jsonb', default: () => `'{}'` })
  headers: Record<string, string>;

  /** The body exactly as received (the signed bytes, as UTF-8 text). */
  @Column({ type: 'text', select: false })
  payload: string;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt: Date;

  @Column({ type: 'varchar', length: 16, default: 'received' })
  status: InboundStatus;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  /** How many times an operator replayed it; part of the job id, so a replay is a new job. */
  @Column({ type: 'int', default: 0 })
  replays: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt: Date | null;

  /** The storing request's `traceparent` (null with tracing off): a re-queued job continues its trace. */
  @Column({ name: 'trace_context', type: 'text', nullable: true, select: false })
  traceContext: string | null;
}
