/** What the ticker routes answer, for the API docs. */
import { ApiProperty } from '@nestjs/swagger';

export class InstrumentDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'AAPL' })
  symbol: string;

  @ApiProperty({ example: 'Apple Inc.' })
  name: string;

  @ApiProperty({ example: 'USD' })
  currency: string;

  @ApiProperty({ description: 'false once deactivated' })
  active: boolean;

  @ApiProperty({ enum: ['basic', 'premium'], description: 'premium: for plans entitled to it' })
  tier: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;
}

export class QuoteDto {
  @ApiProperty({ example: 'AAPL' })
  symbol: string;

  @ApiProperty({ example: 189.42 })
  price: number;

  @ApiProperty({ example: 100 })
  size: number;

  @ApiProperty({ example: 1_795_300_000_000, description: 'Epoch milliseconds' })
  ts: number;
}

export class QuotesResponseDto {
  @ApiProperty({ type: [QuoteDto], description: 'The latest quote per symbol' })
  quotes: QuoteDto[];

  @ApiProperty({ description: 'The feed cursor at this moment (usable with /ticker/poll and the stream)' })
  cursor: string;
}

export class TicksAcceptedDto {
  @ApiProperty({ example: 1, description: 'Ticks published' })
  accepted: number;
}
