import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray } from 'class-validator';

/**
 * One tick, for the API docs. Items are checked by the service in one plain loop (shape, symbol,
 * price, size, ts) rather than by class-validator per item: this is the intake hot path, and a
 * 1,000-item batch through class-transformer + class-validator cost more CPU than the fan-out.
 */
export class TickDto {
  @ApiProperty({ example: 'AAPL' })
  symbol: string;

  @ApiProperty({ example: 189.42, description: 'Positive, finite' })
  price: number;

  @ApiPropertyOptional({ example: 100, description: 'Non-negative' })
  size?: number;

  @ApiPropertyOptional({ example: 1_795_300_000_000, description: 'Epoch milliseconds; default now' })
  ts?: number;
}

export class PublishTicksDto {
  @ApiProperty({ type: [TickDto], maxItems: 1000 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100_000) // the configured MAX_TICKS_PER_BATCH is enforced by the service
  ticks: unknown[];
}
