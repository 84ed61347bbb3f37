import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { RateLimit } from '#src/platform/rate-limit/rate-limit.decorators.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { LiveResponseDto, ReadyResponseDto } from './health-response.dto.js';

@ApiTags('health')
@RateLimit('none')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly redis: RedisService,
  ) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiOkResponse({ type: LiveResponseDto })
  live() {
    return { status: 'ok' };
  }

  /** Postgres and Redis both answer; 503 otherwise. */
  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: Postgres and Redis answer' })
  @ApiOkResponse({ type: ReadyResponseDto })
  @ApiServiceUnavailableResponse({ type: ReadyResponseDto, description: 'names what is down' })
  ready() {
    return this.health.check([
      () => this.db.pingCheck('postgres', { timeout: 1_500 }),
      async () => {
        const indicator = this.indicators.check('redis');
        try {
          await this.redis.ping(1_500);
          // In Sentinel mode, which node is master now (it changes on a failover); on a cluster, each master.
          if (this.redis.mode === 'cluster') {
            return indicator.up({ mode: 'cluster', nodes: await this.redis.clusterNodes(1_500) });
          }
          return this.redis.mode === 'sentinel'
            ? indicator.up({ mode: 'sentinel', master: this.redis.address() })
            : indicator.up({ mode: 'single' });
        } catch (error) {
          const nodes = this.redis.mode === 'cluster' ? await this.redis.clusterNodes(1_500) : undefined;
          return indicator.down({ message: (error as Error).message, ...(nodes ? { nodes } : {}) });
        }
      },
    ]);
  }
}
