import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { DeliveriesService } from './deliveries.service.js';
import { CreateEndpointDto } from './dto/create-endpoint.dto.js';
import { ListDeliveriesQueryDto, ListEndpointsQueryDto } from './dto/list-query.dto.js';
import { ReplayDto } from './dto/replay.dto.js';
import { UpdateEndpointDto } from './dto/update-endpoint.dto.js';
import { EndpointsService } from './endpoints.service.js';

@ApiTags('admin: outbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/endpoints')
export class AdminEndpointsController {
  constructor(
    private readonly endpoints: EndpointsService,
    private readonly deliveries: DeliveriesService,
  ) {}

  /** The only response (with rotate-secret and GET …/secret) that shows the secret. */
  @Post()
  create(@Body() dto: CreateEndpointDto) {
    return this.endpoints.create(dto);
  }

  @Get()
  list(@Query() query: ListEndpointsQueryDto) {
    return this.endpoints.list(query);
  }

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.get(id);
  }

  @Patch(':id')
  update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateEndpointDto) {
    return this.endpoints.update(id, dto);
  }

  /** Deletes the endpoint with its deliveries and their log. */
  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.remove(id);
  }

  @Get(':id/secret')
  secret(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.secret(id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  rotateSecret(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.rotateSecret(id);
  }

  /** Deliveries are kept (held) while paused and sent in order on resume. */
  @Post(':id/pause')
  @HttpCode(200)
  pause(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.pause(id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.resume(id);
  }

  @Post(':id/replay')
  @HttpCode(202)
  replay(@Param('id', ParseUUIDPipe) id: string, @Body() dto: ReplayDto) {
    return this.endpoints.replay(id, dto.since);
  }

  /** Success rate and p95 latency over the last 24 h, last success, deliveries by status. */
  @Get(':id/stats')
  stats(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.stats(id);
  }

  @Get(':id/deliveries')
  listDeliveries(@Param('id', ParseUUIDPipe) id: string, @Query() query: ListDeliveriesQueryDto) {
    return this.deliveries.list(id, query);
  }
}
