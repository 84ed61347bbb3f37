/**
 * Every benchmark drives the app from one address (127.0.0.1), so the per-client rate limits would
 * refuse the load itself. They stay on, with budgets no run reaches: the guard and its Redis call
 * are in every measured request, only the 429s are not.
 */
export const BENCH_RATE_LIMITS = {
  RATE_LIMIT_PUBLIC: '1000000000',
  RATE_LIMIT_WEBHOOKS: '1000000000',
  RATE_LIMIT_AUTH: '1000000000',
};
