/**
 * Redis stops and comes back empty while outbound webhooks are being dispatched. Two instances, a
 * Redis of the test's own, three endpoints on a local receiver (one steady, one that fails every
 * first attempt, one that fails every other request). Score events are posted through the admin API
 * before, during and after the outage: every one of them is delivered to every endpoint, under one
 * webhook-id per event, and a receiver that dedupes by webhook-id processes each exactly once.
 */
import { query } from '../helpers/databases.js';
import { outage } from '../helpers/port-guard.js';
import { type RedisProcess, privateRedis } from '../helpers/processes.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from '../helpers/test-app.js';
import { type ReceivedRequest, type ReplyFn, WebhookReceiver } from '../helpers/webhook-receiver.js';

/** A subscriber that processes each webhook-id once and answers a repeat with 200 (the documented way). */
class DedupingRoute {
  /** webhook-id → the request that was processed. */
  readonly processed = new Map<string, ReceivedRequest>();
  /** 2xx repeats of a webhook-id already processed (at-least-once delivery, absorbed by the dedupe). */
  readonly repeats: ReceivedRequest[] = [];
  private readonly attempts = new Map<string, number>();

  constructor(private readonly fail: (attempt: number, nth: number) => boolean) {}

  readonly reply: ReplyFn = (request, nth) => {
    const attempt = (this.attempts.get(request.webhookId) ?? 0) + 1;
    this.attempts.set(request.webhookId, attempt);
    if (this.fail(attempt, nth)) return { status: 500 };
    if (this.processed.has(request.webhookId)) this.repeats.push(request);
    else this.processed.set(request.webhookId, request);
    return { status: 200 };
  };
}

describe('fault: Redis stops and restarts empty during outbound dispatch (e2e)', () => {
  let redis: RedisProcess;
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    redis = await privateRedis();
    env = await createTestEnv({
      REDIS_URL: redis.url,
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '1,1,1,1,1,1,1,1,1,1',
      OUTBOUND_CONNECT_TIMEOUT_MS: '1000',
      OUTBOUND_REQUEST_TIMEOUT_MS: '3000',
      OUTBOUND_RECONCILE_INTERVAL_MS: '1000',
      OUTBOX_POLL_INTERVAL_MS: '200',
    });
    a = await startTestApp(env);
    b = await startTestApp(env);
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    if (redis && !redis.running) await redis.start();
    await a?.close();
    await b?.close();
    await receiver?.close();
    await redis?.stop();
    await env?.cleanup();
  });

  const sql = <T = any>(text: string, params: unknown[] = []) => query<T>(env.databaseUrl, text, params);

  it('every event reaches every endpoint once per webhook-id; nothing acknowledged is lost', async () => {
    const routes = {
      '/steady': new DedupingRoute(() => false),
      '/first-fails': new DedupingRoute((attempt) => attempt === 1),
      '/every-other': new DedupingRoute((_, nth) => nth % 2 === 0),
    };
    const secrets = new Map<string, string>();
    for (const [path, route] of Object.entries(routes)) {
      const url = receiver.route(path, { reply: route.reply });
      const res = await api(a.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*', 'match.*'] });
      expect(res.status).toBe(201);
      receiver.route(path, { secrets: [res.body.secret] });
      secrets.set(path, res.body.secret);
    }
    const matches: string[] = [];
    for (const homeTeam of ['Outage Rovers', 'Queue Athletic']) {
      const res = await api(a.url, 'POST', '/admin/scores/matches', {
        sport: 'football',
        homeTeam,
        awayTeam: 'Redis Wanderers',
        startsAt: new Date().toISOString(),
      });
      expect(res.status).toBe(201);
      matches.push(res.body.id);
      expect(
        (await api(b.url, 'POST', `/admin/scores/matches/${res.body.id}/events`, { kind: 'kickoff' })).status,
      ).toBe(201);
    }

    let posted = 0;
    const refused: string[] = [];
    const post = async (count: number) => {
      for (let i = 0; i < count; i++, posted++) {
        const res = await api(
          posted % 2 ? a.url : b.url,
          'POST',
          `/admin/scores/matches/${matches[posted % 2]}/events`,
          {
            kind: 'score',
            team: posted % 3 ? 'home' : 'away',
          },
        );
        if (res.status !== 201) refused.push(`${res.status} ${JSON.stringify(res.body)}`);
        await sleep(20);
      }
    };
    const succeeded = () => Object.values(routes).reduce((sum, route) => sum + route.processed.size, 0);

    await post(30);
    await waitFor(() => succeeded() >= 20, 30_000);
    const [{ pending }] = await sql<{ pending: number }>(
      `SELECT count(*)::int AS pending FROM webhook_deliveries WHERE status <> 'succeeded'`,
    );
    expect(pending).toBeGreaterThan(0); // the outage lands while deliveries are in flight
    await outage(redis, () => post(20)); // persisted in Postgres while Redis is away
    await post(10);
    expect(refused).toEqual([]);

    // Every fact: one match event → one outbox event → one message (one webhook-id) → one delivery per
    // endpoint. (The failing endpoints' recoveries are operational messages of their own: not counted.)
    const facts = await sql<{ match_id: string; seq: number }>('SELECT match_id, seq FROM match_events');
    expect(facts).toHaveLength(2 + posted);
    const messages = await waitFor(async () => {
      const rows = await sql<{ webhook_id: string }>(
        `SELECT webhook_id FROM webhook_messages WHERE type LIKE 'score.%' OR type LIKE 'match.%'`,
      );
      return rows.length === facts.length ? rows : undefined;
    }, 30_000);
    const webhookIds = messages!.map((m) => m.webhook_id).sort();
    await waitFor(() => Object.values(routes).every((route) => route.processed.size === facts.length), 90_000, 200);
    const deliveries = await waitFor(async () => {
      const rows = await sql<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status',
      );
      return rows.length === 1 && rows[0].status === 'succeeded' ? rows : undefined;
    }, 30_000);
    expect(deliveries).toEqual([{ status: 'succeeded', n: facts.length * 3 }]);

    const factKeys = facts.map((f) => `${f.match_id}:${f.seq}`).sort();
    for (const [path, route] of Object.entries(routes)) {
      // None missing, none extra: the processed webhook-ids are exactly the messages...
      expect({ path, ids: [...route.processed.keys()].sort() }).toEqual({ path, ids: webhookIds });
      // ...and no fact came under two webhook-ids (which a dedupe by webhook-id could not catch).
      const keys = [...route.processed.values()].map((r) => `${r.payload.data.matchId}:${r.payload.data.event.seq}`);
      expect({ path, keys: keys.sort() }).toEqual({ path, keys: factKeys });
      for (const request of route.processed.values()) expect(request.verifiedWith).toEqual([secrets.get(path)]);
      // A repeat (if any) is the very same message.
      for (const repeat of route.repeats) expect(repeat.body).toBe(route.processed.get(repeat.webhookId)!.body);
    }
  }, 180_000);
});
