import { MigrationInterface, QueryRunner } from 'typeorm';

export class Scores1795305704912 implements MigrationInterface {
  name = 'Scores1795305704912';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "matches" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "sport" character varying(32) NOT NULL, "home_team" character varying(100) NOT NULL, "away_team" character varying(100) NOT NULL, "starts_at" TIMESTAMP WITH TIME ZONE NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'scheduled', "home_score" integer NOT NULL DEFAULT '0', "away_score" integer NOT NULL DEFAULT '0', "period" integer NOT NULL DEFAULT '0', "last_seq" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_8a22c7b2e0828988d51256117f4" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_matches_status_starts_at" ON "matches"  ("status", "starts_at") `);
    await queryRunner.query(
      `CREATE TABLE "match_events" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "match_id" uuid NOT NULL, "seq" integer NOT NULL, "kind" character varying(16) NOT NULL, "team" character varying(4), "points" integer, "period" integer NOT NULL, "home_score" integer NOT NULL, "away_score" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "uq_match_events_match_seq" UNIQUE ("match_id", "seq"), CONSTRAINT "PK_34160ac79fb420bdc42a6b24854" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "match_events" ADD CONSTRAINT "FK_5bd1e02201ebf85de3ba5b70a83" FOREIGN KEY ("match_id") REFERENCES "matches"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "match_events" DROP CONSTRAINT "FK_5bd1e02201ebf85de3ba5b70a83"`);
    await queryRunner.query(`DROP TABLE "match_events"`);
    await queryRunner.query(`DROP INDEX "public"."idx_matches_status_starts_at"`);
    await queryRunner.query(`DROP TABLE "matches"`);
  }
}
