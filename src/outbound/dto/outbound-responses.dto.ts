/** What the outbound webhook routes answer, for the API docs. */
import { ApiProperty } from '@nestjs/swagger';
import { PageResponseDto } from '#src/platform/http/page-response.dto.js';
import { DeliveryDto } from './delivery.dto.js';
import { ENDPOINT_STATUSES } from './list-query.dto.js';

export class EventTypeDto {
  @ApiProperty({ example: 'score.updated' })
  type: string;

  @ApiProperty({ example: 'A match event changed the score, period or timeline.' })
  description: string;
}

export class EventTypesDto {
  @ApiProperty({ type: [EventTypeDto] })
  items: EventTypeDto[];
}

export class EndpointDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'https://example.com/webhooks' })
  url: string;

  @ApiProperty({ nullable: true, type: String })
  description: string | null;

  @ApiProperty({ type: [String], example: ['score.*'] })
  eventTypes: string[];

  @ApiProperty({ description: 'One delivery in flight, strictly in message order' })
  ordered: boolean;

  @ApiProperty({ nullable: true, type: Number, description: 'Sends per second, across all instances' })
  rateLimitPerSecond: number | null;

  @ApiProperty({ enum: ENDPOINT_STATUSES })
  status: (typeof ENDPOINT_STATUSES)[number];

  @ApiProperty({ nullable: true, type: String })
  disabledReason: string | null;

  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  disabledAt: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    description: 'Failing without a success since then (disabled after OUTBOUND_DISABLE_AFTER_HOURS)',
  })
  failingSince: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
}

export class EndpointWithSecretDto extends EndpointDto {
  @ApiProperty({
    example: 'whsec_…',
    description: 'The signing secret (Standard Webhooks); shown only here and by …/secret',
  })
  secret: string;
}

export class EndpointPageDto extends PageResponseDto {
  @ApiProperty({ type: [EndpointDto] })
  items: EndpointDto[];
}

export class EndpointSecretDto {
  @ApiProperty({ example: 'whsec_…' })
  secret: string;

  @ApiProperty({
    type: [String],
    format: 'date-time',
    description: 'When each previous secret, still signing during its grace period, stops',
  })
  previousSecretsExpireAt: string[];
}

export class RotatedSecretDto {
  @ApiProperty({ example: 'whsec_…', description: 'The new secret' })
  secret: string;

  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    description: 'Until then deliveries are signed with both (OUTBOUND_SECRET_GRACE_HOURS)',
  })
  previousSecretExpiresAt: string | null;
}

export class ReplayResultDto {
  @ApiProperty({ example: 1, description: 'Messages queued again for this endpoint' })
  replayed: number;
}

export class TestEventResultDto {
  @ApiProperty({ example: '1042', description: "The outbox event; its delivery appears in the endpoint's deliveries" })
  eventId: string;

  @ApiProperty({ example: 'webhook.test' })
  type: string;
}

export class DeliveryCountsDto {
  @ApiProperty() pending: number;
  @ApiProperty() succeeded: number;
  @ApiProperty() failed: number;
}

export class EndpointStatsDto {
  @ApiProperty({ format: 'uuid' })
  endpointId: string;

  @ApiProperty({ example: 24 })
  windowHours: number;

  @ApiProperty({ description: 'Attempts in the window' })
  attempts: number;

  @ApiProperty()
  succeededAttempts: number;

  @ApiProperty({ nullable: true, type: Number, description: '0…1; null without attempts' })
  successRate: number | null;

  @ApiProperty({ nullable: true, type: Number })
  p95LatencyMs: number | null;

  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  lastSuccessAt: string | null;

  @ApiProperty({ type: DeliveryCountsDto, description: 'Deliveries by status (all time)' })
  deliveries: DeliveryCountsDto;
}

export class DeliveryPageDto extends PageResponseDto {
  @ApiProperty({ type: [DeliveryDto] })
  items: DeliveryDto[];
}

export class TimelinePointDto {
  @ApiProperty({ format: 'date-time', description: 'Start of the bucket' })
  at: string;

  @ApiProperty()
  attempts: number;

  @ApiProperty()
  succeeded: number;

  @ApiProperty()
  failed: number;

  @ApiProperty({ nullable: true, type: Number })
  p95LatencyMs: number | null;
}

export class EndpointTimelineDto {
  @ApiProperty({ example: 60, description: 'hours × 3600 / 60: a timeline has 60 buckets' })
  bucketSeconds: number;

  @ApiProperty({ type: [TimelinePointDto], description: 'Buckets with attempts, oldest first' })
  points: TimelinePointDto[];
}
