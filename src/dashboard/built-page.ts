import type { FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PUBLIC_DIR } from './public-dir.js';

/**
 * Sends one of the app's pages (`public/<page>`), or a 503 naming the fix when the bundle it loads
 * (`public/<bundle>`, built by esbuild) is missing: the page would otherwise sit on "Loading…" forever.
 */
export async function sendBuiltPage(reply: FastifyReply, page: string, bundle: string, what: string) {
  const html = await readFile(join(PUBLIC_DIR, page), 'utf8');
  if (!existsSync(join(PUBLIC_DIR, bundle))) {
    return reply.status(503).type('text/plain; charset=utf-8').send(`${what} is not built: run \`npm run build\`.`);
  }
  return reply.type('text/html; charset=utf-8').send(html);
}
