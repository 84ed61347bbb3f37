import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { IntField } from '#src/platform/http/fields.js';
import { PageQueryDto } from '#src/platform/http/page.js';
import { INBOUND_STATUSES, type InboundStatus } from '../inbound-event.entity.js';

export class ListInboundEventsDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'stripe', description: 'stripe, github, or a Standard Webhooks source name' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  provider?: string;

  @ApiPropertyOptional({ enum: INBOUND_STATUSES })
  @IsOptional()
  @IsIn(INBOUND_STATUSES)
  status?: InboundStatus;

  @ApiPropertyOptional({ example: 'payment_intent.succeeded' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  type?: string;
}

export class InboundStatsQueryDto {
  @IntField({ min: 1, max: 720, optional: true, default: 24, description: 'How far back, in hours' })
  hours: number = 24;
}
