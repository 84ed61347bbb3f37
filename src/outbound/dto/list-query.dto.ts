import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { DateTimeField, IntField } from '#src/platform/http/fields.js';
import { PageQueryDto } from '#src/platform/http/page.js';

export const ENDPOINT_STATUSES = ['active', 'paused', 'disabled'] as const;
export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export class ListEndpointsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ENDPOINT_STATUSES })
  @IsOptional()
  @IsIn(ENDPOINT_STATUSES, { message: `status must be one of ${ENDPOINT_STATUSES.join(', ')}` })
  status?: (typeof ENDPOINT_STATUSES)[number];
}

export class ListDeliveriesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES, { message: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
  status?: (typeof DELIVERY_STATUSES)[number];

  @ApiPropertyOptional({ example: 'match.score_changed', description: 'Only deliveries of this event type' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  eventType?: string;

  @DateTimeField({ optional: true, description: 'Only deliveries created at or after this time' })
  since?: Date;

  @DateTimeField({ optional: true, description: 'Only deliveries created before this time' })
  until?: Date;
}

export class TimelineQueryDto {
  @IntField({ min: 1, max: 168, optional: true, default: 1, description: 'How far back, in hours' })
  hours: number = 1;
}
