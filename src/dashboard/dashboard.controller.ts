import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUNDLE_FILE, PUBLIC_DIR } from './public-dir.js';

/** `GET /`: the dashboard page. Its script and styles are static files under `/assets/` (see dashboard.static.ts). */
@ApiExcludeController()
@Controller()
export class DashboardController {
  @Get()
  @Header('cache-control', 'no-cache')
  async index(@Res() reply: FastifyReply) {
    const html = await readFile(join(PUBLIC_DIR, 'index.html'), 'utf8');
    if (!existsSync(join(PUBLIC_DIR, BUNDLE_FILE))) {
      // The page would sit on "Loading…" forever: say why, on the page and in the status code.
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build`.');
    }
    return reply.type('text/html; charset=utf-8').send(html);
  }
}
