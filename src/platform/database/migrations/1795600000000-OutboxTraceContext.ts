import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OpenTelemetry (issue 20): the W3C `traceparent` of the span that recorded an outbox event, so the
 * relay's handlers continue its trace. Nullable, no default: no table rewrite, and null when off.
 */
export class OutboxTraceContext1795600000000 implements MigrationInterface {
  name = 'OutboxTraceContext1795600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outbox_events" ADD "trace_context" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outbox_events" DROP COLUMN "trace_context"`);
  }
}
