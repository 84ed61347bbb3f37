import { fileURLToPath } from 'node:url';

/** The page's files: `public/` at the repository root (two levels up from src/dashboard and dist/dashboard). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/** What `npm run build` (esbuild) writes; the pages cannot run without them. */
export const BUNDLE_FILE = 'dist/dashboard.js';
export const CONSOLE_BUNDLE_FILE = 'dist/console.js';
