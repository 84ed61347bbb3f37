import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { sendBuiltPage } from './built-page.js';
import { CONSOLE_BUNDLE_FILE } from './public-dir.js';

/**
 * `GET /console`: the operator console. The page itself is public; everything it shows comes from
 * the admin API with the key the operator signs in with (kept in the tab's sessionStorage).
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  @Get()
  @Header('cache-control', 'no-cache')
  index(@Res() reply: FastifyReply) {
    return sendBuiltPage(reply, 'console.html', CONSOLE_BUNDLE_FILE, 'The console');
  }
}
