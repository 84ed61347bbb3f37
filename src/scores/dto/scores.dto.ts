import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { PageQueryDto } from '#src/platform/http/page.js';
import { FeedPollQueryDto, FeedStreamQueryDto } from '#src/platform/realtime/feed-query.dto.js';
import {
  EVENT_KINDS,
  type EventKind,
  MATCH_STATUSES,
  type MatchStatus,
  SPORT_NAMES,
  type Sport,
  TEAMS,
  type Team,
} from '../sports.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class CreateMatchDto {
  @ApiProperty({ enum: SPORT_NAMES, example: 'football' })
  @IsIn(SPORT_NAMES)
  sport: Sport;

  @ApiProperty({ example: 'Arsenal' })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  homeTeam: string;

  @ApiProperty({ example: 'Chelsea' })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  awayTeam: string;

  @ApiProperty({ example: '2026-11-21T20:00:00Z' })
  @Type(() => Date)
  @IsDate()
  startsAt: Date;
}

export class PostMatchEventDto {
  @ApiProperty({ enum: EVENT_KINDS, example: 'kickoff' })
  @IsIn(EVENT_KINDS)
  kind: EventKind;

  @ApiPropertyOptional({ enum: TEAMS, example: 'home', description: 'Required for kind=score' })
  @IsOptional()
  @IsIn(TEAMS)
  team?: Team;

  @ApiPropertyOptional({
    example: 1,
    description: "kind=score: the sport's point values (football and hockey 1, the default; basketball 1, 2 or 3)",
  })
  @IsOptional()
  @IsInt()
  points?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 100,
    example: 2,
    description: 'kind=period: the period starting now (default: the next one)',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  period?: number;
}

export class MatchesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: MATCH_STATUSES })
  @IsOptional()
  @IsIn(MATCH_STATUSES)
  status?: MatchStatus;
}

export class ScoresStreamQueryDto extends FeedStreamQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated match ids; none = all matches' })
  @IsOptional()
  @IsString()
  @MaxLength(40_000)
  matches?: string;
}

export class ScoresPollQueryDto extends FeedPollQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated match ids; none = all matches' })
  @IsOptional()
  @IsString()
  @MaxLength(40_000)
  matches?: string;
}
