import {
  Controller,
  Get,
  Headers,
  HttpCode,
  type OnModuleInit,
  Param,
  ParseUUIDPipe,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FeedPollResponseDto, SSE_CONTENT } from '#src/platform/realtime/feed-response.dto.js';
import type { TopicCatalog } from '#src/entitlements/feed-access.service.js';
import { FeedGate, type GatedFeed } from '#src/entitlements/feed-gate.js';
import { FeedSocketServer } from '#src/entitlements/feed-socket.server.js';
import { MatchesQueryDto, ScoresPollQueryDto, ScoresStreamQueryDto } from './dto/scores.dto.js';
import { MatchDetailDto, MatchPageDto } from './dto/scores-responses.dto.js';
import { ScoresService } from './scores.service.js';

@ApiTags('scores')
@Controller('scores')
export class ScoresController implements OnModuleInit {
  constructor(
    private readonly scores: ScoresService,
    private readonly gate: FeedGate,
    private readonly sockets: FeedSocketServer,
  ) {}

  /** Scores on the feed WebSocket (`/feeds/ws`), with the SSE stream's snapshot. */
  onModuleInit(): void {
    this.sockets.register({
      ...this.gated,
      parseTopics: (topics) => this.scores.parseMatchIds(topics.join(',')),
      normalise: (topic) => topic.trim().toLowerCase(),
      snapshot: (topics, asOfMs) => this.scores.snapshot(topics, asOfMs),
    });
  }

  /** Matches have no tiers; a feed token's grants or the plan's mode are what limit them. */
  private readonly catalog: TopicCatalog = { tierOf: () => 'basic', all: () => [] };

  private get gated(): GatedFeed {
    return { name: 'scores', feed: this.scores.feed, catalog: this.catalog };
  }

  @Get('matches')
  @ApiOperation({ summary: 'List matches (by start time)' })
  @ApiOkResponse({ type: MatchPageDto })
  list(@Query() query: MatchesQueryDto) {
    return this.scores.list(query);
  }

  /** A match with its timeline (events in seq order). */
  @Get('matches/:id')
  @ApiOperation({ summary: 'One match with its timeline' })
  @ApiOkResponse({ type: MatchDetailDto })
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.scores.get(id);
  }

  /**
   * SSE: `event: snapshot` `{ matches }`, then one `event: score` `{ matchId, home, away, status, event }`
   * per accepted match event, each with `id:`; resumable with `Last-Event-ID`. Never conflated: a
   * client past the hard limit is closed and resumes from its last id.
   */
  @Get('stream')
  @ApiProduces('text/event-stream', 'application/x-ndjson')
  @ApiOperation({
    summary: 'Score stream (SSE, or NDJSON)',
    description:
      '`event: snapshot` `{ matches }` (each with its `seq`), then `event: score` `{ matchId, home, away, status, event }`, each with `id:`; resumable with `Last-Event-ID`. Never conflated: a client past SSE_HARD_LIMIT_BYTES is closed and resumes from its last id. With `Accept: application/x-ndjson`: lines `{ id, type, data }`, as for the ticker.',
  })
  @ApiOkResponse({ description: 'an SSE stream', content: SSE_CONTENT })
  async stream(
    @Query() query: ScoresStreamQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    await this.gate.stream(request, reply, this.gated, await this.scores.parseMatchIds(query.matches), {
      lastEventId: lastEventId ?? query.lastEventId ?? query.cursor,
      snapshot: (topics, asOfMs) => this.scores.snapshot(topics, asOfMs),
    });
  }

  /** Long poll: `{ events: [{ id, type, data }], cursor }`. */
  @Get('poll')
  @ApiOperation({ summary: 'Score events since a cursor (long poll, ≤ 30 s)', description: 'As /ticker/poll.' })
  @ApiOkResponse({ type: FeedPollResponseDto })
  @HttpCode(200)
  async poll(
    @Query() query: ScoresPollQueryDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const topics = await this.scores.parseMatchIds(query.matches);
    return this.gate.poll(request, reply, this.gated, topics, query.cursor, query.timeoutMs);
  }
}
