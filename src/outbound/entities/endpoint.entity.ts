import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type EndpointStatus = 'active' | 'paused' | 'disabled';

/** A secret that still signs after a rotation, until `expiresAt` (ISO time). */
export interface PreviousSecret {
  secret: string;
  expiresAt: string;
}

/** A subscriber's URL and what it wants. The secret is never part of a list or a log. */
@Entity('webhook_endpoints')
export class WebhookEndpoint {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  description: string | null;

  /** Patterns such as `score.*`, each checked against the event type catalog. */
  @Column({ name: 'event_types', type: 'varchar', length: 100, array: true })
  eventTypes: string[];

  @Column({ type: 'boolean', default: false })
  ordered: boolean;

  @Column({ name: 'rate_limit_per_second', type: 'int', nullable: true })
  rateLimitPerSecond: number | null;

  @Column({ type: 'varchar', length: 16, default: 'active' })
  status: EndpointStatus;

  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason: string | null;

  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true })
  disabledAt: Date | null;

  @Column({ type: 'varchar', length: 100 })
  secret: string;

  @Column({ name: 'previous_secrets', type: 'jsonb', default: () => "'[]'" })
  previousSecrets: PreviousSecret[];

  /**
   * Unordered endpoints: after a resume or a replay, the held deliveries up to this message id are
   * sent one at a time in message order by the endpoint's sequence job; cleared when that is done.
   */
  @Column({ name: 'drain_up_to', type: 'bigint', nullable: true })
  drainUpTo: string | null;

  /** Set by the first failed attempt after a success, cleared by a success: drives auto-disable. */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
