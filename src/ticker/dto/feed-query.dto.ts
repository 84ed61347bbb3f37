import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { FeedAccessQueryDto, FeedPollQueryDto, FeedStreamQueryDto } from '#src/platform/realtime/feed-query.dto.js';

export class StreamQueryDto extends FeedStreamQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT', description: 'Comma-separated; none = all' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;
}

export class PollQueryDto extends FeedPollQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;
}

export class QuotesQueryDto extends FeedAccessQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT', description: 'none = all' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;
}
