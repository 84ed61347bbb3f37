/**
 * Sports scores (e2e, two instances): persisted first through the outbox, published to the strict
 * `scores` feed, never conflated, resumable, ordered, and safe across a Redis outage.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { ScoresService } from '#src/scores/scores.service.js';
import { type RedisProcess, privateRedis } from './helpers/processes.js';
import { type SseClient, type SseFrame, openSse } from './helpers/sse-client.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';

const scoresOf = (frames: SseFrame[]) => frames.filter((f) => f.event === 'score');

function harness(clients: SseClient[]) {
  return {
    sse: async (url: string, headers: Record<string, string> = {}) => {
      const client = await openSse(url, headers);
      clients.push(client);
      return client;
    },
    createMatch: async (app: TestApp, sport = 'football', homeTeam = 'Home FC', awayTeam = 'Away FC') => {
      const res = await api(app.url, 'POST', '/admin/scores/matches', {
        sport,
        homeTeam,
        awayTeam,
        startsAt: new Date(Date.now() + 60_000).toISOString(),
      });
      expect(res.status).toBe(201);
      return res.body.id as string;
    },
    post: (app: TestApp, id: string, body: Record<string, unknown>) =>
      api(app.url, 'POST', `/admin/scores/matches/${id}/events`, body),
  };
}

describe('scores over SSE (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const open: SseClient[] = [];
  const { sse, createMatch, post } = harness(open);

  beforeAll(async () => {
    env = await createTestEnv({ SSE_CONNECTION_BUDGET_BYTES: '4096', SSE_HARD_LIMIT_BYTES: '65536' });
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterEach(() => open.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await env?.cleanup();
  });

  it("kickoff and a goal posted on A reach a subscriber of that match on B as two score events; another match's do not", async () => {
    const m1 = await createMatch(a);
    const m2 = await createMatch(a, 'football', 'Other Home', 'Other Away');
    const client = await sse(`${b.url}/scores/stream?matches=${m1}`);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/text\/event-stream/);
    const [snapshot] = await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    expect(snapshot.data.matches).toEqual([expect.objectContaining({ id: m1, status: 'scheduled', home: 0, away: 0 })]);

    expect((await post(a, m1, { kind: 'kickoff' })).status).toBe(201);
    expect((await post(a, m2, { kind: 'kickoff' })).status).toBe(201);
    const goal = await post(a, m1, { kind: 'score', team: 'home' });
    expect(goal.status).toBe(201);
    expect(goal.body.match).toMatchObject({ id: m1, status: 'live', home: 1, away: 0, seq: 2 });
    expect(goal.body.event).toMatchObject({ seq: 2, kind: 'score', team: 'home', points: 1, home: 1, away: 0 });

    const frames = await client.waitFor((f) => scoresOf(f).length >= 2);
    await sleep(300); // anything else (the other match's kickoff was published before the goal) would be here by now
    const scores = scoresOf(client.frames);
    expect(scores).toHaveLength(2);
    expect(scores.every((f) => typeof f.id === 'string' && f.data.matchId === m1)).toBe(true);
    expect(scores[0].data).toMatchObject({ matchId: m1, home: 0, away: 0, status: 'live', event: { kind: 'kickoff' } });
    expect(scores[1].data).toMatchObject({ matchId: m1, home: 1, away: 0, status: 'live', event: { seq: 2 } });
    expect(Object.keys(scores[1].data).sort()).toEqual(['away', 'event', 'home', 'matchId', 'status']);
    expect(frames.some((f) => f.data?.matchId === m2)).toBe(false);

    // Without ?matches= a subscriber hears of every match.
    const all = await sse(`${a.url}/scores/stream`);
    const [allSnapshot] = await all.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    expect(allSnapshot.data.matches.map((m: any) => m.id)).toEqual(expect.arrayContaining([m1, m2]));
    await post(b, m2, { kind: 'score', team: 'away' });
    await all.waitFor((f) => scoresOf(f).some((x) => x.data.matchId === m2 && x.data.away === 1));
  });

  it('state machine: 409 naming the current status; a score after final → 409 and nothing is published', async () => {
    const id = await createMatch(a, 'basketball', 'Celtics', 'Lakers');
    const early = await post(a, id, { kind: 'score', team: 'home', points: 2 });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    expect(early.body.message).toMatch(/scheduled/);
    expect((await post(a, id, { kind: 'final' })).status).toBe(409);
    expect((await post(a, id, { kind: 'kickoff' })).status).toBe(201);
    const twice = await post(a, id, { kind: 'kickoff' });
    expect(twice.status).toBe(409);
    expect(twice.body.message).toMatch(/live/);
    expect((await post(a, id, { kind: 'score', team: 'away', points: 3 })).status).toBe(201);
    expect((await post(a, id, { kind: 'period' })).status).toBe(201);
    expect((await post(a, id, { kind: 'final' })).status).toBe(201);

    const client = await sse(`${b.url}/scores/stream?matches=${id}`);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    const after = await post(a, id, { kind: 'score', team: 'home', points: 2 });
    expect(after.status).toBe(409);
    expect(after.body.message).toMatch(/finished/);
    expect((await post(a, id, { kind: 'period' })).status).toBe(409);

    // Nothing was stored or published: the timeline ends with final, and a poll from the current
    // cursor and the open stream stay empty.
    const match = await api(a.url, 'GET', `/scores/matches/${id}`);
    expect(match.body).toMatchObject({ status: 'finished', home: 0, away: 3, period: 2, seq: 4 });
    expect(match.body.timeline.map((e: any) => e.kind)).toEqual(['kickoff', 'score', 'period', 'final']);
    const cursor = (await api(a.url, 'GET', `/scores/poll?matches=${id}`)).body.cursor;
    const poll = await api(
      b.url,
      'GET',
      `/scores/poll?matches=${id}&cursor=${encodeURIComponent(cursor)}&timeoutMs=500`,
    );
    // (The final itself may reach the feed after the snapshot: the relay runs after the commit.)
    expect(poll.body.events.filter((e: any) => e.data.event.seq > 4)).toEqual([]);
    expect(scoresOf(client.frames).filter((f) => f.data.event.seq > 4)).toEqual([]);
  });

  it('bad input: 400 / 401 / 404 / 422 with the error envelope, and nothing changes', async () => {
    const football = await createMatch(a);
    const basketball = await createMatch(a, 'basketball', 'Bulls', 'Knicks');
    await post(a, football, { kind: 'kickoff' });
    await post(a, basketball, { kind: 'kickoff' });

    const cases: [string, string, unknown, number, RegExp?][] = [
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'score', team: 'home', points: 2 }, 422, /points/],
      [
        `/admin/scores/matches/${basketball}/events`,
        'POST',
        { kind: 'score', team: 'home', points: 4 },
        422,
        /1, 2, 3/,
      ],
      [`/admin/scores/matches/${basketball}/events`, 'POST', { kind: 'score', team: 'home' }, 422, /points/],
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'score' }, 422, /team/],
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'score', team: 'both' }, 400, /team/],
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'penalty' }, 400, /kind/],
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'period', period: 1 }, 422, /period/],
      [`/admin/scores/matches/${football}/events`, 'POST', { kind: 'score', team: 'home', extra: 1 }, 400],
      ['/admin/scores/matches/not-a-uuid/events', 'POST', { kind: 'kickoff' }, 400],
      ['/admin/scores/matches/00000000-0000-4000-8000-000000000000/events', 'POST', { kind: 'kickoff' }, 404],
      [
        '/admin/scores/matches',
        'POST',
        { sport: 'chess', homeTeam: 'A', awayTeam: 'B', startsAt: '2026-01-01T00:00:00Z' },
        400,
      ],
      ['/admin/scores/matches', 'POST', { sport: 'football', homeTeam: 'A', awayTeam: 'B', startsAt: 'soon' }, 400],
      [
        '/admin/scores/matches',
        'POST',
        { sport: 'football', homeTeam: ' ', awayTeam: 'B', startsAt: '2026-01-01T00:00:00Z' },
        400,
      ],
      [
        '/admin/scores/matches',
        'POST',
        { sport: 'football', homeTeam: 'A', awayTeam: 'a', startsAt: '2026-01-01T00:00:00Z' },
        422,
      ],
      ['/scores/matches/not-a-uuid', 'GET', undefined, 400],
      ['/scores/matches/00000000-0000-4000-8000-000000000000', 'GET', undefined, 404, /not found/],
      ['/scores/matches?status=halftime', 'GET', undefined, 400],
      ['/scores/stream?matches=nope', 'GET', undefined, 400, /nope/],
      ['/scores/stream?matches=00000000-0000-4000-8000-000000000000', 'GET', undefined, 422, /unknown match/],
      ['/scores/poll?matches=nope', 'GET', undefined, 400],
      ['/scores/poll?timeoutMs=999999', 'GET', undefined, 400],
    ];
    for (const [path, method, body, status, message] of cases) {
      const res = await api(a.url, method, path, body);
      expect({ path, body, status: res.status }).toEqual({ path, body, status });
      expect(res.body).toMatchObject({ statusCode: status });
      if (message) expect(res.body.message).toMatch(message);
    }
    const unauthenticated = await fetch(`${a.url}/admin/scores/matches/${football}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'final' }),
    });
    expect(unauthenticated.status).toBe(401);
    for (const id of [football, basketball]) {
      const match = (await api(a.url, 'GET', `/scores/matches/${id}`)).body;
      expect(match).toMatchObject({ status: 'live', home: 0, away: 0, period: 1, seq: 1 });
      expect(match.timeline).toHaveLength(1);
    }
  });

  it('lists matches by status, paginated; a match comes with its timeline', async () => {
    const id = await createMatch(a, 'hockey', 'Bruins', 'Rangers');
    await post(a, id, { kind: 'kickoff' });
    await post(a, id, { kind: 'score', team: 'away' });
    const live = await api(a.url, 'GET', '/scores/matches?status=live&limit=100');
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ page: 1, limit: 100 });
    expect(live.body.items.every((m: any) => m.status === 'live')).toBe(true);
    expect(live.body.items.map((m: any) => m.id)).toContain(id);
    const scheduled = await api(a.url, 'GET', '/scores/matches?status=scheduled&limit=100');
    expect(scheduled.body.items.map((m: any) => m.id)).not.toContain(id);
    const first = await api(a.url, 'GET', '/scores/matches?limit=1&page=1');
    const second = await api(a.url, 'GET', '/scores/matches?limit=1&page=2');
    expect(first.body.items).toHaveLength(1);
    expect(first.body.total).toBeGreaterThanOrEqual(2);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    const one = await api(b.url, 'GET', `/scores/matches/${id}`);
    expect(one.body).toMatchObject({ id, sport: 'hockey', homeTeam: 'Bruins', awayTeam: 'Rangers', away: 1 });
    expect(one.body.timeline.map((e: any) => [e.seq, e.kind])).toEqual([
      [1, 'kickoff'],
      [2, 'score'],
    ]);
  });

  it('order: 100 events posted as fast as possible to one match arrive at every subscriber in timeline order', async () => {
    const id = await createMatch(a, 'basketball', 'Heat', 'Spurs');
    expect((await post(a, id, { kind: 'kickoff' })).status).toBe(201);
    const onA = await sse(`${a.url}/scores/stream?matches=${id}`);
    const onB = await sse(`${b.url}/scores/stream?matches=${id}`);
    // A snapshot carries each match's seq: a client skips feed events at or below it (the kickoff
    // may be committed, so in the snapshot, and published to the feed just after it).
    const snapshotSeq = new Map<SseClient, number>();
    for (const client of [onA, onB]) {
      const frames = await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
      snapshotSeq.set(client, frames.find((f) => f.event === 'snapshot')!.data.matches[0].seq);
    }

    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        post(i % 2 ? a : b, id, { kind: 'score', team: i % 3 ? 'home' : 'away', points: (i % 3) + 1 }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(201));
    const timeline = (await api(a.url, 'GET', `/scores/matches/${id}`)).body.timeline.slice(1);
    expect(timeline.map((e: any) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    for (const client of [onA, onB]) {
      const after = (f: SseFrame[]) => scoresOf(f).filter((x) => x.data.event.seq > snapshotSeq.get(client)!);
      await client.waitFor((f) => after(f).length >= 100, 20_000);
      const got = after(client.frames).map((f) => f.data.event);
      expect(got.map((e) => e.seq)).toEqual(timeline.map((e: any) => e.seq));
      expect(got.map((e) => e.id)).toEqual(timeline.map((e: any) => e.id));
      expect(got.map((e) => [e.home, e.away])).toEqual(timeline.map((e: any) => [e.home, e.away]));
    }
  });

  it('resume: events posted while away arrive after reconnecting to the other instance with Last-Event-ID; long poll too', async () => {
    const id = await createMatch(a);
    const first = await sse(`${a.url}/scores/stream?matches=${id}`);
    await post(a, id, { kind: 'kickoff' });
    const [kickoff] = scoresOf(await first.waitFor((f) => scoresOf(f).length >= 1));
    first.close();
    for (let i = 0; i < 5; i++) expect((await post(b, id, { kind: 'score', team: 'home' })).status).toBe(201);

    const again = await sse(`${b.url}/scores/stream?matches=${id}`, { 'last-event-id': kickoff.id! });
    await again.waitFor((f) => scoresOf(f).length >= 5);
    expect(again.frames.some((f) => f.event === 'snapshot' || f.event === 'reset')).toBe(false);
    expect(scoresOf(again.frames).map((f) => f.data.home)).toEqual([1, 2, 3, 4, 5]);

    // Long poll from the kickoff's cursor: the same five, at once.
    const poll = await api(a.url, 'GET', `/scores/poll?matches=${id}&cursor=${encodeURIComponent(kickoff.id!)}`);
    expect(poll.body.events.map((e: any) => e.data.home)).toEqual([1, 2, 3, 4, 5]);
    // And one that waits for the next event.
    const waiting = api(
      b.url,
      'GET',
      `/scores/poll?matches=${id}&cursor=${encodeURIComponent(poll.body.cursor)}&timeoutMs=10000`,
    );
    await sleep(200);
    await post(a, id, { kind: 'final' });
    const next = await waiting;
    expect(next.body.events).toHaveLength(1);
    expect(next.body.events[0]).toMatchObject({ type: 'score', data: { matchId: id, status: 'finished' } });
  });

  it('strict policy: a client that stops reading is closed past its hard limit and resumes with nothing missing', async () => {
    const id = await createMatch(a);
    const scores = a.app.get(ScoresService);
    const client = await sse(`${b.url}/scores/stream?matches=${id}`);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    client.response.pause();
    const closed = new Promise((resolve) => client.response.once('close', resolve));

    // The feed's own publish (the outbox handler's path), with big frames so that the kernel's socket
    // buffers fill and the server-side buffer passes its 64 KB hard limit.
    const pad = 'x'.repeat(2_000);
    const total = 10_000;
    for (let n = 0; n < total; n += 100) {
      await scores.feed.publish(
        Array.from({ length: 100 }, (_, i) => ({ type: 'score', topic: id, data: { matchId: id, n: n + i, pad } })),
      );
    }
    const realtime = b.app.get(RealtimeService);
    await waitFor(() => realtime.connectionStats().count === 0, 60_000);
    // Never conflated: everything it had buffered is still delivered, in order, before the close.
    client.response.resume();
    await closed;
    const seen = scoresOf(client.frames).map((f) => f.data.n as number);
    expect(seen.length).toBeLessThan(total);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));

    // The client resumes from the last frame it processed (frames still in flight when the server
    // closed are lost to it, which is what resuming is for).
    const lastId = client.frames.filter((f) => f.id).at(-1)!.id!;
    const resumed = await sse(`${a.url}/scores/stream?matches=${id}`, { 'last-event-id': lastId });
    await resumed.waitFor((f) => scoresOf(f).length >= total - seen.length, 90_000);
    expect(scoresOf(resumed.frames).map((f) => f.data.n)).toEqual(
      Array.from({ length: total - seen.length }, (_, i) => seen.length + i),
    );
    const metrics = await fetch(`${b.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/sse_slow_consumer_closes_total\{feed="scores"\} [1-9]/);
    expect(metrics).not.toMatch(/sse_frames_conflated_total\{feed="scores"\} [1-9]/);
  }, 180_000);
});

describe('scores through a Redis outage (e2e)', () => {
  let redis: RedisProcess;
  let env: TestEnv;
  let t: TestApp;
  const open: SseClient[] = [];
  const { sse, createMatch, post } = harness(open);

  beforeAll(async () => {
    redis = await privateRedis();
    env = await createTestEnv({ REDIS_URL: redis.url, OUTBOX_POLL_INTERVAL_MS: '200' });
    t = await startTestApp(env);
  });
  afterAll(async () => {
    open.splice(0).forEach((client) => client.close());
    if (redis && !redis.running) await redis.start();
    await t?.close();
    await redis?.stop();
    await env?.cleanup();
  });

  it('Redis stopped, an event posted (201), Redis started → the subscriber receives it; it was in Postgres all along', async () => {
    const id = await createMatch(t);
    const client = await sse(`${t.url}/scores/stream?matches=${id}`);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await post(t, id, { kind: 'kickoff' });
    const [kickoff] = scoresOf(await client.waitFor((f) => scoresOf(f).length >= 1));
    const ended = new Promise((resolve) => client.response.once('close', resolve));

    await redis.stop();
    const goal = await post(t, id, { kind: 'score', team: 'away' });
    expect(goal.status).toBe(201);
    const dataSource = t.app.get<DataSource>(getDataSourceToken());
    const [row] = await dataSource.query('SELECT seq, away_score FROM match_events WHERE match_id = $1 AND seq = 2', [
      id,
    ]);
    expect(row).toEqual({ seq: 2, away_score: 1 });
    const [outbox] = await dataSource.query(
      `SELECT processed_at FROM outbox_events WHERE type = 'score.updated' AND data->>'matchId' = $1`,
      [id],
    );
    expect(outbox.processed_at).toBeNull();
    await sleep(500);
    expect(scoresOf(client.frames)).toHaveLength(1);

    await redis.start();
    // Either the open stream hears it live, or (the subscriber having missed it while down) the
    // server ends the stream and the client resumes: Redis lost its log, so it gets `reset` and a
    // snapshot from Postgres that has the goal, then live.
    const live = await Promise.race([
      client.waitFor((f) => scoresOf(f).length >= 2, 20_000).then(() => true),
      ended.then(() => false),
    ]);
    if (live) {
      expect(scoresOf(client.frames)[1].data).toMatchObject({ matchId: id, away: 1, event: { seq: 2 } });
    } else {
      const resumed = await sse(`${t.url}/scores/stream?matches=${id}`, { 'last-event-id': kickoff.id! });
      const frames = await resumed.waitFor((f) => f.some((x) => x.event === 'snapshot'));
      expect(frames[0].event).toBe('reset');
      const snapshot = frames.find((f) => f.event === 'snapshot')!;
      expect(snapshot.data.matches[0]).toMatchObject({ id, away: 1, seq: 2 });
    }
    await waitFor(async () => {
      const [after] = await dataSource.query(
        `SELECT processed_at FROM outbox_events WHERE type = 'score.updated' AND data->>'matchId' = $1`,
        [id],
      );
      return after.processed_at !== null;
    }, 20_000);
    // And what follows is live again, in order.
    const next = await sse(`${t.url}/scores/stream?matches=${id}`);
    await next.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await post(t, id, { kind: 'final' });
    await next.waitFor((f) => scoresOf(f).some((x) => x.data.status === 'finished'), 15_000);
  });
});

describe('demo scores (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  const open: SseClient[] = [];
  const { sse } = harness(open);

  beforeAll(async () => {
    env = await createTestEnv({ DEMO_MODE: 'true', DEMO_SCORE_STEP_MS: '100', DEMO_TICK_RATE: '10' });
    t = await startTestApp(env);
  });
  afterAll(async () => {
    open.splice(0).forEach((client) => client.close());
    await t?.close();
    await env?.cleanup();
  });

  it('schedules matches that kick off and score on their own, through the same path as the admin API', async () => {
    const client = await sse(`${t.url}/scores/stream`);
    await waitFor(async () => (await api(t.url, 'GET', '/scores/matches?status=scheduled')).body.total >= 1, 10_000);
    // A demo match starts 5–30 s after it is scheduled, then scores every few steps.
    await client.waitFor((f) => scoresOf(f).some((x) => x.data.event.kind === 'score'), 45_000);
    const kinds = new Set(scoresOf(client.frames).map((f) => f.data.event.kind));
    expect(kinds.has('kickoff')).toBe(true);
    const live = await api(t.url, 'GET', '/scores/matches?status=live');
    const match = await api(t.url, 'GET', `/scores/matches/${live.body.items[0].id}`);
    expect(match.body.timeline[0].kind).toBe('kickoff');
  }, 60_000);
});
