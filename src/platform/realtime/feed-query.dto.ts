/** Query parameters every feed's stream and long poll share; features add their topic list. */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class FeedStreamQueryDto {
  @ApiPropertyOptional({ description: 'Resume point on first connect (the header Last-Event-ID wins)' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  lastEventId?: string;
}

export class FeedPollQueryDto {
  @ApiPropertyOptional({ description: 'From a previous answer; none = return at once with the current cursor' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 30_000, default: 25_000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(30_000)
  timeoutMs: number = 25_000;
}
