import { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1795300207983 implements MigrationInterface {
  name = 'Init1795300207983';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(100) NOT NULL, "plan" character varying(32) NOT NULL DEFAULT 'free', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "users_name_idx" ON "users"  ("name") `);
    await queryRunner.query(
      `CREATE TABLE "outbox_events" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "type" character varying(100) NOT NULL, "data" jsonb NOT NULL, "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "attempts" integer NOT NULL DEFAULT '0', "last_error" text, "processed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_6689a16c00d09b8089f6237f1d2" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "outbox_events_pending_idx" ON "outbox_events"  ("id") WHERE processed_at IS NULL`,
    );
    await queryRunner.query(
      `CREATE TABLE "outbox_handled" ("event_id" bigint NOT NULL, "handler" character varying(100) NOT NULL, "outcome" character varying(16) NOT NULL DEFAULT 'done', "handled_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_a54f8132736343675c86c903722" PRIMARY KEY ("event_id", "handler"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "outbox_handled"`);
    await queryRunner.query(`DROP INDEX "public"."outbox_events_pending_idx"`);
    await queryRunner.query(`DROP TABLE "outbox_events"`);
    await queryRunner.query(`DROP INDEX "public"."users_name_idx"`);
    await queryRunner.query(`DROP TABLE "users"`);
  }
}
