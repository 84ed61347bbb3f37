import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Feed access by plan: instrument tiers and per-plan entitlements (issue 18). */
export class Entitlements1795400000000 implements MigrationInterface {
  name = 'Entitlements1795400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "instruments" ADD "tier" character varying(16) NOT NULL DEFAULT 'basic'`);
    await queryRunner.query(
      `CREATE TABLE "entitlements" ("plan" character varying(16) NOT NULL, "ticker" jsonb NOT NULL, "scores" jsonb NOT NULL, "max_streams" integer NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_entitlements" PRIMARY KEY ("plan"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "entitlements"`);
    await queryRunner.query(`ALTER TABLE "instruments" DROP COLUMN "tier"`);
  }
}
