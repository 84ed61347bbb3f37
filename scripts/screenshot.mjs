// Refreshes the README's screenshot (docs/screenshot.png) on purpose: builds, runs only the dashboard
// test that stages the page and saves test-results/screenshot.png (its browser, app and data are the
// test's own; it needs the local Postgres and Redis, like `npm test`), then copies that file over.
// Tests themselves never write tracked files, so `npm test` leaves docs/ alone.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Keep in step with SCREENSHOT_PATH in test/helpers/browser.ts.
const saved = `${root}test-results/screenshot.png`;
const target = `${root}docs/screenshot.png`;

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed; docs/screenshot.png is unchanged`);
    process.exit(result.status ?? 1);
  }
}

rmSync(saved, { force: true });
run('npm', ['run', 'build']);
run(
  process.execPath,
  [
    `${root}node_modules/jest/bin/jest.js`,
    '--runInBand',
    '--selectProjects',
    'e2e',
    '--testPathPatterns',
    'test/dashboard-chat\\.e2e-spec\\.ts$',
    '--testNamePattern',
    'screenshot',
  ],
  { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() },
);
if (!existsSync(saved)) {
  console.error(`the test passed but wrote no ${saved}; docs/screenshot.png is unchanged`);
  process.exit(1);
}
copyFileSync(saved, target);
console.log(`docs/screenshot.png refreshed from ${saved}`);
