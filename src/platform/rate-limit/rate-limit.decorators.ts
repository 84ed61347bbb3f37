import { type ExecutionContext, SetMetadata } from '@nestjs/common';

/**
 * Which per-client budget a route draws from: `public` (the default: the public API, feeds and
 * polls), `webhooks` (the signed intake routes, where providers burst), `auth` (sign-ins), or
 * `none` (admin routes behind the admin key, health and metrics).
 */
export type RateLimitClass = 'public' | 'webhooks' | 'auth' | 'none';

export const RATE_LIMIT_CLASS = 'livefeed:rate-limit-class';

/** Put a route or a controller in a rate-limit class other than `public`. */
export const RateLimit = (cls: RateLimitClass) => SetMetadata(RATE_LIMIT_CLASS, cls);

/** The class of the route being handled: the handler's, else its controller's, else `public`. */
export function rateLimitClassOf(context: ExecutionContext): RateLimitClass {
  return (
    (Reflect.getMetadata(RATE_LIMIT_CLASS, context.getHandler()) as RateLimitClass | undefined) ??
    (Reflect.getMetadata(RATE_LIMIT_CLASS, context.getClass()) as RateLimitClass | undefined) ??
    'public'
  );
}
