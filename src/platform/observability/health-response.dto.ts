/** Health answers, for the API docs (the ready check's shape is @nestjs/terminus's). */
import { ApiProperty } from '@nestjs/swagger';

export class LiveResponseDto {
  @ApiProperty({ example: 'ok' })
  status: string;
}

export class ReadyResponseDto {
  @ApiProperty({ enum: ['ok', 'error'], example: 'ok' })
  status: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { postgres: { status: 'up' }, redis: { status: 'up', mode: 'single' } },
    description:
      "The checks that are up. `redis` names its mode (`single`, `sentinel` with the current `master`, or `cluster` with each master's state in `nodes`)",
  })
  info: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true, example: {}, description: 'The checks that are down' })
  error: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Every check' })
  details: Record<string, unknown>;
}
