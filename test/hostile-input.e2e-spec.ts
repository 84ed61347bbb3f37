/**
 * Hostile input at every HTTP entry point: malformed, oversized and hostile path params, query
 * strings, bodies and headers. Every answer is a 4xx (or a 2xx where the input is merely odd but
 * legal), never a 5xx; the process stays up and `/health/live` stays 200 throughout.
 *
 * Routes come from the app's own OpenAPI document, so a route added by any feature is covered
 * without touching this file.
 */
import { request } from 'node:http';
import { type TestApp, type TestEnv, adminHeaders, createTestEnv, startTestApp } from './helpers/test-app.js';

interface Operation {
  method: string;
  path: string;
  params: { name: string; in: string }[];
  hasBody: boolean;
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  '%00',
  '\u0000',
  '../../../etc/passwd',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  'a'.repeat(5_000),
  '-1',
  '1e309',
  'NaN',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '😀\u202e',
  '[object Object]',
  '__proto__',
];

const HOSTILE_BODIES: (string | Buffer)[] = [
  '{',
  '{"a":',
  'null',
  '[]',
  '"string"',
  '12345',
  'true',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
  JSON.stringify({ a: 'x'.repeat(10_000), b: [1, 2, 3], c: { d: null } }),
  '['.repeat(5_000) + ']'.repeat(5_000),
  JSON.stringify(Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, i]))),
  Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
];

/** Raw HTTP so that odd methods, headers and bytes go out exactly as written; streams are cut short. */
function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request({ host: target.hostname, port: target.port, method, path, headers, timeout: 10_000 }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy(); // SSE and long polls would otherwise stay open
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', (error) => {
      // A connection the server cut after answering is fine; one it never answered is not.
      reject(new Error(`${method} ${path}: ${error.message}`));
    });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

describe('hostile input at every entry point (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  let operations: Operation[];
  const failures: string[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ DEMO_MODE: 'true', LONG_POLL_MAX_MS: '1000' });
    t = await startTestApp(env);
    const doc = (await fetch(`${t.url}/docs-json`).then((r) => r.json())) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        hasBody: op.requestBody !== undefined || ['POST', 'PUT', 'PATCH'].includes(method.toUpperCase()),
      })),
    );
  });
  beforeEach(() => {
    failures.length = 0;
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  const check = async (label: string, status: Promise<number>) => {
    const code = await status.catch((error: Error) => {
      failures.push(`${label}: no answer (${error.message})`);
      return 0;
    });
    if (code >= 500) failures.push(`${label}: ${code}`);
  };
  const live = async () => expect((await fetch(`${t.url}/health/live`)).status).toBe(200);

  it('covers the routes of every module', () => {
    const paths = operations.map((op) => op.path);
    expect(paths).toEqual(
      expect.arrayContaining(['/ticker/stream', '/scores/stream', '/admin/scores/matches/{id}/events']),
    );
    expect(operations.length).toBeGreaterThan(20);
  });

  it('hostile path params and query strings → never a 5xx', async () => {
    for (const op of operations) {
      for (const value of HOSTILE_STRINGS) {
        const encoded = encodeURIComponent(value);
        const path = op.path.replace(/\{[^}]+\}/g, encoded);
        const query = op.params
          .filter((p) => p.in === 'query')
          .map((p) => `${p.name}=${encoded}`)
          .join('&');
        const full = query ? `${path}?${query}` : path;
        const headers = { ...adminHeaders, 'last-event-id': value.replace(/[^\x20-\x7e]/g, '?').slice(0, 1000) };
        await check(
          `${op.method} ${full.slice(0, 120)}`,
          raw(t.url, op.method, full, headers, op.hasBody ? '{}' : undefined),
        );
      }
      // Repeated and unknown query parameters.
      const path = op.path.replace(/\{[^}]+\}/g, '1');
      const weird = op.params.map((p) => `${p.name}=a&${p.name}=b&${p.name}[x]=c`).join('&');
      await check(
        `${op.method} ${path}?repeated`,
        raw(t.url, op.method, `${path}?${weird}&__proto__[x]=1`, adminHeaders),
      );
    }
    expect(failures).toEqual([]);
    await live();
  });

  it('hostile bodies, content types and sizes → 4xx, never a 5xx', async () => {
    const bodied = operations.filter((op) => op.hasBody);
    expect(bodied.length).toBeGreaterThan(5);
    for (const op of bodied) {
      const path = op.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      for (const body of HOSTILE_BODIES) {
        await check(
          `${op.method} ${path} body ${String(body).slice(0, 30)}`,
          raw(t.url, op.method, path, adminHeaders, body),
        );
      }
      await check(
        `${op.method} ${path} text/plain`,
        raw(t.url, op.method, path, { ...adminHeaders, 'content-type': 'text/plain' }, 'hello'),
      );
      await check(
        `${op.method} ${path} 30 MB`,
        raw(t.url, op.method, path, adminHeaders, Buffer.alloc(30 * 1_048_576, 0x20)),
      );
      await check(
        `${op.method} ${path} lying content-length`,
        raw(t.url, op.method, path, { ...adminHeaders, 'content-length': '5' }, '{"a":1}'),
      );
    }
    expect(failures).toEqual([]);
    const deep = await fetch(`${t.url}/admin/ticker/ticks`, {
      method: 'POST',
      headers: adminHeaders,
      body: '{"ticks":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}',
    });
    expect(deep.status).toBe(400);
    expect(await deep.json()).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(/nested/),
    });
    // Prototype pollution did not reach this process's objects.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await live();
  });

  it('hostile headers: bad credentials, odd tokens, huge values → 4xx, never a 5xx', async () => {
    const headerSets: Record<string, string>[] = [
      { authorization: 'Bearer ' },
      { authorization: 'Bearer ' + 'x'.repeat(8_000) },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
      { authorization: 'Bearer a.b.c' },
      { 'x-request-id': '?' + '<>'.repeat(100) },
      { 'last-event-id': 'x'.repeat(8_000) },
      { 'content-type': 'application/json; charset=utf-16' },
      { 'if-none-match': '*' },
    ];
    for (const op of operations) {
      const path = op.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      for (const headers of headerSets) {
        await check(
          `${op.method} ${path} ${JSON.stringify(headers).slice(0, 60)}`,
          raw(
            t.url,
            op.method,
            path,
            { 'content-type': 'application/json', ...headers },
            op.hasBody ? '{}' : undefined,
          ),
        );
      }
    }
    expect(failures).toEqual([]);
    await live();
  });

  it('unknown routes and methods → 404/405-ish 4xx with the envelope', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/ticker/stream'],
      ['PROPFIND', '/'],
      ['GET', '/%'],
      ['GET', '/' + 'a/'.repeat(2_000)],
    ]) {
      await check(`${method} ${path.slice(0, 40)}`, raw(t.url, method, path, {}));
    }
    expect(failures).toEqual([]);
    await live();
  });
});
