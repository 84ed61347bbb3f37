import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DOMAIN_EVENT_TYPES } from '#src/platform/events/domain-event.js';
import { EventTypesDto } from './dto/outbound-responses.dto.js';

/** The catalog endpoints subscribe to (public: subscribers need it to build their patterns). */
@ApiTags('webhooks')
@Controller('webhooks/event-types')
export class EventTypesController {
  @Get()
  @ApiOperation({ summary: 'The event types outbound endpoints subscribe to' })
  @ApiOkResponse({ type: EventTypesDto })
  list() {
    return { items: Object.entries(DOMAIN_EVENT_TYPES).map(([type, description]) => ({ type, description })) };
  }
}
