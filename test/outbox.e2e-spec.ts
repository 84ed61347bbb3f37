/**
 * The transactional outbox and its relay (two instances): once per handler, never a rolled-back
 * event, event order per handler and partition key, different keys in parallel (a slow or failing
 * key holds only itself), a relay that died between claim and record (its lease runs out and the
 * key is handled, from its first unrecorded event), and no transaction held while handlers run (a
 * TRUNCATE of a handler's table goes through; no app transaction lasts a second under score load).
 */
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { type DomainEvent, partitionOf } from '#src/platform/events/domain-event.js';
import { OutboxRelay } from '#src/platform/events/outbox.relay.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';

interface Seen {
  instance: string;
  handler: string;
  id: string;
  key: string;
  seq: number;
  at: number;
}
const seen: Seen[] = [];
/** Events the flaky handler should fail on (by key and seq), with how many failures are left. */
const failuresLeft = new Map<string, number>();
/** Keys the gated handler holds until the test opens them. */
const gates = new Map<string, { opened: Promise<void>; open: () => void }>();
/** Batch sizes the recording handler was called with. */
const batchSizes: number[] = [];
let databaseUrl = '';

function gate(key: string) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  gates.set(key, { opened, open });
  return open;
}

@Injectable()
class RecordingHandlers implements OnModuleInit {
  constructor(private readonly relay: OutboxRelay) {}

