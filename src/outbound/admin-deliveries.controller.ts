import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { DeliveriesService } from './deliveries.service.js';
import { DeliveryDto } from './dto/delivery.dto.js';

@ApiTags('admin: outbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/deliveries')
export class AdminDeliveriesController {
  constructor(private readonly deliveries: DeliveriesService) {}

  /** One delivery with every attempt (number, time, outcome, status code, latency, error, response excerpt). */
  @Get(':id')
  @ApiOperation({ summary: 'One delivery with its attempts' })
  @ApiOkResponse({ type: DeliveryDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.deliveries.get(id);
  }

  /** Due now; a failed (exhausted) or succeeded delivery starts a new round of the schedule. */
  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Retry a delivery now',
    description: 'Due now; a failed (exhausted) or succeeded delivery starts a new round of the schedule.',
  })
  @ApiAcceptedResponse({ type: DeliveryDto })
  retry(@Param('id', ParseUUIDPipe) id: string) {
    return this.deliveries.retry(id);
  }
}
