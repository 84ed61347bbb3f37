import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { IntField } from '#src/platform/http/fields.js';
import { PATTERN_SYNTAX } from '../event-type-patterns.js';

export const MAX_PATTERNS = 50;
export const MAX_RATE_PER_SECOND = 10_000;
const PATTERN_MESSAGE = 'eventTypes must be event types or patterns of a-z, 0-9, "_", "." and "*" (at most 100 chars)';

export class CreateEndpointDto {
  @ApiProperty({
    format: 'uri',
    example: 'https://example.com/webhooks',
    description: 'http or https; checked against the network guard',
  })
  @IsString()
  @MaxLength(2048)
  url: string;

  @ApiProperty({
    example: ['score.*'],
    type: [String],
    description: 'Event types or `*` patterns (GET /webhooks/event-types)',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_PATTERNS)
  @IsString({ each: true })
  @Matches(PATTERN_SYNTAX, { each: true, message: PATTERN_MESSAGE })
  eventTypes: string[];

  @ApiPropertyOptional({ example: 'Scores for the partner app' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ default: false, description: 'One delivery in flight, strictly in message order' })
  @IsOptional()
  @IsBoolean()
  ordered?: boolean;

  @IntField({
    min: 1,
    max: MAX_RATE_PER_SECOND,
    optional: true,
    example: 10,
    description: 'Sends per second, across all instances',
  })
  rateLimitPerSecond?: number;
}
