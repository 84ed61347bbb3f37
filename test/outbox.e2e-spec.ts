import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { DomainEvent } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { type TestApp, type TestEnv, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';

interface Seen {
  instance: string;
  handler: string;
  id: string;
  seq: number;
}
const seen: Seen[] = [];
/** Events the flaky handler should fail on, with how many failures are left. */
const failuresLeft = new Map<number, number>();

@Injectable()
class RecordingHandlers implements OnModuleInit {
  constructor(private readonly relay: OutboxRelay) {}

  onModuleInit() {
    const instance = Math.random().toString(36).slice(2);
    const record = (handler: string) => async (event: DomainEvent) => {
      seen.push({ instance, handler, id: event.id, seq: Number(event.data.seq) });
    };
    this.relay.register('test-typed', ['test.happened'], record('test-typed'));
    this.relay.register('test-all', '*', record('test-all'));
    this.relay.register('test-flaky', ['test.flaky'], async (event) => {
      const seq = Number(event.data.seq);
      const left = failuresLeft.get(seq) ?? 0;
      if (left > 0) {
        failuresLeft.set(seq, left - 1);
        throw new Error(`flaky failure on ${seq}`);
      }
      await record('test-flaky')(event);
    });
  }
}

@Module({ providers: [RecordingHandlers] })
class RecordingModule {}

describe('transactional outbox (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({ OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_BATCH_SIZE: '7' });
    a = await startTestApp(env, { imports: [RecordingModule] });
    b = await startTestApp(env, { imports: [RecordingModule] });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await env?.cleanup();
  });

  const record = (app: TestApp, type: string, seq: number, rollback = false) =>
    app.app
      .get<DataSource>(getDataSourceToken())
      .transaction(async (manager) => {
        await app.app.get(OutboxService).record(manager, { type, data: { seq } });
        if (rollback) throw new Error('rolled back on purpose');
      })
      .catch((error: Error) => {
        if (!rollback) throw error;
      });

  it('delivers committed events once per handler across two instances, and never a rolled-back one', async () => {
    seen.length = 0;
    const writes: Promise<unknown>[] = [];
    for (let seq = 1; seq <= 60; seq++) {
      const app = seq % 2 ? a : b;
      writes.push(record(app, 'test.happened', seq, seq % 5 === 0));
    }
    await Promise.all(writes);
    const committed = [...Array(60).keys()].map((i) => i + 1).filter((seq) => seq % 5 !== 0);

    await waitFor(() => seen.filter((s) => s.handler === 'test-all').length >= committed.length, 15_000);
    await sleep(1_000); // give a duplicate or a rolled-back event time to show up
    for (const handler of ['test-typed', 'test-all']) {
      const seqs = seen.filter((s) => s.handler === handler).map((s) => s.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(committed);
    }
    const rows = await query<{ pending: string }>(
      env.databaseUrl,
      'SELECT count(*) AS pending FROM outbox_events WHERE processed_at IS NULL',
    );
    expect(Number(rows[0].pending)).toBe(0);
  });

  it('an event type a handler did not ask for does not reach it', async () => {
    seen.length = 0;
    await record(a, 'test.other', 1);
    await waitFor(() => seen.some((s) => s.handler === 'test-all' && s.seq === 1), 10_000);
    await sleep(300);
    expect(seen.filter((s) => s.handler === 'test-typed')).toEqual([]);
  });

  it('a failing handler is retried and its later events wait, so each handler sees event order', async () => {
    seen.length = 0;
    failuresLeft.set(3, 2);
    for (let seq = 1; seq <= 6; seq++) await record(seq % 2 ? a : b, 'test.flaky', seq);
    await waitFor(() => seen.filter((s) => s.handler === 'test-flaky').length === 6, 15_000);
    expect(seen.filter((s) => s.handler === 'test-flaky').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // the other handler was not held back by the flaky one, nor run twice
    expect(seen.filter((s) => s.handler === 'test-all').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const [row] = await query<{ attempts: number; last_error: string }>(
      env.databaseUrl,
      `SELECT attempts, last_error FROM outbox_events WHERE type = 'test.flaky' AND (data->>'seq')::int = 3`,
    );
    expect(row.attempts).toBe(2);
    expect(row.last_error).toMatch(/flaky failure on 3/);
  });

  it('refuses to record outside a transaction', async () => {
    const dataSource = a.app.get<DataSource>(getDataSourceToken());
    await expect(
      a.app.get(OutboxService).record(dataSource.manager, { type: 'test.happened', data: {} }),
    ).rejects.toThrow(/inside a transaction/);
  });
});
