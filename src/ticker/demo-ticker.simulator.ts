/**
 * Demo mode: a random walk for a dozen well-known symbols at DEMO_TICK_RATE ticks/s. One instance
 * simulates at a time (a Redis lease), so two replicas do not double the feed.
 */
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '#src/config/app-config.js';
import { RedisLease } from '#src/platform/redis/lease.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { TickerService } from './ticker.service.js';

export const DEMO_INSTRUMENTS: [symbol: string, name: string, price: number][] = [
  ['AAPL', 'Apple', 190],
  ['MSFT', 'Microsoft', 420],
  ['GOOGL', 'Alphabet', 170],
  ['AMZN', 'Amazon', 185],
  ['NVDA', 'NVIDIA', 120],
  ['META', 'Meta Platforms', 500],
  ['TSLA', 'Tesla', 240],
  ['NFLX', 'Netflix', 650],
  ['SPY', 'SPDR S&P 500 ETF', 560],
  ['QQQ', 'Invesco QQQ', 480],
  ['BTC-USD', 'Bitcoin', 65_000],
  ['ETH-USD', 'Ether', 3_200],
];

@Injectable()
export class DemoTickerSimulator implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DemoTickerSimulator.name);
  private timer?: NodeJS.Timeout;
  private readonly prices = new Map(DEMO_INSTRUMENTS.map(([symbol, , price]) => [symbol, price]));
  private readonly lease: RedisLease;

  constructor(
    private readonly ticker: TickerService,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    this.lease = new RedisLease(redis, 'demo:ticker');
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.app.demoMode) return;
    const existing = new Set((await this.ticker.listInstruments()).map((i) => i.symbol));
    for (const [symbol, name] of DEMO_INSTRUMENTS) {
      if (!existing.has(symbol)) await this.ticker.createInstrument({ symbol, name }).catch(() => undefined);
    }
    const perTick = Math.max(1, Math.round(this.config.realtime.demoTickRatePerSecond / 10));
    this.timer = setInterval(() => void this.step(perTick), 100);
    this.logger.log(`demo ticker on: ${this.config.realtime.demoTickRatePerSecond} ticks/s`);
  }

  private async step(count: number): Promise<void> {
    try {
      if (!(await this.lease.hold())) return;
      const symbols = [...this.prices.keys()];
      const ticks = Array.from({ length: count }, () => {
        const symbol = symbols[Math.floor(Math.random() * symbols.length)];
        const last = this.prices.get(symbol)!;
        const price = Math.max(0.01, Number((last * (1 + (Math.random() - 0.5) * 0.004)).toFixed(last > 1000 ? 2 : 4)));
        this.prices.set(symbol, price);
        return { symbol, price, size: Math.ceil(Math.random() * 500), ts: Date.now() };
      });
      await this.ticker.ingest(ticks);
    } catch {
      // Redis down or an instrument deactivated: the next step tries again.
    }
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
