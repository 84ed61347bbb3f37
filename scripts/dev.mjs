// `npm run start:dev`: tsc compiles src/ into dist/ in watch mode (after the client SDK, whose wire
// types the server imports), esbuild rebundles the dashboard on change (web/build.mjs --watch), and
// `node --watch dist/main.js` restarts the app whenever a compiled module changes. Ctrl-C or
// SIGTERM stops all three; the app shuts down gracefully.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const children = [];
let stopping = false;
let exitCode = 0;

const running = (child) => child.exitCode === null && child.signalCode === null;

function stop(signal, code = 0) {
  if (stopping) {
    // A second Ctrl-C: do not wait for a graceful shutdown.
    for (const child of children) if (running(child)) child.kill('SIGKILL');
    return;
  }
  stopping = true;
  exitCode = code;
  for (const child of children) if (running(child)) child.kill(signal);
  exitWhenAllStopped();
}

function exitWhenAllStopped() {
  if (children.every((child) => !running(child))) process.exit(exitCode);
}

function start(name, args, options = {}) {
  // Each child in its own process group: a terminal's Ctrl-C reaches this script only, which
  // passes it on once (the app would otherwise get it twice: from the terminal and from node --watch).
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', detached: true, ...options });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (stopping) return exitWhenAllStopped();
    console.error(`[dev] ${name} stopped (${signal ?? `exit ${code}`}); stopping the rest`);
    stop('SIGTERM', code || 1);
  });
  return child;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => stop(signal === 'SIGHUP' ? 'SIGTERM' : signal));
process.on('exit', () => {
  for (const child of children) if (running(child)) child.kill('SIGTERM');
});

// Like `npm run build`: no compiled file of a deleted source is left to be loaded.
rmSync(`${root}dist`, { recursive: true, force: true });

start('esbuild', [`${root}web/build.mjs`, '--watch']);
const tsc = start(
  'tsc',
  // -b: the SDK's declarations first (the server imports its wire types), then src/.
  [`${root}node_modules/typescript/bin/tsc`, '-b', 'tsconfig.build.json', '--watch', '--preserveWatchOutput'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let appStarted = false;
let recent = '';
tsc.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  recent = (recent + chunk.toString()).slice(-500);
  // The app starts after the first full compile (with or without type errors: tsc still emits).
  if (!appStarted && !stopping && /Found \d+ errors?\. Watching for file changes/.test(recent)) {
    appStarted = true;
    start('app', ['--watch', 'dist/main.js'], {
      env: { ...process.env, DEMO_MODE: process.env.DEMO_MODE || 'true' },
    });
  }
});
