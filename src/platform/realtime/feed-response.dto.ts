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

/** The OpenAPI content of an SSE route: a stream of `id:` / `event:` / `data:` frames. */
export const SSE_CONTENT = {
  'text/event-stream': { schema: { type: 'string' as const, description: 'Server-Sent Events frames' } },
};
