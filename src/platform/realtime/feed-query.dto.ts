/** Query parameters every feed's stream and long poll share; features add their topic list. */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { IntField } from '#src/platform/http/fields.js';

/** A cursor holds a position per feed log (FEED_SHARDS, at most 64): up to 64 characters each. */
const MAX_CURSOR = 64 * 64;

/** Who reads: a user JWT or a feed token, for clients that cannot send `Authorization` (EventSource). */
export class FeedAccessQueryDto {
  @ApiPropertyOptional({
    description:
      'A user JWT or a feed token, when `Authorization: Bearer` cannot be sent (the browser EventSource); the header wins. The access log records routes, never query strings.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4_096)
  token?: string;
}

export class FeedStreamQueryDto extends FeedAccessQueryDto {
  @ApiPropertyOptional({ description: 'Resume point on first connect (the header Last-Event-ID wins)' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_CURSOR)
  lastEventId?: string;

  @ApiPropertyOptional({
    description:
      'Resume point, as `lastEventId` (the name NDJSON consumers use; `Last-Event-ID` wins, then `lastEventId`)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_CURSOR)
  cursor?: string;
}

export class FeedPollQueryDto extends FeedAccessQueryDto {
  @ApiPropertyOptional({ description: 'From a previous answer; none = return at once with the current cursor' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_CURSOR)
  cursor?: string;

  @IntField({ min: 0, max: 30_000, optional: true, default: 25_000 })
  timeoutMs: number = 25_000;
}
