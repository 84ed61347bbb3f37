/**
 * `npm run start:dev` (scripts/dev.mjs) rebuilds and restarts on change. It runs on a temporary copy
 * of the project (tests never change tracked files): an edit to src/ restarts the app with the new
 * code, an edit to web/ rebundles the dashboard, and Ctrl-C stops everything it started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, portOpen } from './helpers/processes.js';
import { type TestEnv, createTestEnv, waitFor } from './helpers/test-app.js';

/** Running processes whose command line mentions `dir`. */
function processesUnder(dir: string): { pid: number; command: string }[] {
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .map((pid) => {
      try {
        return { pid: Number(pid), command: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() };
      } catch {
        return { pid: Number(pid), command: '' }; // ended meanwhile
      }
    })
    .filter(({ command }) => command.includes(dir));
}

describe('npm run start:dev (e2e)', () => {
  let env: TestEnv;
  let copy: string;
  let dev: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    env = await createTestEnv();
    copy = mkdtempSync(join(tmpdir(), 'lf-dev-watch-'));
    // packages/: the dashboard bundles the client SDK's source.
    const paths = [
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
      'web',
      'public',
      'scripts',
      'packages',
    ];
    const built = [join(ROOT, 'public/dist'), join(ROOT, 'packages/client/dist')];
    for (const path of paths) {
      cpSync(join(ROOT, path), join(copy, path), {
        recursive: true,
        filter: (source) => !built.some((dir) => source.startsWith(dir)),
      });
    }
    symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(copy, 'node_modules'));
  });
  afterAll(async () => {
    // After a failure: whatever is still running from the copy was started by this test.
    if (dev && dev.exitCode === null && dev.signalCode === null) process.kill(-dev.pid!, 'SIGKILL');
    for (const pid of processesUnder(copy).map(({ pid }) => pid)) process.kill(pid, 'SIGKILL');
    await env?.cleanup();
    rmSync(copy, { recursive: true, force: true });
  });

  const ready = async (port: number) => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;
    } catch {
      return false;
    }
  };

  it('restarts the app on a change in src/, rebundles on a change in web/, and stops on Ctrl-C', async () => {
    const port = await freePort();
    const proc = spawn('npm', ['run', '--silent', 'start:dev'], {
      cwd: copy,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that the test can press Ctrl-C: SIGINT to the whole group.
      detached: true,
    });
    dev = proc;
    const exited = new Promise<string>((resolve) =>
      proc.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)),
    );
    proc.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-100_000)));
    proc.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-100_000)));
    const explain = (error: Error) => {
      throw new Error(`${error.message}\n${output.slice(-4000)}`);
    };

    await waitFor(() => ready(port), 120_000, 200).catch(explain);
    await waitFor(async () => existsSync(join(copy, 'public/dist/dashboard.js')), 30_000).catch(explain);

    const marker = `dev-watch-${randomBytes(4).toString('hex')}`;
    appendFileSync(join(copy, 'src/main.ts'), `\nconsole.log('${marker}');\n`);
    await waitFor(async () => output.includes(marker), 90_000).catch(explain);
    await waitFor(() => ready(port), 60_000, 200).catch(explain);

    const webMarker = `web-watch-${randomBytes(4).toString('hex')}`;
    appendFileSync(join(copy, 'web/main.ts'), `\nconsole.log('${webMarker}');\n`);
    const bundle = join(copy, 'public/dist/dashboard.js');
    await waitFor(async () => readFileSync(bundle, 'utf8').includes(webMarker), 30_000).catch(explain);

    process.kill(-proc.pid!, 'SIGINT');
    await exited;
    await waitFor(async () => !(await portOpen(port)), 15_000);
    // Nothing it started is left running (tsc, esbuild, node --watch and the app all ran from the copy).
    await waitFor(async () => processesUnder(copy).length === 0, 10_000).catch(() => undefined);
    expect(processesUnder(copy).map(({ command }) => command)).toEqual([]);
  }, 240_000);
});
