import { loadConfig } from '#src/config/app-config.js';
import { redisOptions } from './redis.service.js';

describe('redisOptions', () => {
  it('builds a Sentinel client when REDIS_SENTINELS is set, with both passwords', () => {
    const { config } = loadConfig({
      REDIS_SENTINELS: '127.0.0.1:26379',
      REDIS_SENTINEL_NAME: 'feeds',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pass',
      REDIS_PASSWORD: 'data-pass',
    });
    const options = redisOptions(config.redis, { maxRetriesPerRequest: null });
    expect(options).toMatchObject({
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      name: 'feeds',
      sentinelPassword: 'sentinel-pass',
      password: 'data-pass',
      maxRetriesPerRequest: null,
    });
    expect(options.host).toBeUndefined();
    expect(options.retryStrategy?.(1)).toBeGreaterThan(0);
  });

  it('in single-node mode takes the URL, and REDIS_PASSWORD only when the URL has none', () => {
    const plain = loadConfig({ REDIS_URL: 'redis://cache:6380/2', REDIS_PASSWORD: 'fallback' }).config.redis;
    expect(redisOptions(plain)).toMatchObject({ host: 'cache', port: 6380, db: 2, password: 'fallback' });
    expect(redisOptions(plain).sentinels).toBeUndefined();
    const withUrlPassword = loadConfig({ REDIS_URL: 'redis://:in%20url@cache', REDIS_PASSWORD: 'fallback' }).config
      .redis;
    expect(redisOptions(withUrlPassword).password).toBe('in url');
  });
});
