import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
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
}
