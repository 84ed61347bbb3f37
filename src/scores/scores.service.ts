/**
 * Matches and their timelines. Persistence first: an accepted match event is one statement (so one
 * transaction) that appends to the timeline, updates the match and records the domain event in the
 * outbox. Only the outbox handler (`scores.feed`) publishes to the `scores` feed, after the commit,
 * in outbox order and retrying while Redis is down, so a subscriber never hears of a score Postgres
 * does not have and never misses one that it has.
 */
import {
  BadRequestException,
  ConflictException,
  Injectable,
  NotFoundException,
  type OnApplicationShutdown,
  type OnModuleInit,
  UnprocessableEntityException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { InjectRepository } from '@nestjs/typeorm';
import { In, MoreThan, Not, type Repository } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import type { DomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { PreparedPool } from '#src/platform/database/prepared-pool.js';
import { type Page, page } from '#src/platform/http/page.js';
import type { Feed } from '#src/platform/realtime/feed.js';
import { KeyedQueue } from '#src/platform/keyed-queue.js';
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { parseTopicList } from '#src/platform/realtime/topic-list.js';
import type { CreateMatchDto, MatchesQueryDto, PostMatchEventDto } from './dto/scores.dto.js';
import { MatchEvent } from './match-event.entity.js';
import { Match } from './match.entity.js';
import { DOMAIN_EVENT_OF, MAX_EXTRA_PERIODS, type MatchStatus, REQUIRED_STATUS, SPORTS } from './sports.js';
import { isUuid } from '#src/platform/http/uuid.js';
import type { MatchEventView, MatchView, Score as ScoreFrame } from '@livefeed/client/wire';

/** A match, its timeline events and `event: score` (`{ matchId, home, away, status, event }`): the SDK's wire types. */
export type { MatchEventView, MatchView, ScoreFrame };

/** The domain event's data: the frame plus what an outbound subscriber needs to make sense of it. */
export interface ScoreEventData extends ScoreFrame {
  sport: string;
  homeTeam: string;
  awayTeam: string;
  period: number;
}

/** Posts that lose the race for a match to another instance, in a row, before a 409. */
const MAX_POST_RACES = 100;

/** A match row as the Match entity names its fields (for the hot path's plain SQL). */
const SELECT_MATCH = `SELECT id, sport, home_team AS "homeTeam", away_team AS "awayTeam", starts_at AS "startsAt",
  status, home_score AS "homeScore", away_score AS "awayScore", period, last_seq AS "lastSeq" FROM matches`;

/** A snapshot of "all matches": everything not finished, and what finished in the last day. */
const SNAPSHOT_FINISHED_WITHIN_MS = 24 * 3_600_000;
const SNAPSHOT_MAX_MATCHES = 500;

export function matchView(match: Match): MatchView {
  return {
    id: match.id,
    sport: match.sport,
    homeTeam: match.homeTeam,
    awayTeam: match.awayTeam,
    startsAt: match.startsAt.toISOString(),
    status: match.status,
    home: match.homeScore,
    away: match.awayScore,
    period: match.period,
    seq: match.lastSeq,
  };
}

export function eventView(event: MatchEvent): MatchEventView {
  return {
    id: event.id,
    seq: event.seq,
    kind: event.kind,
    team: event.team,
    points: event.points,
    period: event.period,
    home: event.homeScore,
    away: event.awayScore,
    at: event.createdAt.toISOString(),
  };
}

@Injectable()
export class ScoresService implements OnModuleInit, OnApplicationShutdown {
  feed: Feed;
  /** Posts to one match wait their turn here rather than each holding a pooled connection. */
  private readonly perMatch = new KeyedQueue();
  /** The post's read and write: the hot path's own pool of prepared statements (prepared-pool.ts). */
  private readonly db: PreparedPool;

  constructor(
    @InjectRepository(Match) private readonly matches: Repository<Match>,
    @InjectRepository(MatchEvent) private readonly events: Repository<MatchEvent>,
    private readonly outbox: OutboxService,
    private readonly relay: OutboxRelay,
    private readonly realtime: RealtimeService,
    private readonly config: AppConfig,
  ) {
    this.db = new PreparedPool(config.database.url, { name: 'scores', max: 4, synchronousCommit: true });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.end();
  }

  onModuleInit(): void {
    this.feed = this.realtime.createFeed({
      name: 'scores',
      policy: 'strict',
      maxLength: this.config.realtime.scoresLogLength,
    });
    // Never dead-letter: while Redis is down this handler blocks (and retries) its own later
    // events, so subscribers get every score, in order, once Redis is back.
    this.relay.register('scores.feed', Object.values(DOMAIN_EVENT_OF), (events) => this.publish(events), {
      maxAttempts: Infinity,
    });
  }

  /** A batch of score events in one round trip per feed log (each match's in order). */
  private async publish(events: DomainEvent[]): Promise<void> {
    await this.feed.publish(
      events.map((event) => {
        const data = event.data as unknown as ScoreEventData;
        const frame: ScoreFrame = {
          matchId: data.matchId,
          home: data.home,
          away: data.away,
          status: data.status,
          event: data.event,
        };
        // Once per outbox event: the relay's retry of a publish that ran after all is not published twice.
        return { type: 'score', topic: data.matchId, data: frame, once: `outbox:${event.id}` };
      }),
    );
  }

  async createMatch(dto: CreateMatchDto): Promise<MatchView> {
    if (dto.homeTeam.toLowerCase() === dto.awayTeam.toLowerCase()) {
      throw new UnprocessableEntityException('homeTeam and awayTeam must differ');
    }
    const saved = await this.matches.save(
      this.matches.create({ sport: dto.sport, homeTeam: dto.homeTeam, awayTeam: dto.awayTeam, startsAt: dto.startsAt }),
    );
    return matchView(saved);
  }

  async list(query: MatchesQueryDto): Promise<Page<MatchView>> {
    const [rows, total] = await this.matches.findAndCount({
      where: query.status ? { status: query.status } : {},
      order: { startsAt: 'ASC', id: 'ASC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return page(rows.map(matchView), total, query);
  }

  async get(id: string): Promise<MatchView & { timeline: MatchEventView[] }> {
    const match = await this.matches.findOneBy({ id });
    if (!match) throw new NotFoundException(`match ${id} not found`);
    const timeline = await this.events.find({ where: { matchId: id }, order: { seq: 'ASC' } });
    return { ...matchView(match), timeline: timeline.map(eventView) };
  }

  /**
   * Applies one event: read the match, check and compute, then one statement that moves the match
   * on only if no other post moved it since the read (`last_seq` as read), appends to the timeline
   * and records the domain event (OutboxService.inStatement): one round trip, one implicit
   * transaction, instead of a transaction of five. The match row's lock, held by that statement to
   * its commit, orders concurrent posts to one match (across instances too): the timeline's seq
   * order, the outbox order and the feed order are the same order. A post that lost the race reads
   * again (posts to one match on one instance already wait their turn: perMatch).
   */
  async postEvent(id: string, dto: PostMatchEventDto): Promise<{ match: MatchView; event: MatchEventView }> {
    return this.perMatch.run(id, async () => {
      for (let attempt = 1; ; attempt++) {
        const applied = await this.apply(id, dto);
        if (applied) return applied;
        if (attempt >= MAX_POST_RACES) {
          throw new ConflictException(`match ${id} is being updated elsewhere; post again`);
        }
      }
    });
  }

  /** One try; null when another post moved the match between the read and the write. */
  private async apply(id: string, dto: PostMatchEventDto): Promise<{ match: MatchView; event: MatchEventView } | null> {
    const [match] = await this.db.rows<Match>(`${SELECT_MATCH} WHERE id = $1`, [id]);
    if (!match) throw new NotFoundException(`match ${id} not found`);
    const readSeq = match.lastSeq;
    const required = REQUIRED_STATUS[dto.kind];
    if (match.status !== required) {
      throw new ConflictException(`cannot post ${dto.kind}: match is ${match.status} (needs ${required})`);
    }
    const rules = SPORTS[match.sport];
    const event = {
      seq: match.lastSeq + 1,
      kind: dto.kind,
      team: null as MatchEvent['team'],
      points: null as number | null,
      period: match.period,
    };
    switch (dto.kind) {
      case 'kickoff':
        match.status = 'live';
        match.period = event.period = 1;
        break;
      case 'score': {
        if (!dto.team) throw new UnprocessableEntityException('team is required for a score (home or away)');
        const points = dto.points ?? rules.defaultPoints;
        if (points === undefined || !(rules.points as readonly number[]).includes(points)) {
          throw new UnprocessableEntityException(
            `points must be one of ${rules.points.join(', ')} for ${match.sport} (got ${dto.points ?? 'none'})`,
          );
        }
        event.team = dto.team;
        event.points = points;
        if (dto.team === 'home') match.homeScore += points;
        else match.awayScore += points;
        break;
      }
      case 'period': {
        const next = dto.period ?? match.period + 1;
        const last = rules.periods + MAX_EXTRA_PERIODS;
        if (next <= match.period || next > last) {
          throw new UnprocessableEntityException(
            `period must be after the current one (${match.period}) and at most ${last} for ${match.sport}`,
          );
        }
        match.period = event.period = next;
        break;
      }
      case 'final':
        match.status = 'finished';
        break;
    }
    match.lastSeq = event.seq;
    const eventId = randomUUID();
    const createdAt = new Date();
    const view = eventView({
      ...event,
      id: eventId,
      homeScore: match.homeScore,
      awayScore: match.awayScore,
      createdAt,
    } as MatchEvent);
    const data: ScoreEventData = {
      matchId: match.id,
      sport: match.sport,
      homeTeam: match.homeTeam,
      awayTeam: match.awayTeam,
      home: match.homeScore,
      away: match.awayScore,
      status: match.status,
      period: match.period,
      event: view,
    };
    const outbox = this.outbox.inStatement(
      [{ type: DOMAIN_EVENT_OF[dto.kind], key: `match:${match.id}`, data: { ...data } }],
      14,
      'EXISTS (SELECT 1 FROM event)',
    );
    const [row] = await this.db.rows<{ written: boolean }>(
      `WITH moved AS (
         UPDATE matches SET status = $9, home_score = $7, away_score = $8, period = $10, last_seq = $2,
           updated_at = now()
         WHERE id = $1 AND last_seq = $11
         RETURNING id
       ), event AS (
         INSERT INTO match_events (id, match_id, seq, kind, team, points, period, home_score, away_score, created_at)
         SELECT $12::uuid, id, $2::int, $3::varchar, $4::varchar, $5::int, $6::int, $7::int, $8::int, $13::timestamptz
         FROM moved
         RETURNING id
       )${outbox.ctes}
       SELECT EXISTS (SELECT 1 FROM event) AS written, ${outbox.notify} AS notified`,
      [
        match.id,
        event.seq,
        event.kind,
        event.team,
        event.points,
        event.period,
        match.homeScore,
        match.awayScore,
        match.status,
        match.period,
        readSeq,
        eventId,
        createdAt,
        ...outbox.params,
      ],
    );
    return row.written ? { match: matchView(match), event: view } : null;
  }

  /**
   * `?matches=` of a stream or poll: undefined = every match. Malformed ids or too many → 400,
   * unknown ids → 422 naming them.
   */
  async parseMatchIds(raw: string | undefined): Promise<Set<string> | undefined> {
    const ids = parseTopicList(raw, 'matches', this.config.realtime.maxTopicsPerSubscription, (id) => id.toLowerCase());
    if (!ids) return undefined;
    const malformed = [...ids].filter((id) => !isUuid(id));
    if (malformed.length > 0)
      throw new BadRequestException(`matches: not a match id: ${malformed.slice(0, 5).join(', ')}`);
    const found = await this.matches.find({ where: { id: In([...ids]) }, select: { id: true } });
    const known = new Set(found.map((m) => m.id));
    const unknown = [...ids].filter((id) => !known.has(id));
    if (unknown.length > 0) throw new UnprocessableEntityException(`unknown match ${unknown.slice(0, 5).join(', ')}`);
    return ids;
  }

  /**
   * The state of the requested matches (or of every current match), for `event: snapshot`: now, or
   * (`asOfMs`, a delayed plan) as the timeline had it then, so that the delayed stream that follows
   * carries on from it. Each match's `seq` says which feed events the snapshot already holds (an event
   * committed before `asOfMs` but published after it comes again, with a seq the client skips).
   */
  async snapshot(ids: ReadonlySet<string> | undefined, asOfMs?: number): Promise<{ matches: MatchView[] }> {
    const rows = ids
      ? await this.matches.find({ where: { id: In([...ids]) }, order: { startsAt: 'ASC', id: 'ASC' } })
      : await this.matches.find({
          where: [
            { status: Not('finished') },
            { status: 'finished', updatedAt: MoreThan(new Date(Date.now() - SNAPSHOT_FINISHED_WITHIN_MS)) },
          ],
          order: { startsAt: 'ASC', id: 'ASC' },
          take: SNAPSHOT_MAX_MATCHES,
        });
    const views = rows.map(matchView);
    if (asOfMs === undefined || views.length === 0) return { matches: views };
    return { matches: await this.asOf(views, new Date(asOfMs)) };
  }

  /** Each match as its last timeline event at or before `at` left it (as scheduled if none). */
  private async asOf(views: MatchView[], at: Date): Promise<MatchView[]> {
    const last = await this.events
      .createQueryBuilder('e')
      .distinctOn(['e.match_id'])
      .where('e.match_id IN (:...ids)', { ids: views.map((view) => view.id) })
      .andWhere('e.created_at <= :at', { at })
      .orderBy('e.match_id')
      .addOrderBy('e.seq', 'DESC')
      .getMany();
    const byMatch = new Map(last.map((event) => [event.matchId, event]));
    return views.map((view) => {
      const event = byMatch.get(view.id);
      if (!event) return { ...view, status: 'scheduled', home: 0, away: 0, period: 0, seq: 0 };
      const status: MatchStatus = event.kind === 'final' ? 'finished' : 'live';
      return { ...view, status, home: event.homeScore, away: event.awayScore, period: event.period, seq: event.seq };
    });
  }
}
