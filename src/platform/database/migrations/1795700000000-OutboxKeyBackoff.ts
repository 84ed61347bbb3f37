import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A failing partition key backs off on its own (issue 17: a failing handler blocks only its own
 * key): `outbox_backoffs` holds each key in backoff and until when, and a partition's lease is
 * dropped after every batch. `outbox_leases.failures` is no longer written; it stays (expand, then
 * contract) so that instances of the previous release, still running during a rolling deploy, keep
 * recording; a later migration drops it.
 */
export class OutboxKeyBackoff1795700000000 implements MigrationInterface {
  name = 'OutboxKeyBackoff1795700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "outbox_backoffs" ("partition_key" character varying(200) NOT NULL, "failures" integer NOT NULL DEFAULT 0, "until" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_outbox_backoffs" PRIMARY KEY ("partition_key"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "outbox_backoffs"`);
  }
}
