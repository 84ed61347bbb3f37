/**
 * A rolling deploy under a stock chat client. Two instances A and B on one database and Redis
 * prefix; Bob uses `socket.io-client` with its DEFAULT options (only `auth`) against one address, a
 * TCP proxy standing in for the load balancer, which routes him to A. A shuts down gracefully while
 * the proxy stops routing to it; Alice, on B, writes to Bob while he is away. Bob's client must come
 * back by itself (not "io server disconnect", after which socket.io never reconnects), through the
 * proxy to B, and get every message sent meanwhile exactly once, in seq order, from his inbox.
 * Twice: A in this process closed with `app.close()` (what SIGTERM runs), and A as a real process
 * (`dist/main.js`, `npm run build` first) sent SIGTERM.
 */
import { type Socket, io } from 'socket.io-client';
import { type AppProcess, spawnApp } from './helpers/processes.js';
import { type ChatClient, type WireMessage, bearer, connectChat, createUser } from './helpers/socket-chat.js';
import { type TcpProxy, startTcpProxy } from './helpers/tcp-proxy.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

describe('chat: a rolling deploy under a stock socket.io client (e2e, two instances)', () => {
  let env: TestEnv;
  let b: TestApp;
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    b = await startTestApp(env);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await b?.close();
    await env?.cleanup();
  });

  /** The scenario against an instance A at `aUrl`; `stopA` shuts it down gracefully and resolves once it is gone. */
  async function rollingDeploy(aUrl: string, stopA: () => Promise<void>): Promise<void> {
    const proxy: TcpProxy = await startTcpProxy(aUrl);
    cleanups.push(() => proxy.close());
    const [aliceUser, bobUser] = [await createUser(b.url, 'Alice'), await createUser(b.url, 'Bob')];
    const created = await api(
      b.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: bobUser.id },
      bearer(aliceUser.token),
    );
    expect(created.status).toBe(201);
    const conversationId = created.body.id as string;

    // The stock client: default reconnection, default transports (polling, then the WebSocket).
    const socket: Socket = io(`${proxy.url}/chat`, { auth: { token: bobUser.token } });
    cleanups.push(() => socket.disconnect());
    const received: WireMessage[] = [];
    const reasons: string[] = [];
    let connects = 0;
    socket.on('connect', () => connects++);
    socket.on('disconnect', (reason) => reasons.push(reason));
    socket.on('message:new', ({ message }: { message: WireMessage }, ack?: () => void) => {
      received.push(message);
      ack?.();
    });
    await waitFor(() => connects === 1 && socket.io.engine.transport.name === 'websocket', 10_000);
    expect(new Set(proxy.routed)).toEqual(new Set([new URL(aUrl).host]));

    const alice: ChatClient = await connectChat(b.url, aliceUser.token);
    cleanups.push(() => alice.close());
    const send = async (body: string) => {
      const ack = await alice.send(conversationId, body);
      expect(ack).toMatchObject({ ok: true });
      return ack.message as WireMessage;
    };
    const before = await send('before the deploy');
    await waitFor(() => received.length === 1, 10_000); // live, across instances

    // The deploy: the balancer stops routing to A (new connections wait) and A drains.
    proxy.hold();
    const routedBefore = proxy.routed.length;
    const stopping = stopA();
    await waitFor(() => reasons.length === 1, 10_000);
    expect(reasons[0]).not.toBe('io server disconnect');
    const meanwhile: WireMessage[] = [];
    for (let i = 1; i <= 5; i++) meanwhile.push(await send(`while Bob is away ${i}`));
    await stopping;
    expect(connects).toBe(1); // all five were stored before Bob could reach B
    proxy.retarget(b.url);

    await waitFor(() => connects === 2, 15_000);
    await waitFor(() => received.length >= 6, 10_000);
    // A moment for a duplicate to show up, if one were coming (Alice's next message marks the end).
    const after = await send('after the deploy');
    await waitFor(() => received.some((m) => m.id === after.id), 10_000);

    expect(received.map((m) => m.seq)).toEqual([before, ...meanwhile, after].map((m) => m.seq));
    expect(received.map((m) => m.id)).toEqual([before, ...meanwhile, after].map((m) => m.id));
    expect(reasons).toEqual(['transport close']);
    // Every connection since the deploy began went to B.
    const sinceDeploy = proxy.routed.slice(routedBefore);
    expect(sinceDeploy.length).toBeGreaterThan(0);
    expect(new Set(sinceDeploy)).toEqual(new Set([new URL(b.url).host]));
  }

  it('A closed in process: Bob reconnects on his own, lands on B and gets what Alice sent meanwhile once each, in order', async () => {
    const a = await startTestApp(env);
    let closed = false;
    cleanups.push(() => (closed ? undefined : a.close()));
    await rollingDeploy(a.url, async () => {
      await a.close();
      closed = true;
    });
  }, 30_000);

  it('A a real process sent SIGTERM: the same, and A exits cleanly (not by the shutdown watchdog)', async () => {
    const a: AppProcess = await spawnApp(env.env, { readyTimeoutMs: 60_000 });
    cleanups.push(async () => {
      a.kill();
      await a.exited;
    });
    await rollingDeploy(a.url, async () => {
      a.kill('SIGTERM');
      // Nest raises the signal again once it has shut down; the watchdog would exit with code 1.
      const exit = await a.exited;
      expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    });
  }, 90_000);
});
