import { ApiProperty } from '@nestjs/swagger';
import { IsISO8601 } from 'class-validator';

export class ReplayDto {
  @ApiProperty({ example: '2026-11-21T10:00:00Z', description: 'Re-send every matching message since this time' })
  @IsISO8601({ strict: true }, { message: 'since must be an ISO 8601 date-time' })
  since: string;
}
