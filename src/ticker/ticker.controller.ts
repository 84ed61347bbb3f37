import { Controller, Get, Headers, HttpCode, type OnModuleInit, Query, Req, Res } from '@nestjs/common';
import { ApiNotModifiedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ifNoneMatchHits } from '#src/platform/http/conditional.js';
import { FeedPollResponseDto, SSE_CONTENT } from '#src/platform/realtime/feed-response.dto.js';
import { FeedGate, type GatedFeed } from '#src/entitlements/feed-gate.js';
import { FeedSocketServer } from '#src/entitlements/feed-socket.server.js';
import { PollQueryDto, QuotesQueryDto, StreamQueryDto } from './dto/feed-query.dto.js';
import { InstrumentDto, QuotesResponseDto } from './dto/ticker-responses.dto.js';
import { TickerService } from './ticker.service.js';

@ApiTags('ticker')
@Controller('ticker')
export class TickerController implements OnModuleInit {
  constructor(
    private readonly ticker: TickerService,
    private readonly gate: FeedGate,
    private readonly sockets: FeedSocketServer,
  ) {}

  private get gated(): GatedFeed {
    return { name: 'ticker', feed: this.ticker.feed, catalog: this.ticker.catalog };
  }

  /** What a new (or reset) stream gets first: the latest quotes of its topics. */
  private readonly snapshot = async (topics: ReadonlySet<string> | undefined, asOfMs?: number) => ({
    quotes: await this.ticker.latestQuotes(topics, asOfMs),
  });

  /** The ticker on the feed WebSocket (`/feeds/ws`), with the SSE stream's snapshot. */
  onModuleInit(): void {
    this.sockets.register({
      ...this.gated,
      parseTopics: (topics) => this.ticker.parseSymbols(topics.join(',')),
      normalise: (topic) => topic.trim().toUpperCase(),
      snapshot: this.snapshot,
    });
  }

  @Get('instruments')
  @ApiOperation({ summary: 'Active instruments' })
  @ApiOkResponse({ type: [InstrumentDto] })
  instruments() {
    return this.ticker.listInstruments();
  }

  /** Short poll: latest quotes, with an ETag (`If-None-Match` → 304). */
  @Get('quotes')
  @ApiOperation({
    summary: 'Latest quotes (short poll with ETag)',
    description: 'Answers with an `ETag`; send it back as `If-None-Match` and an unchanged set is a 304.',
  })
  @ApiOkResponse({ type: QuotesResponseDto })
  @ApiNotModifiedResponse({ description: 'unchanged since the ETag sent in If-None-Match' })
  async quotes(
    @Query() query: QuotesQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { topics, delayMs } = await this.gate.topics(
      request,
      this.gated,
      await this.ticker.parseSymbols(query.symbols),
    );
    const { quotes, cursor, etag } = await this.ticker.quotes(topics, delayMs > 0 ? Date.now() - delayMs : undefined);
    reply.header('etag', etag).header('cache-control', 'no-cache');
    if (ifNoneMatchHits(ifNoneMatch, etag)) return reply.status(304).send();
    return reply.send({ quotes, cursor });
  }

  /** SSE: `event: snapshot` then `event: tick` `{ symbol, price, size, ts }`, each with `id:`; resumable. */
  @Get('stream')
  @ApiProduces('text/event-stream', 'application/x-ndjson')
  @ApiOperation({
    summary: 'Tick stream (SSE, or NDJSON)',
    description:
      '`event: snapshot` (latest quotes), then `event: tick` `{ symbol, price, size, ts }`, each with `id:`. Resume with `Last-Event-ID` (or `?lastEventId=` / `?cursor=`); an id the feed cannot vouch for gets `event: reset` and a new snapshot. With `Accept: application/x-ndjson`: the same events as chunked lines `{ id, type, data }`, heartbeats as empty lines.',
  })
  @ApiOkResponse({ description: 'an SSE stream', content: SSE_CONTENT })
  async stream(
    @Query() query: StreamQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    await this.gate.stream(request, reply, this.gated, await this.ticker.parseSymbols(query.symbols), {
      lastEventId: lastEventId ?? query.lastEventId ?? query.cursor,
      snapshot: this.snapshot,
    });
  }

  /** Long poll: `{ events: [{ id, type, data }], cursor }`. */
  @Get('poll')
  @ApiOperation({
    summary: 'Ticks since a cursor (long poll, ≤ 30 s)',
    description: 'No cursor: the current cursor at once. Otherwise waits up to `timeoutMs` for events after it.',
  })
  @ApiOkResponse({ type: FeedPollResponseDto })
  @HttpCode(200)
  async poll(
    @Query() query: PollQueryDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const topics = await this.ticker.parseSymbols(query.symbols);
    return this.gate.poll(request, reply, this.gated, topics, query.cursor, query.timeoutMs);
  }
}
