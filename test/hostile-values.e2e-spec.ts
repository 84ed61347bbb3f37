/**
 * Values a route would take for their type but that Postgres cannot hold or that do not fit, sent to
 * every operation of the OpenAPI document and every chat socket event (issue 14, items 1–3 and 5):
 * - a string with NUL, another control character or a lone surrogate, in any path parameter, query
 *   parameter or JSON body field → 422 naming the field (socket: ack `invalid` naming it);
 * - an integer past its bound or not plain digits, a date-time that is not exact RFC 3339 → 400
 *   naming the field, and every integer the document declares has a maximum;
 * - a user token whose `sub` is not a user id → 401 (socket: `connect_error` unauthorized);
 * - a form-encoded body on a JSON route → 415.
 * Routes and fields come from the app's own document, so a new route is covered without editing this.
 */
import { SignJWT } from 'jose';
import { MESSAGE_METADATA } from '@nestjs/websockets/constants.js';
import { io } from 'socket.io-client';
import { ChatGateway } from '#src/chat/chat.gateway.js';
import { USER_AUTH } from '#src/platform/auth/decorators.js';
import { clientMsgId, connectChat, createUser } from './helpers/socket-chat.js';
import { query } from './helpers/databases.js';
import {
  TEST_JWT_SECRET,
  type TestApp,
  type TestEnv,
  adminHeaders,
  api,
  createTestEnv,
  startTestApp,
} from './helpers/test-app.js';

interface Schema {
  type?: string;
  format?: string;
  example?: unknown;
  maximum?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  $ref?: string;
  allOf?: Schema[];
}
interface Parameter {
  name: string;
  in: string;
  schema?: Schema;
}
interface Operation {
  method: string;
  path: string;
  params: Parameter[];
  body?: Schema;
  user: boolean;
}

const UUID = '00000000-0000-4000-8000-000000000000';
/** Storable-text violations, as JSON string literals (a lone surrogate cannot be written otherwise). */
const BAD_TEXT = ['"a\\u0000b"', '"bell\\u0007"', '"x\\ud800y"'];
/** The same for a URL (path and query), percent-encoded as a client would send them. */
const BAD_URL_TEXT = ['a%00b', 'bell%07', '%1B%5B31m'];
const BAD_INTEGERS: unknown[] = [1e20, 9_223_372_036_854_775_808, 1.5, 'x', true];
const BAD_QUERY_INTEGERS = ['1e20', '9223372036854775808', '99999999999999999999', '1.5', '0x10', ' 1', '-1e3'];
const BAD_DATES: unknown[] = [
  true,
  0,
  1e15,
  '2026-W01-1',
  '20261201T000000Z',
  '2026-12-01T00:00:00,5Z',
  '2026-02-30T00:00:00Z',
  '2026-12-01T24:00:00Z',
  '10000-01-01T00:00:00Z',
  '+010000-01-01T00:00:00Z',
  '2026-12-01',
  '2026-12-01 00:00:00',
];

