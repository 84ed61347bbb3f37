/**
 * Redis goes away and comes back: readiness follows it, and the outbox, the queue and pub/sub
 * subscribers resume without a restart. Uses a redis-server of its own on another port.
 */
import { InjectQueue } from '@nestjs/bullmq';
import { BullModule } from '@nestjs/bullmq';
import {
  type BeforeApplicationShutdown,
  Injectable,
  Module,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { Job, Queue, Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { QueueWorkers } from '#src/platform/queue/workers.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { type RedisProcess, privateRedis } from './helpers/processes.js';
import { type TestApp, type TestEnv, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

const processed: string[] = [];
const published: number[] = [];
const messages: string[] = [];

/** A worker the way the app runs its own (QueueWorkers). */
@Injectable()
class TestJobsProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker?: Worker;

  constructor(
    @InjectQueue('test-jobs') private readonly queue: Queue,
    private readonly workers: QueueWorkers,
  ) {}

  onApplicationBootstrap() {
    this.worker = this.workers.start(
      this.queue,
      async (job: Job<{ n: string }>) => {
        processed.push(job.data.n);
      },
      { concurrency: 1 },
    );
  }

  async beforeApplicationShutdown() {
    await this.workers.close(this.worker);
  }
}

@Injectable()
class RedisPublishingHandler implements OnModuleInit {
  constructor(
    private readonly relay: OutboxRelay,
    private readonly redis: RedisService,
    @InjectQueue('test-jobs') readonly queue: Queue,
  ) {}

  async onModuleInit() {
    // Like the scores feed: an outbox handler that needs Redis to succeed.
    this.relay.register('test-redis', ['test.publish'], async (events) => {
      for (const event of events) {
        await this.redis.publisher.xadd(this.redis.key('test-log'), '*', 'seq', String(event.data.seq));
        published.push(Number(event.data.seq));
      }
    });
    await this.redis.subscriber.subscribe(this.redis.key('test-channel'));
    this.redis.subscriber.on('message', (_channel: string, message: string) => messages.push(message));
  }
}

@Module({
  imports: [BullModule.registerQueue({ name: 'test-jobs' })],
  providers: [TestJobsProcessor, RedisPublishingHandler],
})
class FixtureModule {}

describe('Redis outage (e2e)', () => {
  let redis: RedisProcess;
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    redis = await privateRedis();
    env = await createTestEnv({ REDIS_URL: redis.url, OUTBOX_POLL_INTERVAL_MS: '200' });
    t = await startTestApp(env, { imports: [FixtureModule] });
  });
  afterAll(async () => {
    if (redis && !redis.running) await redis.start();
    await t?.close();
    await redis?.stop();
    await env?.cleanup();
  });

  const ready = () => fetch(`${t.url}/health/ready`).then((r) => r.status);

  it('readiness goes 503 within 5 s of Redis stopping and 200 again when it is back, and everything resumes', async () => {
    expect(await ready()).toBe(200);
    const queue = t.app.get(RedisPublishingHandler).queue;
    await queue.add('n', { n: 'before' });
    await waitFor(() => processed.includes('before'));

    await redis.stop();
    const stoppedAt = Date.now();
    await waitFor(async () => (await ready()) === 503, 5_000, 100);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    const body = (await fetch(`${t.url}/health/ready`).then((r) => r.json())) as any;
    expect(body.details.redis.status).toBe('down');
    expect(body.details.postgres.status).toBe('up');

    // A business fact recorded while Redis is down is safe in Postgres and is handed on later.
    const dataSource = t.app.get<DataSource>(getDataSourceToken());
    await dataSource.transaction((m) => t.app.get(OutboxService).record(m, { type: 'test.publish', data: { seq: 1 } }));
    expect(published).toEqual([]);
    expect(await fetch(`${t.url}/health/live`).then((r) => r.status)).toBe(200);

    await redis.start();
    await waitFor(async () => (await ready()) === 200, 15_000, 100);
    await waitFor(() => published.includes(1), 15_000);

    // Queue: a job added after the outage is processed by the same worker.
    await queue.add('n', { n: 'after' });
    await waitFor(() => processed.includes('after'), 15_000);

    // Pub/sub: the subscriber re-subscribed on its own.
    const redisService = t.app.get(RedisService);
    await waitFor(
      async () => {
        await redisService.publisher.publish(redisService.key('test-channel'), 'hello again');
        return messages.includes('hello again');
      },
      10_000,
      200,
    );
  });
});
