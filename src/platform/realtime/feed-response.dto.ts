/** What a feed's long poll answers, for the API docs (every feed has this shape; `data` is the feed's own). */
import { ApiProperty } from '@nestjs/swagger';

export class FeedEventDto {
  @ApiProperty({ example: '7aaa9e094c05120f:1796168392217-0', description: 'A cursor: resume after this event' })
  id: string;

  @ApiProperty({
    example: 'tick',
    description: 'The event name (as `event:` in the stream); `reset` when the cursor cannot be vouched for',
  })
  type: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The event payload' })
  data: Record<string, unknown>;
}

export class FeedPollResponseDto {
  @ApiProperty({ type: [FeedEventDto] })
  events: FeedEventDto[];

  @ApiProperty({ example: '7aaa9e094c05120f:1796168392217-0', description: 'Pass as `cursor` in the next poll' })
  cursor: string;
}

/** The OpenAPI content of a stream route: SSE frames, or NDJSON lines when asked for with `Accept`. */
export const SSE_CONTENT = {
  'text/event-stream': { schema: { type: 'string' as const, description: 'Server-Sent Events frames' } },
  'application/x-ndjson': {
    schema: {
      type: 'string' as const,
      description:
        "One JSON object per line, `{ id, type, data }` (as the long poll's events); an empty line is a heartbeat",
    },
  },
};
