import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** A domain event written in the same transaction as the change it describes. */
@Entity('outbox_events')
@Index('outbox_events_pending_idx', ['id'], { where: 'processed_at IS NULL' })
@Index('outbox_events_pending_partition_idx', ['partition', 'id'], { where: 'processed_at IS NULL' })
export class OutboxEvent {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  type: string;

  @Column({ type: 'jsonb' })
  data: Record<string, unknown>;

  /** Events of one key reach each handler in id order; different keys run in parallel ('' = unkeyed). */
  @Column({ name: 'partition_key', type: 'varchar', length: 200, default: '' })
  partitionKey: string;

  /** The key's partition (partitionOf): what relays lease, so one partition is in one relay's hands. */
  @Column({ type: 'smallint', default: 0 })
  partition: number;

  @CreateDateColumn({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  /** The W3C `traceparent` of the span that recorded it (null with tracing off): the relay continues it. */
  @Column({ name: 'trace_context', type: 'text', nullable: true })
  traceContext: string | null;

  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt: Date | null;
}
