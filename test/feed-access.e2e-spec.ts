/**
 * Feed access by plan (issue 18), two instances: the refusals (401 with no credentials where
 * anonymous may read nothing, 403 naming the topics a plan or a feed token does not allow, 429
 * past `maxStreams` across instances) on SSE, long poll and short poll; a premium instrument
 * refused to free and served to pro; a feed token narrowing a team plan; entitlement and plan
 * changes reaching open streams on every instance (`event: revoked`), a plan change through a
 * Stripe-signed webhook on the real inbound path.
 */
import { isDeepStrictEqual } from 'node:util';
import { SignJWT } from 'jose';
import { type SseClient, openSse } from './helpers/sse-client.js';
import { send, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { bearer } from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

const STRIPE = 'whsec_feed_access_test_secret';
const FEED_TOKEN_SECRET = 'feed-token-secret-of-the-test-0123456789';

/** A feed token as another backend holding FEED_TOKEN_SECRET would mint it. */
async function feedToken(sub: string, feeds: Record<string, string[]>, expiresInSeconds: number) {
  return new SignJWT({ feeds })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(new TextEncoder().encode(FEED_TOKEN_SECRET));
}
const OPEN_ANONYMOUS = {
  ticker: { mode: 'realtime', tiers: ['basic'] },
  scores: { mode: 'realtime' },
  maxStreams: 100_000,
};

describe('feed access by plan (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const streams: SseClient[] = [];
  const users: Record<string, { id: string; token: string }> = {};
  let match: string;

  beforeAll(async () => {
    env = await createTestEnv({
      STRIPE_WEBHOOK_SECRETS: STRIPE,
      FEED_TOKEN_SECRET,
      FEED_TOKEN_GRACE_SECONDS: '1',
    });
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    for (const [symbol, tier] of [
      ['AAPL', 'basic'],
      ['MSFT', 'basic'],
      ['GOLD', 'premium'],
    ]) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol, tier })).status).toBe(201);
    }
    for (const plan of ['free', 'pro', 'team']) {
      const user = await api(a.url, 'POST', '/admin/users', { name: `${plan} user`, plan });
      const token = await api(a.url, 'POST', `/admin/users/${user.body.id}/tokens`, {});
      users[plan] = { id: user.body.id, token: token.body.token };
    }
    const created = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'H',
      awayTeam: 'A',
      startsAt: new Date().toISOString(),
    });
    match = created.body.id;
  }, 60_000);
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  const sse = async (url: string, headers: Record<string, string> = {}) => {
    const client = await openSse(url, headers);
    streams.push(client);
    return client;
  };
  const auth = (plan: string) => ({ authorization: `Bearer ${users[plan].token}` });
  const get = (app: TestApp, path: string, headers: Record<string, string> = {}) =>
    api(app.url, 'GET', path, undefined, headers);
  const tick = async (symbol: string, price: number) =>
    expect((await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol, price }] })).status).toBe(202);
  const ticks = (client: SseClient, symbol?: string) =>
    client.frames.filter((f) => f.event === 'tick' && (!symbol || f.data.symbol === symbol)).map((f) => f.data.price);
  /** Set on A; resolves once B applies it too (it polls the table every second). */
  const setEntitlement = async (plan: string, body: any) => {
    const res = await api(a.url, 'PUT', `/admin/entitlements/${plan}`, body);
    expect(res.status).toBe(200);
    await waitFor(async () => {
      const onB = (await api(b.url, 'GET', '/admin/entitlements')).body.items.find((e: any) => e.plan === plan);
      return isDeepStrictEqual({ ...onB, plan: undefined }, { ...body, plan: undefined });
    }, 2_000); // the contract: on every instance within 2 s
    return res.body;
  };

  it('GET /feeds/access says what my plan reads; the demo plan switch does not exist outside demo mode', async () => {
    const access = await get(a, '/feeds/access', auth('team'));
    expect(access.status).toBe(200);
    expect(access.body).toMatchObject({ plan: 'team', ticker: { mode: 'realtime' }, scores: { mode: 'realtime' } });
    expect((await get(a, '/feeds/access')).status).toBe(401);
    expect(
      (
        await api(
          a.url,
          'POST',
          '/demo/stripe/subscription',
          { plan: 'pro' },
          { ...auth('free'), 'content-type': 'application/json' },
        )
      ).status,
    ).toBe(404);
  });

  it('entitlements: listed per plan; a bad one is a 422 naming each field, and changes nothing', async () => {
    const list = await api(a.url, 'GET', '/admin/entitlements');
    expect(list.status).toBe(200);
    expect(list.body.items.map((e: any) => e.plan)).toEqual(['anonymous', 'free', 'pro', 'team']);
    expect(list.body.items.find((e: any) => e.plan === 'free').ticker.tiers).toEqual(['basic']);
    const bad = await api(a.url, 'PUT', '/admin/entitlements/free', {
      ticker: { mode: 'sometimes', tiers: ['gold'] },
      scores: { mode: 'realtime', delaySeconds: 5 },
      maxStreams: -1,
    });
    expect(bad.status).toBe(422);
    for (const field of ['ticker.mode', 'ticker.tiers[0]', 'scores.delaySeconds', 'maxStreams']) {
      expect(bad.body.message).toContain(field);
    }
    expect((await api(a.url, 'PUT', '/admin/entitlements/gold', OPEN_ANONYMOUS)).status).toBe(422);
    expect((await api(a.url, 'GET', '/admin/entitlements')).body).toEqual(list.body);
  });

  it('a premium instrument is refused to free (403 naming it, on every transport) and served to pro', async () => {
    for (const path of [
      '/ticker/stream?symbols=AAPL,GOLD',
      '/ticker/poll?symbols=AAPL,GOLD',
      '/ticker/quotes?symbols=GOLD',
    ]) {
      const res = await get(b, path, auth('free'));
      expect(res.status).toBe(403);
      expect(res.body.topics).toEqual(['GOLD']);
      expect(res.body.message).toContain('GOLD');
    }
    const free = await sse(`${b.url}/ticker/stream`, auth('free')); // everything: the basic ones only
    const pro = await sse(`${b.url}/ticker/stream?symbols=GOLD`, auth('pro'));
    await Promise.all([free, pro].map((c) => c.waitFor((f) => f.some((x) => x.event === 'snapshot'))));
    await tick('GOLD', 1);
    await tick('AAPL', 2);
    await pro.waitFor(() => ticks(pro, 'GOLD').includes(1));
    await free.waitFor(() => ticks(free, 'AAPL').includes(2));
    expect(ticks(free, 'GOLD')).toEqual([]);
    free.close();
    pro.close();
  });

  it('a feed token narrows a team plan: AAPL served (header or ?token=), MSFT and scores refused', async () => {
    const minted = await api(a.url, 'POST', '/feeds/tokens', { feeds: { ticker: ['AAPL'] } }, bearer(users.team.token));
    expect(minted.status).toBe(200);
    const token = minted.body.token as string;
    const client = await sse(`${b.url}/ticker/stream?symbols=AAPL&token=${encodeURIComponent(token)}`);
    expect(client.status).toBe(200);
    const msft = await get(b, '/ticker/stream?symbols=MSFT', { authorization: `Bearer ${token}` });
    expect(msft.status).toBe(403);
    expect(msft.body.topics).toEqual(['MSFT']);
    expect((await get(a, `/scores/poll?matches=${match}`, { authorization: `Bearer ${token}` })).status).toBe(403);
    // A token signed with another secret, or garbage: 401.
    expect((await get(a, '/ticker/quotes', { authorization: 'Bearer not.a.token' })).status).toBe(401);
    client.close();
  });

  it('maxStreams counts open streams and held polls across instances: 429 past it, a slot back when one closes', async () => {
    await setEntitlement('free', {
      ticker: { mode: 'realtime', tiers: ['basic'] },
      scores: { mode: 'realtime' },
      maxStreams: 1,
    });
    const first = await sse(`${a.url}/ticker/stream?symbols=AAPL`, auth('free'));
    expect(first.status).toBe(200);
    const second = await get(b, '/ticker/stream?symbols=AAPL', auth('free'));
    expect(second.status).toBe(429);
    const cursor = (await get(b, '/ticker/poll?symbols=AAPL', auth('free'))).body.cursor; // no cursor: answers at once
    expect(
      (await get(b, `/ticker/poll?symbols=AAPL&timeoutMs=1000&cursor=${encodeURIComponent(cursor)}`, auth('free')))
        .status,
    ).toBe(429);
    expect((await get(b, `/scores/stream?matches=${match}`, auth('free'))).status).toBe(429);
    first.close();
    await waitFor(
      async () =>
        (await get(b, `/ticker/poll?symbols=AAPL&timeoutMs=10&cursor=${encodeURIComponent(cursor)}`, auth('free')))
          .status === 200,
      5_000,
    );
    await setEntitlement('free', {
      ticker: { mode: 'realtime', tiers: ['basic'] },
      scores: { mode: 'realtime' },
      maxStreams: 5,
    });
  });

  it('anonymous closed by the operator: 401 on every transport within 2 s on the other instance; its open streams are ended', async () => {
    const open = await sse(`${b.url}/ticker/stream?symbols=AAPL`);
    await open.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await setEntitlement('anonymous', { ticker: { mode: 'none', tiers: [] }, scores: { mode: 'none' }, maxStreams: 0 });
    await open.waitFor((f) => f.some((x) => x.event === 'revoked'), 3_000);
    expect(open.frames.find((f) => f.event === 'revoked')!.data.topics).toEqual(['AAPL']);
    await waitFor(async () => (await get(b, '/ticker/quotes')).status === 401, 3_000);
    for (const path of [
      '/ticker/stream',
      '/ticker/poll',
      '/ticker/quotes',
      '/scores/stream',
      `/scores/poll?matches=${match}`,
    ]) {
      const res = await get(b, path);
      expect(res.status).toBe(401);
    }
    // A signed-in user still reads.
    expect((await get(b, '/ticker/quotes?symbols=AAPL', auth('free'))).status).toBe(200);
    await setEntitlement('anonymous', OPEN_ANONYMOUS);
  });

  it('a Stripe-signed downgrade to free revokes the premium symbols on an open pro stream within 2 s; the rest go on', async () => {
    const client = await sse(`${b.url}/ticker/stream?symbols=AAPL,GOLD`, auth('pro'));
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await tick('GOLD', 10);
    await client.waitFor(() => ticks(client, 'GOLD').includes(10));
    const downgrade = stripeEvent('customer.subscription.updated', {
      id: 'sub_pro',
      object: 'subscription',
      status: 'active',
      metadata: { userId: users.pro.id },
      items: { data: [{ price: { lookup_key: 'free' } }] },
    });
    const sentAt = Date.now();
    expect((await send(a.url, signStripe(JSON.stringify(downgrade), STRIPE))).status).toBe(200);
    await client.waitFor((f) => f.some((x) => x.event === 'revoked'), 5_000);
    // From the webhook's 2xx to the revocation on the other instance (processing included).
    expect(Date.now() - sentAt).toBeLessThan(4_000);
    expect(client.frames.find((f) => f.event === 'revoked')!.data).toEqual({
      topics: ['GOLD'],
      reason: 'not allowed on the free plan',
    });
    await tick('GOLD', 11);
    await tick('AAPL', 12);
    await client.waitFor(() => ticks(client, 'AAPL').includes(12));
    expect(ticks(client, 'GOLD')).toEqual([10]);
    expect((await get(a, '/ticker/quotes?symbols=GOLD', auth('pro'))).status).toBe(403);
  });

  const FREE_REALTIME = { ticker: { mode: 'realtime', tiers: ['basic'] }, scores: { mode: 'realtime' }, maxStreams: 5 };
  const FREE_DELAYED = {
    ticker: { mode: 'delayed', delaySeconds: 2, tiers: ['basic'] },
    scores: { mode: 'realtime' },
    maxStreams: 5,
  };
  /** Ticks (or another event) of a stream with when each arrived. */
  const timed = (client: SseClient, event = 'tick') => {
    const seen: { id: string; price: number; at: number }[] = [];
    const scan = () => {
      for (const f of client.frames.slice(seen.length ? undefined : 0)) {
        if (f.event !== event || seen.some((s) => s.id === f.id)) continue;
        seen.push({ id: f.id!, price: f.data.price, at: Date.now() });
      }
    };
    const timer = setInterval(scan, 10);
    return {
      seen,
      stop: () => {
        clearInterval(timer);
        scan();
      },
    };
  };

  it('delayed: a free stream gets each tick delaySeconds after a realtime one, with the same ids, and resumes with Last-Event-ID', async () => {
    await setEntitlement('free', FREE_DELAYED);
    // (The pro user is on free since the downgrade above: team is the realtime reference.)
    const realtime = await sse(`${a.url}/ticker/stream?symbols=MSFT`, auth('team'));
    const delayed = await sse(`${b.url}/ticker/stream?symbols=MSFT`, auth('free'));
    await Promise.all([realtime, delayed].map((c) => c.waitFor((f) => f.some((x) => x.event === 'snapshot'))));
    // Metrics: streams by plan and mode, refusals by reason.
    expect((await get(b, '/ticker/quotes?symbols=GOLD', auth('free'))).status).toBe(403);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/^feed_streams_by_plan\{feed="ticker",plan="free",mode="delayed"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^feed_access_refusals_total\{feed="ticker",reason="topic"\} [1-9]/m);
    const [live, late] = [timed(realtime), timed(delayed)];
    for (let price = 101; price <= 104; price++) {
      await tick('MSFT', price);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await delayed.waitFor(() => ticks(delayed).length === 4, 6_000);
    live.stop();
    late.stop();
    expect(late.seen.map((s) => s.id)).toEqual(live.seen.map((s) => s.id));
    expect(late.seen.map((s) => s.price)).toEqual([101, 102, 103, 104]);
    for (let i = 0; i < 4; i++) {
      const lag = late.seen[i].at - live.seen[i].at;
      expect(lag).toBeGreaterThan(1_000);
      expect(lag).toBeLessThan(3_000);
    }
    // Resume from the second tick's id, on the other instance: the third and fourth, still delayed-served, once.
    delayed.close();
    const again = await sse(`${a.url}/ticker/stream?symbols=MSFT`, {
      ...auth('free'),
      'last-event-id': late.seen[1].id,
    });
    await again.waitFor(() => ticks(again).length === 2, 5_000);
    expect(again.frames.filter((f) => f.event === 'tick').map((f) => f.id)).toEqual([late.seen[2].id, late.seen[3].id]);
    expect(again.frames.some((f) => f.event === 'reset' || f.event === 'snapshot')).toBe(false);
    again.close();
    realtime.close();
  });

  it('delayed scores: the snapshot is the match as of delaySeconds ago, then each score delaySeconds after realtime, same ids', async () => {
    await setEntitlement('free', { ...FREE_DELAYED, scores: { mode: 'delayed', delaySeconds: 2 } });
    const created = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Early',
      awayTeam: 'Late',
      startsAt: new Date().toISOString(),
    });
    const id = created.body.id as string;
    const post = async (body: object) =>
      expect((await api(a.url, 'POST', `/admin/scores/matches/${id}/events`, body)).status).toBe(201);
    const realtime = await sse(`${a.url}/scores/stream?matches=${id}`, auth('team'));
    await realtime.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    const scores = (client: SseClient) => client.frames.filter((f) => f.event === 'score');
    const live = timed(realtime, 'score');
    await post({ kind: 'kickoff' });
    await post({ kind: 'score', team: 'home' });
    await realtime.waitFor(() => scores(realtime).length === 2);
    // Opened now (on the other instance), a free stream sees the match as it was 2 s ago: not started.
    const delayed = await sse(`${b.url}/scores/stream?matches=${id}`, auth('free'));
    await delayed.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    const snapshot = delayed.frames.find((f) => f.event === 'snapshot')!.data.matches[0];
    expect(snapshot).toMatchObject({ id, status: 'scheduled', home: 0, away: 0, seq: 0 });
    const late = timed(delayed, 'score');
    await post({ kind: 'score', team: 'away' });
    await realtime.waitFor(() => scores(realtime).length === 3);
    await delayed.waitFor(() => scores(delayed).length === 3, 6_000);
    live.stop();
    late.stop();
    expect(late.seen.map((s) => s.id)).toEqual(live.seen.map((s) => s.id));
    expect(scores(delayed).map((f) => [f.data.event.seq, f.data.home, f.data.away])).toEqual([
      [1, 0, 0],
      [2, 1, 0],
      [3, 1, 1],
    ]);
    // The first two were published before the delayed stream opened: their lag is measured from then.
    const lag = late.seen[2].at - live.seen[2].at;
    expect(lag).toBeGreaterThan(1_000);
    expect(lag).toBeLessThan(3_000);
    expect(late.seen[1].at - live.seen[1].at).toBeGreaterThan(1_000);
    // Opened 2 s after the home goal, the snapshot holds kickoff and the home goal.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, live.seen[1].at + 2_100 - Date.now())));
    const after = await sse(`${b.url}/scores/stream?matches=${id}`, auth('free'));
    await after.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    const [state] = after.frames.find((f) => f.event === 'snapshot')!.data.matches;
    expect(state.seq).toBeGreaterThanOrEqual(2);
    expect(state).toMatchObject({ status: 'live', period: 1, home: 1 });
    expect(state.away).toBe(state.seq === 3 ? 1 : 0);
    for (const client of [realtime, delayed, after]) client.close();
    await setEntitlement('free', FREE_DELAYED);
  });

  it('a Stripe-signed upgrade turns an open delayed stream realtime within 2 s, with no gap or repeat in ids', async () => {
    const upgrade = await api(a.url, 'POST', '/admin/users', { name: 'upgrading', plan: 'free' });
    const token = (await api(a.url, 'POST', `/admin/users/${upgrade.body.id}/tokens`, {})).body.token as string;
    const watcher = await sse(`${a.url}/ticker/stream?symbols=MSFT`, auth('team'));
    const client = await sse(`${b.url}/ticker/stream?symbols=MSFT`, { authorization: `Bearer ${token}` });
    await Promise.all([watcher, client].map((c) => c.waitFor((f) => f.some((x) => x.event === 'snapshot'))));
    for (let price = 201; price <= 203; price++) await tick('MSFT', price); // still 2 s behind for the client
    const event = stripeEvent('checkout.session.completed', {
      id: 'cs_upgrade',
      object: 'checkout.session',
      client_reference_id: upgrade.body.id,
      metadata: { plan: 'pro' },
    });
    expect((await send(a.url, signStripe(JSON.stringify(event), STRIPE))).status).toBe(200);
    // Realtime within 2 s of the webhook: a tick published then arrives at once.
    await waitFor(async () => (await api(a.url, 'GET', `/admin/users/${upgrade.body.id}`)).body.plan === 'pro', 3_000);
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // the instances' plan poll (every second)
    const before = Date.now();
    await tick('MSFT', 204);
    await client.waitFor(() => ticks(client).includes(204), 1_000);
    expect(Date.now() - before).toBeLessThan(1_000);
    await watcher.waitFor(() => ticks(watcher).includes(204));
    // Every tick once, in order, the same ids as the realtime watcher's.
    const ids = (c: SseClient) => c.frames.filter((f) => f.event === 'tick').map((f) => f.id);
    expect(ticks(client)).toEqual([201, 202, 203, 204]);
    expect(ids(client)).toEqual(ids(watcher));
    client.close();
    watcher.close();
    await setEntitlement('free', FREE_REALTIME);
  });

  it('a token about to expire: event refresh, then the close; resuming with a new token and Last-Event-ID loses nothing', async () => {
    const short = await feedToken(users.team.id, { ticker: ['AAPL'] }, 3);
    const client = await sse(`${b.url}/ticker/stream?symbols=AAPL&token=${encodeURIComponent(short)}`);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await tick('AAPL', 301);
    await client.waitFor(() => ticks(client).includes(301));
    await client.waitFor((f) => f.some((x) => x.event === 'refresh'), 4_000);
    const refresh = client.frames.find((f) => f.event === 'refresh')!;
    expect(Date.parse(refresh.data.expiresAt)).toBeGreaterThan(Date.now() - 1_000);
    await new Promise<void>((resolve) => client.response.once('end', () => resolve()));
    await tick('AAPL', 302); // while the client is away
    const last = client.frames.filter((f) => f.event === 'tick').at(-1)!.id!;
    const fresh = await feedToken(users.team.id, { ticker: ['AAPL'] }, 60);
    const again = await sse(`${a.url}/ticker/stream?symbols=AAPL`, {
      authorization: `Bearer ${fresh}`,
      'last-event-id': last,
    });
    await again.waitFor(() => ticks(again).includes(302));
    expect(ticks(again)).toEqual([302]);
    expect(again.frames.some((f) => f.event === 'reset' || f.event === 'snapshot')).toBe(false);
    // An expired one is refused.
    expect((await get(a, '/ticker/quotes?symbols=AAPL', { authorization: `Bearer ${short}` })).status).toBe(401);
    again.close();
  }, 20_000);
});
