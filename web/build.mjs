// Bundles the dashboard (web/main.ts and socket.io-client from npm) into public/dist/ with esbuild.
// `npm run build` runs it; the browser tests run it too when the bundle is missing or older than web/.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ['web/main.ts'],
  outfile: 'public/dist/dashboard.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
