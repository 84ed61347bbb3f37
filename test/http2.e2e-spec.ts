/**
 * HTTP/2 (issue 19): with TLS_CERT_FILE / TLS_KEY_FILE the app serves HTTPS with HTTP/2, and
 * HTTP/1.1 on the same port by ALPN. A `node:http2` client opens 20 SSE streams over one TLS
 * connection and all 20 receive the events; an HTTP/1.1 client, socket.io (WebSocket transport)
 * and the feed WebSocket still work on the same port. The certificate is self-signed, made here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type ClientHttp2Session, connect } from 'node:http2';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import {
  type TestApp,
  type TestEnv,
  TEST_ADMIN_KEY,
  createTestEnv,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';

const ADMIN = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };

describe('HTTP/2 with TLS, HTTP/1.1 on the same port (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;
  let dir: string;
  let ca: Buffer;
  let origin: string;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'livefeed-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(dir, 'cert.pem'));
    env = await createTestEnv();
    app = await startTestApp(env, {
      env: { TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem') },
    });
    origin = app.url.replace(/^http:/, 'https:');
  }, 60_000);
  afterAll(async () => {
    // An HTTP/2 client that keeps its session open does not hold the shutdown.
    const closing = Date.now();
    await app?.close();
    expect(Date.now() - closing).toBeLessThan(10_000);
    session?.destroy();
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An HTTP/1.1 request over TLS (node:https, which offers only http/1.1). */
  const http1 = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; version: string; body: any }>((resolve, reject) => {
      const req = request(`${origin}${path}`, { method, ca, headers: ADMIN }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, version: res.httpVersion, body: text ? JSON.parse(text) : undefined }),
        );
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });

  it('20 SSE streams over one HTTP/2 connection all receive the events; HTTP/1.1 works on the same port', async () => {
    const created = await http1('POST', '/admin/ticker/instruments', { symbol: 'HTWO', name: 'HTWO' });
    expect(created).toMatchObject({ status: 201, version: '1.1' });

    session = connect(origin, { ca });
    await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
    expect(session.alpnProtocol).toBe('h2');
    const streams = Array.from({ length: 20 }, () => {
      const stream = session.request({ ':path': '/ticker/stream?symbols=HTWO', accept: 'text/event-stream' });
      const received = { status: 0, text: '' };
      stream.on('response', (headers) => (received.status = Number(headers[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (received.text += chunk));
      return { stream, received };
    });
    await waitFor(() => streams.every(({ received }) => received.text.includes('event: snapshot')), 15_000);
    expect(streams.every(({ received }) => received.status === 200)).toBe(true);
    expect(app.app.get(RealtimeService).connectionStats().count).toBe(20);

    // A tick POSTed over the same HTTP/2 connection reaches all 20.
    const post = session.request({ ':method': 'POST', ':path': '/admin/ticker/ticks', ...ADMIN });
    const status = new Promise<number>((resolve) => post.on('response', (h) => resolve(Number(h[':status']))));
    post.end(JSON.stringify({ ticks: [{ symbol: 'HTWO', price: 42.5 }] }));
    expect(await status).toBe(202);
    await waitFor(
      () => streams.every(({ received }) => /event: tick\ndata: \{"symbol":"HTWO","price":42.5/.test(received.text)),
      15_000,
    );

    // Still one TCP connection: every stream and the POST went over this session.
    expect(session.closed).toBe(false);
    for (const { stream } of streams) stream.close();
    expect((await http1('GET', '/health/live')).status).toBe(200);
  });

  it('socket.io and the feed WebSocket work for HTTP/1.1 clients on the TLS port', async () => {
    const socket = io(`${origin}/chat`, {
      auth: { token: 'not-a-token' },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      ca,
    } as unknown as Parameters<typeof io>[1]);
    // The handshake reaches the gateway over TLS (which refuses the bad token): the transport works.
    const refused = await new Promise<string>((resolve) =>
      socket.once('connect_error', (error) => resolve(error.message)),
    );
    expect(refused).toMatch(/token|unauthorized/i);
    socket.close();

    const ws = new WebSocket(`${origin.replace(/^https/, 'wss')}/feeds/ws?token=${TEST_ADMIN_KEY}`, 'livefeed.v1', {
      ca,
    });
    const frames: any[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(JSON.stringify({ op: 'subscribe', feed: 'ticker', topics: ['HTWO'] }));
    await waitFor(() => frames.some((f) => f.type === 'snapshot'));
    expect(frames.find((f) => f.type === 'snapshot').data.quotes[0]).toMatchObject({ symbol: 'HTWO', price: 42.5 });
    ws.close();
  });
});
