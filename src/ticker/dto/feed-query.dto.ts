import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class StreamQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT', description: 'Comma-separated; none = all' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;

  @ApiPropertyOptional({ description: 'Resume point on first connect (the header Last-Event-ID wins)' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  lastEventId?: string;
}

export class PollQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;

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

export class QuotesQueryDto {
  @ApiPropertyOptional({ example: 'AAPL,MSFT', description: 'none = all' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  symbols?: string;
}
