import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { PUBLIC_DIR } from './public-dir.js';

/**
 * Serves `public/` under `/assets/` (the page's script, source map and styles). Not at `/`, so an
 * unknown route stays the API's JSON 404. File names are not content-hashed: `no-cache` makes the
 * browser revalidate (ETag) instead of running an old bundle after a deploy.
 */
export async function serveDashboardAssets(app: NestFastifyApplication): Promise<void> {
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    dotfiles: 'deny',
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
  });
}