describe('hostile values at every operation and socket event (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  let operations: Operation[];
  let schemas: Record<string, Schema>;
  let userToken: string;
  let userHeaders: Record<string, string>;

  const resolve = (schema: Schema | undefined): Schema | undefined => {
    if (!schema) return undefined;
    if (schema.$ref) return resolve(schemas[schema.$ref.split('/').pop()!]);
    if (schema.allOf) {
      const merged: Schema = { type: 'object', properties: {} };
      for (const part of schema.allOf.map(resolve)) Object.assign(merged.properties!, part?.properties ?? {});
      return merged;
    }
    return schema;
  };
  /** Every leaf field of a body schema, with the JSON path to put a value at (one array level deep). */
  const fields = (schema: Schema | undefined, prefix = ''): { path: string; schema: Schema }[] => {
    const resolved = resolve(schema);
    if (!resolved?.properties) return [];
    return Object.entries(resolved.properties).flatMap(([name, child]) => {
      const field = resolve(child)!;
      const path = prefix ? `${prefix}.${name}` : name;
      if (field.type === 'array') {
        const items = resolve(field.items);
        return items?.properties ? fields(items, `${path}[0]`) : [{ path, schema: field }];
      }
      return field.properties ? fields(field, path) : [{ path, schema: field }];
    });
  };
  /** `{ a: { b: [ { c: <value> } ] } }` for path `a.b[0].c`, value as raw JSON. */
  const bodyWith = (path: string, rawValue: string): string => {
    let json = rawValue;
    for (const part of path.split('.').reverse()) {
      const isArray = part.endsWith('[0]');
      const key = isArray ? part.slice(0, -3) : part;
      json = `{${JSON.stringify(key)}:${isArray ? `[${json}]` : json}}`;
    }
    return json;
  };
  const fill = (path: string, _op?: Operation) => path.replace(/\{[^}]+\}/g, UUID);
  const headersFor = (op: Operation) => (op.user ? userHeaders : adminHeaders);
  const send = async (op: Operation, path: string, body?: string, headers = headersFor(op)) => {
    const response = await fetch(`${t.url}${path}`, {
      method: op.method,
      headers: body === undefined ? { authorization: headers.authorization } : headers,
      body,
      signal: AbortSignal.timeout(15_000),
    });
    const type = response.headers.get('content-type') ?? '';
    const parsed = type.includes('json') ? ((await response.json()) as { message?: string }) : undefined;
    if (!parsed) await response.body?.cancel();
    return { status: response.status, message: parsed?.message ?? '' };
  };

  beforeAll(async () => {
    env = await createTestEnv({ LONG_POLL_MAX_MS: '1000', DEMO_MODE: 'false' });
    t = await startTestApp(env);
    const doc = (await fetch(`${t.url}/docs-json`).then((r) => r.json())) as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: Parameter[];
            requestBody?: { content?: Record<string, { schema?: Schema }> };
            security?: Record<string, unknown>[];
          }
        >
      >;
      components: { schemas: Record<string, Schema> };
    };
    schemas = doc.components.schemas;
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        user: (op.security ?? []).some((s) => USER_AUTH in s),
      })),
    );
    const user = await createUser(t.url, 'Hostile Harry');
    userToken = user.token;
    userHeaders = { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  it('the document has the routes and fields this spec relies on', () => {
    expect(operations.length).toBeGreaterThan(30);
    expect(operations.filter((op) => op.user).length).toBeGreaterThan(3);
    const bodyFields = operations.flatMap((op) => fields(op.body));
    expect(bodyFields.some((f) => f.schema.format === 'date-time')).toBe(true);
    expect(bodyFields.some((f) => f.schema.type === 'integer')).toBe(true);
  });

  it('a string that is not storable text, in any path parameter, query parameter or body field → 422 naming it', async () => {
    const failures: string[] = [];
    for (const op of operations) {
      for (const param of op.params.filter((p) => p.in === 'path' || p.in === 'query')) {
        for (const bad of BAD_URL_TEXT) {
          let path = fill(op.path, op);
          if (param.in === 'path') path = op.path.replace(`{${param.name}}`, bad).replace(/\{[^}]+\}/g, UUID);
          else path = `${path}?${param.name}=${bad}`;
          const body = ['POST', 'PUT', 'PATCH'].includes(op.method) ? '{}' : undefined;
          const { status, message } = await send(op, path, body);
          const where = param.in === 'path' ? `params.${param.name}` : `query.${param.name}`;
          if (status !== 422 || !message.includes(where)) failures.push(`${op.method} ${path}: ${status} ${message}`);
        }
      }
      for (const field of fields(op.body).filter((f) => f.schema.type === 'string')) {
        for (const bad of BAD_TEXT) {
          const path = fill(op.path, op);
          const { status, message } = await send(op, path, bodyWith(field.path, bad));
          if (status !== 422 || !message.includes(`body.${field.path}`)) {
            failures.push(`${op.method} ${path} body.${field.path}=${bad}: ${status} ${message}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    // Nothing was stored on the way: no user, instrument, match, endpoint or conversation holds one.
    const rows = await query<{ n: string }>(
      env.databaseUrl,
      `SELECT (SELECT count(*) FROM users WHERE name <> 'Hostile Harry') + (SELECT count(*) FROM instruments)
        + (SELECT count(*) FROM matches) + (SELECT count(*) FROM webhook_endpoints) + (SELECT count(*) FROM conversations) AS n`,
    );
    expect(Number(rows[0].n)).toBe(0);
  }, 180_000);

  it('every integer the document declares has an upper bound, and past it, or not an integer → 400 naming it', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const op of operations) {
      const numeric = (p: Parameter) => p.in === 'query' && ['integer', 'number'].includes(p.schema?.type ?? '');
      for (const param of op.params.filter(numeric)) {
        checked++;
        if (param.schema!.type !== 'integer') failures.push(`${op.method} ${op.path} ?${param.name}: not an integer`);
        if (param.schema!.maximum === undefined) failures.push(`${op.method} ${op.path} ?${param.name}: no maximum`);
        const values = [...BAD_QUERY_INTEGERS, String((param.schema!.maximum ?? 1e20) + 1)];
        for (const value of values) {
          const path = `${fill(op.path, op)}?${param.name}=${encodeURIComponent(value)}`;
          const { status, message } = await send(op, path);
          if (status !== 400 || !message.includes(param.name))
            failures.push(`${op.method} ${path}: ${status} ${message}`);
        }
      }
      for (const field of fields(op.body).filter((f) => f.schema.type === 'integer')) {
        checked++;
        if (field.schema.maximum === undefined) failures.push(`${op.method} ${op.path} body.${field.path}: no maximum`);
        for (const value of [...BAD_INTEGERS, (field.schema.maximum ?? 1e20) + 1]) {
          const path = fill(op.path, op);
          const { status, message } = await send(op, path, bodyWith(field.path, JSON.stringify(value)));
          const name = field.path.split('.').pop()!.replace('[0]', '');
          if (status < 400 || status >= 500 || !message.includes(name)) {
            failures.push(`${op.method} ${path} body.${field.path}=${String(value)}: ${status} ${message}`);
          }
        }
      }
    }
    // page, limit, timeoutMs, beforeSeq, ttlSeconds, points, period, rateLimitPerSecond, …
    expect(checked).toBeGreaterThan(20);
    expect(failures).toEqual([]);
  }, 120_000);

  it('a date-time that is not exact RFC 3339 within years 0001–9999 → 400 naming it', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const op of operations) {
      for (const field of fields(op.body).filter((f) => f.schema.format === 'date-time')) {
        for (const value of BAD_DATES) {
          checked++;
          const path = fill(op.path, op);
          const { status, message } = await send(op, path, bodyWith(field.path, JSON.stringify(value)));
          if (status !== 400 || !message.includes(`${field.path.split('.').pop()} must be an RFC 3339 date-time`)) {
            failures.push(`${op.method} ${path} body.${field.path}=${JSON.stringify(value)}: ${status} ${message}`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    // …and exact ones are taken, with their offset.
    const match = await api(t.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'A',
      awayTeam: 'B',
      startsAt: '2026-12-01T20:30:00.25+01:00',
    });
    expect(match.status).toBe(201);
    expect(new Date(match.body.startsAt).toISOString()).toBe('2026-12-01T19:30:00.250Z');
  });

  it('every URL field (format uri): an IPv6 form embedding a private IPv4 address → 422, nothing stored', async () => {
    const SSRF = [
      'http://[::127.0.0.1]/hook',
      'http://[::7f00:1]/hook',
      'http://[::a9fe:a9fe]/latest/meta-data',
      'http://[::ffff:10.0.0.1]/hook',
      'http://[64:ff9b::c0a8:101]/hook',
      'http://[2002:7f00:1::]/hook',
    ];
    // A resource for the routes that take an id: made from the create route's own examples.
    const exampleBody = (op: Operation) => {
      const props = resolve(op.body)?.properties ?? {};
      return Object.fromEntries(
        Object.entries(props)
          .map(([name, prop]) => [name, resolve(prop)?.example] as const)
          .filter(([, example]) => example !== undefined),
      );
    };
    const uriOps = operations.filter((op) => fields(op.body).some((f) => f.schema.format === 'uri'));
    expect(uriOps.map((op) => `${op.method} ${op.path}`)).toEqual(
      expect.arrayContaining(['POST /admin/webhooks/endpoints', 'PATCH /admin/webhooks/endpoints/{id}']),
    );
    const create = uriOps.find((op) => op.method === 'POST' && !op.path.includes('{'))!;
    const existing = await api(t.url, 'POST', create.path, exampleBody(create));
    expect(existing.status).toBe(201);
    const failures: string[] = [];
    for (const op of uriOps) {
      for (const field of fields(op.body).filter((f) => f.schema.format === 'uri')) {
        for (const url of SSRF) {
          const path = op.path.replace(/\{[^}]+\}/g, existing.body.id);
          const body = { ...(op.method === 'POST' ? exampleBody(op) : {}), [field.path]: url };
          const res = await api(t.url, op.method, path, body);
          if (res.status !== 422) failures.push(`${op.method} ${path} ${field.path}=${url}: ${res.status}`);
        }
      }
    }
    expect(failures).toEqual([]);
    const rows = await query<{ url: string }>(env.databaseUrl, 'SELECT url FROM webhook_endpoints');
    expect(rows.map((r) => r.url)).toEqual([existing.body.url]);
  });

  it('a validly signed user token whose sub is not a user id → 401 on every user route and on the socket', async () => {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('not-a-uuid')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const failures: string[] = [];
    const userOps = operations.filter((op) => op.user);
    for (const op of userOps) {
      const body = ['POST', 'PUT', 'PATCH'].includes(op.method) ? '{}' : undefined;
      const headers = { authorization: `Bearer ${forged}`, 'content-type': 'application/json' };
      const { status } = await send(op, fill(op.path, op), body, headers);
      if (status !== 401) failures.push(`${op.method} ${op.path}: ${status}`);
    }
    expect(failures).toEqual([]);
    const socket = io(`${t.url}/chat`, { auth: { token: forged }, transports: ['websocket'], reconnection: false });
    const error = await new Promise<Error>((resolve) => socket.on('connect_error', resolve));
    socket.close();
    expect(error.message).toBe('unauthorized');
  });

  it('a form-encoded body on a JSON route → 415 and nothing created', async () => {
    const failures: string[] = [];
    // The signed receivers (/webhooks/…) take the bytes their senders sign: test/inbound-senders.e2e-spec.ts.
    for (const op of operations.filter((o) => o.body !== undefined && !o.path.startsWith('/webhooks/'))) {
      const response = await fetch(`${t.url}${fill(op.path, op)}`, {
        method: op.method,
        headers: { authorization: headersFor(op).authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=x&symbol=X&title=x',
      });
      await response.body?.cancel();
      if (response.status !== 415) failures.push(`${op.method} ${op.path}: ${response.status}`);
    }
    expect(failures).toEqual([]);
    const users = await api(t.url, 'GET', '/admin/users?limit=100');
    expect(users.body.items.map((u: { name: string }) => u.name)).toEqual(['Hostile Harry']);
  });

  it('every chat socket event: a payload with a control character → ack `invalid` naming the field', async () => {
    const events = Object.getOwnPropertyNames(ChatGateway.prototype)
      .map((name) => Reflect.getMetadata(MESSAGE_METADATA, (ChatGateway.prototype as any)[name]) as string | undefined)
      .filter((event): event is string => typeof event === 'string');
    expect(events).toEqual(expect.arrayContaining(['message:send', 'sync', 'message:read', 'typing']));
    const client = await connectChat(t.url, userToken);
    try {
      for (const event of events) {
        for (const [payload, field] of [
          [{ conversationId: UUID, body: 'hi\u0000', clientMsgId: clientMsgId() }, 'body'],
          [{ conversationId: 'a\u0007b', afterSeq: 0, seq: 1 }, 'conversationId'],
          [{ conversationId: UUID, body: 'x\ud800' }, 'body'],
        ] as const) {
          const ack = await client.request(event, payload);
          expect({ event, ack }).toEqual({
            event,
            ack: { ok: false, error: { code: 'invalid', message: expect.stringContaining(field) } },
          });
        }
      }
    } finally {
      client.close();
    }
  });

  it('one message with a NUL among concurrent sends fails alone: every other message is stored', async () => {
    const alice = await createUser(t.url, 'Alice');
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => createUser(t.url, `member-${i}`)));
    const group = await api(
      t.url,
      'POST',
      '/chat/conversations',
      { type: 'group', title: 'batch', memberIds: users.map((u) => u.id) },
      { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
    );
    expect(group.status).toBe(201);
    const clients = await Promise.all(users.map((u) => connectChat(t.url, u.token)));
    try {
      const acks = await Promise.all(
        clients.map((client, i) => client.send(group.body.id, i === 3 ? 'bad\u0000one' : `fine ${i}`)),
      );
      expect(acks.filter((ack) => ack.ok)).toHaveLength(5);
      expect(acks[3]).toEqual({ ok: false, error: { code: 'invalid', message: expect.stringContaining('body') } });
      const stored = await query<{ body: string }>(
        env.databaseUrl,
        'SELECT body FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [group.body.id],
      );
      expect(stored.map((m) => m.body).sort()).toEqual(['fine 0', 'fine 1', 'fine 2', 'fine 4', 'fine 5']);
    } finally {
      for (const client of clients) client.close();
    }
  });
});
