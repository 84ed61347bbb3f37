/**
 * The built app as a process, the way `npm start` and an orchestrator run it: boots from nothing,
 * refuses a bad environment, and shuts down gracefully on SIGTERM without losing a running job.
 */
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, Agent } from 'node:http';
import { join } from 'node:path';
import { redisOptions } from '#src/platform/redis/redis.service.js';
import { databaseUrl, dropDatabase, query } from './helpers/databases.js';
import { ROOT, spawnApp } from './helpers/processes.js';
import { REDIS_URL, type TestEnv, createTestEnv, deleteRedisPrefix } from './helpers/test-app.js';

describe('the app as a process (e2e)', () => {
  it('boots on an empty machine: creates and migrates its database, generates dev keys, and becomes ready', async () => {
    const name = `lf_boot_${randomBytes(4).toString('hex')}`;
    const prefix = `t:${randomBytes(4).toString('hex')}:`;
    // No timing assertion here (a shared CI machine can take 30–40 s to boot under load); boot time
    // belongs in a benchmark. The deadline only stops a hung boot.
    const app = await spawnApp(
      { DATABASE_URL: databaseUrl(name), REDIS_URL, REDIS_KEY_PREFIX: prefix, DEMO_MODE: 'true', LOG_LEVEL: 'warn' },
      { readyTimeoutMs: 90_000 },
    );
    try {
      expect(app.output()).toMatch(/ADMIN_API_KEY was not set; generated: \S+/);
      const applied = await query<{ name: string }>(databaseUrl(name), 'SELECT name FROM migrations');
      expect(applied.length).toBeGreaterThan(0);
      const docs = (await fetch(`${app.url}/docs-json`).then((r) => r.json())) as { paths: Record<string, unknown> };
      expect(Object.keys(docs.paths)).toEqual(expect.arrayContaining(['/admin/users', '/admin/users/{id}/tokens']));
      const key = app.output().match(/ADMIN_API_KEY was not set; generated: (\S+)/)![1];
      const users = await fetch(`${app.url}/admin/users`, { headers: { authorization: `Bearer ${key}` } });
      expect(users.status).toBe(200);
      const demo = await fetch(`${app.url}/auth/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Dana' }),
      });
      expect(demo.status).toBe(200);
    } finally {
      app.kill('SIGTERM');
      await app.exited;
      await dropDatabase(name);
      await deleteRedisPrefix(REDIS_URL, prefix);
    }
  }, 150_000);

  it('a malformed variable stops the boot with a message naming it', async () => {
    const bad = await spawnApp({ PORT: 'abc', DATABASE_URL: 'mysql://nope' }, { waitReady: false });
    const exit = await bad.exited;
    expect(exit.code).toBe(78);
    expect(bad.output()).toMatch(/PORT must be an integer between 0 and 65535 \(got "abc"\)/);
    expect(bad.output()).toMatch(/DATABASE_URL must be a URL with protocol postgres: or postgresql:/);
  });

  it('production requires ADMIN_API_KEY and JWT_SECRET', async () => {
    const bad = await spawnApp({ NODE_ENV: 'production' }, { waitReady: false });
    expect((await bad.exited).code).toBe(78);
    expect(bad.output()).toMatch(/ADMIN_API_KEY is required/);
    expect(bad.output()).toMatch(/JWT_SECRET is required/);
  });

  describe('SIGTERM', () => {
    let env: TestEnv;
    beforeAll(async () => {
      env = await createTestEnv({ LOG_LEVEL: 'warn' });
    });
    afterAll(() => env?.cleanup());

    it('with an open connection and a running job: exits within 10 s, and the job finishes (not lost)', async () => {
      const app = await spawnApp(env.env, { script: join(ROOT, 'test/fixtures/slow-job-app.mjs') });
      const queue = new Queue('slow-jobs', {
        connection: redisOptions(REDIS_URL, { maxRetriesPerRequest: null }) as never,
        prefix: `${env.prefix}bull`,
      });
      try {
        const job = await queue.add('slow', { ms: 3_000 });
        const deadline = Date.now() + 10_000;
        while (!app.output().includes(`job-started ${job.id}`) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(app.output()).toContain(`job-started ${job.id}`);

        // An idle keep-alive connection that a naive close would wait on forever.
        const agent = new Agent({ keepAlive: true });
        await new Promise<void>((resolve, reject) =>
          httpRequest(`${app.url}/health/live`, { agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
            .on('error', reject)
            .end(),
        );

        const signalled = Date.now();
        app.kill('SIGTERM');
        const exit = await app.exited;
        const took = Date.now() - signalled;
        agent.destroy();
        expect(took).toBeLessThan(10_000);
        expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
        expect(app.output()).toContain(`job-finished ${job.id}`);
        const after = await queue.getJob(job.id!);
        expect(await after!.getState()).toBe('completed');
        expect(after!.returnvalue).toBe('done');
      } finally {
        app.kill();
        await queue.close();
      }
    });
  });
});
