import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Relay v2 (issue 17): a partition key per outbox event, and the relays' leases on keys. */
export class OutboxPartitions1795500000000 implements MigrationInterface {
  name = 'OutboxPartitions1795500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "outbox_leases" ("partition_key" character varying(200) NOT NULL, "owner" character varying(200) NOT NULL, "until" TIMESTAMP WITH TIME ZONE NOT NULL, "failures" integer NOT NULL DEFAULT '0', CONSTRAINT "PK_f59e4d1aff1183f5ffd4e4ab98a" PRIMARY KEY ("partition_key"))`,
    );
    // A constant default: no table rewrite (PostgreSQL 11+), existing events are unkeyed.
    await queryRunner.query(
      `ALTER TABLE "outbox_events" ADD "partition_key" character varying(200) NOT NULL DEFAULT ''`,
    );
    await queryRunner.query(
      `CREATE INDEX "outbox_events_pending_key_idx" ON "outbox_events" ("partition_key", "id") WHERE processed_at IS NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."outbox_events_pending_key_idx"`);
    await queryRunner.query(`ALTER TABLE "outbox_events" DROP COLUMN "partition_key"`);
    await queryRunner.query(`DROP TABLE "outbox_leases"`);
  }
}
