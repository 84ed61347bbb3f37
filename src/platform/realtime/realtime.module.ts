import { Global, Module } from '@nestjs/common';
import { RealtimeService } from './realtime.service.js';

/** Feed logs on Redis Streams, SSE, long polls, resume and backpressure, for every feed. */
@Global()
@Module({ providers: [RealtimeService], exports: [RealtimeService] })
export class RealtimeModule {}
