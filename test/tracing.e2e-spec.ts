/**
 * OpenTelemetry, on the built app as production starts it (`node --import ./dist/otel.js`): the
 * instrumentations patch modules as they load, which an in-process Nest app cannot show. One fact
 * followed end to end: a signed Stripe webhook (with a `traceparent` of the sender's) → its
 * processing job → the outbox relay's handler → the outbound delivery, whose request carries the
 * same trace to the subscriber. Spans are read from a real OTLP/HTTP (JSON) receiver. Without
 * OTEL_EXPORTER_OTLP_ENDPOINT the same flow exports nothing and sends no `traceparent`.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { send, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { bearer, connectChat, createUser } from './helpers/socket-chat.js';
import { type AppProcess, ROOT, spawnApp } from './helpers/processes.js';
import { type TestEnv, api, createTestEnv, sleep, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

const STRIPE = 'whsec_tracing_test_secret';
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
  links?: { traceId: string; spanId: string }[];
}

/** An OTLP/HTTP receiver: every body POSTed to /v1/traces, decoded (JSON encoding). */
class OtlpReceiver {
  readonly requests: string[] = [];
  readonly spans: ExportedSpan[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const holder: { receiver?: OtlpReceiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const receiver = holder.receiver!;
        receiver.requests.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
        if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            resourceSpans?: { scopeSpans?: { spans?: ExportedSpan[] }[] }[];
          };
          for (const resource of body.resourceSpans ?? []) {
            for (const scope of resource.scopeSpans ?? []) receiver.spans.push(...(scope.spans ?? []));
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    holder.receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`);
    return holder.receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const attributeText = (span: ExportedSpan) => JSON.stringify(span.attributes ?? []);

describe('OpenTelemetry (e2e, the built app)', () => {
  let otlp: OtlpReceiver;
  let receiver: WebhookReceiver;
  const envs: TestEnv[] = [];
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    [otlp, receiver] = await Promise.all([OtlpReceiver.start(), WebhookReceiver.start()]);
  });
  afterAll(async () => {
    for (const app of apps) {
      app.kill('SIGTERM');
      await app.exited;
    }
    await Promise.all([otlp?.close(), receiver?.close(), ...envs.map((env) => env.cleanup())]);
  });

  /** The app as `npm run start:prod` runs it, with `extra` in its environment. */
  async function start(extra: Record<string, string>): Promise<AppProcess> {
    const env = await createTestEnv({
      STRIPE_WEBHOOK_SECRETS: STRIPE,
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RECONCILE_INTERVAL_MS: '2000',
      OUTBOX_POLL_INTERVAL_MS: '200',
      NODE_OPTIONS: `--import ${pathToFileURL(join(ROOT, 'dist/otel.js')).href}`,
      ...extra,
    });
    envs.push(env);
    const app = await spawnApp(env.env, { readyTimeoutMs: 45_000 });
    apps.push(app);
    return app;
  }

  /**
   * An endpoint for `subscription.updated`, a user, and a signed Stripe event that changes the
   * user's plan; resolves with the delivery the receiver got.
   */
  async function planChange(app: AppProcess, headers: Record<string, string> = {}) {
    const path = `/hook-${randomBytes(4).toString('hex')}`;
    const endpoint = await api(app.url, 'POST', '/admin/webhooks/endpoints', {
      url: receiver.route(path),
      eventTypes: ['subscription.updated'],
    });
    expect(endpoint.status).toBe(201);
    const user = await api(app.url, 'POST', '/admin/users', { name: 'traced', plan: 'free' });
    expect(user.status).toBe(201);
    // The user's own events go through the relay first, so the plan change's batch is its own.
    await sleep(500);
    const event = stripeEvent('customer.subscription.updated', {
      id: 'sub_traced',
      object: 'subscription',
      status: 'active',
      metadata: { userId: user.body.id },
      items: { data: [{ price: { lookup_key: 'pro' } }] },
    });
    const response = await send(app.url, signStripe(JSON.stringify(event), STRIPE), { headers });
    expect(response.status).toBe(200);
    const delivered = (await waitFor(() => receiver.requests.find((r) => r.path === path), 15_000))!;
    expect(delivered.payload).toMatchObject({ type: 'subscription.updated', data: { plan: 'pro' } });
    return delivered;
  }

  it('one trace follows the webhook through processing, the outbox and the outbound delivery, to the subscriber', async () => {
    const app = await start({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      LOG_LEVEL: 'info',
    });
    // The sender's own trace: the server span honours it, and everything after continues it.
    const traceId = randomBytes(16).toString('hex');
    const senderSpan = randomBytes(8).toString('hex');
    const delivered = await planChange(app, { traceparent: `00-${traceId}-${senderSpan}-01` });

    const sent = String(delivered.headers.traceparent ?? '');
    expect(sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(sent.split('-')[1]).toBe(traceId);

    const trace = () => otlp.spans.filter((span) => span.traceId === traceId);
    const find = (test: (span: ExportedSpan) => boolean) => trace().find(test);
    const spans = (await waitFor(() => {
      const found = {
        request: find((s) => s.kind === SERVER && attributeText(s).includes('/webhooks/stripe')),
        processing: find((s) => s.name === 'inbound.process'),
        relay: find((s) => s.name === 'outbox.handle outbound-webhooks'),
        deliver: find((s) => s.name === 'webhook.deliver'),
        client: find((s) => s.kind === CLIENT && attributeText(s).includes(delivered.path)),
      };
      return Object.values(found).every(Boolean) ? found : undefined;
    }, 15_000).catch(() => {
      throw new Error(
        `spans of the trace: ${JSON.stringify(trace().map((s) => [s.name, s.kind]))}; exports: ${otlp.requests.length}`,
      );
    })) as Record<'request' | 'processing' | 'relay' | 'deliver' | 'client', ExportedSpan>;

    // Parent links, end to end: sender → server span → … → processing (the job) → relay handler;
    // the delivery continues the event's context; the HTTP client span is the delivery's child and
    // the one whose id the receiver got.
    expect(spans.request.parentSpanId).toBe(senderSpan);
    const ids = new Set(trace().map((s) => s.spanId));
    expect(ids.has(spans.processing.parentSpanId!)).toBe(true);
    expect(spans.relay.parentSpanId).toBe(spans.processing.spanId);
    expect(spans.deliver.parentSpanId).toBe(spans.processing.spanId);
    expect(spans.client.parentSpanId).toBe(spans.deliver.spanId);
    expect(sent.split('-')[2]).toBe(spans.client.spanId);
    // BullMQ's own telemetry (bullmq-otel): adding and processing the jobs.
    const bull = otlp.spans.filter((s) => attributeText(s).includes('bullmq.queue.name'));
    expect(bull.some((s) => s.kind === PRODUCER)).toBe(true);
    expect(bull.some((s) => s.kind === CONSUMER && s.name.startsWith('process'))).toBe(true);
    // Postgres and Redis spans of the same flow are there too (instrumented through the ESM hook).
    expect(otlp.spans.some((s) => attributeText(s).includes('postgresql'))).toBe(true);
    expect(otlp.spans.some((s) => attributeText(s).includes('"redis"'))).toBe(true);
    expect(otlp.requests.every((r) => r.startsWith('POST /v1/traces application/json'))).toBe(true);
    // Logs name the trace: the webhook's access line carries its trace and server span.
    const lines = app
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { trace_id?: string; span_id?: string; route?: string });
    const access = lines.find((line) => line.trace_id === traceId && line.route === '/webhooks/stripe');
    expect(access).toMatchObject({ trace_id: traceId, span_id: spans.request.spanId });
  }, 60_000);

  it('a job the reconciler queues again (its first one lost) continues the trace of the request that stored the event', async () => {
    const app = await start({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      INBOUND_RECONCILE_INTERVAL_MS: '500',
      INBOUND_RECONCILE_AFTER_MS: '500',
    });
    // The inbound queue paused from outside: the job waits, and is then lost (removed), as with a flushed Redis.
    const queue = new Queue(QUEUES.inbound, {
      connection: { host: '127.0.0.1', port: 6379 },
      prefix: `${envs.at(-1)!.prefix}bull`,
    });
    try {
      await queue.pause();
      const traceId = randomBytes(16).toString('hex');
      const event = stripeEvent('customer.created', { id: 'cus_reconciled' });
      const headers = { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
      expect((await send(app.url, signStripe(JSON.stringify(event), STRIPE), { headers })).status).toBe(200);
      const [job] = (await waitFor(async () => {
        const jobs = await queue.getJobs(['waiting']);
        return jobs.length > 0 ? jobs : undefined;
      }))!;
      await job.remove();
      // The reconciler finds the event without a job and queues it again, with the stored trace.
      await waitFor(async () => (await queue.getJobs(['waiting'])).length > 0, 15_000);
      await queue.resume();
      const processing = await waitFor(
        () => otlp.spans.find((s) => s.name === 'inbound.process' && s.traceId === traceId),
        15_000,
      );
      expect(processing).toBeDefined();
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('a chat message starts its trace at its socket event: the receive span, then its Postgres insert', async () => {
    const app = await start({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
    const [alice, bob] = [await createUser(app.url, 'Alice'), await createUser(app.url, 'Bob')];
    const direct = await api(
      app.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: bob.id },
      bearer(alice.token),
    );
    expect(direct.status).toBe(201);
    const chat = await connectChat(app.url, alice.token);
    try {
      const ack = await chat.send(direct.body.id, 'traced hello');
      expect(ack).toMatchObject({ ok: true });
    } finally {
      chat.close();
    }
    const found = await waitFor(() => {
      const receive = otlp.spans.find((s) => s.name.includes('message:send'));
      if (!receive) return undefined;
      const insert = otlp.spans.find(
        (s) =>
          s.traceId === receive.traceId &&
          attributeText(s).includes('postgresql') &&
          attributeText(s).includes('INSERT INTO messages'),
      );
      return insert ? { receive, insert } : undefined;
    }, 15_000).catch(() => {
      throw new Error(`spans: ${JSON.stringify(otlp.spans.slice(-40).map((s) => [s.name, s.kind]))}`);
    });
    expect(found!.receive.kind).toBe(SERVER);
  }, 60_000);

  it('without OTEL_EXPORTER_OTLP_ENDPOINT the same flow exports nothing and sends no traceparent', async () => {
    // A receiver of its own, where the exporter would send by default (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    // alone does not turn tracing on either).
    const idle = await OtlpReceiver.start();
    try {
      const app = await start({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${idle.url}/v1/traces`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        LOG_LEVEL: 'info',
      });
      const delivered = await planChange(app, {
        traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
      });
      expect(delivered.headers.traceparent).toBeUndefined();
      expect(app.output()).toContain('"msg":"request completed"');
      expect(app.output()).not.toContain('trace_id');
      await sleep(500); // longer than a batch's delay, had the SDK been started
      expect(idle.requests).toEqual([]);
    } finally {
      await idle.close();
    }
  }, 60_000);
});
