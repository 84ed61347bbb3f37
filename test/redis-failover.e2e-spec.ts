/**
 * Redis failover under load (issue 16, "Done when": failover). Two app instances on a master +
 * replica + three sentinels of the test's own. While chat messages go from a user on A to a user
 * on B, score events are posted on A (an SSE subscriber of the match on B, outbound webhooks to a
 * local receiver) and ticks are posted on A (an SSE subscriber on B), the master is killed with
 * kill -9. The scenario runs once (in `beforeAll`); each `it` then checks one promise of the issue:
 * both instances ready again on the promoted replica within 30 s without a restart, readiness
 * showing the outage; every acknowledged chat message at B once, in seq order (also one sent during
 * the outage with nothing after it); every acknowledged score event at the scores client once, in
 * order, or covered by a `reset` + snapshot; the ticker client resumed with no silent gap; every
 * accepted outbound delivery at the receiver once per webhook-id. Each `it` prints what it saw.
 */
import { Redis } from 'ioredis';
import { query } from './helpers/databases.js';
import { type RedisSentinelSet, redisSentinel } from './helpers/redis-sentinel.js';
import { type ResumingFrame, ResumingSse } from './helpers/resuming-sse.js';
import {
  type ChatClient,
  type WireMessage,
  bearer,
  clientMsgId,
  connectChat,
  createUser,
} from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

/** How long both instances may take to serve again after the kill (the bound). */
const RECOVERY_MS = 30_000;
/** How long after the recovery what was acknowledged may take to arrive. */
const SETTLE_MS = 15_000;
const HOOKS = '/hooks';

type Phase = 'before' | 'outage' | 'after';

interface Readiness {
  at: number;
  status: number;
  master?: string;
}

/**
 * A user's chat socket that is reopened if it closes (as a real client's reconnection would), with
 * every `message:new` of every socket in one list. Counts the reopens, so a check can say.
 */
class LiveChat {
  readonly received: WireMessage[] = [];
  reopened = 0;
  private client?: ChatClient;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async open(): Promise<this> {
    this.client = await connectChat(this.url, this.token, { onMessage: (message) => this.received.push(message) });
    this.client.socket.once('disconnect', () => void this.reopen());
    return this;
  }

  /** The connected socket, or undefined while it is being reopened. */
  get socket(): ChatClient | undefined {
    return this.client?.socket.connected ? this.client : undefined;
  }

  /** Sends until acknowledged `ok` (same clientMsgId each time), or the deadline; the ack, if any. */
  async sendUntilAcked(conversationId: string, body: string, timeoutMs: number): Promise<any> {
    const id = clientMsgId();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ack = await this.socket?.send(conversationId, body, id).catch(() => undefined);
      if (ack?.ok) return ack;
      await sleep(100);
    }
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.client?.close();
  }

  private async reopen(): Promise<void> {
    while (!this.closed) {
      await sleep(200);
      if (this.closed) return;
      try {
        this.reopened++;
        await this.open();
        return;
      } catch {
        // refused (the instance's Redis is still away): try again
      }
    }
  }
}

/** What the scenario recorded, for the checks. */
interface Run {
  killedAt: number;
  promoted: string;
  readiness: Map<TestApp, Readiness[]>;
  chat: { acked: { id: string; seq: number; phase: Phase }[]; refused: string[] };
  lastWord: { ackedAt?: number; id?: string };
  scores: { acked: { seq: number; phase: Phase }[]; refused: string[] };
  ticks: { acked: { price: number; phase: Phase }[]; refused: { price: number; status: number }[] };
}

