/**
 * Access logs (issue 14, item 11): the built app, as a process, writes one JSON line per API request
 * with method, route pattern, status, duration and request id, at info for 2xx/3xx, warn for 4xx and
 * error for 5xx; the request id is the client's X-Request-Id (echoed back) or a new one; query
 * strings (`?token=` on streams) and credentials never appear.
 */
import { createTestEnv, type TestEnv, TEST_ADMIN_KEY } from './helpers/test-app.js';
import { type AppProcess, spawnApp } from './helpers/processes.js';

interface Line {
  level: number;
  msg?: string;
  requestId?: string;
  method?: string;
  route?: string;
  status?: number;
  durationMs?: number;
}

describe('access log (e2e, process)', () => {
  let env: TestEnv;
  let app: AppProcess;

  beforeAll(async () => {
    env = await createTestEnv();
    app = await spawnApp({ ...env.env, LOG_LEVEL: 'info' }, { readyTimeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    app?.kill('SIGTERM');
    await app?.exited;
    await env?.cleanup();
  });

  const lines = (): Line[] =>
    app
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line)
      .filter((line) => line.msg === 'request completed');

  it('one line per request, at the level its status calls for, with the route pattern and the request id', async () => {
    const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };
    const created = await fetch(`${app.url}/admin/users`, {
      method: 'POST',
      headers: { ...admin, 'x-request-id': 'req-created-1' },
      body: JSON.stringify({ name: 'Logged Lou' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe('req-created-1');
    const { id } = (await created.json()) as { id: string };
    const got = await fetch(`${app.url}/admin/users/${id}?token=secret-in-query`, { headers: admin });
    expect(got.status).toBe(200);
    const generated = got.headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const refused = await fetch(`${app.url}/admin/users`, { headers: { authorization: 'Bearer wrong-key' } });
    expect(refused.status).toBe(401);
    const missing = await fetch(`${app.url}/no/such/route`);
    expect(missing.status).toBe(404);

    const deadline = Date.now() + 5_000;
    while (lines().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const ours = lines();
    expect(ours.map(({ method, route, status, level }) => ({ method, route, status, level }))).toEqual([
      { method: 'POST', route: '/admin/users', status: 201, level: 30 },
      { method: 'GET', route: '/admin/users/:id', status: 200, level: 30 },
      { method: 'GET', route: '/admin/users', status: 401, level: 40 },
      { method: 'GET', route: 'unmatched', status: 404, level: 40 },
    ]);
    expect(ours[0].requestId).toBe('req-created-1');
    expect(ours[1].requestId).toBe(generated);
    for (const line of ours) expect(line.durationMs).toEqual(expect.any(Number));
    expect(app.output()).not.toContain('secret-in-query');
    expect(app.output()).not.toContain(TEST_ADMIN_KEY);
    expect(app.output()).not.toContain('wrong-key');
  });
});
