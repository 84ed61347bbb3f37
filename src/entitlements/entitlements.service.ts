/**
 * The entitlement of each plan: the defaults (entitlement.ts) overridden by the `entitlements`
 * table. Every instance re-reads the table when its newest `updated_at` moves (checked every
 * ENTITLEMENT_REFRESH_MS), so a `PUT /admin/entitlements/:plan` takes effect everywhere within
 * that time; `onChange` listeners (open streams) hear of it.
 */
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { ACCESS_PLANS, type AccessPlan, type Entitlement, defaultEntitlements } from './entitlement.js';
import { EntitlementRow } from './entitlement.entity.js';

/** How often each instance looks for changed entitlements (and changed plans, viewer.service.ts). */
export const ENTITLEMENT_REFRESH_MS = 1_000;

@Injectable()
export class EntitlementsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(EntitlementsService.name);
  private readonly defaults: Map<AccessPlan, Entitlement>;
  private current: Map<AccessPlan, Entitlement>;
  private version = '';
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<() => void>();

  constructor(
    @InjectRepository(EntitlementRow) private readonly rows: Repository<EntitlementRow>,
    config: AppConfig,
  ) {
    this.defaults = new Map(defaultEntitlements(config.auth.anonymousAccess).map((e) => [e.plan, e] as const));
    this.current = new Map(this.defaults);
  }

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), ENTITLEMENT_REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  get(plan: AccessPlan): Entitlement {
    return this.current.get(plan)!;
  }

  list(): Entitlement[] {
    return ACCESS_PLANS.map((plan) => this.get(plan));
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stores a plan's entitlement; this instance applies it at once, the others within ENTITLEMENT_REFRESH_MS. */
  async set(entitlement: Entitlement): Promise<Entitlement> {
    await this.rows.save(
      this.rows.create({
        plan: entitlement.plan,
        ticker: entitlement.ticker,
        scores: entitlement.scores,
        maxStreams: entitlement.maxStreams,
      }),
    );
    await this.refresh();
    return this.get(entitlement.plan);
  }

  private async refresh(): Promise<void> {
    try {
      const [{ version }]: { version: string | null }[] = await this.rows.query(
        `SELECT max(updated_at)::text || ':' || count(*) AS version FROM entitlements`,
      );
      if ((version ?? '') === this.version) return;
      const next = new Map(this.defaults);
      for (const row of await this.rows.find()) {
        next.set(row.plan, { plan: row.plan, ticker: row.ticker, scores: row.scores, maxStreams: row.maxStreams });
      }
      this.current = next;
      this.version = version ?? '';
      for (const listener of this.listeners) listener();
    } catch (error) {
      this.logger.warn(`entitlements refresh: ${(error as Error).message}`);
    }
  }
}
