import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { FeedEventDto } from './feed-response.dto.js';
import { RealtimeService } from './realtime.service.js';

export class FeedTailQueryDto {
  @ApiProperty({
    example: 'BTC-USD',
    description: 'One topic of the feed, as its events name it (a symbol, a match id)',
  })
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'topic must be 1-64 letters, digits, or . _ : -' })
  topic: string;

  @ApiPropertyOptional({ description: 'From the previous answer; none = no events, the current head as `cursor`' })
  @IsOptional()
  @IsString()
  @MaxLength(64 * 64)
  cursor?: string;
}

class FeedTailEventDto extends FeedEventDto {
  @ApiProperty({ example: 'BTC-USD' })
  topic: string;
}

class FeedTailDto {
  @ApiProperty({ type: [FeedTailEventDto] })
  events: FeedTailEventDto[];

  @ApiProperty({ description: 'Pass as `cursor` in the next call' })
  cursor: string;
}

/** An operator's live tail of one topic (the console's Feeds page): polled, never blocking. */
@ApiTags('admin: feeds')
@AdminOnly()
@Controller('admin/feeds')
export class AdminFeedsController {
  constructor(private readonly realtime: RealtimeService) {}

  @Get(':feed/tail')
  @ApiOperation({
    summary: 'Tail one topic of a feed',
    description:
      'The events of the topic after `cursor`, at once (at most 1,000 log entries read); without `cursor`, none and the current head. A `reset` event when the cursor cannot be vouched for.',
  })
  @ApiOkResponse({ type: FeedTailDto })
  async tail(@Param('feed') feed: string, @Query() query: FeedTailQueryDto): Promise<FeedTailDto> {
    const result = await this.realtime.tail(feed, query.topic, query.cursor);
    if (!result) throw new NotFoundException(`no feed ${feed}`);
    return {
      events: result.events.map((event) => ({ ...event, topic: query.topic }) as FeedTailEventDto),
      cursor: result.cursor,
    };
  }
}
