import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { PATTERN_SYNTAX } from '../event-type-patterns.js';
import { MAX_PATTERNS, MAX_RATE_PER_SECOND } from './create-endpoint.dto.js';

const present = (_: object, value: unknown) => value !== undefined;
const notNull = (_: object, value: unknown) => value !== undefined && value !== null;

/** Every field optional; `description` and `rateLimitPerSecond` may be `null` to clear them. */
export class UpdateEndpointDto {
  @ApiPropertyOptional({ format: 'uri', description: 'http or https; checked against the network guard' })
  @ValidateIf(present)
  @IsString()
  @MaxLength(2048)
  url?: string;

  @ApiPropertyOptional({ type: [String] })
  @ValidateIf(present)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_PATTERNS)
  @IsString({ each: true })
  @Matches(PATTERN_SYNTAX, {
    each: true,
    message: 'eventTypes must be event types or patterns of a-z, 0-9, "_", "." and "*"',
  })
  eventTypes?: string[];

  @ApiPropertyOptional({ nullable: true })
  @ValidateIf(notNull)
  @IsString()
  @MaxLength(500)
  description?: string | null;

  @ApiPropertyOptional()
  @ValidateIf(present)
  @IsBoolean()
  ordered?: boolean;

  @ApiPropertyOptional({ nullable: true, minimum: 1, maximum: MAX_RATE_PER_SECOND })
  @ValidateIf(notNull)
  @IsInt()
  @Min(1)
  @Max(MAX_RATE_PER_SECOND)
  rateLimitPerSecond?: number | null;
}
