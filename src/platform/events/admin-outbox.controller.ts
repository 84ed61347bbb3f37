import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { OutboxBacklog } from './outbox-backlog.js';

class OutboxStatsDto {
  @ApiProperty({ description: 'Events some handler has still to handle' })
  pending: number;

  @ApiProperty({ nullable: true, type: Number, description: 'Age of the oldest pending event; null when none' })
  oldestPendingSeconds: number | null;

  @ApiProperty({ description: 'Events a handler gave up on after OUTBOX_MAX_ATTEMPTS (kept for inspection)' })
  deadLettered: number;
}

/** The outbox backlog (the console's Overview). */
@ApiTags('admin: outbox')
@AdminOnly()
@Controller('admin/outbox')
export class AdminOutboxController {
  constructor(private readonly backlog: OutboxBacklog) {}

  @Get('stats')
  @ApiOperation({ summary: 'Outbox backlog', description: 'Pending events, the age of the oldest, dead-letters.' })
  @ApiOkResponse({ type: OutboxStatsDto })
  stats(): Promise<OutboxStatsDto> {
    return this.backlog.read();
  }
}
