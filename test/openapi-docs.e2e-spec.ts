/**
 * The API docs tell the truth: every operation in `/docs-json` has a summary and a 2xx response
 * with its schema, the webhook receivers describe their body and signature headers, `/metrics` is
 * listed, the admin scheme is an API key (not a JWT), and the request body that Swagger UI's
 * "Try it out" sends for each route succeeds against a fresh object. The README's route table and
 * the OpenAPI document list the same operations, both ways.
 */
import { readFileSync } from 'node:fs';
import { type TestApp, type TestEnv, adminHeaders, api, createTestEnv, startTestApp } from './helpers/test-app.js';

type Schema = Record<string, any>;
interface OpenApiDoc {
  paths: Record<string, Record<string, Schema>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema> };
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);
const README = new URL('../README.md', import.meta.url);

function operations(doc: OpenApiDoc): { key: string; method: string; path: string; op: Schema }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, op })),
  );
}

/** `GET /a/:id?x=` → `GET /a/{id}`: the README writes path params as `:name` and may show a query. */
function normalise(route: string): string {
  const [method, rawPath] = route.trim().split(/\s+/);
  const path = rawPath.split('?')[0].replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  return `${method} ${path}`;
}

/**
 * The routes of the README table whose header is `| <header> | what |`: every `` `METHOD /path` ``
 * in its first column (one route per code span; a span that is not METHOD + path, like socket.io's,
 * is not an HTTP route and is skipped).
 */
function readmeRoutes(markdown: string, header: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\|\\s*${header}\\s*\\|`).test(line));
  if (start < 0) throw new Error(`README has no table headed "${header}"`);
  const routes: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const firstCell = line.split(/(?<!\\)\|/)[1] ?? '';
    for (const [, code] of firstCell.matchAll(/`([^`]+)`/g)) {
      if (/^(GET|POST|PUT|PATCH|DELETE) \//.test(code)) routes.push(normalise(code));
    }
  }
  return routes;
}

function resolve(doc: OpenApiDoc, schema: Schema | undefined): Schema | undefined {
  if (schema?.$ref) return doc.components.schemas[String(schema.$ref).split('/').pop()!];
  return schema;
}

/**
 * What Swagger UI generates for a schema without an example (swagger-ui's sampler, reduced to the
 * schema features our DTOs use): a property's example, else its default, else its first enum
 * value, else a placeholder of its type and format. Every property is filled, optional or not.
 */
function sample(doc: OpenApiDoc, raw: Schema | undefined): unknown {
  const schema = resolve(doc, raw);
  if (!schema) return undefined;
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((part: Schema) => sample(doc, part)));
  if (schema.type === 'object' || schema.properties) {
    return Object.fromEntries(
      Object.entries((schema.properties ?? {}) as Record<string, Schema>).map(([name, property]) => [
        name,
        sample(doc, property),
      ]),
    );
  }
  if (schema.type === 'array') return [sample(doc, schema.items)];
  if (schema.type === 'string') {
    if (schema.format === 'date-time') return new Date().toISOString();
    if (schema.format === 'uuid') return '3fa85f64-5717-4562-b3fc-2c963f66afa6';
    return 'string';
  }
  if (schema.type === 'number' || schema.type === 'integer') return schema.minimum ?? 0;
  if (schema.type === 'boolean') return true;
  return undefined;
}

/** The JSON body "Try it out" puts in the editor: the body's example, the first of its examples, or a sample. */
function tryItOutBody(doc: OpenApiDoc, method: string, path: string): Record<string, unknown> {
  const content = doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content?.['application/json'];
  if (!content) throw new Error(`${method} ${path} has no JSON request body`);
  if (content.example !== undefined) return content.example;
  const examples = Object.values((content.examples ?? {}) as Record<string, { value: unknown }>);
  if (examples.length > 0) return examples[0].value as Record<string, unknown>;
  return sample(doc, content.schema) as Record<string, unknown>;
}

