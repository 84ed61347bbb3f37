import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One domain event as subscribers see it. `id` is assigned when the outbox handler takes the event,
 * and the relay hands events over one at a time in order, so `id` is the message order that ordered
 * endpoints follow. `eventId` is unique: the same event never makes two messages.
 */
@Entity('webhook_messages')
@Index('webhook_messages_created_idx', ['createdAt'])
export class WebhookMessage {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ name: 'event_id', type: 'bigint', unique: true })
  eventId: string;

  /** The Standard Webhooks `webhook-id`: the same on every attempt, so receivers can dedupe. */
  @Column({ name: 'webhook_id', type: 'varchar', length: 40, unique: true })
  webhookId: string;

  @Column({ type: 'varchar', length: 100 })
  type: string;

  /** `{ type, timestamp, data }`, serialized once: every attempt signs and sends these exact bytes. */
  @Column({ type: 'text' })
  body: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
