/** Child-process plumbing shared by the benchmark drivers: ports, readiness, stopping, scratch databases. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { isAbsolute, join } from 'node:path';
import pg from 'pg';

export const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on the bench's Postgres. */
export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One statement on the admin database (CREATE / DROP DATABASE). */
export async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * The app's command line as production runs it (`npm run start:prod`, the Dockerfile's CMD: a test
 * keeps them equal), after `node`, with its paths made absolute under `root`: the benchmarks run
 * ours with the same V8 and loader flags as a deployment, read from one place. BENCH_APP_NODE_ARGS
 * adds flags in front, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where ours spends its time.
 */
export function appArgs(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [node, ...args] = pkg.scripts['start:prod'].split(/\s+/);
  if (node !== 'node') throw new Error(`start:prod does not start with node: ${pkg.scripts['start:prod']}`);
  const extra = (process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, ...args.map((arg) => (arg.startsWith('-') || isAbsolute(arg) ? arg : join(root, arg)))];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Waits (at most 60 s) until the app on `port` answers 200 on `/health/ready`; fails if `child` exits. */
export async function waitReady(
  port: number,
  child: ChildProcess,
  output: () => string,
  what = 'server',
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) while booting:\n${output()}`);
    const status = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after 60 s:\n${output()}`);
    await sleep(200);
  }
}

/** SIGTERM, then SIGKILL if the child is still there after 12 s; resolves once it has exited. */
export function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
    await exited;
    clearTimeout(timer);
  };
}
