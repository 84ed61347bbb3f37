import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { rows } from '#src/platform/database/sql.js';

class OutboxStatsDto {
  @ApiProperty({ description: 'Events some handler has still to handle' })
  pending: number;

  @ApiProperty({ nullable: true, type: Number, description: 'Age of the oldest pending event; null when none' })
  oldestPendingSeconds: number | null;

  @ApiProperty({ description: 'Events a handler gave up on after OUTBOX_MAX_ATTEMPTS (kept for inspection)' })
  deadLettered: number;
}

/** The outbox backlog (the console's Overview). Pending events are counted on their partial index. */
@ApiTags('admin: outbox')
@AdminOnly()
@Controller('admin/outbox')
export class AdminOutboxController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  @Get('stats')
  @ApiOperation({ summary: 'Outbox backlog', description: 'Pending events, the age of the oldest, dead-letters.' })
  @ApiOkResponse({ type: OutboxStatsDto })
  async stats(): Promise<OutboxStatsDto> {
    const [row] = await rows<{ pending: number; oldest: number | null; dead: number }>(
      this.dataSource,
      `SELECT (SELECT count(*)::int FROM outbox_events WHERE processed_at IS NULL) AS pending,
              (SELECT extract(epoch FROM now() - min(occurred_at))::float FROM outbox_events WHERE processed_at IS NULL) AS oldest,
              (SELECT count(*)::int FROM outbox_handled WHERE outcome = 'dead') AS dead`,
    );
    return {
      pending: row.pending,
      oldestPendingSeconds: row.oldest === null ? null : Math.round(row.oldest),
      deadLettered: row.dead,
    };
  }
}
