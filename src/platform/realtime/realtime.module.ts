import { Global, Module } from '@nestjs/common';
import { AdminFeedsController } from './admin-feeds.controller.js';
import { RealtimeService } from './realtime.service.js';

/** Feed logs on Redis Streams, SSE, long polls, resume and backpressure, for every feed. */
@Global()
@Module({ controllers: [AdminFeedsController], providers: [RealtimeService], exports: [RealtimeService] })
export class RealtimeModule {}
