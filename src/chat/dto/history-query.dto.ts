import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** Keyset page of a conversation's messages: the `limit` newest before `beforeSeq` (none = the newest). */
export class HistoryQueryDto {
  @ApiPropertyOptional({
    minimum: 1,
    description: 'Messages with a smaller seq; from `nextBeforeSeq` of the previous page',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  beforeSeq?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 50;
}
