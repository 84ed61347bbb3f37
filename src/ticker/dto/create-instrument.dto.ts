import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';

export const SYMBOL_PATTERN = /^[A-Z0-9][A-Z0-9.\-/]{0,15}$/;

export class CreateInstrumentDto {
  @ApiProperty({ example: 'AAPL', description: 'Upper-case letters, digits, `.`, `-`, `/`; at most 16' })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim().toUpperCase() : value))
  @IsString()
  @Matches(SYMBOL_PATTERN, { message: 'symbol must be 1-16 of A-Z, 0-9, ".", "-", "/"' })
  symbol: string;

  @ApiProperty({ example: 'Apple Inc.' })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiPropertyOptional({ example: 'USD', default: 'USD' })
  @IsOptional()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be a 3-letter ISO code' })
  currency?: string;

  @ApiPropertyOptional({
    enum: ['basic', 'premium'],
    default: 'basic',
    description: 'premium: for plans entitled to it',
  })
  @IsOptional()
  @IsIn(['basic', 'premium'])
  tier?: 'basic' | 'premium';
}

export class UpdateInstrumentDto {
  @ApiProperty({ enum: ['basic', 'premium'] })
  @IsIn(['basic', 'premium'])
  tier: 'basic' | 'premium';
}
