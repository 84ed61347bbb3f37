import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { Allow, ArrayMaxSize, ArrayMinSize, IsArray, IsString, ValidateNested } from 'class-validator';

/** Shape only; prices, sizes and symbols are checked by the service, which answers 422 naming the item. */
export class TickDto {
  @ApiProperty({ example: 'AAPL' })
  @IsString()
  symbol: string;

  @ApiProperty({ example: 189.42, description: 'Positive, finite' })
  @Allow()
  price: unknown;

  @ApiPropertyOptional({ example: 100, description: 'Non-negative' })
  @Allow()
  size?: unknown;

  @ApiPropertyOptional({ example: 1_795_300_000_000, description: 'Epoch milliseconds; default now' })
  @Allow()
  ts?: unknown;
}

export class PublishTicksDto {
  @ApiProperty({ type: [TickDto], maxItems: 1000 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100_000) // the configured MAX_TICKS_PER_BATCH is enforced by the service
  @ValidateNested({ each: true })
  @Type(() => TickDto)
  ticks: TickDto[];
}
