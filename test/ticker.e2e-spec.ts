import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { type SseClient, type SseFrame, openSse } from './helpers/sse-client.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';

describe('ticker over SSE and polls (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const open: SseClient[] = [];

  beforeAll(async () => {
    env = await createTestEnv({
      SSE_CONNECTION_BUDGET_BYTES: '16384',
      TICKER_LOG_LENGTH: '200',
      SSE_HEARTBEAT_MS: '300',
    });
    a = await startTestApp(env);
    b = await startTestApp(env);
    for (const symbol of ['AAPL', 'MSFT', 'TSLA']) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
  });
  afterEach(() => open.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await env?.cleanup();
  });

  const sse = async (url: string, headers: Record<string, string> = {}) => {
    const client = await openSse(url, headers);
    open.push(client);
    return client;
  };
  const publish = (app: TestApp, ticks: unknown[]) => api(app.url, 'POST', '/admin/ticker/ticks', { ticks });
  const ticks = (frames: SseFrame[]) => frames.filter((f) => f.event === 'tick');

  it("a stream's head carries the security headers and the stream's own", async () => {
    const client = await sse(`${a.url}/ticker/stream?symbols=AAPL`);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.headers['x-content-type-options']).toBe('nosniff');
    // A stream is not a document: the API's CSP, not the dashboard's, and no frame/page policies.
    expect(client.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(client.headers['x-frame-options']).toBeUndefined();
    expect(client.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(client.headers['x-accel-buffering']).toBe('no');
    await client.waitFor((frames) => frames.some((frame) => frame.event === 'snapshot'));
  });

  it('a subscriber on B receives ticks ingested on A, only for its symbols, each with an id', async () => {
    const client = await sse(`${b.url}/ticker/stream?symbols=AAPL,MSFT`);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(client.headers['x-accel-buffering']).toBe('no');
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    expect(client.frames[0].event).toBe('snapshot');

    const res = await publish(a, [
      { symbol: 'AAPL', price: 190.5, size: 10 },
      { symbol: 'TSLA', price: 250 },
      { symbol: 'MSFT', price: 421.25, size: 5 },
    ]);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 3 });
    await client.waitFor((f) => ticks(f).length >= 2);
    await sleep(200);
    const got = ticks(client.frames);
    expect(got.map((f) => f.data.symbol)).toEqual(['AAPL', 'MSFT']);
    expect(got[0].data).toMatchObject({ symbol: 'AAPL', price: 190.5, size: 10, ts: expect.any(Number) });
    for (const frame of got) expect(frame.id).toMatch(/^[0-9a-f]+:\d+-\d+$/);
  });

  it('resume: 20 ticks while away, reconnect on the other instance with Last-Event-ID → exactly those 20, then live', async () => {
    const first = await sse(`${a.url}/ticker/stream?symbols=AAPL`);
    // Published after the snapshot (one published before would be in it, not a tick frame).
    await first.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await publish(a, [{ symbol: 'AAPL', price: 100 }]);
    await first.waitFor((f) => ticks(f).some((x) => x.data.price === 100));
    const lastId = ticks(first.frames).at(-1)!.id!;
    first.close();

    for (let i = 1; i <= 20; i++)
      await publish(i % 2 ? a : b, [
        { symbol: 'AAPL', price: 100 + i },
        { symbol: 'TSLA', price: i },
      ]);
    const resumed = await sse(`${b.url}/ticker/stream?symbols=AAPL`, { 'last-event-id': lastId });
    await resumed.waitFor((f) => ticks(f).length >= 20);
    await publish(a, [{ symbol: 'AAPL', price: 500 }]);
    await resumed.waitFor((f) => ticks(f).some((x) => x.data.price === 500));
    const prices = ticks(resumed.frames).map((f) => f.data.price);
    expect(prices).toEqual([...Array.from({ length: 20 }, (_, i) => 101 + i), 500]);
    expect(resumed.frames.some((f) => f.event === 'snapshot' || f.event === 'reset')).toBe(false);
  });

  it('a cursor older than the log, or not a cursor at all → event: reset, then a snapshot and live', async () => {
    const live = await sse(`${a.url}/ticker/stream?symbols=MSFT`);
    await live.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    await publish(a, [{ symbol: 'MSFT', price: 1 }]);
    await live.waitFor((f) => ticks(f).length >= 1);
    const old = ticks(live.frames)[0].id!;
    live.close();
    // The log keeps ~200 entries: push the old cursor out of it.
    for (let i = 0; i < 6; i++)
      await publish(
        b,
        Array.from({ length: 100 }, (_, j) => ({ symbol: 'TSLA', price: 1 + i * 100 + j })),
      );

    let latest = 1;
    for (const lastEventId of [old, 'not-a-cursor', 'deadbeefdeadbeef:1-0']) {
      const client = await sse(`${b.url}/ticker/stream?symbols=MSFT`, { 'last-event-id': lastEventId });
      await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
      expect(client.status).toBe(200);
      expect(client.frames[0].event).toBe('reset');
      expect(client.frames[1].event).toBe('snapshot');
      expect(client.frames[1].data.quotes).toEqual([expect.objectContaining({ symbol: 'MSFT', price: latest })]);
      latest++;
      await publish(a, [{ symbol: 'MSFT', price: latest }]);
      await client.waitFor((f) => ticks(f).some((x) => x.data.price === latest));
      client.close();
    }
  });

  it('long poll: returns at once without a cursor, holds until a tick arrives, returns empty at its timeout', async () => {
    const start = await api(b.url, 'GET', '/ticker/poll?symbols=TSLA');
    expect(start.status).toBe(200);
    expect(start.body.events).toEqual([]);
    const cursor = start.body.cursor;

    const began = Date.now();
    const held = api(b.url, 'GET', `/ticker/poll?symbols=TSLA&cursor=${encodeURIComponent(cursor)}&timeoutMs=10000`);
    await sleep(300);
    await publish(a, [{ symbol: 'AAPL', price: 3 }]); // not this poll's symbol
    await sleep(200);
    await publish(a, [{ symbol: 'TSLA', price: 777 }]);
    const answer = await held;
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(answer.body.events).toEqual([
      { id: expect.any(String), type: 'tick', data: expect.objectContaining({ symbol: 'TSLA', price: 777 }) },
    ]);

    const quietStart = Date.now();
    const quiet = await api(
      a.url,
      'GET',
      `/ticker/poll?symbols=TSLA&cursor=${encodeURIComponent(answer.body.cursor)}&timeoutMs=700`,
    );
    expect(quiet.body.events).toEqual([]);
    expect(Date.now() - quietStart).toBeGreaterThanOrEqual(650);
    expect(quiet.body.cursor).toBe(answer.body.cursor);

    const reset = await api(a.url, 'GET', '/ticker/poll?symbols=TSLA&cursor=garbage&timeoutMs=100');
    expect(reset.status).toBe(200);
    expect(reset.body.events[0].type).toBe('reset');
  });

  it('short poll: quotes with an ETag, and If-None-Match → 304 until a newer tick', async () => {
    await publish(a, [{ symbol: 'AAPL', price: 42 }]);
    const first = await fetch(`${b.url}/ticker/quotes?symbols=AAPL`);
    const etag = first.headers.get('etag')!;
    expect(((await first.json()) as any).quotes).toEqual([expect.objectContaining({ symbol: 'AAPL', price: 42 })]);
    expect((await fetch(`${b.url}/ticker/quotes?symbols=AAPL`, { headers: { 'if-none-match': etag } })).status).toBe(
      304,
    );
    await publish(a, [{ symbol: 'AAPL', price: 43 }]);
    expect((await fetch(`${b.url}/ticker/quotes?symbols=AAPL`, { headers: { 'if-none-match': etag } })).status).toBe(
      200,
    );
  });

  it('short poll: If-None-Match uses the weak comparison over a list (RFC 9110), and * matches', async () => {
    await publish(a, [{ symbol: 'MSFT', price: 100 }]);
    const etag = (await fetch(`${b.url}/ticker/quotes?symbols=MSFT`)).headers.get('etag')!;
    const status = async (ifNoneMatch: string) => {
      const res = await fetch(`${b.url}/ticker/quotes?symbols=MSFT`, { headers: { 'if-none-match': ifNoneMatch } });
      await res.arrayBuffer();
      return { ifNoneMatch, status: res.status, etag: res.headers.get('etag') };
    };
    for (const header of [`W/${etag}`, `"stale", ${etag}`, `"stale",W/${etag} , "older"`, '*']) {
      expect(await status(header)).toEqual({ ifNoneMatch: header, status: 304, etag });
    }
    for (const header of ['"stale"', `"stale", W/"other"`, etag.slice(1, -1)]) {
      expect(await status(header)).toEqual({ ifNoneMatch: header, status: 200, etag });
    }
  });

  it('bad input: 422 naming the item, nothing published from a rejected batch; 422 for unknown stream symbols', async () => {
    const poll = (await api(b.url, 'GET', '/ticker/poll?symbols=AAPL')).body.cursor;
    const bad = await publish(a, [
      { symbol: 'AAPL', price: 10 },
      { symbol: 'NOPE', price: 10 },
      { symbol: 'MSFT', price: -1 },
      { symbol: 'MSFT', price: '12' },
    ]);
    expect(bad.status).toBe(422);
    expect(bad.body.message).toMatch(/ticks\[1\]\.symbol: unknown symbol NOPE/);
    expect(bad.body.message).toMatch(/ticks\[2\]\.price must be a positive finite number/);
    expect(bad.body.message).toMatch(/ticks\[3\]\.price/);
    const after = await api(b.url, 'GET', `/ticker/poll?symbols=AAPL&cursor=${encodeURIComponent(poll)}&timeoutMs=300`);
    expect(after.body.events).toEqual([]);

    const unknown = await api(a.url, 'GET', '/ticker/stream?symbols=AAPL,ZZZZ');
    expect(unknown.status).toBe(422);
    expect(unknown.body.message).toMatch(/ZZZZ/);
    const many = Array.from({ length: 101 }, (_, i) => `S${i}`).join(',');
    expect((await api(a.url, 'GET', `/ticker/stream?symbols=${many}`)).status).toBe(400);
    expect((await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [] })).status).toBe(400);
    for (const item of [null, 'AAPL', [1], { symbol: 7, price: 1 }, { symbol: 'AAPL', price: 1, extra: true }]) {
      const res = await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'AAPL', price: 1 }, item] });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/ticks\[1\]/);
    }
    expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: 'AAPL', name: 'dup' })).status).toBe(409);
  });

  it('a client that stops reading while 10,000 ticks flow stays within its budget and then gets the newest price per symbol', async () => {
    const client = await sse(`${a.url}/ticker/stream?symbols=AAPL,MSFT,TSLA`);
    await client.waitFor((f) => f.some((x) => x.event === 'snapshot'));
    client.response.pause();
    const realtime = a.app.get(RealtimeService);
    let maxBuffered = 0;
    const symbols = ['AAPL', 'MSFT', 'TSLA'];
    let n = 0;
    for (let batch = 0; batch < 20; batch++) {
      const items = Array.from({ length: 500 }, () => ({ symbol: symbols[n % 3], price: 1000 + ++n, size: n }));
      await publish(b, items);
      maxBuffered = Math.max(maxBuffered, realtime.connectionStats().maxBufferedBytes);
    }
    await sleep(500);
    maxBuffered = Math.max(maxBuffered, realtime.connectionStats().maxBufferedBytes);
    // budget 16 KB + at most one frame over it + one pending frame per symbol
    expect(maxBuffered).toBeLessThan(16_384 + 4 * 200);
    const metrics = await fetch(`${a.url}/metrics`).then((r) => r.text());
    expect(Number(/sse_frames_conflated_total\{feed="ticker"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);

    client.response.resume();
    const newest = { AAPL: 0, MSFT: 0, TSLA: 0 } as Record<string, number>;
    for (let i = n - 2; i <= n; i++) newest[symbols[(i - 1) % 3]] = 1000 + i;
    await client.waitFor(
      (f) => symbols.every((s) => ticks(f).some((x) => x.data.symbol === s && x.data.price === newest[s])),
      15_000,
    );
    // never an older price after a newer one, per symbol
    for (const symbol of symbols) {
      const prices = ticks(client.frames)
        .filter((f) => f.data.symbol === symbol)
        .map((f) => f.data.price);
      expect(prices).toEqual([...prices].sort((x, y) => x - y));
      expect(prices.at(-1)).toBe(newest[symbol]);
    }
    expect(ticks(client.frames).length).toBeLessThan(10_000);
  });

  it('cleans up a closed stream: no listener or connection left behind', async () => {
    const realtime = a.app.get(RealtimeService);
    await waitFor(() => realtime.connectionStats().count === 0, 5_000);
    const before = 0;
    const client = await sse(`${a.url}/ticker/stream?symbols=AAPL`);
    await client.waitFor((f) => f.length > 0);
    expect(realtime.connectionStats().count).toBe(before + 1);
    await waitFor(() => client.comments.filter((c) => c === 'heartbeat').length >= 2, 5_000);
    client.close();
    await waitFor(() => realtime.connectionStats().count === before, 5_000);
  });
});
