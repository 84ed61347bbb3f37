import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One row per (event, handler) that has run: what makes delivery once per handler. */
@Entity('outbox_handled')
export class OutboxHandled {
  @PrimaryColumn({ name: 'event_id', type: 'bigint' })
  eventId: string;

  @PrimaryColumn({ type: 'varchar', length: 100 })
  handler: string;

  @Column({ type: 'varchar', length: 16, default: 'done' })
  outcome: 'done' | 'dead';

  @Column({ name: 'handled_at', type: 'timestamptz', default: () => 'now()' })
  handledAt: Date;
}
