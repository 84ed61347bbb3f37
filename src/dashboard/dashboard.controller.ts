import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { sendBuiltPage } from './built-page.js';
import { BUNDLE_FILE } from './public-dir.js';

/** `GET /`: the dashboard page. Its script and styles are static files under `/assets/` (see dashboard.static.ts). */
@ApiExcludeController()
@Controller()
export class DashboardController {
  @Get()
  @Header('cache-control', 'no-cache')
  index(@Res() reply: FastifyReply) {
    return sendBuiltPage(reply, 'index.html', BUNDLE_FILE, 'The dashboard');
  }
}
