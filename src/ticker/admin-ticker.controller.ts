import { Body, Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { CreateInstrumentDto } from './dto/create-instrument.dto.js';
import { PublishTicksDto } from './dto/publish-ticks.dto.js';
import { TickerService } from './ticker.service.js';

@ApiTags('admin: ticker')
@AdminOnly()
@Controller('admin/ticker')
export class AdminTickerController {
  constructor(private readonly ticker: TickerService) {}

  @Post('instruments')
  create(@Body() dto: CreateInstrumentDto) {
    return this.ticker.createInstrument(dto);
  }

  /** Deactivates (the instrument's history stays). */
  @Delete('instruments/:symbol')
  deactivate(@Param('symbol') symbol: string) {
    return this.ticker.deactivate(symbol);
  }

  /** A batch of ticks; every item is checked before any is published (422 names the bad ones). */
  @Post('ticks')
  @HttpCode(202)
  ingest(@Body() dto: PublishTicksDto) {
    return this.ticker.ingest(dto.ticks);
  }
}
