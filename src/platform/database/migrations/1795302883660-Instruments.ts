import { MigrationInterface, QueryRunner } from 'typeorm';

export class Instruments1795302883660 implements MigrationInterface {
  name = 'Instruments1795302883660';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "instruments" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "symbol" character varying(16) NOT NULL, "name" character varying(100) NOT NULL, "currency" character varying(3) NOT NULL DEFAULT 'USD', "active" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_8bd2da22a1ed32dced42f6a4f24" UNIQUE ("symbol"), CONSTRAINT "PK_44d772c3199b38559c5fb666eb6" PRIMARY KEY ("id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "instruments"`);
  }
}
