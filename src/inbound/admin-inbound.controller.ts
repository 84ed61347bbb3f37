import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { InboundStatsQueryDto, ListInboundEventsDto } from './dto/list-inbound-events.dto.js';
import {
  InboundEventDetailDto,
  InboundEventDto,
  InboundEventPageDto,
  InboundStatsDto,
} from './dto/inbound-responses.dto.js';
import { InboundEventsService } from './inbound-events.service.js';

@ApiTags('admin: inbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/inbound')
export class AdminInboundController {
  constructor(private readonly events: InboundEventsService) {}

  /** Newest first; filter by provider, status, type. */
  @Get()
  @ApiOperation({ summary: 'List inbound events (newest first)' })
  @ApiOkResponse({ type: InboundEventPageDto })
  list(@Query() query: ListInboundEventsDto) {
    return this.events.list(query);
  }

  @Get('stats')
  @ApiOperation({
    summary: 'Inbound events by provider, status and type',
    description:
      'Counts of the events received in the last `hours` (1–720). Refused requests are not stored: their rates by reason are in `GET /admin/instances`.',
  })
  @ApiOkResponse({ type: InboundStatsDto })
  async stats(@Query() query: InboundStatsQueryDto): Promise<InboundStatsDto> {
    return { hours: query.hours, groups: await this.events.stats(query.hours) };
  }

  /** One event with its headers and payload. */
  @Get(':id')
  @ApiOperation({ summary: 'One inbound event with its headers and payload' })
  @ApiOkResponse({ type: InboundEventDetailDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.events.get(id);
  }

  /** Process a failed event again (a waiting one is queued again); processed or ignored → 409. */
  @Post(':id/replay')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Replay an inbound event',
    description: 'A failed event is processed again (a waiting one is queued again); processed or ignored → 409.',
  })
  @ApiAcceptedResponse({ type: InboundEventDto })
  replay(@Param('id', ParseUUIDPipe) id: string) {
    return this.events.replay(id);
  }
}
