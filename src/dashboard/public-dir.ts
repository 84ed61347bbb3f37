import { fileURLToPath } from 'node:url';

/** The page's files: `public/` at the repository root (two levels up from src/dashboard and dist/dashboard). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/** What `npm run build` (esbuild) writes; the page cannot run without it. */
export const BUNDLE_FILE = 'dist/dashboard.js';
