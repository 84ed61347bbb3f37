// Bundles the dashboard (web/main.ts and socket.io-client from npm) and the operator console
// (web/console/main.ts) into public/dist/ with esbuild: dashboard.js and console.js.
// `npm run build` runs it; the browser tests run it too when the bundle is missing or older than web/.
// With --watch (`npm run start:dev`) it rebuilds on every change until stopped.
import { build, context } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const options = {
  absWorkingDir: root,
  entryPoints: { dashboard: 'web/main.ts', console: 'web/console/main.ts' },
  outdir: 'public/dist',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
};

if (process.argv.includes('--watch')) {
  const watching = await context({ ...options, logLevel: 'info' });
  await watching.watch();
} else {
  await build(options);
}
