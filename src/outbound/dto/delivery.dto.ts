import { ApiProperty } from '@nestjs/swagger';
import type { AttemptView, DeliveryView } from '../deliveries.service.js';
import { DELIVERY_STATUSES } from './list-query.dto.js';

/** One HTTP attempt of a delivery, as the operator's log shows it (the OpenAPI schema of AttemptView). */
export class DeliveryAttemptDto implements AttemptView {
  @ApiProperty({ description: "1 for the delivery's first attempt; counts on across manual retries", example: 1 })
  number: number;

  @ApiProperty({ type: String, format: 'date-time' })
  attemptedAt: Date;

  @ApiProperty({ enum: ['succeeded', 'failed'] })
  outcome: string;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'null when no answer came (refused, timeout)',
    example: 500,
  })
  statusCode: number | null;

  @ApiProperty({ description: 'from the start of the request to the end of the answer (or the failure)', example: 42 })
  latencyMs: number;

  @ApiProperty({ type: String, nullable: true, example: 'HTTP 500' })
  error: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'the first 4 KB of the response body, as text' })
  responseExcerpt: string | null;
}

/** A delivery of one message to one endpoint, with its attempts oldest first. */
export class DeliveryDto implements DeliveryView {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  endpointId: string;

  @ApiProperty({ description: 'the outbound message (one per domain event), in message order', example: '42' })
  messageId: string;

  @ApiProperty({ description: 'the `webhook-id` header the receiver sees (the same on every attempt)' })
  webhookId: string;

  @ApiProperty({ example: 'score.updated' })
  eventType: string;

  @ApiProperty({ enum: DELIVERY_STATUSES })
  status: string;

  @ApiProperty({ description: 'attempts in the current round of the retry schedule (a manual retry restarts it)' })
  attemptCount: number;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'when pending' })
  nextAttemptAt: Date | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastAttemptAt: Date | null;

  @ApiProperty({ type: Number, nullable: true })
  lastStatusCode: number | null;

  @ApiProperty({ type: String, nullable: true })
  lastError: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  succeededAt: Date | null;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ type: [DeliveryAttemptDto], description: 'oldest first; at most the newest 50' })
  attempts: DeliveryAttemptDto[];
}
