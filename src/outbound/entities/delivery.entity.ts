import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  ManyToOne,
  JoinColumn,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { WebhookEndpoint } from './endpoint.entity.js';
import { WebhookMessage } from './message.entity.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

/**
 * One message for one endpoint: the source of truth for what still has to be sent. The queue only
 * schedules work; a reconciler re-enqueues pending rows that Redis lost.
 */
@Entity('webhook_deliveries')
@Unique('webhook_deliveries_endpoint_message_key', ['endpointId', 'messageId'])
@Index('webhook_deliveries_pending_idx', ['endpointId', 'messageId'], { where: "status = 'pending'" })
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'endpoint_id', type: 'uuid' })
  endpointId: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'endpoint_id' })
  endpoint?: WebhookEndpoint;

  @Column({ name: 'message_id', type: 'bigint' })
  messageId: string;

  @ManyToOne(() => WebhookMessage, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id' })
  message?: WebhookMessage;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DeliveryStatus;

  /** Attempts in the current round (a manual retry or a replay starts a new round). */
  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt: Date;

  /** Held by the worker sending it (as long as the BullMQ lock), so two jobs never send it at once. */
  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil: Date | null;

  @Column({ name: 'last_attempt_at', type: 'timestamptz', nullable: true })
  lastAttemptAt: Date | null;

  @Column({ name: 'last_status_code', type: 'int', nullable: true })
  lastStatusCode: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'succeeded_at', type: 'timestamptz', nullable: true })
  succeededAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
