/**
 * Test databases: one migrated template per test run, cloned per test file (STYLE.md 17).
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '#src/platform/database/data-source.options.js';
import { migrations } from '#src/platform/database/migrations/index.js';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/**
 * One template per set of migrations: checkouts on different branches (worktrees) share the
 * Postgres server without rebuilding each other's template.
 */
export const TEMPLATE_DB = `livefeed_tpl_${createHash('sha256')
  // Names and code: a migration edited before it was committed gets a template of its own.
  .update(migrations.map((m) => `${m.name}:${m.toString()}`).join(','))
  .digest('hex')
  .slice(0, 10)}`;

export function databaseUrl(name: string, base = PG_ADMIN_URL): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>, base = PG_ADMIN_URL): Promise<T> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let templateReady: Promise<void> | undefined;

/**
 * Makes sure the template database exists and has exactly the committed migrations; rebuilds it
 * otherwise. Guarded by an advisory lock so parallel test processes do not race.
 */
export function ensureTemplateDatabase(): Promise<void> {
  templateReady ??= admin(async (client) => {
    await client.query('SELECT pg_advisory_lock(742002)');
    try {
      const wanted = migrations.map((m) => m.name).join(',');
      const exists = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE_DB])).rowCount;
      if (exists) {
        const applied = await query<{ name: string }>(
          databaseUrl(TEMPLATE_DB),
          'SELECT name FROM migrations ORDER BY id',
        ).catch(() => []);
        if (applied.map((row) => row.name).join(',') === wanted) return;
        await client.query(`DROP DATABASE ${TEMPLATE_DB} WITH (FORCE)`);
      }
      await client.query(`CREATE DATABASE ${TEMPLATE_DB}`);
      const source = new DataSource(dataSourceOptions(databaseUrl(TEMPLATE_DB), 2));
      await source.initialize();
      try {
        await source.runMigrations({ transaction: 'each' });
      } finally {
        await source.destroy();
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(742002)');
    }
  });
  return templateReady;
}

/** A fresh, migrated database of its own; returns its URL. */
export async function cloneDatabase(base = PG_ADMIN_URL): Promise<{ name: string; url: string }> {
  await ensureTemplateDatabase();
  const name = `lf_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`), base);
  return { name, url: databaseUrl(name, base) };
}

export async function dropDatabase(name: string, base = PG_ADMIN_URL): Promise<void> {
  await admin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`), base);
}

export async function query<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}
