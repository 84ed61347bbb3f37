/** What the inbound webhook routes answer, for the API docs. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageResponseDto } from '#src/platform/http/page-response.dto.js';
import { INBOUND_STATUSES, type InboundStatus } from '../inbound-event.entity.js';

export class InboundReceiptDto {
  @ApiProperty({ enum: [true] })
  received: true;

  @ApiPropertyOptional({ format: 'uuid', description: 'Our id of the stored event (absent for a duplicate)' })
  id?: string;

  @ApiProperty({ description: 'true when this event was already stored: nothing new was done' })
  duplicate: boolean;
}

export class InboundEventDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'stripe', description: '`stripe`, `github`, or a Standard Webhooks source name' })
  provider: string;

  @ApiProperty({ description: "The provider's id: Stripe event id, GitHub delivery id, `webhook-id`" })
  externalId: string;

  @ApiProperty({ example: 'payment_intent.succeeded' })
  type: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'A few request headers (never the signatures)',
  })
  headers: Record<string, string>;

  @ApiProperty({ format: 'date-time' })
  receivedAt: string;

  @ApiProperty({ enum: INBOUND_STATUSES })
  status: InboundStatus;

  @ApiProperty({ description: 'Processing attempts so far' })
  attempts: number;

  @ApiProperty({ description: 'Times an operator replayed it' })
  replays: number;

  @ApiProperty({ nullable: true, type: String })
  lastError: string | null;

  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  processedAt: string | null;
}

export class InboundEventDetailDto extends InboundEventDto {
  @ApiProperty({ description: 'The body as received, parsed as JSON' })
  payload: unknown;
}

export class InboundEventPageDto extends PageResponseDto {
  @ApiProperty({ type: [InboundEventDto] })
  items: InboundEventDto[];
}

export class GithubBindingDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'acme/app' })
  repository: string;

  @ApiProperty({ format: 'uuid' })
  conversationId: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;
}

export class GithubBindingPageDto extends PageResponseDto {
  @ApiProperty({ type: [GithubBindingDto] })
  items: GithubBindingDto[];
}

export class InboundStatsGroupDto {
  @ApiProperty({ example: 'stripe' })
  provider: string;

  @ApiProperty({ example: 'processed' })
  status: string;

  @ApiProperty({ example: 'customer.subscription.updated' })
  type: string;

  @ApiProperty()
  count: number;
}

export class InboundStatsDto {
  @ApiProperty({ example: 24 })
  hours: number;

  @ApiProperty({ type: [InboundStatsGroupDto], description: 'Most frequent first (500 groups at most)' })
  groups: InboundStatsGroupDto[];
}
