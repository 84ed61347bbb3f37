import { Global, Module } from '@nestjs/common';
import { RedisService } from './redis.service.js';

/** Shared Redis connections for every module. */
@Global()
@Module({ providers: [RedisService], exports: [RedisService] })
export class RedisModule {}
