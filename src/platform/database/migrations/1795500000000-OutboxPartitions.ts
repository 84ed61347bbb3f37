import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Relay v2 (issue 17): a partition key per outbox event and its partition (one of 64, by the key's
 * hash), and the relays' leases on partitions.
 */
export class OutboxPartitions1795500000000 implements MigrationInterface {
  name = 'OutboxPartitions1795500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "outbox_leases" ("partition" smallint NOT NULL, "owner" character varying(200) NOT NULL, "until" TIMESTAMP WITH TIME ZONE NOT NULL, "failures" integer NOT NULL DEFAULT '0', CONSTRAINT "PK_outbox_leases" PRIMARY KEY ("partition"))`,
    );
    // Constant defaults: no table rewrite (PostgreSQL 11+); existing events are unkeyed, partition 0.
    await queryRunner.query(
      `ALTER TABLE "outbox_events" ADD "partition_key" character varying(200) NOT NULL DEFAULT ''`,
    );
    await queryRunner.query(`ALTER TABLE "outbox_events" ADD "partition" smallint NOT NULL DEFAULT '0'`);
    await queryRunner.query(
      `CREATE INDEX "outbox_events_pending_partition_idx" ON "outbox_events" ("partition", "id") WHERE processed_at IS NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."outbox_events_pending_partition_idx"`);
    await queryRunner.query(`ALTER TABLE "outbox_events" DROP COLUMN "partition"`);
    await queryRunner.query(`ALTER TABLE "outbox_events" DROP COLUMN "partition_key"`);
    await queryRunner.query(`DROP TABLE "outbox_leases"`);
  }
}
