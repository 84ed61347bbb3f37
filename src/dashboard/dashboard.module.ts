import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller.js';

/**
 * The dashboard: a static page (public/index.html plus the bundle esbuild builds from web/) that uses
 * only the public API: the ticker and scores feeds over SSE (long poll as fallback) and the chat socket.
 */
@Module({ controllers: [DashboardController] })
export class DashboardModule {}
