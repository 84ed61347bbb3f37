/**
 * Slow request bodies (issue 14, item 4): a client that sends headers and then stalls or trickles
 * its body gets 408 after REQUEST_TIMEOUT_MS, on every route that takes a body (from the OpenAPI
 * document, webhook receivers with their large limits included), while streamed responses — an SSE
 * stream, a long poll, a socket.io connection — live past that time untouched.
 */
import { connect } from 'node:net';
import { EventSource } from 'eventsource';
import { connectChat, createUser } from './helpers/socket-chat.js';
import {
  type TestApp,
  type TestEnv,
  adminHeaders,
  api,
  createTestEnv,
  sleep,
  startTestApp,
} from './helpers/test-app.js';

const TIMEOUT_MS = 1_000;

/** Sends `head` and then `chunks` (one per `everyMs`); resolves with the status line the server answers, if any. */
function slowRequest(url: string, head: string, chunks: string[] = [], everyMs = 300): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 15 s to ${head.split('\r\n')[0]}`));
    }, 15_000);
    socket.on('connect', () => {
      socket.write(head);
      let i = 0;
      timer = setInterval(() => {
        if (i < chunks.length && !socket.destroyed) socket.write(chunks[i++]);
      }, everyMs);
    });
    socket.on('data', (data) => (answer += data.toString('latin1')));
    const done = () => {
      clearTimeout(deadline);
      clearInterval(timer);
      resolve(answer.split('\r\n')[0]);
    };
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', () => undefined);
  });
}

describe('request timeouts (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  let bodied: { method: string; path: string }[];

  beforeAll(async () => {
    env = await createTestEnv({
      REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
      STRIPE_WEBHOOK_SECRETS: 'whsec_test_stripe',
      GITHUB_WEBHOOK_SECRETS: 'gh-secret',
      LONG_POLL_MAX_MS: '30000',
    });
    t = await startTestApp(env);
    const doc = (await fetch(`${t.url}/docs-json`).then((r) => r.json())) as {
      paths: Record<string, Record<string, unknown>>;
    };
    bodied = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((m) => ['post', 'put', 'patch'].includes(m))
        .map((m) => ({
          method: m.toUpperCase(),
          path: path.replace('{source}', 'partner').replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000'),
        })),
    );
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  it('a body that stalls or trickles gets 408 on every route that takes one, webhooks included', async () => {
    expect(bodied.map((op) => op.path)).toEqual(expect.arrayContaining(['/webhooks/github', '/admin/users']));
    const head = (op: { method: string; path: string }, length: number) =>
      `${op.method} ${op.path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${adminHeaders.authorization}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"a":`;
    const answers = await Promise.all([
      ...bodied.map((op) => slowRequest(t.url, head(op, 100))),
      // One byte every 300 ms: never idle, still too slow in total.
      ...bodied.map((op) =>
        slowRequest(
          t.url,
          head(op, 100),
          Array.from({ length: 40 }, () => '1'),
        ),
      ),
      // A large webhook body that never finishes arriving.
      slowRequest(t.url, head({ method: 'POST', path: '/webhooks/github' }, 20_000_000), ['"x'.repeat(1000)]),
      // Headers that never end.
      slowRequest(t.url, 'GET /ticker/instruments HTTP/1.1\r\nHost: x\r\nX-Slow: 1', ['1', '2', '3']),
    ]);
    const wrong = answers.filter((line) => !line.startsWith('HTTP/1.1 408'));
    expect({ count: answers.length, wrong }).toEqual({ count: 2 * bodied.length + 2, wrong: [] });
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
  }, 60_000);

  it('an SSE stream, a long poll and a socket.io connection outlive the request timeout', async () => {
    await api(t.url, 'POST', '/admin/ticker/instruments', { symbol: 'SLOW', name: 'Slow Inc.' });
    const stream = new EventSource(`${t.url}/ticker/stream?symbols=SLOW`);
    const ticks: string[] = [];
    stream.addEventListener('tick', (event) => ticks.push(event.data));
    await new Promise((resolve, reject) => {
      stream.addEventListener('snapshot', resolve);
      stream.onerror = reject;
    });
    const first = await api(t.url, 'GET', '/ticker/poll?symbols=SLOW');
    const poll = api(t.url, 'GET', `/ticker/poll?symbols=SLOW&cursor=${first.body.cursor}&timeoutMs=3000`);
    const user = await createUser(t.url, 'Patient Pat');
    const chat = await connectChat(t.url, user.token);
    try {
      await sleep(3 * TIMEOUT_MS);
      expect((await poll).status).toBe(200); // answered at its own timeout, empty, not cut at 1 s
      expect(chat.socket.connected).toBe(true);
      expect(
        await chat.request('sync', { conversationId: '00000000-0000-4000-8000-000000000000', afterSeq: 0 }),
      ).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'not_found' }),
      });
      const accepted = await api(t.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'SLOW', price: 1.5 }] });
      expect(accepted.status).toBe(202);
      const deadline = Date.now() + 5_000;
      while (ticks.length === 0 && Date.now() < deadline) await sleep(50);
      expect(JSON.parse(ticks[0])).toMatchObject({ symbol: 'SLOW', price: 1.5 });
      expect(stream.readyState).toBe(EventSource.OPEN);
    } finally {
      stream.close();
      chat.close();
    }
  }, 30_000);
});
