/** What the scores routes answer, for the API docs. */
import { ApiProperty } from '@nestjs/swagger';
import { PageResponseDto } from '#src/platform/http/page-response.dto.js';
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

export class MatchDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: SPORT_NAMES, example: 'football' })
  sport: Sport;

  @ApiProperty({ example: 'Arsenal' })
  homeTeam: string;

  @ApiProperty({ example: 'Chelsea' })
  awayTeam: string;

  @ApiProperty({ format: 'date-time' })
  startsAt: string;

  @ApiProperty({ enum: MATCH_STATUSES, example: 'scheduled' })
  status: MatchStatus;

  @ApiProperty({ example: 0, description: 'Home score' })
  home: number;

  @ApiProperty({ example: 0, description: 'Away score' })
  away: number;

  @ApiProperty({ example: 0, description: '0 before kickoff, then 1, 2, …' })
  period: number;

  @ApiProperty({ example: 0, description: 'The seq of the last timeline event; skip feed events at or below it' })
  seq: number;
}

export class MatchEventDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 1, description: 'Position in the match timeline' })
  seq: number;

  @ApiProperty({ enum: EVENT_KINDS, example: 'kickoff' })
  kind: EventKind;

  @ApiProperty({ enum: TEAMS, nullable: true, type: String })
  team: Team | null;

  @ApiProperty({ nullable: true, type: Number })
  points: number | null;

  @ApiProperty({ example: 1 })
  period: number;

  @ApiProperty({ example: 0, description: 'Home score after this event' })
  home: number;

  @ApiProperty({ example: 0, description: 'Away score after this event' })
  away: number;

  @ApiProperty({ format: 'date-time' })
  at: string;
}

export class MatchDetailDto extends MatchDto {
  @ApiProperty({ type: [MatchEventDto], description: 'Events in seq order' })
  timeline: MatchEventDto[];
}

export class MatchPageDto extends PageResponseDto {
  @ApiProperty({ type: [MatchDto] })
  items: MatchDto[];
}

export class MatchEventResultDto {
  @ApiProperty({ type: MatchDto, description: 'The match after the event' })
  match: MatchDto;

  @ApiProperty({ type: MatchEventDto })
  event: MatchEventDto;
}
