/**
 * NDJSON streaming (`Accept: application/x-ndjson` on `/ticker/stream` and `/scores/stream`), two
 * instances: chunked `{ id, type, data }` lines with the ids the SSE stream and the long poll use,
 * heartbeats as empty lines, and a resume with `?cursor=` on the other instance with no gap and no
 * repeat; a foreign cursor gets `reset` and a snapshot.
 */
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

interface NdjsonClient {
  lines: ({ id?: string; type: string; data: any } | 'heartbeat')[];
  contentType: string | null;
  close(): void;
}

async function openNdjson(url: string): Promise<NdjsonClient> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'application/x-ndjson' }, signal: abort.signal });
  expect(response.status).toBe(200);
  const client: NdjsonClient = {
    lines: [],
    contentType: response.headers.get('content-type'),
    close: () => abort.abort(),
  };
  let seenFirst = false;
  void (async () => {
    const decoder = new TextDecoder();
    let rest = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        rest += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, newline);
          rest = rest.slice(newline + 1);
          if (line === '') {
            // The first empty line opens the stream; later ones are heartbeats.
            if (seenFirst) client.lines.push('heartbeat');
            seenFirst = true;
          } else client.lines.push(JSON.parse(line));
        }
      }
    } catch {
      // aborted
    }
  })();
  return client;
}

const events = (client: NdjsonClient, type?: string) =>
  client.lines.filter((line) => line !== 'heartbeat' && (!type || line.type === type)) as {
    id?: string;
    type: string;
    data: any;
  }[];

describe('NDJSON feed streams (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  const clients: NdjsonClient[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ SSE_HEARTBEAT_MS: '300' });
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: 'NDJ', name: 'NDJ' })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  const open = async (url: string) => {
    const client = await openNdjson(url);
    clients.push(client);
    return client;
  };
  const tick = async (price: number) =>
    expect((await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'NDJ', price }] })).status).toBe(202);

  it('ticker: a snapshot line, tick lines with ids, empty lines as heartbeats; resumes with ?cursor= on the other instance, no gap', async () => {
    const first = await open(`${a.url}/ticker/stream?symbols=NDJ`);
    expect(first.contentType).toMatch(/^application\/x-ndjson/);
    await waitFor(() => events(first, 'snapshot').length === 1);
    expect(events(first)[0]).toMatchObject({ type: 'snapshot', id: expect.any(String), data: { quotes: [] } });
    for (let price = 1; price <= 3; price++) await tick(price);
    await waitFor(() => events(first, 'tick').length === 3);
    const ticks = events(first, 'tick');
    expect(ticks.map((t) => t.data.price)).toEqual([1, 2, 3]);
    expect(ticks.every((t) => typeof t.id === 'string' && t.id.includes(':'))).toBe(true);
    await waitFor(() => first.lines.includes('heartbeat'), 3_000);
    first.close();

    // Missed while away: 4 and 5. Resume from the first tick's id on B: 2, 3, 4, 5, once each, no snapshot.
    await tick(4);
    await tick(5);
    const resumed = await open(`${b.url}/ticker/stream?symbols=NDJ&cursor=${encodeURIComponent(ticks[0].id!)}`);
    await waitFor(() => events(resumed, 'tick').length >= 4);
    await tick(6);
    await waitFor(() => events(resumed, 'tick').length === 5);
    expect(events(resumed, 'tick').map((t) => t.data.price)).toEqual([2, 3, 4, 5, 6]);
    expect(events(resumed, 'tick')[1].id).toBe(ticks[2].id); // the same ids as the first stream's
    expect(events(resumed, 'snapshot')).toEqual([]);
    // The long poll speaks the same ids: from the fifth tick's, the sixth.
    const fifth = events(resumed, 'tick')[3].id!;
    const poll = await api(b.url, 'GET', `/ticker/poll?symbols=NDJ&cursor=${encodeURIComponent(fifth)}&timeoutMs=0`);
    expect(poll.body.events.map((e: any) => e.data.price)).toEqual([6]);
  });

  it('a cursor the feed cannot vouch for: a reset line, then a snapshot', async () => {
    const client = await open(`${a.url}/ticker/stream?symbols=NDJ&cursor=0123456789abcdef:1-0`);
    await waitFor(() => events(client, 'snapshot').length === 1);
    expect(
      events(client)
        .map((e) => e.type)
        .slice(0, 2),
    ).toEqual(['reset', 'snapshot']);
  });

  it('scores: the snapshot and each score as lines; an EventSource-style request still gets SSE', async () => {
    const match = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'hockey',
      homeTeam: 'Lines',
      awayTeam: 'Frames',
      startsAt: new Date().toISOString(),
    });
    const id = match.body.id as string;
    const client = await open(`${b.url}/scores/stream?matches=${id}`);
    await waitFor(() => events(client, 'snapshot').length === 1);
    expect((await api(a.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' })).status).toBe(201);
    await waitFor(() => events(client, 'score').length === 1);
    expect(events(client, 'score')[0]).toMatchObject({ type: 'score', data: { matchId: id, status: 'live' } });
    const sse = await fetch(`${a.url}/scores/stream?matches=${id}`, { headers: { accept: 'text/event-stream' } });
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await sse.body?.cancel();
  });
});
