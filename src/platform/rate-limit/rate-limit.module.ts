/**
 * Rate limits on public HTTP routes (ARCHITECTURE.md, Security), answered with 429 and Retry-After.
 * One fixed window per class and client address (`TRUST_PROXY` decides whether X-Forwarded-For
 * names the client), counted in Redis so the limit holds across instances. A route's class comes
 * from `@RateLimit(...)` (default `public`); a class whose limit is 0 is off.
 */
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitStore } from './rate-limit.store.js';

@Module({
  providers: [RateLimitStore, { provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitModule {}
