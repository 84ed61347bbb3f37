import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A partition key whose event a handler failed on: none of the key's pending events is claimed
 * `until` its backoff ends (100 ms, doubling per failure in a row, at most 5 s), while the other
 * keys of its partition go on. The row goes when the key's events get through again.
 */
@Entity('outbox_backoffs')
export class OutboxBackoff {
  @PrimaryColumn({
    name: 'partition_key',
    type: 'varchar',
    length: 200,
    primaryKeyConstraintName: 'PK_outbox_backoffs',
  })
  key: string;

  /** Failed attempts in a row. */
  @Column({ type: 'int', default: 0 })
  failures: number;

  @Column({ type: 'timestamptz' })
  until: Date;
}
