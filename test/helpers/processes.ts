/**
 * Real processes for tests that kill things: the built app (`dist/main.js`) and a Redis server of
 * the test's own on another port, so a test can stop it without touching anyone else's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface AppProcess {
  proc: ChildProcess;
  url: string;
  port: number;
  output(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `node <script>` (default `dist/main.js`) with `env`, resolves once `/health/ready` is 200. */
export async function spawnApp(
  env: Record<string, string>,
  options: { script?: string; readyTimeoutMs?: number; waitReady?: boolean } = {},
): Promise<AppProcess> {
  const script = options.script ?? join(ROOT, 'dist/main.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first (npm test does)`);
  const port = env.PORT && env.PORT !== '0' ? env.PORT : String(await freePort());
  // A development boot keeps its generated secrets in a file: one of its own, not the checkout's.
  const secretsDir = mkdtempSync(join(tmpdir(), 'lf-secrets-'));
  const secrets = join(secretsDir, 'dev-secrets.json');
  const proc = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DEV_SECRETS_FILE: secrets,
      ...env,
      PORT: port,
      HOST: env.HOST ?? '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-200_000)));
  proc.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-200_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      rmSync(secretsDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  const app: AppProcess = {
    proc,
    port: Number(port),
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  if (options.waitReady === false) return app;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let ended = false;
  void exited.then(() => (ended = true));
  while (Date.now() < deadline && !ended) {
    try {
      const response = await fetch(`${app.url}/health/ready`);
      if (response.status === 200) return app;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  app.kill();
  throw new Error(`app did not become ready:\n${output.slice(-5000)}`);
}

export interface RedisProcess {
  port: number;
  url: string;
  readonly running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A private redis-server (no persistence) on a free port; `stop()` kills it, `start()` brings it back empty. */
export async function privateRedis(): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lf-redis-'));
  let proc: ChildProcess | undefined;
  const instance: RedisProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    async start() {
      proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        {
          stdio: 'ignore',
        },
      );
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (await portOpen(port)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('redis-server did not start');
    },
    async stop() {
      if (!proc || proc.exitCode !== null) return;
      const done = new Promise((resolve) => proc!.once('exit', resolve));
      proc.kill('SIGKILL');
      await done;
    },
  };
  await instance.start();
  return instance;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

// (imports for privatePostgres, kept with it)
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, readdirSync, rmSync } from 'node:fs';

export interface PostgresProcess {
  port: number;
  /** A URL for `database` on this server (user postgres, trust auth). */
  url(database: string): string;
  readonly running: boolean;
  start(): Promise<void>;
  /** Immediate shutdown (like a crash): open connections break at once. */
  stop(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}

/**
 * A Postgres server of the test's own (a fresh cluster from initdb, fsync off) on a free port, that
 * the test may stop and start again with its data. When the tests run as root, the server runs as
 * the `postgres` OS user (initdb refuses root).
 */
export async function privatePostgres(): Promise<PostgresProcess> {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
  const bin = versions.map((v) => `/usr/lib/postgresql/${v}/bin`).find((dir) => existsSync(join(dir, 'initdb')));
  if (!bin) throw new Error('initdb not found under /usr/lib/postgresql/*/bin');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lf-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const command = (file: string, args: string[]): [string, string[]] =>
    asRoot
      ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', join(bin, file), ...args]]
      : [join(bin, file), args];
  execFileSync(...command('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']), {
    stdio: 'ignore',
  });
  let proc: ChildProcess | undefined;
  const instance: PostgresProcess = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    async start() {
      const [file, args] = command('postgres', [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=100',
      ]);
      proc = spawn(file, args, { stdio: 'ignore' });
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (proc.exitCode !== null) throw new Error(`postgres exited with ${proc.exitCode}`);
        const ready = spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres']);
        if (ready.status === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('postgres did not start');
    },
    async stop() {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((resolve) => proc!.once('exit', resolve));
      proc.kill('SIGQUIT'); // immediate shutdown: backends die, clients see broken connections
      await done;
    },
    async destroy() {
      await instance.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await instance.start();
  return instance;
}

/** SIGTERM to each process still running (SIGKILL after 3 s), resolved once all have exited. */
export async function stopProcesses(procs: Iterable<ChildProcess>): Promise<void> {
  await Promise.all(
    [...procs].map(async (proc) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Polls `check` every 100 ms until it is true (a throw counts as false), or throws `message` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(message);
}