  onModuleInit() {
    const instance = Math.random().toString(36).slice(2);
    const note = (handler: string, event: DomainEvent) =>
      seen.push({ instance, handler, id: event.id, key: event.key, seq: Number(event.data.seq), at: Date.now() });
    const record = (handler: string) => async (events: DomainEvent[]) => {
      batchSizes.push(events.length);
      for (const event of events) note(handler, event);
    };
    this.relay.register('test-typed', ['test.happened'], record('test-typed'));
    this.relay.register('test-all', '*', record('test-all'));
    this.relay.register('test-flaky', ['test.flaky'], async (events) => {
      // Fails any call holding an event due to fail (the relay narrows it down to that event by
      // itself); a failure is used up when the event is called alone, once per relay attempt.
      for (const event of events) {
        const id = `${event.key}/${Number(event.data.seq)}`;
        const left = failuresLeft.get(id) ?? 0;
        if (left > 0) {
          if (events.length === 1) failuresLeft.set(id, left - 1);
          throw new Error(`flaky failure on ${id}`);
        }
      }
      for (const event of events) note('test-flaky', event);
    });
    this.relay.register('test-gated', ['test.gated'], async (events) => {
      for (const event of events) {
        // A row in a table of its own, then the wait: the relay must not hold a transaction meanwhile.
        await query(databaseUrl, 'INSERT INTO relay_probe (seq) VALUES ($1)', [Number(event.data.seq)]);
        await gates.get(event.key)?.opened;
        note('test-gated', event);
      }
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
    env = await createTestEnv({ OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_BATCH_SIZE: '7', OUTBOX_LEASE_MS: '2000' });
    databaseUrl = env.databaseUrl;
    await query(env.databaseUrl, 'CREATE TABLE relay_probe (seq int NOT NULL)');
    a = await startTestApp(env, { imports: [RecordingModule] });
    b = await startTestApp(env, { imports: [RecordingModule] });
  });
  afterAll(async () => {
    for (const { open } of gates.values()) open();
    await a?.close();
    await b?.close();
    await env?.cleanup();
  });

  const record = (app: TestApp, type: string, seq: number, options: { rollback?: boolean; key?: string } = {}) =>
    app.app
      .get<DataSource>(getDataSourceToken())
      .transaction(async (manager) => {
        await app.app.get(OutboxService).record(manager, { type, data: { seq }, key: options.key });
        if (options.rollback) throw new Error('rolled back on purpose');
      })
      .catch((error: Error) => {
        if (!options.rollback) throw error;
      });
  const of = (handler: string, key?: string) =>
    seen.filter((s) => s.handler === handler && (key === undefined || s.key === key));

  it('delivers committed events once per handler across two instances, and never a rolled-back one', async () => {
    seen.length = 0;
    const writes: Promise<unknown>[] = [];
    for (let seq = 1; seq <= 60; seq++) {
      const app = seq % 2 ? a : b;
      writes.push(record(app, 'test.happened', seq, { rollback: seq % 5 === 0 }));
    }
    await Promise.all(writes);
    const committed = [...Array(60).keys()].map((i) => i + 1).filter((seq) => seq % 5 !== 0);

    await waitFor(() => of('test-all').length >= committed.length, 15_000);
    await sleep(1_000); // give a duplicate or a rolled-back event time to show up
    for (const handler of ['test-typed', 'test-all']) {
      const seqs = of(handler).map((s) => s.seq);
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
    expect(of('test-typed')).toEqual([]);
  });

  it('keeps each key in order across two instances, in batches', async () => {
    seen.length = 0;
    batchSizes.length = 0;
    // Four keys, written one after the other per key (as a writer serializing per key does), interleaved.
    const keys = ['k1', 'k2', 'k3', 'k4'];
    expect(new Set(keys.map(partitionOf)).size).toBe(4);
    await Promise.all(
      keys.map(async (key, k) => {
        for (let seq = 1; seq <= 20; seq++) await record((seq + k) % 2 ? a : b, 'test.happened', seq, { key });
      }),
    );
    await waitFor(() => of('test-typed').length === 80, 15_000);
    for (const key of keys) {
      expect(of('test-typed', key).map((s) => s.seq)).toEqual([...Array(20).keys()].map((i) => i + 1));
      expect(of('test-all', key).map((s) => s.seq)).toEqual([...Array(20).keys()].map((i) => i + 1));
    }
    expect(Math.max(...batchSizes)).toBeGreaterThan(1); // handlers are handed batches
    expect(new Set(of('test-typed').map((s) => s.instance)).size).toBe(2); // both instances took keys
  });

  it('a failing handler is retried and blocks only its own key: its later events wait, other keys go on', async () => {
    seen.length = 0;
    failuresLeft.set('red/3', 3);
    for (let seq = 1; seq <= 6; seq++) {
      await record(seq % 2 ? a : b, 'test.flaky', seq, { key: 'red' });
      await record(seq % 2 ? b : a, 'test.flaky', seq, { key: 'green' });
    }
    await waitFor(() => of('test-flaky', 'red').length === 6, 15_000);
    expect(of('test-flaky', 'red').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(of('test-flaky', 'green').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // Green was done before red's third event got through (it waited out three backoffs).
    const red3 = of('test-flaky', 'red').find((s) => s.seq === 3)!.at;
    expect(Math.max(...of('test-flaky', 'green').map((s) => s.at))).toBeLessThan(red3);
    // The other handler was not held back on red's later events, nor run twice.
    expect(of('test-all', 'red').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const [row] = await query<{ attempts: number; last_error: string }>(
      env.databaseUrl,
      `SELECT attempts, last_error FROM outbox_events WHERE partition_key = 'red' AND (data->>'seq')::int = 3`,
    );
    expect(row.attempts).toBe(3);
    expect(row.last_error).toMatch(/test-flaky: flaky failure on red\/3/);
  });

  it('a failing key backs off alone: another key of its partition goes on meanwhile, then both are in order', async () => {
    seen.length = 0;
    const failing = 'amber';
    const neighbour = Array.from({ length: 10_000 }, (_, i) => `n${i}`).find(
      (key) => partitionOf(key) === partitionOf(failing),
    )!;
    // Six failures: backoffs of 100 ms doubling to 3.2 s. The neighbour comes after the fifth, when the
    // failing key waits 1.6 s, and must not wait with it.
    failuresLeft.set(`${failing}/1`, 6);
    await record(a, 'test.flaky', 1, { key: failing });
    await waitFor(async () => {
      const [row] = await query<{ attempts: number }>(
        env.databaseUrl,
        `SELECT attempts FROM outbox_events WHERE partition_key = $1`,
        [failing],
      );
      return row?.attempts >= 5;
    }, 10_000);
    const posted = Date.now();
    for (let seq = 1; seq <= 3; seq++) await record(seq % 2 ? b : a, 'test.flaky', seq, { key: neighbour });
    await record(b, 'test.flaky', 2, { key: failing });
    await waitFor(() => of('test-flaky', neighbour).length === 3, 10_000);
    const neighbourDone = Math.max(...of('test-flaky', neighbour).map((s) => s.at));
    // The neighbour did not wait out the failing key's backoffs (a partition-wide backoff would have held it).
    expect(of('test-flaky', failing)).toEqual([]);
    expect(neighbourDone - posted).toBeLessThan(1_000);
    await waitFor(() => of('test-flaky', failing).length === 2, 15_000);
    expect(of('test-flaky', failing).map((s) => s.seq)).toEqual([1, 2]);
    expect(of('test-flaky', neighbour).map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(Math.min(...of('test-flaky', failing).map((s) => s.at))).toBeGreaterThan(neighbourDone);
    // Through again, the key has left the backoff table.
    await waitFor(async () => {
      const rows = await query(env.databaseUrl, 'SELECT 1 FROM outbox_backoffs WHERE partition_key = $1', [failing]);
      return rows.length === 0;
    });
  });

  it('a slow key holds no transaction and no other partition: a TRUNCATE of its table goes through meanwhile', async () => {
    seen.length = 0;
    expect(partitionOf('slow')).not.toBe(partitionOf('quick'));
    const open = gate('slow');
    await record(a, 'test.gated', 1, { key: 'slow' });
    await record(a, 'test.gated', 2, { key: 'slow' });
    await waitFor(
      async () => (await query<{ c: number }>(env.databaseUrl, 'SELECT count(*)::int AS c FROM relay_probe'))[0].c > 0,
      10_000,
    );
    // The handler is waiting: other keys are handled meanwhile, by both instances' other lanes.
    for (let seq = 1; seq <= 3; seq++) await record(b, 'test.gated', seq, { key: 'quick' });
    await waitFor(() => of('test-gated', 'quick').length === 3, 10_000);
    expect(of('test-gated', 'slow')).toEqual([]);
    const open_ = await query<{ age: number }>(
      env.databaseUrl,
      `SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float AS age FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
    );
    expect(open_[0].age).toBeLessThan(1);
    // Exclusive locks on the handler's table and on the outbox's own: nothing of the relay's holds them.
    await query(env.databaseUrl, `SET lock_timeout = '2s'; TRUNCATE relay_probe`);
    await query(
      env.databaseUrl,
      `SET lock_timeout = '2s'; BEGIN; LOCK TABLE outbox_events, outbox_handled IN ACCESS EXCLUSIVE MODE; ROLLBACK`,
    );
    open();
    await waitFor(() => of('test-gated', 'slow').length === 2, 10_000);
    expect(of('test-gated', 'slow').map((s) => s.seq)).toEqual([1, 2]);
  });

  it('a relay that claimed a partition and died: its lease runs out, then the key is handled from its first event', async () => {
    seen.length = 0;
    // What a relay that crashed between claim and record leaves: a lease on the key, nothing recorded.
    await query(
      env.databaseUrl,
      `INSERT INTO outbox_leases (partition, owner, until) VALUES ($1, 'dead-relay', now() + interval '1.5 seconds')
       ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, until = excluded.until`,
      [partitionOf('orphan')],
    );
    const written = Date.now();
    for (let seq = 1; seq <= 3; seq++) await record(a, 'test.happened', seq, { key: 'orphan' });
    await waitFor(() => of('test-typed', 'orphan').length === 3, 10_000);
    expect(Math.min(...of('test-typed', 'orphan').map((s) => s.at)) - written).toBeGreaterThan(1_000);
    expect(of('test-typed', 'orphan').map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(of('test-all', 'orphan').map((s) => s.seq)).toEqual([1, 2, 3]);
    await sleep(500);
    // Handled and recorded: the partition's lease has ended (its row stays, run out).
    const leases = await query(env.databaseUrl, 'SELECT * FROM outbox_leases WHERE partition = $1 AND until > now()', [
      partitionOf('orphan'),
    ]);
    expect(leases).toEqual([]);
  });

  it('under a steady score-posting load no app transaction stays open for a second', async () => {
    const match = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'basketball',
      homeTeam: 'Load',
      awayTeam: 'Test',
      startsAt: new Date().toISOString(),
    });
    const id = match.body.id as string;
    expect((await api(a.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' })).status).toBe(201);
    let posting = true;
    let posted = 0;
    const poster = (async () => {
      while (posting) {
        const app = posted % 2 ? a : b;
        const res = await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, {
          kind: 'score',
          team: 'home',
          points: 2,
        });
        expect(res.status).toBe(201);
        posted++;
      }
    })();
    let oldest = 0;
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const [row] = await query<{ age: number }>(
        env.databaseUrl,
        `SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float AS age FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
      );
      oldest = Math.max(oldest, row.age);
      await sleep(50);
    }
    posting = false;
    await poster;
    expect(posted).toBeGreaterThan(20);
    expect(oldest).toBeLessThan(1);
    // Every posted event reached the outbox's handlers and left it.
    await waitFor(
      async () =>
        (
          await query<{ c: number }>(
            env.databaseUrl,
            `SELECT count(*)::int AS c FROM outbox_events WHERE processed_at IS NULL AND partition_key = $1`,
            [`match:${id}`],
          )
        )[0].c === 0,
      10_000,
    );
  });

  it('refuses to record outside a transaction', async () => {
    const dataSource = a.app.get<DataSource>(getDataSourceToken());
    await expect(
      a.app.get(OutboxService).record(dataSource.manager, { type: 'test.happened', data: {} }),
    ).rejects.toThrow(/inside a transaction/);
  });
});
