import { type DynamicModule, Module, type ModuleMetadata } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { ChatModule } from './chat/chat.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { InboundModule } from './inbound/inbound.module.js';
import { AuthModule } from './platform/auth/auth.module.js';
import { DatabaseModule } from './platform/database/database.module.js';
import { EventsModule } from './platform/events/events.module.js';
import { InstancesModule } from './platform/instances/instances.module.js';
import { loggerParams } from './platform/observability/logger.js';
import { ObservabilityModule } from './platform/observability/observability.module.js';
import { OutboundModule } from './outbound/outbound.module.js';
import { QueueModule } from './platform/queue/queue.module.js';
import { RateLimitModule } from './platform/rate-limit/rate-limit.module.js';
import { RealtimeModule } from './platform/realtime/realtime.module.js';
import { RedisModule } from './platform/redis/redis.module.js';
import { ScoresModule } from './scores/scores.module.js';
import { TickerModule } from './ticker/ticker.module.js';
import { UsersModule } from './users/users.module.js';
import { EntitlementsModule } from './entitlements/entitlements.module.js';

export const FEATURE_MODULES = [
  UsersModule,
  EntitlementsModule,
  TickerModule,
  ScoresModule,
  ChatModule,
  InboundModule,
  OutboundModule,
  DashboardModule,
];

/** The application: platform modules, then the feature modules. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, extra: ModuleMetadata['imports'] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        ObservabilityModule,
        DatabaseModule,
        RedisModule,
        QueueModule,
        EventsModule,
        AuthModule,
        RateLimitModule,
        RealtimeModule,
        InstancesModule,
        ...FEATURE_MODULES,
        ...extra,
      ],
    };
  }
}