describe('Redis failover under load (e2e, two instances, three sentinels)', () => {
  let redis: RedisSentinelSet;
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let alice: LiveChat;
  let bob: LiveChat;
  let carol: LiveChat;
  let conversation: string;
  let quiet: string;
  let matchId: string;
  let scores: ResumingSse;
  let ticker: ResumingSse;
  let run: Run;
  const closers: (() => void)[] = [];
  /** What reached `console.error` during the scenario (BullMQ prints a queue's unhandled errors there). */
  const printed: string[] = [];
  const consoleError = console.error;

  const sql = <T = any>(text: string, params: unknown[] = []) => query<T>(env.databaseUrl, text, params);
  const count = (phase: Phase, list: { phase: Phase }[]) => list.filter((x) => x.phase === phase).length;

  beforeAll(async () => {
    redis = await redisSentinel();
    receiver = await WebhookReceiver.start();
    env = await createTestEnv({
      // Nothing listens there: in Sentinel mode REDIS_URL is not used.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: redis.sentinels,
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '1,1,1,1,1,1,1,1,1,1',
      OUTBOUND_CONNECT_TIMEOUT_MS: '1000',
      OUTBOUND_REQUEST_TIMEOUT_MS: '3000',
      OUTBOUND_RECONCILE_INTERVAL_MS: '1000',
      OUTBOX_POLL_INTERVAL_MS: '200',
      SSE_RETRY_MS: '200',
    });
    [a, b] = [await startTestApp(env), await startTestApp(env)];
  }, 60_000);
  afterAll(async () => {
    console.error = consoleError;
    closers.forEach((close) => close());
    await Promise.allSettled([a?.close(), b?.close()]);
    await receiver?.close();
    await env?.cleanup();
  });
  // A hook of its own: it runs even when the apps' close fails or times out.
  afterAll(() => redis?.stop());

  // The scenario: set-up, load, kill -9 of the master, recovery, more load.
  beforeAll(async () => {
    console.error = (...args: unknown[]) => {
      printed.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' '));
      consoleError(...args);
    };
    const [aliceUser, bobUser, carolUser] = await Promise.all(
      ['Alice', 'Bob', 'Carol'].map((n) => createUser(a.url, n)),
    );
    const direct = async (from: { token: string }, to: { id: string }) => {
      const res = await api(
        a.url,
        'POST',
        '/chat/conversations',
        { type: 'direct', userId: to.id },
        bearer(from.token),
      );
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    conversation = await direct(aliceUser, bobUser);
    // Carol writes to Bob once, during the outage, and never again: no later message to reveal a gap.
    quiet = await direct(carolUser, bobUser);
    alice = await new LiveChat(a.url, aliceUser.token).open();
    bob = await new LiveChat(b.url, bobUser.token).open();
    carol = await new LiveChat(a.url, carolUser.token).open();
    closers.push(
      () => alice.close(),
      () => bob.close(),
      () => carol.close(),
    );

    const match = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'basketball',
      homeTeam: 'Sentinel Hawks',
      awayTeam: 'Replica Rovers',
      startsAt: new Date().toISOString(),
    });
    expect(match.status).toBe(201);
    matchId = match.body.id;
    const instrument = await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: 'FAIL', name: 'Failover' });
    expect(instrument.status).toBe(201);
    const endpoint = await api(a.url, 'POST', '/admin/webhooks/endpoints', {
      url: receiver.route(HOOKS),
      eventTypes: ['score.*', 'match.*'],
    });
    expect(endpoint.status).toBe(201);
    receiver.route(HOOKS, { secrets: [endpoint.body.secret] });

    // Subscribers on B; when a stream ends they resume on B with their Last-Event-ID.
    scores = await new ResumingSse(`/scores/stream?matches=${matchId}`, () => b.url).start();
    ticker = await new ResumingSse('/ticker/stream?symbols=FAIL', () => b.url).start();
    closers.push(
      () => scores.close(),
      () => ticker.close(),
    );
    await scores.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await ticker.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    expect((await api(a.url, 'POST', `/admin/scores/matches/${matchId}/events`, { kind: 'kickoff' })).status).toBe(201);

    const readiness = new Map<TestApp, Readiness[]>([
      [a, []],
      [b, []],
    ]);
    const recorded: Run = {
      killedAt: 0,
      promoted: '',
      readiness,
      chat: { acked: [], refused: [] },
      lastWord: {},
      scores: { acked: [], refused: [] },
      ticks: { acked: [], refused: [] },
    };
    let running = true;
    let phase: Phase = 'before';
    // Sent in one phase and answered in another: counted as sent during the outage.
    const phaseOf = (sentIn: Phase): Phase => (sentIn === phase ? phase : 'outage');

    const loads = [
      // Readiness of both instances, all along.
      ...[a, b].map(async (app) => {
        while (running) {
          const res = await api(app.url, 'GET', '/health/ready').catch(() => ({ status: 0, body: undefined }));
          readiness.get(app)!.push({ at: Date.now(), status: res.status, master: res.body?.details?.redis?.master });
          await sleep(100);
        }
      }),
      // Chat from Alice on A to Bob on B.
      (async () => {
        for (let n = 1; running; n++) {
          const client = alice.socket;
          if (!client) {
            await sleep(50);
            continue;
          }
          const sentIn = phase;
          const ack = await client.send(conversation, `m${n}`, clientMsgId()).catch((error: Error) => ({
            ok: false,
            error: { code: `no ack: ${error.message}` },
          }));
          if (ack.ok) recorded.chat.acked.push({ id: ack.message.id, seq: ack.message.seq, phase: phaseOf(sentIn) });
          else recorded.chat.refused.push(ack.error?.code ?? 'unknown');
          await sleep(20);
        }
      })(),
      // Score events posted on A: the feed on B and the outbound webhooks both carry them.
      (async () => {
        for (let n = 0; running; n++) {
          const sentIn = phase;
          const res = await api(a.url, 'POST', `/admin/scores/matches/${matchId}/events`, {
            kind: 'score',
            team: n % 2 ? 'home' : 'away',
            points: 1 + (n % 3),
          }).catch((error: Error) => ({ status: 0, body: error.message }));
          if (res.status === 201) recorded.scores.acked.push({ seq: res.body.event.seq, phase: phaseOf(sentIn) });
          else recorded.scores.refused.push(`${res.status} ${JSON.stringify(res.body)}`);
          await sleep(40);
        }
      })(),
      // Ticks posted on A, each price one higher than the last.
      (async () => {
        for (let price = 1; running; price++) {
          const sentIn = phase;
          const res = await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'FAIL', price }] }).catch(
            () => ({ status: 0 }),
          );
          if (res.status === 202) recorded.ticks.acked.push({ price, phase: phaseOf(sentIn) });
          else recorded.ticks.refused.push({ price, status: res.status });
          await sleep(20);
        }
      })(),
    ];

    try {
      // Traffic of every kind has flowed, and outbound deliveries are in flight, when the master dies.
      await waitFor(
        () =>
          count('before', recorded.chat.acked) >= 30 &&
          count('before', recorded.scores.acked) >= 15 &&
          count('before', recorded.ticks.acked) >= 30 &&
          receiver.received(HOOKS).length >= 10,
        20_000,
      );
      expect(await redis.master()).toBe(`127.0.0.1:${redis.masterPort}`);

      phase = 'outage';
      const crash = redis.crash();
      recorded.killedAt = Date.now();
      // Carol's one message, sent now (Redis is away), acknowledged once Postgres has it.
      const lastWord = carol
        .sendUntilAcked(quiet, 'said during the outage', RECOVERY_MS)
        .then((ack) => Object.assign(recorded.lastWord, { ackedAt: ack && Date.now(), id: ack?.message.id }));
      recorded.promoted = await crash;

      // Both instances ready again, on the promoted replica, within 30 s of the kill.
      for (const app of [a, b]) {
        await waitFor(
          () =>
            readiness
              .get(app)!
              .some((r) => r.at > recorded.killedAt && r.status === 200 && r.master === recorded.promoted),
          Math.max(1, recorded.killedAt + RECOVERY_MS - Date.now()),
          50,
        );
      }
      await lastWord;
      // Both SSE clients are live again on a connection opened after the kill.
      const liveAgain = (client: ResumingSse) => (frames: ResumingFrame[]) =>
        frames.some((f) => f.connection > 0 && f.connection === client.connections - 1 && f.event !== 'reset');
      await scores.waitFor(liveAgain(scores), SETTLE_MS);
      await ticker.waitFor(liveAgain(ticker), SETTLE_MS);
      phase = 'after';
      await waitFor(
        () =>
          count('after', recorded.chat.acked) >= 30 &&
          count('after', recorded.scores.acked) >= 15 &&
          count('after', recorded.ticks.acked) >= 30,
        20_000,
      );
    } finally {
      running = false;
      await Promise.allSettled(loads);
    }
    run = recorded;
    console.error = consoleError;
  }, 90_000);

  it('readiness on both instances shows the outage, then 200 on the promoted replica within 30 s, without a restart', async () => {
    expect(run.promoted).toBe(`127.0.0.1:${redis.replicaPort}`);
    for (const [name, app] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const timeline = run.readiness.get(app)!.filter((r) => r.at > run.killedAt);
      const down = timeline.filter((r) => r.status !== 200);
      const up = timeline.find((r) => r.status === 200 && r.master === run.promoted);
      console.log(
        `readiness of ${name}: ${down.length} answers non-200 (${[...new Set(down.map((r) => r.status))].join(', ')})` +
          ` over ${down.length ? down.at(-1)!.at - down[0].at : 0} ms; 200 on ${run.promoted} ${up ? up.at - run.killedAt : '-'} ms after the kill`,
      );
      expect(down.length).toBeGreaterThan(0);
      expect(down.every((r) => r.status === 503)).toBe(true);
      expect(up!.at - run.killedAt).toBeLessThan(RECOVERY_MS);
      // Once back, it stays back, on the promoted master.
      expect(timeline.filter((r) => r.at > up!.at && (r.status !== 200 || r.master !== run.promoted))).toEqual([]);
      // The same process followed the failover (it counted it), and serves on it: the check below
      // of each feature is what was acknowledged after the recovery, too.
      expect(await fetch(`${app.url}/metrics`).then((r) => r.text())).toMatch(/^redis_failovers_total 1$/m);
    }
  });

  it('every Redis error of a queue or a connection was handled (logged), none printed as unhandled', () => {
    expect(printed).toEqual([]);
  });

  it('chat: every acknowledged message reaches the recipient on the other instance once, in seq order', async () => {
    const { acked, refused } = run.chat;
    await waitFor(() => acked.every((m) => bob.received.some((r) => r.id === m.id)), SETTLE_MS, 100).catch(
      () => undefined,
    );
    await sleep(300); // a repeat would be here by now
    const received = bob.received.filter((m) => m.conversationId === conversation);
    const times = new Map<string, number>();
    for (const message of received) times.set(message.id, (times.get(message.id) ?? 0) + 1);
    const missing = acked.filter((m) => !times.has(m.id)).map((m) => `${m.seq} (${m.phase})`);
    const repeated = [...times].filter(([, n]) => n > 1);
    console.log(
      `chat: ${acked.length} acknowledged (${count('outage', acked)} sent during the outage), ${refused.length} refused` +
        ` (${[...new Set(refused)].join(', ') || 'none'}), ${received.length} received; sockets reopened:` +
        ` sender ${alice.reopened}, recipient ${bob.reopened}`,
    );
    expect(missing).toEqual([]);
    expect(repeated).toEqual([]);
    const seqs = received.map((m) => m.seq);
    expect(seqs.filter((seq, i) => i > 0 && seq <= seqs[i - 1])).toEqual([]);
  });

  it('chat: a message acknowledged during the outage, with nothing sent after it, still reaches the recipient', async () => {
    const { id, ackedAt } = run.lastWord;
    expect(id).toBeDefined();
    const arrived = await waitFor(() => bob.received.some((m) => m.id === id), SETTLE_MS, 100).then(
      () => true,
      () => false,
    );
    console.log(
      `chat, the quiet conversation: acknowledged ${ackedAt! - run.killedAt} ms after the kill; ` +
        (arrived ? 'received' : `not received ${SETTLE_MS} ms after the recovery`),
    );
    expect(arrived).toBe(true);
  });

  it('scores: every acknowledged score event reaches the SSE client once, in order, or a reset + snapshot covers it', async () => {
    const stored = (
      await sql<{ seq: number }>('SELECT seq FROM match_events WHERE match_id = $1 ORDER BY seq', [matchId])
    ).map((r) => r.seq);
    const last = stored.at(-1)!;
    await scores
      .waitFor(
        (f) => f.some((x) => (x.event === 'score' && x.data.event.seq === last) || snapshotSeq(x) >= last),
        SETTLE_MS,
      )
      .catch(() => undefined);
    await sleep(300); // a repeat would be here by now
    const story = scoresStory(scores.frames, matchId);
    const uncovered = run.scores.acked
      .filter((s) => !story.delivered.includes(s.seq) && !story.coveredBySnapshot.includes(s.seq))
      .map((s) => `${s.seq} (${s.phase})`);
    // Where a repeat came from: two entries in the feed's log (published twice), or one entry sent twice.
    const log = new Redis({ port: Number(run.promoted.split(':')[1]), host: '127.0.0.1', lazyConnect: true });
    const entriesPerSeq = new Map<number, string[]>();
    try {
      await log.connect();
      for (const [id, fields] of await log.xrange(`${env.prefix}feed:scores:log`, '-', '+')) {
        const seq = JSON.parse(fields[fields.indexOf('d') + 1]).event.seq as number;
        entriesPerSeq.set(seq, [...(entriesPerSeq.get(seq) ?? []), id]);
      }
    } finally {
      log.disconnect();
    }
    const retried = await sql<{ id: string; attempts: number; last_error: string }>(
      `SELECT id, attempts, last_error FROM outbox_events WHERE attempts > 0 ORDER BY id`,
    );
    console.log(
      `scores: ${run.scores.acked.length} acknowledged (${count('outage', run.scores.acked)} during the outage), ` +
        `${run.scores.refused.length} refused, ${stored.length} stored; the client got ${story.delivered.length} ` +
        `over ${scores.connections} connections, resets ${JSON.stringify(scores.of('reset').map((f) => f.data.reason))}, ` +
        `${story.coveredBySnapshot.length} covered by a snapshot, ${story.skipped.length} skipped as at or below a ` +
        `snapshot; repeats ${JSON.stringify(story.repeats)}; feed log entries per repeated seq ` +
        `${JSON.stringify(story.repeats.map((seq) => [seq, entriesPerSeq.get(seq)]))}; outbox events retried ` +
        JSON.stringify(retried),
    );
    expect(run.scores.refused).toEqual([]);
    expect(story.gaps).toEqual([]);
    expect(uncovered).toEqual([]);
    expect(story.repeats).toEqual([]);
    expect(scores.connections).toBeGreaterThanOrEqual(2); // it did resume
  });

  it('ticker: the SSE client resumes, with no silent gap (reset + snapshot allowed)', async () => {
    const { acked, refused } = run.ticks;
    const last = acked.at(-1)!.price;
    await ticker
      .waitFor((f) => f.some((x) => x.event === 'tick' && x.data.price === last), SETTLE_MS)
      .catch(() => undefined);
    const story = tickerStory(ticker.frames);
    // Each acknowledged tick arrived, or a snapshot after a reset carried it or a newer price.
    const uncovered = acked
      .filter((t) => !story.prices.includes(t.price) && !story.resetSnapshots.some((s) => s >= t.price))
      .map((t) => `${t.price} (${t.phase})`);
    const refusedYetPublished = refused.filter((t) => story.prices.includes(t.price));
    console.log(
      `ticker: ${acked.length} acknowledged (${count('outage', acked)} during the outage), refused ` +
        `${JSON.stringify(refused)}, of which published anyway ${JSON.stringify(refusedYetPublished)}; ` +
        `the client got ${story.prices.length} over ${ticker.connections} connections, resets ` +
        JSON.stringify(ticker.of('reset').map((f) => f.data.reason)),
    );
    expect(story.outOfOrder).toEqual([]);
    expect(story.snapshotsWithoutReset).toEqual([]);
    expect(uncovered).toEqual([]);
    expect(ticker.connections).toBeGreaterThanOrEqual(2);
  });

  it('outbound: every accepted delivery reaches the receiver once per webhook-id', async () => {
    const rows = () =>
      sql<{ webhook_id: string; status: string; seq: number | null }>(
        `SELECT m.webhook_id, d.status, (m.body::json -> 'data' -> 'event' ->> 'seq')::int AS seq
         FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id`,
      );
    const [{ events }] = await sql<{ events: number }>(
      'SELECT count(*)::int AS events FROM match_events WHERE match_id = $1',
      [matchId],
    );
    await waitFor(
      async () => {
        const now = await rows();
        return now.length === events && now.every((r) => r.status === 'succeeded');
      },
      SETTLE_MS,
      200,
    ).catch(() => undefined);
    await sleep(300); // a repeat would be here by now
    const deliveries = await rows();
    const hits = new Map<string, number>();
    for (const request of receiver.received(HOOKS)) hits.set(request.webhookId, (hits.get(request.webhookId) ?? 0) + 1);
    const reconciled = await Promise.all(
      [a, b].map(async (app) => {
        const text = await fetch(`${app.url}/metrics`).then((r) => r.text());
        return Number(/^outbound_reconciled_total (\S+)$/m.exec(text)?.[1] ?? 0);
      }),
    );
    console.log(
      `outbound: ${events} score events, ${deliveries.length} deliveries ` +
        `(${JSON.stringify(Object.fromEntries(countBy(deliveries.map((d) => d.status))))}), ` +
        `${receiver.received(HOOKS).length} requests at the receiver; jobs re-enqueued by the reconcilers ${reconciled}`,
    );
    // One delivery per event (match.started and each score.updated), every one delivered...
    expect(deliveries).toHaveLength(events);
    expect(deliveries.filter((d) => d.status !== 'succeeded')).toEqual([]);
    // ...once: each webhook-id exactly one request, signed with the endpoint's secret.
    expect(deliveries.filter((d) => hits.get(d.webhook_id) !== 1).map((d) => [d.seq, hits.get(d.webhook_id)])).toEqual(
      [],
    );
    expect(receiver.received(HOOKS).length).toBe(deliveries.length);
    expect(receiver.received(HOOKS).filter((r) => r.verifiedWith.length !== 1)).toEqual([]);
  });
});

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** The match's seq in a snapshot frame (-1 for any other frame). */
function snapshotSeq(frame: ResumingFrame): number {
  if (frame.event !== 'snapshot') return -1;
  return (frame.data.matches as { seq: number }[])[0]?.seq ?? -1;
}

