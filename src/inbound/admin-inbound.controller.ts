import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { ListInboundEventsDto } from './dto/list-inbound-events.dto.js';
import { InboundEventsService } from './inbound-events.service.js';

@ApiTags('admin: inbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/inbound')
export class AdminInboundController {
  constructor(private readonly events: InboundEventsService) {}

  /** Newest first; filter by provider, status, type. */
  @Get()
  list(@Query() query: ListInboundEventsDto) {
    return this.events.list(query);
  }

  /** One event with its headers and payload. */
  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.events.get(id);
  }

  /** Process a failed event again (a waiting one is queued again); processed or ignored → 409. */
  @Post(':id/replay')
  @HttpCode(202)
  replay(@Param('id', ParseUUIDPipe) id: string) {
    return this.events.replay(id);
  }
}
