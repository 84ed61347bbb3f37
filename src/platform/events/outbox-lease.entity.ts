import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Which relay holds a partition key, until when. A relay claims a key's pending events by taking
 * its lease (only where none is held or it has run out), handles them, then drops the lease, or
 * (a handler failed) keeps it `until` the key's backoff ends. A relay that dies mid-batch loses its
 * leases when they run out, and another takes the key from its first unrecorded event.
 */
@Entity('outbox_leases')
export class OutboxLease {
  @PrimaryColumn({ name: 'partition_key', type: 'varchar', length: 200 })
  partitionKey: string;

  @Column({ type: 'varchar', length: 200 })
  owner: string;

  @Column({ type: 'timestamptz' })
  until: Date;

  /** Failed batches in a row of this key: its backoff. */
  @Column({ type: 'int', default: 0 })
  failures: number;
}
