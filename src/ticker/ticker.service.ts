/**
 * Instruments (Postgres) and ticks (straight to the `ticker` feed: high-rate and ephemeral, so no
 * outbox; ARCHITECTURE.md). The latest quote per symbol is kept in Redis by the feed itself.
 */
import {
  BadRequestException,
  ConflictException,
  Injectable,
  NotFoundException,
  type OnModuleDestroy,
  type OnModuleInit,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { Repository } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import type { Feed } from '#src/platform/realtime/feed.js';
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { parseTopicList } from '#src/platform/realtime/topic-list.js';
import type { CreateInstrumentDto } from './dto/create-instrument.dto.js';
import type { TickDto } from './dto/publish-ticks.dto.js';
import { Instrument } from './instrument.entity.js';
import { MAX_EPOCH_MS } from '#src/platform/http/fields.js';
import type { TopicCatalog } from '#src/entitlements/feed-access.service.js';
import type { Tick } from '@livefeed/client/wire';

/** A tick as the feed carries it (`event: tick`, the snapshot's quotes): the SDK's `Tick`. */
export type Quote = Tick;

@Injectable()
export class TickerService implements OnModuleInit, OnModuleDestroy {
  feed: Feed;
  private active = new Set<string>();
  /** Premium instruments (the rest are basic), for feed access by plan. */
  private premium = new Set<string>();
  private reloading?: Promise<void>;
  private reloadTimer?: NodeJS.Timeout;
  private readonly tierListeners = new Set<() => void>();
  /** The ticker's topics and their tiers, for feed access (entitlements/feed-access.service.ts). */
  readonly catalog: TopicCatalog = {
    tierOf: (symbol) => (this.premium.has(symbol) ? 'premium' : 'basic'),
    all: () => this.active,
    onChange: (listener) => this.tierListeners.add(listener),
  };

  constructor(
    @InjectRepository(Instrument) private readonly instruments: Repository<Instrument>,
    private readonly realtime: RealtimeService,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    this.feed = this.realtime.createFeed({
      name: 'ticker',
      policy: 'conflate',
      maxLength: this.config.realtime.tickerLogLength,
      keepLatest: true,
    });
    await this.reloadSymbols();
    // Another instance's instrument and tier changes arrive within a second.
    this.reloadTimer = setInterval(() => void this.reloadSymbols().catch(() => undefined), 1_000);
    this.reloadTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.reloadTimer);
  }

  /** Concurrent misses share one reload. */
  private reloadSymbols(): Promise<void> {
    this.reloading ??= this.instruments
      .find({ where: { active: true }, select: { symbol: true, tier: true } })
      .then((rows) => this.applyInstruments(rows))
      .finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private applyInstruments(rows: Pick<Instrument, 'symbol' | 'tier'>[]): void {
    this.active = new Set(rows.map((row) => row.symbol));
    const premium = new Set(rows.filter((row) => row.tier === 'premium').map((row) => row.symbol));
    const changed = premium.size !== this.premium.size || [...premium].some((symbol) => !this.premium.has(symbol));
    this.premium = premium;
    if (changed) for (const listener of this.tierListeners) listener();
  }

  /** Changes an instrument's tier (premium instruments are for plans entitled to them). */
  async setTier(symbol: string, tier: 'basic' | 'premium'): Promise<Instrument> {
    const instrument = await this.instruments.findOneBy({ symbol: symbol.toUpperCase(), active: true });
    if (!instrument) throw new NotFoundException(`instrument ${symbol} not found`);
    instrument.tier = tier;
    const saved = await this.instruments.save(instrument);
    await this.reloadSymbols();
    return saved;
  }

  /** Known-active check; an unknown symbol reloads the cache (another instance may have added it). */
  private async unknownSymbols(symbols: Iterable<string>): Promise<string[]> {
    let unknown = [...symbols].filter((symbol) => !this.active.has(symbol));
    if (unknown.length > 0) {
      await this.reloadSymbols();
      unknown = unknown.filter((symbol) => !this.active.has(symbol));
    }
    return unknown;
  }

  async createInstrument(dto: CreateInstrumentDto): Promise<Instrument> {
    const existing = await this.instruments.findOneBy({ symbol: dto.symbol });
    if (existing?.active) throw new ConflictException(`instrument ${dto.symbol} exists`);
    const saved = await this.instruments.save(
      existing
        ? Object.assign(existing, {
            name: dto.name,
            currency: dto.currency ?? existing.currency,
            tier: dto.tier ?? existing.tier,
            active: true,
          })
        : this.instruments.create({
            symbol: dto.symbol,
            name: dto.name,
            currency: dto.currency ?? 'USD',
            tier: dto.tier ?? 'basic',
          }),
    );
    this.active.add(saved.symbol);
    if (saved.tier === 'premium' && !this.premium.has(saved.symbol)) {
      this.premium.add(saved.symbol);
      for (const listener of this.tierListeners) listener();
    }
    return saved;
  }

  listInstruments(): Promise<Instrument[]> {
    return this.instruments.find({ where: { active: true }, order: { symbol: 'ASC' } });
  }

  async deactivate(symbol: string): Promise<Instrument> {
    const instrument = await this.instruments.findOneBy({ symbol: symbol.toUpperCase() });
    if (!instrument) throw new NotFoundException(`instrument ${symbol} not found`);
    instrument.active = false;
    this.active.delete(instrument.symbol);
    return this.instruments.save(instrument);
  }

  /** `A,B` → a validated set (400 above the limit, 422 naming unknown symbols); undefined = all. */
  async parseSymbols(raw: string | undefined): Promise<Set<string> | undefined> {
    const symbols = parseTopicList(raw, 'symbols', this.config.realtime.maxTopicsPerSubscription, (s) =>
      s.toUpperCase(),
    );
    if (!symbols) return undefined;
    const unknown = await this.unknownSymbols(symbols);
    if (unknown.length > 0)
      throw new UnprocessableEntityException(`symbols: unknown symbol ${unknown.slice(0, 10).join(', ')}`);
    return symbols;
  }

  async ingest(items: unknown[]): Promise<{ accepted: number }> {
    const max = this.config.realtime.maxTicksPerBatch;
    if (items.length > max) throw new BadRequestException(`ticks: at most ${max} per batch`);
    const shape = checkTickShapes(items);
    if (shape) throw new BadRequestException(shape);
    const ticks = items as TickDto[];
    const problems: string[] = [];
    const unknown = new Set(await this.unknownSymbols(new Set(ticks.map((t) => t.symbol))));
    const now = Date.now();
    const valid: Quote[] = [];
    ticks.forEach((tick, i) => {
      const at = `ticks[${i}]`;
      if (unknown.has(tick.symbol)) problems.push(`${at}.symbol: unknown symbol ${tick.symbol}`);
      if (typeof tick.price !== 'number' || !Number.isFinite(tick.price) || tick.price <= 0) {
        problems.push(`${at}.price must be a positive finite number`);
      }
      if (tick.size !== undefined && (typeof tick.size !== 'number' || !Number.isFinite(tick.size) || tick.size < 0)) {
        problems.push(`${at}.size must be a non-negative finite number`);
      }
      if (tick.ts !== undefined && !(Number.isSafeInteger(tick.ts) && tick.ts > 0 && tick.ts <= MAX_EPOCH_MS)) {
        problems.push(`${at}.ts must be epoch milliseconds from 1 to ${MAX_EPOCH_MS} (9999-12-31)`);
      }
      valid.push({ symbol: tick.symbol, price: tick.price, size: tick.size ?? 0, ts: tick.ts ?? now });
    });
    if (problems.length > 0) {
      const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
      throw new UnprocessableEntityException(problems.slice(0, 10).join('; ') + more);
    }
    await this.feed.publish(valid.map((quote) => ({ type: 'tick', topic: quote.symbol, data: quote })));
    return { accepted: valid.length };
  }

  /** Latest quote per symbol, the feed cursor, and an ETag over the quotes' ids (the short poll). */
  async quotes(
    symbols?: ReadonlySet<string>,
    asOfMs?: number,
  ): Promise<{ quotes: Quote[]; cursor: string; etag: string }> {
    const [latest, cursor] = await Promise.all([
      this.latest(symbols, asOfMs),
      asOfMs === undefined ? this.feed.current() : this.feed.positionAt(asOfMs).then((p) => p.cursor),
    ]);
    const etag = `"${createHash('sha1')
      .update(latest.map((row) => `${row.topic}@${row.id}`).join(','))
      .digest('base64url')}"`;
    return { quotes: latest.map((row) => JSON.parse(row.data) as Quote), cursor, etag };
  }

  /** The quotes alone (a stream's snapshot: its cursor is the stream's own, so none is read here). */
  async latestQuotes(symbols?: ReadonlySet<string>, asOfMs?: number): Promise<Quote[]> {
    return (await this.latest(symbols, asOfMs)).map((row) => JSON.parse(row.data) as Quote);
  }

  /** The latest quotes, or (`asOfMs`, a delayed plan) the quotes as they were then, read from the log. */
  private async latest(symbols: ReadonlySet<string> | undefined, asOfMs: number | undefined) {
    const latest =
      asOfMs === undefined
        ? await this.feed.latest(symbols ? [...symbols] : undefined)
        : await this.feed.latestAsOf(symbols, asOfMs);
    return latest.sort((a, b) => a.topic.localeCompare(b.topic));
  }
}

const TICK_KEYS = new Set(['symbol', 'price', 'size', 'ts']);

/** The shape of each item (what the ValidationPipe would say): a 400 message, or undefined. */
function checkTickShapes(items: unknown[]): string | undefined {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return `ticks[${i}] must be an object`;
    for (const key in item) if (!TICK_KEYS.has(key)) return `ticks[${i}].property ${key} should not exist`;
    if (typeof (item as { symbol?: unknown }).symbol !== 'string') return `ticks[${i}].symbol must be a string`;
  }
  return undefined;
}
