// Refreshes the README's screenshots on purpose: builds, runs only the browser tests that stage the
// pages and save them under test-results/ (their browser, app and data are the tests' own; they need
// the local Postgres and Redis, like `npm test`), then copies each over its docs/ file:
// docs/screenshot.png (the dashboard) and docs/console.png (the operator console).
// `npm run screenshot -- console` (or `dashboard`) refreshes one. Tests themselves never write
// tracked files, so `npm test` leaves docs/ alone.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// `saved`: keep in step with SCREENSHOT_PATH and CONSOLE_SCREENSHOT_PATH in test/helpers/browser.ts.
const SHOTS = {
  dashboard: {
    spec: 'test/dashboard-chat\\.e2e-spec\\.ts$',
    test: 'screenshot',
    saved: 'test-results/screenshot.png',
    target: 'docs/screenshot.png',
  },
  console: {
    spec: 'test/console\\.e2e-spec\\.ts$',
    test: 'Webhooks out',
    saved: 'test-results/console-webhooks.png',
    target: 'docs/console.png',
  },
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in SHOTS));
if (unknown.length > 0) {
  console.error(`unknown screenshot ${unknown.join(', ')}: pick from ${Object.keys(SHOTS).join(', ')}`);
  process.exit(2);
}
const shots = (asked.length > 0 ? asked : Object.keys(SHOTS)).map((name) => SHOTS[name]);

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed; docs/ is unchanged`);
    process.exit(result.status ?? 1);
  }
}

for (const shot of shots) rmSync(`${root}${shot.saved}`, { force: true });
run('npm', ['run', 'build']);
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() };
for (const shot of shots) {
  const jest = `${root}node_modules/jest/bin/jest.js`;
  run(
    process.execPath,
    [jest, '--runInBand', '--selectProjects', 'e2e', '--testPathPatterns', shot.spec, '--testNamePattern', shot.test],
    env,
  );
  if (!existsSync(`${root}${shot.saved}`)) {
    console.error(`the test passed but wrote no ${shot.saved}; ${shot.target} is unchanged`);
    process.exit(1);
  }
}
// Copied only once every test passed, so a failure leaves all of docs/ as it was.
for (const shot of shots) {
  copyFileSync(`${root}${shot.saved}`, `${root}${shot.target}`);
  console.log(`${shot.target} refreshed from ${shot.saved}`);
}
