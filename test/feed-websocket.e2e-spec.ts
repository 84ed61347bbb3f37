/**
 * The feed WebSocket (`/feeds/ws`, subprotocol `livefeed.v1`, issue 19), two instances, stock `ws`
 * clients: ticker and scores topics on one socket, topics added and removed live (an added topic
 * gets its snapshot and misses nothing after it), a resume with a cursor on the other instance
 * with no gap and no repeat, `reset` for a foreign cursor, handshake refusals, bad ops answered
 * with `error` and nothing changed, plans applied, a non-reading client conflated (ticker) or
 * closed past the hard limit (scores), and a dead socket closed by the server's pings.
 */
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { ScoresService } from '#src/scores/scores.service.js';
import { TickerService } from '#src/ticker/ticker.service.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';
import { type WsFeedClient, type WsFrame, handshakeStatus, openWsFeed } from './helpers/ws-feed.js';

const ADMIN = { authorization: 'Bearer test-admin-key-0123456789' };

describe('feed WebSocket (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const clients: WsFeedClient[] = [];
  let match: string;

  beforeAll(async () => {
    env = await createTestEnv({
      SSE_CONNECTION_BUDGET_BYTES: '16384',
      SSE_HARD_LIMIT_BYTES: '65536',
      SSE_HEARTBEAT_MS: '30000', // the ping test starts an instance of its own with a short one
      CORS_ORIGINS: 'https://app.example',
    });
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    for (const [symbol, tier] of [
      ['WSA', 'basic'],
      ['WSB', 'basic'],
      ['WSC', 'basic'],
      ['WSG', 'premium'],
    ]) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol, tier })).status).toBe(201);
    }
    match = await createMatch();
  }, 60_000);
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  const open = async (app: TestApp, options: Parameters<typeof openWsFeed>[1] = { headers: ADMIN }) => {
    const client = await openWsFeed(app.url, options);
    clients.push(client);
    return client;
  };
  const createMatch = async () => {
    const res = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Home',
      awayTeam: 'Away',
      startsAt: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const tick = async (app: TestApp, symbol: string, price: number) =>
    expect((await api(app.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol, price }] })).status).toBe(202);
  const score = async (id: string, body: Record<string, unknown>) =>
    expect((await api(a.url, 'POST', `/admin/scores/matches/${id}/events`, body)).status).toBe(201);
  const events = (frames: WsFrame[], feed: string, type?: string) =>
    frames.filter((f) => f.feed === feed && (!type || f.type === type));
  const prices = (frames: WsFrame[], symbol: string) =>
    events(frames, 'ticker', 'tick')
      .filter((f) => f.data.symbol === symbol)
      .map((f) => f.data.price as number);

  it('one socket carries ticker and scores topics; topics are added and removed live, an added one missing nothing', async () => {
    const client = await open(b);
    const subscribed = await client.request({ op: 'subscribe', feed: 'ticker', topics: ['wsa'] });
    expect(subscribed).toMatchObject({ op: 'subscribed', feed: 'ticker', topics: ['WSA'] });
    await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    expect(await client.request({ op: 'subscribe', feed: 'scores', topics: [match] })).toMatchObject({
      op: 'subscribed',
      feed: 'scores',
    });
    await client.waitFor((f) => events(f, 'scores', 'snapshot').length === 1);
    expect(events(client.frames, 'scores', 'snapshot')[0].data.matches[0]).toMatchObject({ id: match });

    await tick(a, 'WSA', 101);
    await tick(a, 'WSB', 201); // not subscribed yet
    await score(match, { kind: 'kickoff' });
    await client.waitFor((f) => prices(f, 'WSA').includes(101) && events(f, 'scores', 'score').length === 1);
    const firstScore = events(client.frames, 'scores', 'score')[0];
    expect(firstScore.id).toMatch(/^[0-9a-f]+:\d+-\d+$/);
    expect(firstScore.data).toMatchObject({ matchId: match, status: 'live' });

    // Add WSB while WSB ticks flow: its snapshot, then every tick after the snapshot's price.
    let n = 0;
    let flowing = true;
    const flow = (async () => {
      while (flowing) await tick(a, 'WSB', 300 + ++n);
    })();
    await sleep(100);
    expect(await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSB'] })).toMatchObject({
      op: 'subscribed',
      topics: ['WSB'],
    });
    await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 2);
    await sleep(300);
    flowing = false;
    await flow;
    await client.waitFor((f) => prices(f, 'WSB').includes(300 + n));
    const added = events(client.frames, 'ticker', 'snapshot')[1];
    expect(added.data.quotes.map((q: any) => q.symbol)).toEqual(['WSB']);
    const fromSnapshot = added.data.quotes[0].price as number;
    const after = prices(client.frames, 'WSB');
    // No gap: every tick after the snapshot's, in order, once. As on SSE, a tick the snapshot
    // already holds (published while it was read) may come once more just after it.
    expect(after.filter((p) => p > fromSnapshot)).toEqual(
      Array.from({ length: 300 + n - fromSnapshot }, (_, i) => fromSnapshot + 1 + i),
    );
    expect(after.filter((p) => p <= fromSnapshot).length).toBeLessThanOrEqual(2);
    expect(after.length).toBeGreaterThan(0);

    // Remove WSA: its ticks stop, WSB and scores go on.
    expect(await client.request({ op: 'unsubscribe', feed: 'ticker', topics: ['WSA'] })).toMatchObject({
      op: 'unsubscribed',
      feed: 'ticker',
      topics: ['WSA'],
    });
    await tick(a, 'WSA', 102);
    await tick(a, 'WSB', 999);
    await score(match, { kind: 'score', team: 'home' });
    await client.waitFor((f) => prices(f, 'WSB').includes(999) && events(f, 'scores', 'score').length === 2);
    await sleep(200);
    expect(prices(client.frames, 'WSA')).toEqual([101]);
    // Unsubscribing the last topic ends the feed's stream on the socket; the socket stays open.
    await client.request({ op: 'unsubscribe', feed: 'ticker', topics: ['WSB'] });
    await tick(a, 'WSB', 1000);
    expect(await client.request({ op: 'ping' })).toMatchObject({ op: 'pong' });
    await sleep(200);
    expect(prices(client.frames, 'WSB')).not.toContain(1000);
  });

  it('subscribing without topics reads the whole feed, as SSE without a list; it is whole or by topics, not both', async () => {
    const client = await open(a);
    const whole = await client.request({ op: 'subscribe', feed: 'ticker' });
    expect(whole).toMatchObject({ op: 'subscribed', feed: 'ticker' });
    expect(whole.topics).toBeUndefined();
    await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    const symbols = events(client.frames, 'ticker', 'snapshot')[0].data.quotes.map((q: any) => q.symbol);
    expect(symbols).toEqual(expect.arrayContaining(['WSA', 'WSB']));
    await tick(b, 'WSA', 7001);
    await tick(b, 'WSC', 7002);
    await client.waitFor((f) => prices(f, 'WSA').includes(7001) && prices(f, 'WSC').includes(7002));
    expect(await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSB'] })).toMatchObject({
      op: 'error',
      code: 'bad_request',
    });
    expect(await client.request({ op: 'unsubscribe', feed: 'ticker', topics: ['WSB'] })).toMatchObject({
      code: 'bad_request',
    });
    expect(await client.request({ op: 'unsubscribe', feed: 'ticker' })).toMatchObject({ op: 'unsubscribed' });
    await tick(b, 'WSA', 7003);
    expect(await client.request({ op: 'ping' })).toMatchObject({ op: 'pong' });
    await sleep(200);
    expect(prices(client.frames, 'WSA')).not.toContain(7003);
  });

  it('resumes with a cursor on the other instance with no gap and no repeat; a foreign cursor gets reset and a snapshot', async () => {
    const first = await open(a);
    await first.request({ op: 'subscribe', feed: 'ticker', topics: ['WSC'] });
    await first.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    for (let p = 1; p <= 5; p++) await tick(a, 'WSC', p);
    await first.waitFor((f) => prices(f, 'WSC').length === 5);
    const cursor = events(first.frames, 'ticker', 'tick').at(-1)!.id!;
    first.close();
    for (let p = 6; p <= 10; p++) await tick(b, 'WSC', p);

    const resumed = await open(b);
    await resumed.request({ op: 'subscribe', feed: 'ticker', topics: ['WSC'], cursor });
    await resumed.waitFor((f) => prices(f, 'WSC').length >= 5);
    await tick(a, 'WSC', 11);
    await resumed.waitFor((f) => prices(f, 'WSC').includes(11));
    expect(prices(resumed.frames, 'WSC')).toEqual([6, 7, 8, 9, 10, 11]);
    expect(events(resumed.frames, 'ticker', 'snapshot')).toHaveLength(0);

    const foreign = await open(a);
    await foreign.request({ op: 'subscribe', feed: 'ticker', topics: ['WSC'], cursor: 'deadbeef:1-0' });
    await foreign.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    const types = foreign.frames.filter((f) => f.type).map((f) => f.type);
    expect(types.slice(0, 2)).toEqual(['reset', 'snapshot']);
    expect(events(foreign.frames, 'ticker', 'snapshot')[0].data.quotes[0]).toMatchObject({ symbol: 'WSC', price: 11 });
  });

  it('refuses a bad handshake: no livefeed.v1 subprotocol, a foreign Origin, a bad token', async () => {
    expect(await handshakeStatus(a.url, { protocols: ['other.v1'], headers: ADMIN })).toBe(400);
    expect(await handshakeStatus(a.url, { headers: { ...ADMIN, origin: 'https://evil.example' } })).toBe(403);
    expect(await handshakeStatus(a.url, { query: 'token=not.a.token' })).toBe(401);
    expect(await handshakeStatus(a.url, { headers: { authorization: 'Bearer not.a.token' } })).toBe(401);
    // An allowed origin, the page's own origin, and a token as `?token=` upgrade.
    expect(await handshakeStatus(a.url, { headers: { ...ADMIN, origin: 'https://app.example' } })).toBeUndefined();
    const own = new URL(a.url);
    expect(await handshakeStatus(a.url, { headers: { ...ADMIN, origin: `http://${own.host}` } })).toBeUndefined();
    expect(await handshakeStatus(a.url, { query: 'token=test-admin-key-0123456789' })).toBeUndefined();
  });

  it('answers bad ops with an error and changes nothing; auth works as a first frame only', async () => {
    const client = await open(a, {});
    expect(await client.request({ op: 'auth', token: 'test-admin-key-0123456789' })).toMatchObject({
      op: 'authenticated',
    });
    expect(await client.request({ op: 'auth', token: 'x' })).toMatchObject({ op: 'error', code: 'bad_request' });
    expect(await client.request({ op: 'dance' })).toMatchObject({ op: 'error', code: 'bad_request' });
    expect(await client.request({ op: 'subscribe', feed: 'weather', topics: ['X'] })).toMatchObject({
      code: 'bad_request',
    });
    expect(await client.request({ op: 'subscribe', feed: 'ticker', topics: [] })).toMatchObject({
      code: 'bad_request',
    });
    expect(await client.request({ op: 'subscribe', feed: 'ticker', topics: [42] })).toMatchObject({
      code: 'bad_request',
    });
    const unknown = await client.request({ op: 'subscribe', feed: 'ticker', topics: ['NOPE'] });
    expect(unknown).toMatchObject({ op: 'error', code: 'unknown_topic' });
    expect(unknown.message).toMatch(/NOPE/);
    expect(await client.request({ op: 'subscribe', feed: 'scores', topics: ['not-a-uuid'] })).toMatchObject({
      code: 'bad_request',
    });
    expect(await client.request({ op: 'unsubscribe', feed: 'ticker', topics: ['WSA'] })).toMatchObject({
      code: 'not_subscribed',
    });
    client.ws.send('not json');
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await client.waitFor((f) => f.filter((x) => x.op === 'error' && x.ref === undefined).length === 2);
    // Nothing was subscribed by any of it: no feed frame arrives for a tick.
    await tick(a, 'WSA', 5000);
    await sleep(300);
    expect(client.frames.filter((f) => f.feed)).toEqual([]);
    expect(a.app.get(RealtimeService).socketStats().count).toBeGreaterThan(0);

    // A bad token in the auth frame: an error, then the socket is closed (4401).
    const bad = await open(a, {});
    bad.send({ op: 'auth', token: 'not.a.token', ref: 1 });
    expect((await bad.closed).code).toBe(4401);
    expect(bad.frames[0]).toMatchObject({ op: 'error', code: 'unauthorized', ref: 1 });
  });

  it('applies the plan: a free user is refused a premium instrument by name, and served a basic one', async () => {
    const user = await api(a.url, 'POST', '/admin/users', { name: 'ws free', plan: 'free' });
    const token = (await api(a.url, 'POST', `/admin/users/${user.body.id}/tokens`, {})).body.token as string;
    const client = await open(b, { headers: { authorization: `Bearer ${token}` } });
    const refused = await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSG'] });
    expect(refused).toMatchObject({ op: 'error', code: 'forbidden' });
    expect(refused.message).toMatch(/WSG/);
    await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSA'] });
    await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    // Adding the premium one to the live stream is refused too, and the basic one goes on.
    expect(await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSG'] })).toMatchObject({
      code: 'forbidden',
    });
    await tick(a, 'WSG', 7);
    await tick(a, 'WSA', 8);
    await client.waitFor((f) => prices(f, 'WSA').includes(8));
    expect(prices(client.frames, 'WSG')).toEqual([]);
  });

  it('a plan change revoking every topic of one feed ends that feed only: the socket and its other feed go on', async () => {
    const user = await api(a.url, 'POST', '/admin/users', { name: 'ws pro', plan: 'pro' });
    const token = (await api(a.url, 'POST', `/admin/users/${user.body.id}/tokens`, {})).body.token as string;
    const client = await open(b, { headers: { authorization: `Bearer ${token}` } });
    await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSG'] });
    await client.request({ op: 'subscribe', feed: 'scores', topics: [match] });
    await client.waitFor(
      (f) => events(f, 'ticker', 'snapshot').length === 1 && events(f, 'scores', 'snapshot').length === 1,
    );
    const entitlements = (await api(a.url, 'GET', '/admin/entitlements')).body.items as { plan: string }[];
    const pro = entitlements.find((e) => e.plan === 'pro') as any;
    const { plan: _plan, ...body } = pro;
    const put = (ticker: unknown) => api(a.url, 'PUT', '/admin/entitlements/pro', { ...body, ticker });
    expect((await put({ ...pro.ticker, tiers: ['basic'] })).status).toBe(200);
    try {
      await client.waitFor((f) => events(f, 'ticker', 'revoked').length === 1, 5_000);
      expect(events(client.frames, 'ticker', 'revoked')[0].data).toMatchObject({ topics: ['WSG'] });
      const scored = events(client.frames, 'scores', 'score').length;
      await score(match, { kind: 'score', team: 'away' });
      await client.waitFor((f) => events(f, 'scores', 'score').length > scored, 5_000);
      expect(client.ws.readyState).toBe(client.ws.OPEN);
      // The ticker's stream is over on this socket: unsubscribing it is refused, subscribing a basic symbol works.
      expect(await client.request({ op: 'unsubscribe', feed: 'ticker' })).toMatchObject({ code: 'not_subscribed' });
      await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSA'] });
      await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 2);
    } finally {
      expect((await put(pro.ticker)).status).toBe(200);
    }
  });

  it('a client that stops reading: the ticker is conflated within the budget, then the newest price of each symbol arrives', async () => {
    const client = await open(a);
    await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSA', 'WSB', 'WSC'] });
    await client.waitFor((f) => events(f, 'ticker', 'snapshot').length === 1);
    client.ws.pause();
    const realtime = a.app.get(RealtimeService);
    const ticker = b.app.get(TickerService);
    const symbols = ['WSA', 'WSB', 'WSC'];
    // The feed's own publish with big frames, so that the kernel's socket buffers fill and the
    // server's passes its budget.
    const pad = 'x'.repeat(1_000);
    let n = 0;
    let maxBuffered = 0;
    for (let batch = 0; batch < 50; batch++) {
      await ticker.feed.publish(
        Array.from({ length: 200 }, () => {
          const symbol = symbols[n % 3];
          return { type: 'tick', topic: symbol, data: { symbol, price: 10_000 + ++n, pad } };
        }),
      );
      maxBuffered = Math.max(maxBuffered, realtime.socketStats().maxBufferedBytes);
    }
    await sleep(500);
    maxBuffered = Math.max(maxBuffered, realtime.socketStats().maxBufferedBytes);
    // budget 16 KB + at most one frame over it + one pending frame per symbol
    expect(maxBuffered).toBeLessThan(16_384 + 4 * 1_200);
    const metrics = await fetch(`${a.url}/metrics`).then((r) => r.text());
    expect(Number(/ws_frames_conflated_total\{feed="ticker"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
    client.ws.resume();
    const newest: Record<string, number> = {};
    for (let i = n - 2; i <= n; i++) newest[symbols[(i - 1) % 3]] = 10_000 + i;
    await client.waitFor((f) => symbols.every((s) => prices(f, s).includes(newest[s])), 15_000);
    expect(prices(client.frames, 'WSA').length).toBeLessThan(n / 3);
  }, 60_000);

  it('a client that stops reading scores is closed past the hard limit and resumes from its cursor with nothing missing', async () => {
    const id = await createMatch();
    const client = await open(b);
    await client.request({ op: 'subscribe', feed: 'scores', topics: [id] });
    await client.waitFor((f) => events(f, 'scores', 'snapshot').length === 1);
    client.ws.pause();
    const scores = a.app.get(ScoresService);
    const pad = 'x'.repeat(2_000);
    const total = 5_000;
    for (let n = 0; n < total; n += 100) {
      await scores.feed.publish(
        Array.from({ length: 100 }, (_, i) => ({ type: 'score', topic: id, data: { matchId: id, n: n + i, pad } })),
      );
    }
    const realtime = b.app.get(RealtimeService);
    await waitFor(() => realtime.socketStats().count === 0, 30_000);
    client.ws.resume();
    await client.closed;
    const seen = events(client.frames, 'scores', 'score').map((f) => f.data.n as number);
    expect(seen.length).toBeLessThan(total);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));
    // The last id it processed (the snapshot's, if the close came before any score got through).
    const cursor = client.frames.filter((f) => f.feed === 'scores' && f.id).at(-1)!.id;

    const resumed = await open(a);
    await resumed.request({ op: 'subscribe', feed: 'scores', topics: [id], cursor });
    await resumed.waitFor((f) => events(f, 'scores', 'score').length >= total - seen.length, 60_000);
    expect(events(resumed.frames, 'scores', 'score').map((f) => f.data.n)).toEqual(
      Array.from({ length: total - seen.length }, (_, i) => seen.length + i),
    );
    const metrics = await fetch(`${b.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/ws_slow_consumer_closes_total\{feed="scores"\} [1-9]/);
  }, 120_000);

  it('server pings close a socket that stopped answering', async () => {
    const c = await startTestApp(env, { env: { SSE_HEARTBEAT_MS: '300' } });
    try {
      await pingsClose(c);
    } finally {
      await c.close();
    }
  });

  const pingsClose = async (c: TestApp) => {
    const client = await open(c);
    await client.request({ op: 'subscribe', feed: 'ticker', topics: ['WSA'] });
    // An answering client stays through several heartbeats.
    await sleep(1_000);
    expect(c.app.get(RealtimeService).socketStats().count).toBe(1);
    // A paused client reads nothing, so it answers no ping: after two heartbeats (300 ms) it is gone.
    client.ws.pause();
    const before = Date.now();
    await waitFor(async () => {
      const metrics = await fetch(`${c.url}/metrics`).then((r) => r.text());
      return /ws_connections_open 0\b/.test(metrics);
    }, 10_000);
    expect(Date.now() - before).toBeLessThan(5_000);
    expect(c.app.get(RealtimeService).socketStats().count).toBe(0);
  };
});
