import { getDataSourceToken } from '@nestjs/typeorm';
import { SignJWT } from 'jose';
import type { DataSource } from 'typeorm';
import { TokenService } from '#src/platform/auth/token.service.js';
import { TEST_JWT_SECRET, type TestApp, type TestEnv, api, createTestEnv, startTestApp } from './helpers/test-app.js';

describe('platform (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    env = await createTestEnv();
    t = await startTestApp(env);
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  describe('schema', () => {
    it('entities and committed migrations agree (no drift)', async () => {
      const dataSource = t.app.get<DataSource>(getDataSourceToken());
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      expect(await dataSource.showMigrations()).toBe(false);
    });
  });

  describe('admin auth', () => {
    it('refuses a missing key with 401 and a clear message', async () => {
      const res = await api(t.url, 'GET', '/admin/users', undefined, {});
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: expect.stringMatching(/missing admin key/),
      });
    });

    it('refuses a wrong key with 401', async () => {
      const res = await api(t.url, 'GET', '/admin/users', undefined, { authorization: 'Bearer not-the-key-at-all' });
      expect(res.status).toBe(401);
      expect(res.body.message).toBe('invalid admin key');
    });

    it('accepts the right key', async () => {
      const res = await api(t.url, 'GET', '/admin/users');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ items: expect.any(Array), page: 1, limit: 20, total: expect.any(Number) });
    });
  });

  describe('errors', () => {
    it('a malformed body is a 400 naming the field, and nothing is stored', async () => {
      const before = (await api(t.url, 'GET', '/admin/users')).body.total;
      const res = await api(t.url, 'POST', '/admin/users', { name: 42 });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('Bad Request');
      expect(res.body.message).toMatch(/name must be a string/);
      const unknown = await api(t.url, 'POST', '/admin/users', { name: 'x', isAdmin: true });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(/property isAdmin should not exist/);
      expect((await api(t.url, 'GET', '/admin/users')).body.total).toBe(before);
    });

    it('malformed JSON is a 400, a non-JSON body a 415, an oversized body a 413', async () => {
      expect((await api(t.url, 'POST', '/admin/users', '{"name":')).status).toBe(400);
      const text = await api(t.url, 'POST', '/admin/users', 'hello', { ...adminKey(), 'content-type': 'text/plain' });
      expect(text.status).toBe(415);
      const big = await api(t.url, 'POST', '/admin/users', JSON.stringify({ name: 'x'.repeat(2_000_000) }));
      expect(big.status).toBe(413);
      expect(big.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    });

    it('an unknown route is a JSON 404; a malformed id a 400; an unknown id a 404', async () => {
      const route = await api(t.url, 'GET', '/no/such/route');
      expect(route.status).toBe(404);
      expect(route.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot GET /no/such/route' });
      expect((await api(t.url, 'GET', '/admin/users/not-a-uuid')).status).toBe(400);
      const missing = await api(t.url, 'GET', '/admin/users/00000000-0000-4000-8000-000000000000');
      expect(missing.status).toBe(404);
      expect(missing.body.message).toMatch(/user .* not found/);
    });

    it('lists validate page and limit', async () => {
      expect((await api(t.url, 'GET', '/admin/users?limit=101')).status).toBe(400);
      expect((await api(t.url, 'GET', '/admin/users?page=0')).status).toBe(400);
    });
  });

  describe('users and tokens', () => {
    it('creates a user, mints a token, and the token authenticates', async () => {
      const created = await api(t.url, 'POST', '/admin/users', { name: '  Alice  ' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.any(String),
        name: 'Alice',
        plan: 'free',
        createdAt: expect.any(String),
      });
      const minted = await api(t.url, 'POST', `/admin/users/${created.body.id}/tokens`, {});
      expect(minted.status).toBe(201);
      const me = await api(t.url, 'GET', '/auth/me', undefined, { authorization: `Bearer ${minted.body.token}` });
      expect(me.status).toBe(200);
      expect(me.body.id).toBe(created.body.id);
    });

    it('refuses an expired, forged or missing JWT with 401', async () => {
      const user = (await api(t.url, 'POST', '/admin/users', { name: 'Bob' })).body;
      const key = new TextEncoder().encode(TEST_JWT_SECRET);
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user.id)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(key);
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user.id)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('some-other-secret-some-other-secret!!'));
      const valid = (await t.app.get(TokenService).mint(user.id)).token;
      for (const token of [expired, forged, 'not.a.jwt', `${valid.slice(0, -2)}xx`]) {
        const res = await api(t.url, 'GET', '/auth/me', undefined, { authorization: `Bearer ${token}` });
        expect(res.status).toBe(401);
        expect(res.body.message).toBe('invalid or expired token');
      }
      expect((await api(t.url, 'GET', '/auth/me', undefined, {})).status).toBe(401);
      expect((await api(t.url, 'GET', '/auth/me', undefined, { authorization: `Bearer ${valid}` })).status).toBe(200);
    });

    it('demo sign-in is 404 when demo mode is off', async () => {
      const res = await api(t.url, 'POST', '/auth/demo', { name: 'Carol' });
      expect(res.status).toBe(404);
    });
  });

  describe('ops', () => {
    it('serves liveness, readiness, metrics with an HTTP histogram by route, and OpenAPI with the admin routes', async () => {
      expect((await api(t.url, 'GET', '/health/live')).status).toBe(200);
      const ready = await api(t.url, 'GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.info).toMatchObject({ postgres: { status: 'up' }, redis: { status: 'up' } });
      const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/process_resident_memory_bytes/);
      expect(metrics).toMatch(/http_request_duration_seconds_bucket\{.*route="\/health\/ready".*\}/);
      const docs = await api(t.url, 'GET', '/docs-json');
      expect(Object.keys(docs.body.paths)).toEqual(
        expect.arrayContaining(['/admin/users', '/admin/users/{id}/tokens']),
      );
      expect(docs.body.components.securitySchemes.admin).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect((await fetch(`${t.url}/docs`)).status).toBe(200);
    });

    it('sets security headers on every response', async () => {
      const res = await fetch(`${t.url}/health/live`, { headers: { 'x-request-id': 'abc-123' } });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    });
  });
});

function adminKey() {
  return { authorization: 'Bearer test-admin-key-0123456789' };
}
