import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { DateTimeField, IntField } from '#src/platform/http/fields.js';
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

  @DateTimeField({ example: '2026-11-21T20:00:00Z' })
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

  @IntField({
    min: 1,
    max: 100,
    optional: true,
    example: 1,
    description: "kind=score: the sport's point values (football and hockey 1, the default; basketball 1, 2 or 3)",
  })
  points?: number;

  @IntField({
    min: 1,
    max: 100,
    optional: true,
    example: 2,
    description: 'kind=period: the period starting now (default: the next one)',
  })
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
