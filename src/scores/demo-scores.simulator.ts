/**
 * Demo mode: a handful of matches that kick off, score, change period and finish on their own, and
 * new ones scheduled as old ones end, so the scoreboard always has something live. It goes through
 * the same service as the admin API (transaction + outbox), so the demo exercises the real path.
 * One instance simulates at a time (a Redis lease).
 */
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Not, type Repository } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { RedisLease } from '#src/platform/redis/lease.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { Match } from './match.entity.js';
import { ScoresService } from './scores.service.js';
import { SPORTS, type Sport } from './sports.js';

const TEAMS: Record<Sport, string[]> = {
  football: ['Arsenal', 'Barcelona', 'Bayern', 'Benfica', 'Celtic', 'Inter', 'Juventus', 'Porto', 'Ajax', 'Napoli'],
  basketball: ['Celtics', 'Lakers', 'Bulls', 'Knicks', 'Heat', 'Spurs', 'Warriors', 'Nuggets', 'Suns', 'Bucks'],
  hockey: ['Bruins', 'Canadiens', 'Oilers', 'Rangers', 'Penguins', 'Kings', 'Sharks', 'Jets', 'Stars', 'Wild'],
};
const LIVE_MATCHES = 4;
/** Steps a match stays live for, about. */
const STEPS_PER_PERIOD = 6;

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

@Injectable()
export class DemoScoresSimulator implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DemoScoresSimulator.name);
  private readonly lease: RedisLease;
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly scores: ScoresService,
    @InjectRepository(Match) private readonly matches: Repository<Match>,
    redis: RedisService,
    private readonly config: AppConfig,
  ) {
    this.lease = new RedisLease(redis, 'demo:scores');
  }

  onApplicationBootstrap(): void {
    if (!this.config.app.demoMode) return;
    const every = this.config.realtime.demoScoreStepMs;
    this.timer = setInterval(() => void this.step(), every);
    this.logger.log(`demo scores on: a step every ${every} ms`);
  }

  private async step(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (!(await this.lease.hold())) return;
      const current = await this.matches.find({ where: { status: Not('finished') } });
      for (let i = current.length; i < LIVE_MATCHES; i++) {
        const sport = pick(Object.keys(SPORTS) as Sport[]);
        const home = pick(TEAMS[sport]);
        const away = pick(TEAMS[sport].filter((team) => team !== home));
        const startsAt = new Date(Date.now() + (5 + Math.random() * 25) * 1_000);
        await this.scores.createMatch({ sport, homeTeam: home, awayTeam: away, startsAt });
      }
      for (const match of current) {
        if (match.status === 'scheduled' && match.startsAt.getTime() <= Date.now()) {
          await this.scores.postEvent(match.id, { kind: 'kickoff' });
        }
      }
      const live = current.filter((match) => match.status === 'live');
      if (live.length > 0) await this.advance(pick(live));
    } catch (error) {
      // Postgres or Redis away for a moment: the next step tries again.
      this.logger.debug?.(`demo scores step: ${(error as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async advance(match: Match): Promise<void> {
    const rules = SPORTS[match.sport];
    const roll = Math.random();
    if (roll < 1 / STEPS_PER_PERIOD) {
      if (match.period >= rules.periods) await this.scores.postEvent(match.id, { kind: 'final' });
      else await this.scores.postEvent(match.id, { kind: 'period' });
      return;
    }
    const points = rules.defaultPoints ?? pick(rules.points);
    await this.scores.postEvent(match.id, { kind: 'score', team: Math.random() < 0.5 ? 'home' : 'away', points });
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
