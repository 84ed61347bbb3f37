import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Which relay holds a partition (of OUTBOX_PARTITIONS, by partition key), until when. A relay claims
 * a partition's pending events by taking its lease (only where none is held or it has run out),
 * handles them, then drops the lease (a failing key backs off on its own: outbox-backoff.entity.ts).
 * A relay that dies mid-batch loses its leases when they run out, and another takes the partition
 * from its first unrecorded event.
 */
@Entity('outbox_leases')
export class OutboxLease {
  @PrimaryColumn({ type: 'smallint', primaryKeyConstraintName: 'PK_outbox_leases' })
  partition: number;

  @Column({ type: 'varchar', length: 200 })
  owner: string;

  @Column({ type: 'timestamptz' })
  until: Date;

  /** Written by releases before the per-key backoff (1795700000000-OutboxKeyBackoff); unused, dropped later. */
  @Column({ type: 'int', default: 0 })
  failures: number;
}
