import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { DOMAIN_EVENT_TYPES } from '#src/platform/events/domain-event.js';

/** The catalog endpoints subscribe to (public: subscribers need it to build their patterns). */
@ApiTags('webhooks')
@Controller('webhooks/event-types')
export class EventTypesController {
  @Get()
  list() {
    return { items: Object.entries(DOMAIN_EVENT_TYPES).map(([type, description]) => ({ type, description })) };
  }
}
