import { Body, Controller, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { CreateMatchDto, PostMatchEventDto } from './dto/scores.dto.js';
import { ScoresService } from './scores.service.js';

@ApiTags('admin: scores')
@AdminOnly()
@Controller('admin/scores')
export class AdminScoresController {
  constructor(private readonly scores: ScoresService) {}

  @Post('matches')
  create(@Body() dto: CreateMatchDto) {
    return this.scores.createMatch(dto);
  }

  /**
   * kickoff (scheduled → live), score / period (live), final (live → finished); anything else → 409
   * naming the current status. 201 `{ match, event }`.
   */
  @Post('matches/:id/events')
  postEvent(@Param('id', new ParseUUIDPipe()) id: string, @Body() dto: PostMatchEventDto) {
    return this.scores.postEvent(id, dto);
  }
}
