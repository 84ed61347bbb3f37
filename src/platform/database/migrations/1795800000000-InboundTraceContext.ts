import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OpenTelemetry (issue 20): the W3C `traceparent` of the request that stored an inbound event, so
 * a job the reconciler queues again (its first job lost with Redis) continues the same trace.
 * Nullable, no default: no table rewrite, and null with tracing off.
 */
export class InboundTraceContext1795800000000 implements MigrationInterface {
  name = 'InboundTraceContext1795800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbound_events" ADD "trace_context" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbound_events" DROP COLUMN "trace_context"`);
  }
}
