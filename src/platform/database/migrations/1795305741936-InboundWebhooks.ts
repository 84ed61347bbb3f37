import { MigrationInterface, QueryRunner } from 'typeorm';

export class InboundWebhooks1795305741936 implements MigrationInterface {
  name = 'InboundWebhooks1795305741936';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "github_bindings" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "repository" character varying(200) NOT NULL, "conversation_id" uuid NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "github_bindings_repository_conversation_key" UNIQUE ("repository", "conversation_id"), CONSTRAINT "PK_78b41d8afee70a2006c74e227db" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "inbound_events" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "provider" character varying(32) NOT NULL, "external_id" character varying(255) NOT NULL, "type" character varying(200) NOT NULL, "headers" jsonb NOT NULL DEFAULT '{}', "payload" text NOT NULL, "received_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "status" character varying(16) NOT NULL DEFAULT 'received', "attempts" integer NOT NULL DEFAULT '0', "replays" integer NOT NULL DEFAULT '0', "last_error" text, "processed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "inbound_events_provider_external_id_key" UNIQUE ("provider", "external_id"), CONSTRAINT "PK_b76e26fa0121da742b191b7ded0" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "inbound_events_waiting_idx" ON "inbound_events"  ("received_at") WHERE status = 'received'`,
    );
    await queryRunner.query(`CREATE INDEX "inbound_events_received_at_idx" ON "inbound_events"  ("received_at") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."inbound_events_received_at_idx"`);
    await queryRunner.query(`DROP INDEX "public"."inbound_events_waiting_idx"`);
    await queryRunner.query(`DROP TABLE "inbound_events"`);
    await queryRunner.query(`DROP TABLE "github_bindings"`);
  }
}
