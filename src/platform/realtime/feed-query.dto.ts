/** Query parameters every feed's stream and long poll share; features add their topic list. */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { IntField } from '#src/platform/http/fields.js';

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

  @IntField({ min: 0, max: 30_000, optional: true, default: 25_000 })
  timeoutMs: number = 25_000;
}
