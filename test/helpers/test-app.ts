/**
 * Boots the real app for a test: the same `createApp`/`configureApp` as main.ts, on port 0, against
 * a database cloned from the migrated template and a Redis key prefix of its own.
 */
import type { ModuleMetadata } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createApp } from '#src/app.setup.js';
import { type AppConfig, loadConfig } from '#src/config/app-config.js';
import { cloneDatabase, dropDatabase } from './databases.js';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';
export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789-abcdefghijkl';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  config: AppConfig;
  close(): Promise<void>;
}

/** What one test file shares between its app instances: a database and a Redis prefix. */
export interface TestEnv {
  env: Record<string, string>;
  databaseName: string;
  databaseUrl: string;
  prefix: string;
  /** Drops the database and deletes the prefix's Redis keys. */
  cleanup(): Promise<void>;
}

export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const db = await cloneDatabase();
  const prefix = `t:${randomBytes(4).toString('hex')}:`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    DATABASE_CREATE: 'false',
    DATABASE_POOL_SIZE: '5',
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    OUTBOX_POLL_INTERVAL_MS: '500',
    // One test drives the app from one address; the limits stay on (the guard runs on every request)
    // with budgets no test reaches. test/rate-limit.e2e-spec.ts sets small ones.
    RATE_LIMIT_PUBLIC: '1000000',
    RATE_LIMIT_WEBHOOKS: '1000000',
    RATE_LIMIT_AUTH: '1000000',
    PORT: '0',
    HOST: '127.0.0.1',
    ...overrides,
  };
  return {
    env,
    databaseName: db.name,
    databaseUrl: db.url,
    prefix,
    cleanup: async () => {
      await dropDatabase(db.name);
      await deleteRedisPrefix(env.REDIS_URL, prefix).catch(() => undefined);
    },
  };
}

export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function startTestApp(
  testEnv: TestEnv,
  options: { env?: Record<string, string>; imports?: ModuleMetadata['imports'] } = {},
): Promise<TestApp> {
  const { config } = loadConfig({
    ...testEnv.env,
    INSTANCE_ID: `test-${randomBytes(3).toString('hex')}`,
    ...options.env,
  });
  const app = await createApp(config, { imports: options.imports });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, config, close: () => app.close() };
}

export const adminHeaders = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };

/** fetch() with JSON in and out. */
export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = adminHeaders,
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers:
      body === undefined ? Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'content-type')) : headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`waitFor timed out after ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
