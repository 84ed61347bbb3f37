/**
 * The global rate-limit guard (ARCHITECTURE.md, Security): one budget per client address and class,
 * not per route, so a client cannot multiply its budget by spreading over routes. Over the budget:
 * 429 with `Retry-After`, before any handler runs, so a refused request changes nothing. Every
 * counted response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds).
 * HTTP only: chat's socket events have their own per-user limits (`src/chat/rate-limiter.ts`).
 *
 * Ours rather than `@nestjs/throttler`'s guard: that package (6.7) is CommonJS and requires
 * `@nestjs/common`, which NestJS 12 ships as ESM only. Node 20.19 loads it (require of ESM), but
 * Jest's module runtime cannot before Node 24.9, so the app's guard could not run under test.
 */
import { type CanActivate, type ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { AppConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { clientAddress } from './client-address.js';
import { rateLimitClassOf } from './rate-limit.decorators.js';
import { RateLimitStore } from './rate-limit.store.js';

@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly limited: Counter<'class'>;
  private readonly windowMs: number;

  constructor(
    private readonly config: AppConfig,
    private readonly store: RateLimitStore,
    metrics: MetricsService,
  ) {
    this.windowMs = config.rateLimit.windowSeconds * 1000;
    this.limited = metrics.counter('http_rate_limited_total', 'Requests refused with 429, by rate-limit class', [
      'class',
    ]);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const cls = rateLimitClassOf(context);
    if (cls === 'none') return true;
    const limit = this.config.rateLimit[cls];
    if (limit === 0) return true;

    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const hit = await this.store.increment(`${cls}:${clientAddress(request.ip)}`, this.windowMs, limit);
    if (hit.isBlocked) {
      this.limited.inc({ class: cls });
      reply.header('retry-after', String(Math.max(1, hit.timeToBlockExpire)));
      throw new HttpException('too many requests; retry after the time in Retry-After', HttpStatus.TOO_MANY_REQUESTS);
    }
    reply.header('ratelimit-limit', String(limit));
    reply.header('ratelimit-remaining', String(Math.max(0, limit - hit.totalHits)));
    reply.header('ratelimit-reset', String(hit.timeToExpire));
    return true;
  }
}
