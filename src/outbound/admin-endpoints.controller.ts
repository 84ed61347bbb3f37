import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { DeliveriesService } from './deliveries.service.js';
import { CreateEndpointDto } from './dto/create-endpoint.dto.js';
import { ListDeliveriesQueryDto, ListEndpointsQueryDto, TimelineQueryDto } from './dto/list-query.dto.js';
import { ReplayDto } from './dto/replay.dto.js';
import {
  DeliveryPageDto,
  EndpointDto,
  EndpointPageDto,
  EndpointSecretDto,
  EndpointStatsDto,
  EndpointTimelineDto,
  EndpointWithSecretDto,
  ReplayResultDto,
  RotatedSecretDto,
  TestEventResultDto,
} from './dto/outbound-responses.dto.js';
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
  @ApiOperation({
    summary: 'Create an outbound endpoint',
    description:
      'Answers with its signing secret (`whsec_…`). Private and internal addresses are refused (422) unless in OUTBOUND_ALLOWED_CIDRS.',
  })
  @ApiCreatedResponse({ type: EndpointWithSecretDto })
  @ApiBody({
    type: CreateEndpointDto,
    examples: {
      scores: {
        summary: 'score events to a public receiver',
        value: {
          url: 'https://example.com/webhooks',
          eventTypes: ['score.*', 'match.*'],
          description: 'Scores for the partner app',
        },
      },
    },
  })
  create(@Body() dto: CreateEndpointDto) {
    return this.endpoints.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List outbound endpoints (newest first)' })
  @ApiOkResponse({ type: EndpointPageDto })
  list(@Query() query: ListEndpointsQueryDto) {
    return this.endpoints.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One outbound endpoint' })
  @ApiOkResponse({ type: EndpointDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change an outbound endpoint' })
  @ApiOkResponse({ type: EndpointDto })
  @ApiBody({
    type: UpdateEndpointDto,
    examples: {
      throttle: { summary: 'limit the send rate', value: { rateLimitPerSecond: 10 } },
      clear: {
        summary: 'clear the description and the rate limit',
        value: { description: null, rateLimitPerSecond: null },
      },
    },
  })
  update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateEndpointDto) {
    return this.endpoints.update(id, dto);
  }

  /** Deletes the endpoint with its deliveries and their log. */
  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an outbound endpoint with its deliveries and their log' })
  @ApiNoContentResponse({ description: 'deleted' })
  remove(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.remove(id);
  }

  @Get(':id/secret')
  @ApiOperation({ summary: "An endpoint's signing secret" })
  @ApiOkResponse({ type: EndpointSecretDto })
  secret(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.secret(id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Rotate the signing secret',
    description: 'The old secret keeps signing alongside the new one for OUTBOUND_SECRET_GRACE_HOURS.',
  })
  @ApiOkResponse({ type: RotatedSecretDto })
  rotateSecret(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.rotateSecret(id);
  }

  /** Deliveries are kept (held) while paused and sent in order on resume. */
  @Post(':id/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Pause an endpoint (deliveries are kept)' })
  @ApiOkResponse({ type: EndpointDto })
  pause(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.pause(id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume an endpoint (held deliveries go out in order)' })
  @ApiOkResponse({ type: EndpointDto })
  resume(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.resume(id);
  }

  @Post(':id/test')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Send a test event to this endpoint',
    description:
      'Records a `webhook.test` event for this endpoint alone; it is delivered through the normal path (signed, retried, with attempts in the delivery log). 409 for a disabled endpoint.',
  })
  @ApiAcceptedResponse({ type: TestEventResultDto })
  sendTest(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.sendTest(id);
  }

  @Post(':id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Re-send every matching message since a time' })
  @ApiAcceptedResponse({ type: ReplayResultDto })
  replay(@Param('id', ParseUUIDPipe) id: string, @Body() dto: ReplayDto) {
    return this.endpoints.replay(id, dto.since);
  }

  /** Success rate and p95 latency over the last 24 h, last success, deliveries by status. */
  @Get(':id/stats')
  @ApiOperation({
    summary: 'Endpoint stats (last 24 h)',
    description: 'Success rate and p95 latency over the last 24 h, last success, deliveries by status.',
  })
  @ApiOkResponse({ type: EndpointStatsDto })
  stats(@Param('id', ParseUUIDPipe) id: string) {
    return this.endpoints.stats(id);
  }

  @Get(':id/timeline')
  @ApiOperation({
    summary: 'Endpoint attempts over time',
    description: 'Attempts, successes, failures and p95 latency in 60 buckets over the last `hours` (1–168).',
  })
  @ApiOkResponse({ type: EndpointTimelineDto })
  timeline(@Param('id', ParseUUIDPipe) id: string, @Query() query: TimelineQueryDto) {
    return this.endpoints.timeline(id, query.hours);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: "An endpoint's deliveries with their attempts (newest first)" })
  @ApiOkResponse({ type: DeliveryPageDto })
  listDeliveries(@Param('id', ParseUUIDPipe) id: string, @Query() query: ListDeliveriesQueryDto) {
    return this.deliveries.list(id, query);
  }
}
