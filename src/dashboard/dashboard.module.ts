import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller.js';
import { DashboardController } from './dashboard.controller.js';

/**
 * The app's pages: static HTML in public/ plus bundles esbuild builds from web/. The dashboard (`/`)
 * uses only the public API: the ticker and scores feeds over SSE (long poll as fallback) and the chat
 * socket. The operator console (`/console`) uses only the admin API.
 */
@Module({ controllers: [DashboardController, ConsoleController] })
export class DashboardModule {}
