/**
 * `npm start` without ADMIN_API_KEY and JWT_SECRET, twice: the built app keeps the secrets it
 * generated in its dev secrets file, so the admin key and a user token from the first start still
 * work after the second; and it prints the key with the address it really bound (0.0.0.0 here).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppProcess, freePort, spawnApp } from './helpers/processes.js';
import { type TestEnv, createTestEnv } from './helpers/test-app.js';

describe('development secrets (e2e)', () => {
  let env: TestEnv;
  let dir: string;
  beforeAll(async () => {
    env = await createTestEnv();
    dir = mkdtempSync(join(tmpdir(), 'lf-dev-secrets-'));
  });
  afterAll(async () => {
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(port: number): Promise<{ app: AppProcess; key: string; listening: string }> {
    // A development boot (no NODE_ENV), no secrets given, every interface.
    const { NODE_ENV: _env, ADMIN_API_KEY: _key, JWT_SECRET: _jwt, ...rest } = env.env;
    const app = await spawnApp(
      { ...rest, LOG_LEVEL: 'info', HOST: '0.0.0.0', PORT: String(port), DEV_SECRETS_FILE: join(dir, 'secrets.json') },
      { readyTimeoutMs: 60_000 },
    );
    const deadline = Date.now() + 10_000;
    const find = () => /listening on (.*?) \(instance [^)]*\); admin API key: ([\w-]+)/.exec(app.output());
    while (!find() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const line = find();
    if (!line) app.kill();
    if (!line) throw new Error(`no listening line with the admin key:\n${app.output().slice(-3000)}`);
    return { app, listening: line[1], key: line[2] };
  }

  async function stop(app: AppProcess): Promise<void> {
    app.kill('SIGTERM');
    await app.exited;
  }

  it('reuses the generated admin key and JWT secret on the next start, and prints the bound address', async () => {
    const port = await freePort();
    const first = await start(port);
    let token: string;
    try {
      expect(first.listening).toBe(`http://0.0.0.0:${port} (on this machine: http://localhost:${port})`);
      expect(first.app.output()).toMatch(/ADMIN_API_KEY was not set; generated: \S+ \(kept in .*secrets\.json/);
      const admin = { authorization: `Bearer ${first.key}`, 'content-type': 'application/json' };
      const user = await fetch(`${first.app.url}/admin/users`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'Kept' }),
      });
      expect(user.status).toBe(201);
      const id = ((await user.json()) as { id: string }).id;
      const minted = await fetch(`${first.app.url}/admin/users/${id}/tokens`, {
        method: 'POST',
        headers: admin,
        body: '{}',
      });
      expect(minted.status).toBe(201);
      token = ((await minted.json()) as { token: string }).token;
    } finally {
      await stop(first.app);
    }
    expect(statSync(join(dir, 'secrets.json')).mode & 0o777).toBe(0o600);

    const second = await start(port);
    try {
      expect(second.key).toBe(first.key);
      expect(second.app.output()).toMatch(/ADMIN_API_KEY was not set; using the one kept in .*secrets\.json/);
      expect(second.app.output()).not.toMatch(/was not set; generated/);
      const users = await fetch(`${second.app.url}/admin/users`, {
        headers: { authorization: `Bearer ${second.key}` },
      });
      expect(users.status).toBe(200);
      // The JWT secret was kept too: a token from the first start still signs in.
      const me = await fetch(`${second.app.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
    } finally {
      await stop(second.app);
    }
  }, 120_000);
});
