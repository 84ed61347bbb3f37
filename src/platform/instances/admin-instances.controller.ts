import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { HistoryDto, HistoryQueryDto, InstancesDto } from './instance-responses.dto.js';
import { InstanceRegistry } from './instance-registry.js';

/** The running instances and their recent history, from the heartbeat registry (the console's Overview and Feeds). */
@ApiTags('admin: instances')
@AdminOnly()
@Controller('admin/instances')
export class AdminInstancesController {
  constructor(private readonly registry: InstanceRegistry) {}

  @Get()
  @ApiOperation({
    summary: 'Running instances',
    description:
      'Each instance with a current heartbeat: connections per transport, streams per feed, rates over the last heartbeat interval, and its 10 most buffered connections.',
  })
  @ApiOkResponse({ type: InstancesDto })
  async list(): Promise<InstancesDto> {
    return { intervalMs: this.registry.heartbeatMs, instances: await this.registry.list() };
  }

  @Get('history')
  @ApiOperation({
    summary: 'Connections and rates of the last minutes',
    description: 'One point per heartbeat interval, summed over the instances that reported in it, oldest first.',
  })
  @ApiOkResponse({ type: HistoryDto })
  async history(@Query() query: HistoryQueryDto): Promise<HistoryDto> {
    return { intervalMs: this.registry.heartbeatMs, points: await this.registry.history(query.minutes) };
  }
}