describe('OpenAPI document and README (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  let doc: OpenApiDoc;

  beforeAll(async () => {
    env = await createTestEnv();
    t = await startTestApp(env);
    const response = await api(t.url, 'GET', '/docs-json');
    expect(response.status).toBe(200);
    doc = response.body as OpenApiDoc;
  });

  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  it('gives every operation a summary', () => {
    const missing = operations(doc)
      .filter(({ op }) => typeof op.summary !== 'string' || op.summary.trim() === '')
      .map(({ key }) => key);
    expect(missing).toEqual([]);
  });

  it('gives every operation a 2xx response, with a schema unless it is a 204', () => {
    const problems: string[] = [];
    for (const { key, op } of operations(doc)) {
      const success = Object.entries((op.responses ?? {}) as Record<string, Schema>).filter(([code]) =>
        /^2\d\d$/.test(code),
      );
      if (success.length === 0) problems.push(`${key}: no 2xx response`);
      for (const [code, response] of success) {
        if (code === '204') continue;
        const media = Object.entries((response.content ?? {}) as Record<string, Schema>);
        if (media.length === 0) problems.push(`${key} ${code}: no content`);
        for (const [type, { schema }] of media) if (!schema) problems.push(`${key} ${code} ${type}: no schema`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('describes the SSE routes as text/event-stream', () => {
    for (const path of ['/ticker/stream', '/scores/stream']) {
      expect(doc.paths[path].get.responses['200'].content['text/event-stream'].schema.type).toBe('string');
    }
  });

  it('describes the webhook receivers: a required JSON body and their signature headers', () => {
    const receivers: Record<string, string[]> = {
      '/webhooks/stripe': ['Stripe-Signature'],
      '/webhooks/github': ['X-Hub-Signature-256', 'X-GitHub-Event', 'X-GitHub-Delivery'],
      '/webhooks/in/{source}': ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
    };
    for (const [path, headers] of Object.entries(receivers)) {
      const op = doc.paths[path].post;
      expect(op.requestBody?.required).toBe(true);
      expect(op.requestBody.content['application/json'].schema).toBeDefined();
      const documented = (op.parameters as Schema[]).filter((p) => p.in === 'header').map((p) => p.name);
      expect(documented).toEqual(expect.arrayContaining(headers));
    }
  });

  it('lists /metrics as Prometheus text', async () => {
    expect(doc.paths['/metrics']?.get?.responses['200'].content['text/plain'].schema.type).toBe('string');
    const response = await fetch(`${t.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  });

  it('describes the admin scheme as the ADMIN_API_KEY, not a JWT', () => {
    const { admin, user } = doc.components.securitySchemes;
    expect(admin).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(String(admin.bearerFormat)).not.toMatch(/jwt/i);
    expect(admin.description).toMatch(/ADMIN_API_KEY/);
    expect(user).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    // Every admin route is marked with the admin scheme.
    const unmarked = operations(doc)
      .filter(({ path, op }) => path.startsWith('/admin/') && !(op.security ?? []).some((s: Schema) => 'admin' in s))
      .map(({ key }) => key);
    expect(unmarked).toEqual([]);
  });

  it('sends each request-body example as "Try it out" would, and each succeeds', async () => {
    const covered = new Set<string>();
    const send = async (
      method: string,
      path: string,
      params: Record<string, string> = {},
      ids: Record<string, unknown> = {},
      headers: Record<string, string> = adminHeaders,
    ) => {
      covered.add(`${method} ${path}`);
      // Ids in an example are placeholders (it cannot know this database's rows): put real ones in.
      const body = { ...tryItOutBody(doc, method, path) };
      for (const [field, value] of Object.entries(ids)) if (field in body) body[field] = value;
      const url = path.replace(/\{(\w+)\}/g, (_, name: string) => params[name]);
      const response = await api(t.url, method, url, body, headers);
      if (response.status < 200 || response.status > 299) {
        throw new Error(
          `${method} ${path} with ${JSON.stringify(body)}: ${response.status} ${JSON.stringify(response.body)}`,
        );
      }
      return response.body;
    };

    const alice = await send('POST', '/admin/users');
    const bob = await api(t.url, 'POST', '/admin/users', { name: 'Bob' });
    const carol = await api(t.url, 'POST', '/admin/users', { name: 'Carol' });
    const { token } = await send('POST', '/admin/users/{id}/tokens', { id: alice.id });
    const asAlice = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    const instrument = await send('POST', '/admin/ticker/instruments');
    await send('POST', '/admin/ticker/ticks');
    await send('PATCH', '/admin/ticker/instruments/{symbol}', { symbol: instrument.symbol });
    await send('PUT', '/admin/entitlements/{plan}', { plan: 'free' });
    await send('POST', '/feeds/tokens', {}, {}, asAlice);

    const match = await send('POST', '/admin/scores/matches');
    expect(match.status).toBe('scheduled');
    await send('POST', '/admin/scores/matches/{id}/events', { id: match.id });

    const conversation = await send(
      'POST',
      '/chat/conversations',
      {},
      { userId: bob.body.id, memberIds: [bob.body.id] },
      asAlice,
    );
    const group =
      conversation.type === 'group'
        ? conversation
        : (
            await api(
              t.url,
              'POST',
              '/chat/conversations',
              { type: 'group', title: 'G', memberIds: [bob.body.id] },
              asAlice,
            )
          ).body;
    await send('POST', '/chat/conversations/{id}/members', { id: group.id }, { userIds: [carol.body.id] }, asAlice);
    await send('POST', '/admin/webhooks/github/bindings', {}, { conversationId: group.id });

    const endpoint = await send('POST', '/admin/webhooks/endpoints');
    await send('PATCH', '/admin/webhooks/endpoints/{id}', { id: endpoint.id });
    await send('POST', '/admin/webhooks/endpoints/{id}/replay', { id: endpoint.id });

    // Every operation with a body is covered, except the signed receivers (no example can carry a
    // valid signature) and the demo routes (404 unless DEMO_MODE is on).
    const exempt = new Set([
      'POST /webhooks/stripe',
      'POST /webhooks/github',
      'POST /webhooks/in/{source}',
      'POST /auth/demo',
      'POST /demo/stripe/subscription',
    ]);
    const withBody = operations(doc)
      .filter(({ op, key }) => op.requestBody && !exempt.has(key))
      .map(({ key }) => key)
      .sort();
    expect([...covered].sort()).toEqual(withBody);
  });

  it('lists in the README route table exactly the operations of the OpenAPI document', () => {
    const markdown = readFileSync(README, 'utf8');
    const listed = readmeRoutes(markdown, 'route');
    const documented = operations(doc).map(({ key }) => key);
    const duplicates = listed.filter((route, i) => listed.indexOf(route) !== i);
    expect(duplicates).toEqual([]);
    expect(listed.filter((route) => !documented.includes(route)).sort()).toEqual([]); // nothing extra
    expect(documented.filter((route) => !listed.includes(route)).sort()).toEqual([]); // nothing missing
  });

  it('lists the routes outside the OpenAPI document in their own README table, and they are served', async () => {
    const outside = readmeRoutes(readFileSync(README, 'utf8'), 'outside `/docs`');
    expect(outside).toEqual(expect.arrayContaining(['GET /', 'GET /docs', 'GET /docs-json']));
    const documented = new Set(operations(doc).map(({ key }) => key));
    for (const route of outside) {
      expect(documented.has(route)).toBe(false);
      const [method, path] = route.split(' ');
      const response = await fetch(`${t.url}${path.replace(/\{\w+\}/g, 'x')}`, { method });
      // 503: the dashboard bundle is not built in this checkout (its page says so).
      expect([200, 503]).toContain(response.status);
    }
  });
});
