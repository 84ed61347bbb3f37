import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { DeliveriesService } from './deliveries.service.js';

@ApiTags('admin: outbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/deliveries')
export class AdminDeliveriesController {
  constructor(private readonly deliveries: DeliveriesService) {}

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.deliveries.get(id);
  }

  /** Due now; a failed (exhausted) or succeeded delivery starts a new round of the schedule. */
  @Post(':id/retry')
  @HttpCode(202)
  retry(@Param('id', ParseUUIDPipe) id: string) {
    return this.deliveries.retry(id);
  }
}
