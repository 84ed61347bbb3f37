/**
 * Rate limits on public HTTP routes (ARCHITECTURE.md, Security): 429 with Retry-After, one budget per
 * client address and class, shared by every instance through Redis, admin/health/metrics outside
 * them, nothing done for a refused request, and X-Forwarded-For believed only from trusted proxies.
 */
import { loadConfig } from '#src/config/app-config.js';
import { MetricsService } from '#src/platform/observability/metrics.service.js';
import { RateLimitStore } from '#src/platform/rate-limit/rate-limit.store.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { query } from './helpers/databases.js';
import { signStripe, stripeEvent } from './helpers/inbound-signing.js';
import {
  REDIS_URL,
  type TestApp,
  type TestEnv,
  adminHeaders,
  api,
  createTestEnv,
  deleteRedisPrefix,
  sleep,
  startTestApp,
} from './helpers/test-app.js';

const STRIPE_SECRET = 'whsec_ratelimit_0123456789abcdef';

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers });
  return { status: response.status, headers: response.headers, body: await response.json().catch(() => undefined) };
}

describe('rate limits (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({
      RATE_LIMIT_PUBLIC: '5',
      RATE_LIMIT_WEBHOOKS: '3',
      RATE_LIMIT_AUTH: '2',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
      DEMO_MODE: 'false',
    });
    [a, b] = await Promise.all([startTestApp(env), startTestApp(env, { env: { DEMO_MODE: 'true' } })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  it('counts one budget per client across routes and instances, then answers 429 with Retry-After', async () => {
    const seen: number[] = [];
    for (const [app, path] of [
      [a, '/ticker/instruments'],
      [b, '/scores/matches'],
      [a, '/ticker/quotes'],
      [b, '/webhooks/event-types'],
      [a, '/scores/matches'],
    ] as const) {
      const response = await get(app.url, path);
      expect(response.status).toBe(200);
      seen.push(Number(response.headers.get('ratelimit-remaining')));
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);

    const refused = await get(b.url, '/ticker/instruments');
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: 'too many requests; retry after the time in Retry-After',
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Blocked on the other instance too, and on a feed.
    expect((await get(a.url, '/ticker/stream?symbols=AAPL')).status).toBe(429);
    // Without TRUST_PROXY a forwarded-for header does not make a new client.
    expect((await get(a.url, '/ticker/quotes', { 'x-forwarded-for': '203.0.113.7' })).status).toBe(429);
  });

  it('keeps operators, probes and scrapers outside the public budget', async () => {
    expect((await get(a.url, '/ticker/quotes')).status).toBe(429);
    expect((await api(a.url, 'GET', '/admin/users')).status).toBe(200);
    expect((await api(b.url, 'GET', '/admin/webhooks/endpoints')).status).toBe(200);
    expect((await get(a.url, '/health/live')).status).toBe(200);
    expect((await get(b.url, '/health/ready')).status).toBe(200);
    const metrics = await fetch(`${a.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^http_rate_limited_total\{class="public"\} [1-9]/m);
  });

  it('gives webhook intake its own budget, and a refused delivery stores nothing', async () => {
    // The public budget is spent (above); the intake still answers on its own budget.
    const unsigned = await api(
      a.url,
      'POST',
      '/webhooks/stripe',
      { id: 'evt_x' },
      { 'content-type': 'application/json' },
    );
    expect(unsigned.status).toBe(400);
    for (let i = 0; i < 2; i++) {
      const event = stripeEvent('payment_intent.succeeded', { id: `pi_${i}`, amount: 100, currency: 'eur' });
      const signed = signStripe(JSON.stringify(event), STRIPE_SECRET);
      expect((await api(b.url, 'POST', signed.path, signed.body, signed.headers)).status).toBe(200);
    }
    const late = stripeEvent('payment_intent.succeeded', { id: 'pi_late', amount: 100, currency: 'eur' });
    const signed = signStripe(JSON.stringify(late), STRIPE_SECRET);
    const refused = await api(a.url, 'POST', signed.path, signed.body, signed.headers);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const stored = await query<{ external_id: string }>(
      env.databaseUrl,
      `SELECT external_id FROM inbound_events WHERE provider = 'stripe' ORDER BY external_id`,
    );
    expect(stored.map((row) => row.external_id)).not.toContain(late.id);
    expect(stored).toHaveLength(2);
  });

  it('limits sign-ins on their own, tighter budget', async () => {
    const signIn = (name: string) => api(b.url, 'POST', '/auth/demo', { name }, { 'content-type': 'application/json' });
    expect((await signIn('ada')).status).toBe(200);
    expect((await signIn('grace')).status).toBe(200);
    const refused = await signIn('linus');
    expect(refused.status).toBe(429);
    const users = await api(b.url, 'GET', '/admin/users', undefined, adminHeaders);
    expect(JSON.stringify(users.body)).not.toContain('linus');
  });
});

describe('rate limits (e2e): trusted proxies, windows, switches', () => {
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({
      RATE_LIMIT_PUBLIC: '3',
      RATE_LIMIT_WINDOW_SECONDS: '2',
      RATE_LIMIT_WEBHOOKS: '0',
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
    });
    t = await startTestApp(env, { env: { TRUST_PROXY: 'loopback' } });
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  it('behind a trusted proxy, counts each forwarded client on its own', async () => {
    const one = { 'x-forwarded-for': '198.51.100.1' };
    const two = { 'x-forwarded-for': '198.51.100.2' };
    for (let i = 0; i < 3; i++) expect((await get(t.url, '/ticker/instruments', one)).status).toBe(200);
    expect((await get(t.url, '/ticker/instruments', one)).status).toBe(429);
    expect((await get(t.url, '/ticker/instruments', two)).status).toBe(200);
  });

  it('lets a client in again once its window has passed', async () => {
    const three = { 'x-forwarded-for': '198.51.100.3' };
    for (let i = 0; i < 3; i++) expect((await get(t.url, '/ticker/quotes', three)).status).toBe(200);
    const refused = await get(t.url, '/ticker/quotes', three);
    expect(refused.status).toBe(429);
    expect(['1', '2']).toContain(refused.headers.get('retry-after'));
    await sleep(2_200);
    expect((await get(t.url, '/ticker/quotes', three)).status).toBe(200);
  });

  it('turns a class off with a limit of 0', async () => {
    for (let i = 0; i < 10; i++) {
      const response = await api(
        t.url,
        'POST',
        '/webhooks/stripe',
        { id: 'evt_x' },
        { 'content-type': 'application/json' },
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('ratelimit-remaining')).toBeNull();
    }
  });
});

describe('RateLimitStore', () => {
  it('counts atomically under concurrency against the real Redis', async () => {
    const { config } = loadConfig({ REDIS_URL, REDIS_KEY_PREFIX: `t:rl:${Date.now()}:` });
    const redis = new RedisService(config);
    try {
      const storage = new RateLimitStore(redis, new MetricsService());
      if (redis.command.status !== 'ready') await new Promise((resolve) => redis.command.once('ready', resolve));
      const results = await Promise.all(
        Array.from({ length: 50 }, () => storage.increment('public:192.0.2.1', 60_000, 20)),
      );
      expect(results.filter((r) => !r.isBlocked)).toHaveLength(20);
      expect(results.filter((r) => r.isBlocked)).toHaveLength(30);
      expect(
        results
          .filter((r) => !r.isBlocked)
          .map((r) => r.totalHits)
          .sort((x, y) => x - y),
      ).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // Past the limit only the block remains; the window's count starts again after it.
      expect(await redis.command.keys(`${redis.prefix}ratelimit:*`)).toEqual([
        `${redis.prefix}ratelimit:public:192.0.2.1:blocked`,
      ]);
    } finally {
      await deleteRedisPrefix(REDIS_URL, config.redis.keyPrefix);
      await redis.onApplicationShutdown();
    }
  });

  it('lets requests through while Redis is unreachable', async () => {
    const { config } = loadConfig({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_KEY_PREFIX: 't:rl:down:' });
    const redis = new RedisService(config);
    try {
      const storage = new RateLimitStore(redis, new MetricsService());
      for (let i = 0; i < 3; i++) {
        expect(await storage.increment('public:192.0.2.9', 60_000, 1)).toMatchObject({
          isBlocked: false,
        });
      }
    } finally {
      redis.command.disconnect();
      redis.publisher.disconnect();
      redis.subscriber.disconnect();
    }
  });
});
