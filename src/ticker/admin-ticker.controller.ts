import { Body, Controller, Delete, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { CreateInstrumentDto, UpdateInstrumentDto } from './dto/create-instrument.dto.js';
import { PublishTicksDto } from './dto/publish-ticks.dto.js';
import { InstrumentDto, TicksAcceptedDto } from './dto/ticker-responses.dto.js';
import { TickerService } from './ticker.service.js';

@ApiTags('admin: ticker')
@AdminOnly()
@Controller('admin/ticker')
export class AdminTickerController {
  constructor(private readonly ticker: TickerService) {}

  @Post('instruments')
  @ApiOperation({ summary: 'Add an instrument' })
  @ApiCreatedResponse({ type: InstrumentDto })
  create(@Body() dto: CreateInstrumentDto) {
    return this.ticker.createInstrument(dto);
  }

  /** Changes the tier (open streams of plans no longer entitled to it get `event: revoked`). */
  @Patch('instruments/:symbol')
  @ApiOperation({ summary: "Change an instrument's tier" })
  @ApiBody({
    type: UpdateInstrumentDto,
    examples: { premium: { summary: 'make it premium', value: { tier: 'premium' } } },
  })
  @ApiOkResponse({ type: InstrumentDto })
  update(@Param('symbol') symbol: string, @Body() dto: UpdateInstrumentDto) {
    return this.ticker.setTier(symbol, dto.tier);
  }

  /** Deactivates (the instrument's history stays). */
  @Delete('instruments/:symbol')
  @ApiOperation({ summary: 'Deactivate an instrument (its history stays)' })
  @ApiOkResponse({ type: InstrumentDto })
  deactivate(@Param('symbol') symbol: string) {
    return this.ticker.deactivate(symbol);
  }

  /** A batch of ticks; every item is checked before any is published (422 names the bad ones). */
  @Post('ticks')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Publish a batch of ticks',
    description:
      'Up to MAX_TICKS_PER_BATCH (1,000) ticks `{ symbol, price, size?, ts? }`; every item is checked first, and any bad one is a 422 naming it, with nothing published.',
  })
  @ApiAcceptedResponse({ type: TicksAcceptedDto })
  @ApiBody({
    type: PublishTicksDto,
    examples: {
      one: {
        summary: 'one tick of an active instrument',
        value: { ticks: [{ symbol: 'AAPL', price: 189.42, size: 100 }] },
      },
    },
  })
  ingest(@Body() dto: PublishTicksDto) {
    return this.ticker.ingest(dto.ticks);
  }
}
