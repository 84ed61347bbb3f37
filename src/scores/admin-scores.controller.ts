import { Body, Controller, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { CreateMatchDto, PostMatchEventDto } from './dto/scores.dto.js';
import { MatchDto, MatchEventResultDto } from './dto/scores-responses.dto.js';
import { ScoresService } from './scores.service.js';

@ApiTags('admin: scores')
@AdminOnly()
@Controller('admin/scores')
export class AdminScoresController {
  constructor(private readonly scores: ScoresService) {}

  @Post('matches')
  @ApiOperation({ summary: 'Create a match (scheduled)' })
  @ApiCreatedResponse({ type: MatchDto })
  create(@Body() dto: CreateMatchDto) {
    return this.scores.createMatch(dto);
  }

  /**
   * kickoff (scheduled → live), score / period (live), final (live → finished); anything else → 409
   * naming the current status. 201 `{ match, event }`.
   */
  @Post('matches/:id/events')
  @ApiOperation({
    summary: 'Post a match event',
    description:
      'kickoff (scheduled → live), score and period (live), final (live → finished); any other state is a 409 naming the current status. `points` not allowed in the sport → 422.',
  })
  @ApiCreatedResponse({ type: MatchEventResultDto })
  // The first example is what "Try it out" sends: it must be valid for a match just created (scheduled).
  @ApiBody({
    type: PostMatchEventDto,
    examples: {
      kickoff: { summary: 'kickoff (scheduled → live)', value: { kind: 'kickoff' } },
      score: { summary: 'a goal for the home team (live)', value: { kind: 'score', team: 'home', points: 1 } },
      period: { summary: 'the next period starts (live)', value: { kind: 'period' } },
      final: { summary: 'full time (live → finished)', value: { kind: 'final' } },
    },
  })
  postEvent(@Param('id', new ParseUUIDPipe()) id: string, @Body() dto: PostMatchEventDto) {
    return this.scores.postEvent(id, dto);
  }
}
