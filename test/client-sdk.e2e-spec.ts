/**
 * The client SDK (packages/client, issue 19) against two real instances behind a small HTTP proxy
 * that can refuse WebSocket upgrades and SSE routes, drop every connection and switch instances:
 * the SDK falls back WebSocket → SSE → long poll, climbs back to the WebSocket, and across every
 * switch delivers each tick published after its snapshot exactly once, in order; scores replayed
 * again after a switch (a proxy that resumes from an older cursor) are dropped by seq. The SDK's
 * chat session: what is written while the network is down is queued, kept in its storage and sent
 * once each on reconnect (to the other instance); an outbox item whose ack was lost is resent with
 * its clientMsgId and stored once; conversations, unread counts, typing, presence and read receipts
 * follow the other side; a refused token is renewed with `getToken`.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';
import {
  type ChatMessage,
  type ChatOptions,
  type ChatSession,
  type FeedEvent,
  type TransportKind,
  createClient,
  memoryStorage,
} from '../packages/client/src/index.js';
import type { Subscription } from '../packages/client/src/index.js';
import { connectChat } from './helpers/socket-chat.js';
import {
  TEST_ADMIN_KEY,
  type TestApp,
  type TestEnv,
  api,
  createTestEnv,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';

interface Proxy {
  url: string;
  target: string;
  blockUpgrades: boolean;
  blockSse: boolean;
  /** Refuses every request and upgrade (the network is down). */
  refuse: boolean;
  /** Rewrites the `Last-Event-ID` of SSE requests (a balancer that resumes from an older cursor). */
  rewriteCursor?: (cursor: string) => string;
  /** `kind host` of each request forwarded, in order. */
  routed: string[];
  /** The SSE bodies as they passed. */
  sseText: string;
  /** Ends every open connection (sockets, streams, polls). */
  drop(): void;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    if (sockets.has(socket)) return; // a kept-alive upstream socket is reused
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const isStream = /\/stream(\?|$)/.test(req.url ?? '');
    if (proxy.refuse) return void res.writeHead(503).end('down');
    if (isStream && proxy.blockSse) return void res.writeHead(503).end('sse blocked');
    const to = new URL(proxy.target);
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: to.host };
    const cursor = req.headers['last-event-id'];
    if (isStream && typeof cursor === 'string' && proxy.rewriteCursor)
      headers['last-event-id'] = proxy.rewriteCursor(cursor);
    proxy.routed.push(`${isStream ? 'sse' : 'http'} ${to.host} ${req.url}`);
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (isStream) answer.on('data', (chunk: Buffer) => (proxy.sseText += chunk.toString()));
        answer.pipe(res);
      },
    );
    upstream.on('socket', track);
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  };
  const server: Server = createServer(forward);
  server.on('connection', track);
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (proxy.blockUpgrades || proxy.refuse) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const to = new URL(proxy.target);
    proxy.routed.push(`ws ${to.host}`);
    const upstream = connect(Number(to.port), to.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    track(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: Proxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    target,
    blockUpgrades: false,
    blockSse: false,
    refuse: false,
    routed: [],
    sseText: '',
    drop: () => {
      for (const socket of [...sockets]) socket.destroy();
    },
    close: async () => {
      proxy.drop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

describe('client SDK (e2e, two instances behind a proxy)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let proxy: Proxy;
  const subscriptions: Subscription[] = [];
  const sessions: ChatSession[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: 'SDKA', name: 'SDK A' })).status).toBe(201);
    proxy = await startProxy(a.url);
  }, 60_000);
  afterEach(() => {
    subscriptions.splice(0).forEach((subscription) => subscription.close());
    sessions.splice(0).forEach((session) => session.close());
    Object.assign(proxy, {
      target: a.url,
      blockUpgrades: false,
      blockSse: false,
      refuse: false,
      rewriteCursor: undefined,
      sseText: '',
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  const client = () =>
    createClient({ baseUrl: proxy.url, token: TEST_ADMIN_KEY, upgradeIntervalMs: 1_000, connectTimeoutMs: 3_000 });

  it('falls back ws → sse → poll and climbs back to ws across both instances, every tick exactly once, in order', async () => {
    const events: FeedEvent<'ticker'>[] = [];
    const transports: TransportKind[] = [];
    const subscription = client().feeds.subscribe({
      feed: 'ticker',
      topics: ['SDKA'],
      onEvent: (event) => events.push(event),
      onTransport: (transport) => transports.push(transport),
    });
    subscriptions.push(subscription);
    await waitFor(() => events.some((event) => event.type === 'snapshot'));
    expect(subscription.transport).toBe('ws');

    // A steady numbered flow, published in turn through both instances (each publish awaited: one order).
    const published: number[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let n = 1; publishing; n++) {
        const price = 1000 + n;
        const { status } = await api(n % 2 ? a.url : b.url, 'POST', '/admin/ticker/ticks', {
          ticks: [{ symbol: 'SDKA', price }],
        });
        expect(status).toBe(202);
        published.push(price);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const ticks = () => events.filter((event) => event.type === 'tick').map((event) => event.data.price as number);
    const moreTicks = async (count: number) => {
      const target = ticks().length + count;
      await waitFor(() => ticks().length >= target, 15_000);
    };

    await moreTicks(10);
    // No upgrades, and the next connections go to B: back onto SSE (on B) from the cursor.
    proxy.blockUpgrades = true;
    proxy.target = b.url;
    proxy.drop();
    await waitFor(() => subscription.transport === 'sse', 15_000);
    await moreTicks(10);

    // No SSE either, back to A: the long poll.
    proxy.blockSse = true;
    proxy.target = a.url;
    proxy.drop();
    await waitFor(() => subscription.transport === 'poll', 15_000);
    await moreTicks(10);

    // Everything open again, on B: the next upgrade try takes the WebSocket.
    proxy.target = b.url;
    proxy.blockUpgrades = false;
    proxy.blockSse = false;
    await waitFor(() => subscription.transport === 'ws', 15_000);
    await moreTicks(10);

    publishing = false;
    await publisher;
    const last = published[published.length - 1];
    await waitFor(() => ticks().includes(last), 15_000);
    expect(transports).toEqual(['ws', 'sse', 'poll', 'ws']);
    expect(ticks()).toEqual(published); // no loss, no repeat, in order
    expect(events.filter((event) => event.type === 'snapshot')).toHaveLength(1); // every switch resumed
    expect(events.some((event) => event.type === 'reset')).toBe(false);
    // Each transport really went through the proxy to the instance it was sent to.
    const [hostA, hostB] = [new URL(a.url).host, new URL(b.url).host];
    expect(proxy.routed).toEqual(
      expect.arrayContaining([
        `ws ${hostA}`,
        expect.stringMatching(new RegExp(`^sse ${hostB} `)),
        expect.stringMatching(new RegExp(`^http ${hostA} /ticker/poll`)),
        `ws ${hostB}`,
      ]),
    );
  }, 60_000);

  it('drops scores already counted when a switch replays them (dedupe by seq per match)', async () => {
    const created = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Home',
      awayTeam: 'Away',
      startsAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const match = created.body.id as string;
    const post = async (body: object) =>
      expect((await api(a.url, 'POST', `/admin/scores/matches/${match}/events`, body)).status).toBe(201);
    // A cursor from before any event of the match: a resume from it replays all of them.
    const early = (await api(a.url, 'GET', `/scores/poll?matches=${match}`)).body.cursor as string;

    const events: FeedEvent<'scores'>[] = [];
    const transports: TransportKind[] = [];
    const subscription = client().feeds.subscribe({
      feed: 'scores',
      topics: [match],
      onEvent: (event) => events.push(event),
      onTransport: (transport) => transports.push(transport),
    });
    subscriptions.push(subscription);
    await waitFor(() => events.some((event) => event.type === 'snapshot'));
    const seqs = () => events.flatMap((event) => (event.type === 'score' ? [event.data.event.seq] : []));
    await post({ kind: 'kickoff' });
    await post({ kind: 'score', team: 'home' });
    await waitFor(() => seqs().length === 2);

    // The SDK resumes on SSE from its cursor; the proxy hands the server the early one instead,
    // so seq 1 and 2 come again, then the new seq 3.
    proxy.rewriteCursor = () => early;
    proxy.blockUpgrades = true;
    proxy.target = b.url;
    proxy.drop();
    await waitFor(() => subscription.transport === 'sse', 15_000);
    await post({ kind: 'score', team: 'away' });
    await waitFor(() => seqs().includes(3), 15_000);
    // The replay did reach the SDK (the test is not vacuous): seq 1 and 2 came again over SSE.
    const replayed = [...proxy.sseText.matchAll(/event: score\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]).event.seq);
    expect(replayed).toEqual([1, 2, 3]);
    await post({ kind: 'score', team: 'home' });
    await waitFor(() => seqs().includes(4), 15_000);
    expect(seqs()).toEqual([1, 2, 3, 4]);
    expect(transports).toEqual(['ws', 'sse']);
    const lastScore = events.filter((event) => event.type === 'score').pop();
    expect(lastScore?.data).toMatchObject({ matchId: match, home: 2, away: 1, status: 'live' });
  }, 60_000);

  it('without topics reads the whole feed, on every transport', async () => {
    expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol: 'SDKW', name: 'SDK W' })).status).toBe(201);
    for (const transport of ['ws', 'sse', 'poll'] as TransportKind[]) {
      const events: FeedEvent<'ticker'>[] = [];
      const whole = createClient({ baseUrl: proxy.url, token: TEST_ADMIN_KEY, transports: [transport] });
      subscriptions.push(whole.feeds.subscribe({ feed: 'ticker', onEvent: (event) => events.push(event) }));
      await waitFor(() => events.some((event) => event.type === 'snapshot'));
      const price = { ws: 11, sse: 12, poll: 13 }[transport];
      const ticks = {
        ticks: [
          { symbol: 'SDKA', price },
          { symbol: 'SDKW', price },
        ],
      };
      expect((await api(b.url, 'POST', '/admin/ticker/ticks', ticks)).status).toBe(202);
      const got = (symbol: string) =>
        events.some((event) => event.type === 'tick' && event.data.symbol === symbol && event.data.price === price);
      await waitFor(() => got('SDKA') && got('SDKW'));
      subscriptions.pop()!.close();
    }
  });
  /** A user (admin API) and a user JWT for it. */
  async function user(name: string): Promise<{ id: string; token: string }> {
    const created = await api(a.url, 'POST', '/admin/users', { name });
    expect(created.status).toBe(201);
    const minted = await api(a.url, 'POST', `/admin/users/${created.body.id}/tokens`, {});
    return { id: created.body.id as string, token: minted.body.token as string };
  }

  async function directConversation(from: { token: string }, to: { id: string }): Promise<string> {
    const created = await api(
      a.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: to.id },
      { authorization: `Bearer ${from.token}`, 'content-type': 'application/json' },
    );
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  const historyOf = async (conversationId: string, token: string) =>
    (
      await api(a.url, 'GET', `/chat/conversations/${conversationId}/messages`, undefined, {
        authorization: `Bearer ${token}`,
      })
    ).body.items as ChatMessage[];

  async function session(baseUrl: string, token: string, options: ChatOptions = {}): Promise<ChatSession> {
    const chat = await createClient({ baseUrl, token }).chat.connect(options);
    sessions.push(chat);
    await waitFor(() => chat.state === 'connected', 15_000);
    return chat;
  }

  it('chat: messages written while the network is down are kept, then sent once each on reconnect (to the other instance)', async () => {
    const [alice, bob] = [await user('sdk alice'), await user('sdk bob')];
    const conversationId = await directConversation(alice, bob);
    const received: ChatMessage[] = [];
    const reader = await session(b.url, bob.token, { onMessage: (message) => received.push(message) });
    const storage = memoryStorage();
    const states: string[] = [];
    const writer = await session(proxy.url, alice.token, { storage, onState: (state) => states.push(state) });
    expect(writer.me).toBe(alice.id); // from GET /auth/me

    proxy.refuse = true;
    proxy.drop();
    await waitFor(() => writer.state === 'reconnecting', 10_000);
    const sent = [writer.send(conversationId, 'offline 1'), writer.send(conversationId, 'offline 2')];
    expect(writer.outbox.items.map((item) => [item.body, item.status])).toEqual([
      ['offline 1', 'queued'],
      ['offline 2', 'queued'],
    ]);
    // Kept in the storage (a page would find them after a reload).
    const kept = JSON.parse(storage.getItem(`livefeed.outbox.${alice.id}`)!) as { clientMsgId: string }[];
    expect(kept.map((item) => item.clientMsgId)).toEqual(sent.map((item) => item.clientMsgId));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).toEqual([]);

    proxy.target = b.url;
    proxy.refuse = false;
    await waitFor(() => writer.state === 'connected' && writer.outbox.items.length === 0, 20_000);
    await waitFor(() => received.length === 2, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would arrive meanwhile
    expect(received.map((message) => message.body)).toEqual(['offline 1', 'offline 2']);
    expect((await historyOf(conversationId, bob.token)).map((message) => message.body)).toEqual([
      'offline 1',
      'offline 2',
    ]);
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
    expect(JSON.parse(storage.getItem(`livefeed.outbox.${alice.id}`)!)).toEqual([]);
    // The server holds each under the clientMsgId it was written with: the same id sent again is the same message.
    const raw = await connectChat(a.url, alice.token);
    try {
      const again = await raw.send(conversationId, 'offline 1', sent[0].clientMsgId);
      expect(again).toMatchObject({ ok: true, message: { id: received[0].id, seq: received[0].seq } });
    } finally {
      raw.close();
    }
    // Bob's session learned of the conversation from the message itself, with its unread count.
    expect(reader.conversations.get(conversationId)?.unread).toBe(2);
  }, 60_000);

  it('chat: an outbox item whose ack was lost (stored, then the page reloaded) is resent with its clientMsgId and stored once', async () => {
    const [erin, frank] = [await user('sdk erin'), await user('sdk frank')];
    const conversationId = await directConversation(erin, frank);
    const raw = await connectChat(a.url, erin.token);
    const clientMsgId = 'sdk-lost-ack-1';
    try {
      expect((await raw.send(conversationId, 'stored once', clientMsgId)).ok).toBe(true);
    } finally {
      raw.close();
    }
    const storage = memoryStorage();
    const key = `livefeed.outbox.${erin.id}`;
    storage.setItem(key, JSON.stringify([{ clientMsgId, conversationId, body: 'stored once', status: 'sending' }]));
    const acked: ChatMessage[] = [];
    const writer = await session(proxy.url, erin.token, { userId: erin.id, storage, onMessage: (m) => acked.push(m) });
    await waitFor(() => writer.outbox.items.length === 0, 15_000);
    expect(storage.getItem(key)).toBe('[]');
    await waitFor(() => acked.length === 1);
    const history = await historyOf(conversationId, frank.token);
    expect(history.map((message) => message.body)).toEqual(['stored once']);
    expect(acked[0].id).toBe(history[0].id);
    expect(writer.conversations.get(conversationId)?.lastMessage?.id).toBe(history[0].id);
  }, 60_000);

  it('chat: typing, presence, unread and read receipts between two sessions; a refused token is renewed', async () => {
    const [carol, dave] = [await user('sdk carol'), await user('sdk dave')];
    let minted = 0;
    const chat = createClient({
      baseUrl: proxy.url,
      token: 'not-a-token',
      getToken: async () => {
        minted++;
        return carol.token;
      },
    });
    const writer = await chat.chat.connect({ userId: carol.id });
    sessions.push(writer);
    await waitFor(() => writer.state === 'connected', 15_000);
    expect(minted).toBe(1);
    const reader = await session(b.url, dave.token);

    const conversation = await writer.startDirect(dave.id);
    await waitFor(() => writer.presence.get(dave.id) === true, 10_000);
    writer.typing(conversation.id);
    await waitFor(() => reader.conversations.get(conversation.id)?.typing.has(carol.id), 10_000);
    writer.send(conversation.id, 'hello dave');
    await waitFor(() => reader.conversations.get(conversation.id)?.unread === 1, 10_000);
    // Dave's socket acknowledged it: Carol's session hears Dave's delivered cursor.
    await waitFor(() => (conversation.receipts.get(dave.id)?.deliveredSeq ?? 0) >= 1, 10_000);
    expect(conversation.receipts.get(dave.id)?.readSeq).toBe(0);

    await reader.open(conversation.id);
    expect([...reader.conversations.get(conversation.id)!.messages.values()].map((m) => m.body)).toEqual([
      'hello dave',
    ]);
    expect(reader.conversations.get(conversation.id)?.unread).toBe(0);
    await waitFor(() => conversation.receipts.get(dave.id)?.readSeq === 1, 10_000);

    reader.close();
    await waitFor(() => writer.presence.get(dave.id) === false, 10_000);
  }, 60_000);
});
