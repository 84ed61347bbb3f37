import { loadConfig } from './app-config.js';
import { ConfigError } from './env.js';

describe('loadConfig', () => {
  it('has defaults that run on a machine with local Postgres and Redis, generating dev secrets', () => {
    const { config, generated } = loadConfig({});
    expect(config.app.port).toBe(3000);
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/livefeed');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(generated).toEqual(['ADMIN_API_KEY', 'JWT_SECRET']);
    expect(config.auth.adminApiKey.length).toBeGreaterThanOrEqual(16);
    expect(config.outbound.retrySchedule).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
  });

  it('names every malformed variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DEMO_MODE: 'maybe', REDIS_URL: 'http://x', OUTBOUND_RETRY_SCHEDULE: '1,x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/PORT must be an integer/);
    expect(problems).toMatch(/DEMO_MODE must be true or false/);
    expect(problems).toMatch(/REDIS_URL must be a URL/);
    expect(problems).toMatch(/OUTBOUND_RETRY_SCHEDULE/);
  });

  it('requires the secrets in production and checks their length', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /ADMIN_API_KEY is required[\s\S]*JWT_SECRET is required/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', ADMIN_API_KEY: 'short', JWT_SECRET: 'x'.repeat(40) })).toThrow(
      /ADMIN_API_KEY must be at least 16 characters/,
    );
    const { generated } = loadConfig({
      NODE_ENV: 'production',
      ADMIN_API_KEY: 'k'.repeat(20),
      JWT_SECRET: 's'.repeat(40),
    });
    expect(generated).toEqual([]);
  });

  it('parses lists, pairs and CIDRs', () => {
    const { config } = loadConfig({
      CORS_ORIGINS: 'https://a.example, https://b.example',
      STRIPE_WEBHOOK_SECRETS: 'whsec_1,whsec_2',
      STANDARD_WEBHOOK_SOURCES: 'acme=whsec_a,acme=whsec_b,other=whsec_c',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8,::1/128',
    });
    expect(config.app.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.inbound.stripeSecrets).toEqual(['whsec_1', 'whsec_2']);
    expect(config.inbound.standardSources).toEqual({ acme: ['whsec_a', 'whsec_b'], other: ['whsec_c'] });
    expect(config.outbound.allowedCidrs).toEqual(['127.0.0.0/8', '::1/128']);
    expect(() => loadConfig({ OUTBOUND_ALLOWED_CIDRS: 'everything' })).toThrow(/OUTBOUND_ALLOWED_CIDRS/);
  });

  it('reads the rate limits and which proxies to trust, refusing anything else', () => {
    const { config } = loadConfig({});
    expect(config.app.trustProxy).toBe(false);
    expect(config.rateLimit).toEqual({ windowSeconds: 60, public: 1200, webhooks: 12000, auth: 30 });
    expect(loadConfig({ TRUST_PROXY: 'true' }).config.app.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).config.app.trustProxy).toBe('loopback,10.0.0.0/8');
    expect(loadConfig({ RATE_LIMIT_PUBLIC: '0' }).config.rateLimit.public).toBe(0);
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY must be .*\(bad: everyone\)/);
    expect(() => loadConfig({ RATE_LIMIT_AUTH: '-1', RATE_LIMIT_WINDOW_SECONDS: '0' })).toThrow(
      /RATE_LIMIT_WINDOW_SECONDS must be an integer[\s\S]*RATE_LIMIT_AUTH must be an integer/,
    );
  });
  it('reads the inbound rejection spike threshold and window, refusing a bad one by name', () => {
    expect(loadConfig({}).config.inbound).toMatchObject({
      rejectionSpikeThreshold: 20,
      rejectionSpikeWindowSeconds: 300,
    });
    const { config } = loadConfig({
      INBOUND_REJECTION_SPIKE_THRESHOLD: '0',
      INBOUND_REJECTION_SPIKE_WINDOW_SECONDS: '60',
    });
    expect(config.inbound).toMatchObject({ rejectionSpikeThreshold: 0, rejectionSpikeWindowSeconds: 60 });
    expect(() =>
      loadConfig({ INBOUND_REJECTION_SPIKE_THRESHOLD: '-1', INBOUND_REJECTION_SPIKE_WINDOW_SECONDS: '0' }),
    ).toThrow(/INBOUND_REJECTION_SPIKE_THRESHOLD must be an integer[\s\S]*INBOUND_REJECTION_SPIKE_WINDOW_SECONDS/);
  });

  it('reads Sentinel mode from REDIS_SENTINELS and stops on a malformed list, naming it', () => {
    expect(loadConfig({}).config.redis).toMatchObject({ sentinels: [], sentinelName: 'mymaster' });
    const { config } = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380', REDIS_PASSWORD: 'p' });
    expect(config.redis).toMatchObject({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
      ],
      password: 'p',
    });
    expect(() => loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379,sentinel-b' })).toThrow(
      /REDIS_SENTINELS must be a comma-separated list of host:port \(bad: sentinel-b\)/,
    );
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:0' })).toThrow(/REDIS_SENTINELS/);
  });
});