/**
 * Walks what the scores client got, as a client following the documented contract would: a
 * snapshot sets the match's seq (score events at or below it are skipped), and each score event
 * must then be the next seq. A snapshot on a resumed connection counts only after `reset`.
 */
function scoresStory(frames: ResumingFrame[], matchId: string) {
  let known = -1;
  let connection = -1;
  let reset = false;
  const delivered: number[] = [];
  const coveredBySnapshot: number[] = [];
  const gaps: string[] = [];
  const repeats: number[] = [];
  const skipped: number[] = [];
  for (const frame of frames) {
    if (frame.connection !== connection) [connection, reset] = [frame.connection, false];
    if (frame.event === 'reset') reset = true;
    else if (frame.event === 'snapshot') {
      const seq = snapshotSeq(frame);
      if (frame.connection > 0 && !reset) gaps.push(`a snapshot without reset on connection ${frame.connection}`);
      if (frame.connection > 0) for (let s = known + 1; s <= seq; s++) coveredBySnapshot.push(s);
      known = Math.max(known, seq);
    } else if (frame.event === 'score' && frame.data.matchId === matchId) {
      const seq = frame.data.event.seq as number;
      if (delivered.includes(seq)) repeats.push(seq);
      else if (seq <= known) skipped.push(seq);
      else {
        if (seq !== known + 1) gaps.push(`${known} → ${seq} on connection ${frame.connection}`);
        delivered.push(seq);
        known = seq;
      }
    }
  }
  return { delivered, coveredBySnapshot, gaps, repeats, skipped };
}

/** What the ticker client got: tick prices in order, and the prices of snapshots sent after a `reset`. */
function tickerStory(frames: ResumingFrame[]) {
  const prices: number[] = [];
  const outOfOrder: string[] = [];
  const resetSnapshots: number[] = [];
  const snapshotsWithoutReset: number[] = [];
  let connection = -1;
  let reset = false;
  for (const frame of frames) {
    if (frame.connection !== connection) [connection, reset] = [frame.connection, false];
    if (frame.event === 'reset') reset = true;
    else if (frame.event === 'snapshot' && frame.connection > 0) {
      const quote = (frame.data.quotes as { symbol: string; price: number }[]).find((q) => q.symbol === 'FAIL');
      if (reset) resetSnapshots.push(quote?.price ?? -1);
      else snapshotsWithoutReset.push(frame.connection);
    } else if (frame.event === 'tick') {
      const price = frame.data.price as number;
      if (prices.length > 0 && price <= prices.at(-1)!) outOfOrder.push(`${prices.at(-1)} then ${price}`);
      prices.push(price);
    }
  }
  return { prices, outOfOrder, resetSnapshots, snapshotsWithoutReset };
}
