/**
 * Inbound webhooks against the real app, Postgres and Redis: every request is signed with the
 * provider's own library (stripe, @octokit/webhooks-methods, standardwebhooks).
 */
import { randomUUID } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from '#src/platform/queue/queue.constants.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { query } from './helpers/databases.js';
import {
  newStandardSecret,
  send,
  signGithub,
  signStandard,
  signStripe,
  stripeEvent,
} from './helpers/inbound-signing.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp, waitFor } from './helpers/test-app.js';

const STRIPE_A = 'whsec_stripe_test_secret_a';
const STRIPE_B = 'whsec_stripe_test_secret_b';
const GITHUB_A = 'github-test-secret-a';
const GITHUB_B = 'github-test-secret-b';
const STANDARD_A = newStandardSecret();
const STANDARD_B = newStandardSecret();

interface Row {
  id: string;
  provider: string;
  external_id: string;
  type: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

describe('inbound webhooks (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({
      STRIPE_WEBHOOK_SECRETS: `${STRIPE_A},${STRIPE_B}`,
      GITHUB_WEBHOOK_SECRETS: `${GITHUB_A},${GITHUB_B}`,
      STANDARD_WEBHOOK_SOURCES: `acme=${STANDARD_A},acme=${STANDARD_B}`,
      STRIPE_BODY_LIMIT_BYTES: '4096',
      GITHUB_BODY_LIMIT_BYTES: '8192',
      QUEUE_DEFAULT_ATTEMPTS: '3',
      QUEUE_DEFAULT_BACKOFF_MS: '100',
      INBOUND_RECONCILE_INTERVAL_MS: '300',
      INBOUND_RECONCILE_AFTER_MS: '2000',
    });
    t = await startTestApp(env);
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  const rows = (provider: string, externalId: string) =>
    query<Row>(
      env.databaseUrl,
      'SELECT id, provider, external_id, type, status, attempts, last_error FROM inbound_events WHERE provider = $1 AND external_id = $2',
      [provider, externalId],
    );
  const countEvents = async () =>
    Number((await query<{ n: string }>(env.databaseUrl, 'SELECT count(*) AS n FROM inbound_events'))[0].n);
  const outbox = (type: string, key: string, value: string) =>
    query<{ data: any }>(env.databaseUrl, `SELECT data FROM outbox_events WHERE type = $1 AND data->>$2 = $3`, [
      type,
      key,
      value,
    ]);
  /** A stored Stripe event with no job, as if the app had committed its row and lost the job. */
  const storeWithoutJob = (event: { id: string }) =>
    query(
      env.databaseUrl,
      `INSERT INTO inbound_events (provider, external_id, type, payload, received_at)
       VALUES ('stripe', $1, 'payment_intent.succeeded', $2, now() - interval '1 minute')`,
      [event.id, JSON.stringify(event)],
    );
  const settled = async (provider: string, externalId: string, status = 'processed'): Promise<Row> =>
    (await waitFor(async () => {
      const [row] = await rows(provider, externalId);
      return row?.status === status ? row : undefined;
    }, 15_000))!;

  describe('Stripe', () => {
    it('a signed event → 200, stored once, processed once; sent again → 200, not processed again', async () => {
      const event = stripeEvent('payment_intent.succeeded', {
        id: 'pi_123',
        object: 'payment_intent',
        amount: 4200,
        currency: 'eur',
        customer: 'cus_9',
        metadata: { userId: 'u-1' },
      });
      const request = signStripe(JSON.stringify(event), STRIPE_A);
      const first = await send(t.url, request);
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ received: true, id: expect.any(String), duplicate: false });

      const row = await settled('stripe', event.id);
      expect(row).toMatchObject({ id: first.body.id, type: 'payment_intent.succeeded', attempts: 1, last_error: null });
      expect((await outbox('payment.succeeded', 'stripeEventId', event.id)).map((r) => r.data)).toEqual([
        {
          stripeEventId: event.id,
          paymentIntentId: 'pi_123',
          amount: 4200,
          currency: 'eur',
          customer: 'cus_9',
          userId: 'u-1',
        },
      ]);

      // The same delivery again, and Stripe's retry (same event, new signature timestamp).
      const again = await send(t.url, request);
      const retry = await send(t.url, signStripe(JSON.stringify(event), STRIPE_A, Math.floor(Date.now() / 1000) + 1));
      expect(again).toEqual({ status: 200, body: { received: true, duplicate: true } });
      expect(retry).toEqual({ status: 200, body: { received: true, duplicate: true } });
      await sleep(700);
      expect(await rows('stripe', event.id)).toEqual([expect.objectContaining({ status: 'processed', attempts: 1 })]);
      expect(await outbox('payment.succeeded', 'stripeEventId', event.id)).toHaveLength(1);
    });

    it('two secrets configured (rotation): an event signed with either verifies', async () => {
      for (const secret of [STRIPE_A, STRIPE_B]) {
        const event = stripeEvent('customer.created', { id: 'cus_1' });
        const response = await send(t.url, signStripe(JSON.stringify(event), secret));
        expect(response.status).toBe(200);
        await settled('stripe', event.id, 'ignored'); // a type we do not handle
      }
    });

    it("checkout and subscription events set the user's plan and record subscription.updated", async () => {
      const user = (await api(t.url, 'POST', '/admin/users', { name: 'Payer' })).body;
      const checkout = stripeEvent('checkout.session.completed', {
        id: 'cs_1',
        object: 'checkout.session',
        client_reference_id: user.id,
        payment_status: 'paid',
        status: 'complete',
        subscription: 'sub_1',
        metadata: { plan: 'pro' },
      });
      expect((await send(t.url, signStripe(JSON.stringify(checkout), STRIPE_A))).status).toBe(200);
      await settled('stripe', checkout.id);
      expect((await api(t.url, 'GET', `/admin/users/${user.id}`)).body.plan).toBe('pro');
      expect((await outbox('subscription.updated', 'stripeEventId', checkout.id)).map((r) => r.data)).toEqual([
        {
          stripeEventId: checkout.id,
          stripeEventType: 'checkout.session.completed',
          userId: user.id,
          plan: 'pro',
          subscriptionId: 'sub_1',
          status: 'complete',
        },
      ]);

      const updated = stripeEvent('customer.subscription.updated', {
        id: 'sub_1',
        object: 'subscription',
        status: 'active',
        metadata: { userId: user.id },
        items: { data: [{ price: { lookup_key: 'team' } }] },
      });
      expect((await send(t.url, signStripe(JSON.stringify(updated), STRIPE_B))).status).toBe(200);
      await settled('stripe', updated.id);
      expect((await api(t.url, 'GET', `/admin/users/${user.id}`)).body.plan).toBe('team');

      const deleted = stripeEvent('customer.subscription.deleted', {
        id: 'sub_1',
        object: 'subscription',
        status: 'canceled',
        metadata: { userId: user.id },
      });
      expect((await send(t.url, signStripe(JSON.stringify(deleted), STRIPE_A))).status).toBe(200);
      await settled('stripe', deleted.id);
      expect((await api(t.url, 'GET', `/admin/users/${user.id}`)).body.plan).toBe('free');
      expect(await outbox('subscription.updated', 'userId', user.id)).toHaveLength(3);

      // Nothing to apply: recorded as ignored with the reason.
      const noPlan = stripeEvent('checkout.session.completed', { id: 'cs_2', client_reference_id: user.id });
      await send(t.url, signStripe(JSON.stringify(noPlan), STRIPE_A));
      const ignored = await settled('stripe', noPlan.id, 'ignored');
      expect(ignored.last_error).toMatch(/ignored: metadata.plan is not one of free, pro, team/);
    });
  });

  describe('GitHub', () => {
    it('push → github.push with repository, summary and the bound conversations; a repeat delivery is not processed again', async () => {
      const [c1, c2, other] = [randomUUID(), randomUUID(), randomUUID()];
      for (const conversationId of [c1, c2]) {
        const created = await api(t.url, 'POST', '/admin/webhooks/github/bindings', {
          repository: 'acme/app',
          conversationId,
        });
        expect(created.status).toBe(201);
        expect(created.body).toMatchObject({ repository: 'acme/app', conversationId });
      }
      await api(t.url, 'POST', '/admin/webhooks/github/bindings', { repository: 'acme/other', conversationId: other });

      const body = JSON.stringify({
        ref: 'refs/heads/main',
        compare: 'https://github.com/Acme/App/compare/a...b',
        commits: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
        pusher: { name: 'alice' },
        sender: { login: 'alice' },
        repository: { full_name: 'Acme/App' },
      });
      const request = await signGithub('push', body, GITHUB_A);
      const delivery = request.headers['x-github-delivery'];
      const response = await send(t.url, request);
      expect(response).toEqual({ status: 200, body: { received: true, id: expect.any(String), duplicate: false } });
      await settled('github', delivery);
      const events = await outbox('github.push', 'deliveryId', delivery);
      expect(events.map((e) => e.data)).toEqual([
        {
          deliveryId: delivery,
          repository: 'Acme/App',
          action: null,
          sender: 'alice',
          summary: 'alice pushed 3 commits to main of Acme/App',
          url: 'https://github.com/Acme/App/compare/a...b',
          conversationIds: [c1, c2],
        },
      ]);

      expect(await send(t.url, request)).toEqual({ status: 200, body: { received: true, duplicate: true } });
      await sleep(500);
      expect(await outbox('github.push', 'deliveryId', delivery)).toHaveLength(1);
      expect((await rows('github', delivery))[0].attempts).toBe(1);
    });

    it('release, pull_request and issues become github.* events with a one-line summary', async () => {
      const repository = { full_name: 'acme/lib' };
      const sender = { login: 'bob' };
      const cases: [string, object, string][] = [
        [
          'release',
          { action: 'published', release: { tag_name: 'v1.2.0', name: 'v1.2.0' }, repository, sender },
          'bob published release v1.2.0 of acme/lib',
        ],
        [
          'pull_request',
          {
            action: 'closed',
            number: 12,
            pull_request: { number: 12, title: 'Fix it', merged: true },
            repository,
            sender,
          },
          'bob merged pull request #12 "Fix it" in acme/lib',
        ],
        [
          'issues',
          { action: 'opened', issue: { number: 7, title: 'Broken' }, repository, sender },
          'bob opened issue #7 "Broken" in acme/lib',
        ],
      ];
      for (const [event, payload, summary] of cases) {
        const request = await signGithub(event, JSON.stringify(payload), GITHUB_B);
        expect((await send(t.url, request)).status).toBe(200);
        const delivery = request.headers['x-github-delivery'];
        await settled('github', delivery);
        const [domainEvent] = await outbox(`github.${event}`, 'deliveryId', delivery);
        expect(domainEvent.data).toMatchObject({ repository: 'acme/lib', summary, conversationIds: [] });
      }
    });

    it('answers ping (stored, ignored) and ignores event types without a handler', async () => {
      const ping = await signGithub('ping', JSON.stringify({ zen: 'Keep it simple.', hook_id: 1 }), GITHUB_A);
      expect((await send(t.url, ping)).status).toBe(200);
      await settled('github', ping.headers['x-github-delivery'], 'ignored');
    });

    it('bindings: list, 409 on a repeat, 400 on bad input, delete', async () => {
      const conversationId = randomUUID();
      const created = await api(t.url, 'POST', '/admin/webhooks/github/bindings', {
        repository: 'Acme/Bound',
        conversationId,
      });
      expect(created.body.repository).toBe('acme/bound');
      const repeat = await api(t.url, 'POST', '/admin/webhooks/github/bindings', {
        repository: 'acme/bound',
        conversationId,
      });
      expect(repeat.status).toBe(409);
      const bad = await api(t.url, 'POST', '/admin/webhooks/github/bindings', {
        repository: 'no-slash',
        conversationId: 'nope',
      });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toMatch(/repository must be owner\/name/);
      expect(bad.body.message).toMatch(/conversationId must be a UUID/);
      const listed = await api(t.url, 'GET', '/admin/webhooks/github/bindings?repository=ACME/bound');
      expect(listed.body).toMatchObject({ total: 1, items: [{ id: created.body.id, conversationId }] });
      expect((await api(t.url, 'DELETE', `/admin/webhooks/github/bindings/${created.body.id}`)).status).toBe(204);
      expect((await api(t.url, 'DELETE', `/admin/webhooks/github/bindings/${created.body.id}`)).status).toBe(404);
      expect((await api(t.url, 'GET', '/admin/webhooks/github/bindings', undefined, {})).status).toBe(401);
    });
  });

  describe('Standard Webhooks sources', () => {
    it('a signed event → stored once, processed once (no handler: ignored); either secret verifies; unknown source → 404', async () => {
      for (const secret of [STANDARD_A, STANDARD_B]) {
        const request = signStandard('acme', JSON.stringify({ type: 'invoice.paid', data: { n: 1 } }), secret);
        const first = await send(t.url, request);
        expect(first.status).toBe(200);
        const id = request.headers['webhook-id'];
        const row = await settled('acme', id, 'ignored');
        expect(row).toMatchObject({ type: 'invoice.paid', attempts: 1 });
        expect(await send(t.url, request)).toEqual({ status: 200, body: { received: true, duplicate: true } });
        await sleep(300);
        expect((await rows('acme', id))[0].attempts).toBe(1);
      }
      const unknown = signStandard('nobody', '{"type":"x"}', STANDARD_A);
      const response = await send(t.url, unknown);
      expect(response.status).toBe(404);
      expect(response.body.message).toMatch(/unknown webhook source "nobody"/);
    });
  });

  describe('refused requests: 400 (415, 413) with the envelope, and nothing stored', () => {
    const now = () => Math.floor(Date.now() / 1000);

    it.each([
      [
        'tampered body',
        () => signStripe('{"id":"evt_t1","type":"x"}', STRIPE_A),
        { body: '{"id":"evt_t1","type":"y"}' },
        /does not match/,
      ],
      ['wrong secret', () => signStripe('{"id":"evt_t2","type":"x"}', 'whsec_wrong'), {}, /does not match/],
      [
        'stale timestamp',
        () => signStripe('{"id":"evt_t3","type":"x"}', STRIPE_A, now() - 301),
        {},
        /more than 300 s old/,
      ],
      ['future timestamp', () => signStripe('{"id":"evt_t4","type":"x"}', STRIPE_A, now() + 301), {}, /in the future/],
      [
        'missing header',
        () => signStripe('{"id":"evt_t5","type":"x"}', STRIPE_A),
        { headers: { 'stripe-signature': undefined } },
        /missing Stripe-Signature/,
      ],
      [
        'malformed header',
        () => signStripe('{"id":"evt_t6","type":"x"}', STRIPE_A),
        { headers: { 'stripe-signature': 'garbage' } },
        /invalid Stripe-Signature/,
      ],
      ['malformed JSON (signed)', () => signStripe('{"id":"evt_t7",', STRIPE_A), {}, /not valid JSON/],
      ['no event id (signed)', () => signStripe('{"type":"x"}', STRIPE_A), {}, /event id/],
    ])('Stripe: %s', async (_name, make, change, message) => {
      const before = await countEvents();
      const response = await send(t.url, make(), change as never);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(message) });
      expect(await countEvents()).toBe(before);
    });

    const push = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'a/b' } });
    it.each([
      [
        'tampered body',
        () => signGithub('push', push, GITHUB_A),
        { body: push.replace('main', 'dev') },
        /does not match/,
      ],
      ['wrong secret', () => signGithub('push', push, 'not-the-secret'), {}, /does not match/],
      [
        'missing signature',
        () => signGithub('push', push, GITHUB_A),
        { headers: { 'x-hub-signature-256': undefined } },
        /missing X-Hub-Signature-256/,
      ],
      [
        'missing X-GitHub-Event',
        () => signGithub('push', push, GITHUB_A),
        { headers: { 'x-github-event': undefined } },
        /missing X-GitHub-Event/,
      ],
      [
        'missing X-GitHub-Delivery',
        () => signGithub('push', push, GITHUB_A),
        { headers: { 'x-github-delivery': undefined } },
        /missing X-GitHub-Delivery/,
      ],
      ['malformed JSON (signed)', () => signGithub('push', '{"ref":', GITHUB_A), {}, /not valid JSON/],
    ])('GitHub: %s', async (_name, make, change, message) => {
      const before = await countEvents();
      const response = await send(t.url, await make(), change as never);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(message) });
      expect(await countEvents()).toBe(before);
    });

    const msg = '{"type":"invoice.paid"}';
    it.each([
      [
        'tampered body',
        () => signStandard('acme', msg, STANDARD_A),
        { body: '{"type":"invoice.void"}' },
        /does not match/,
      ],
      ['wrong secret', () => signStandard('acme', msg, newStandardSecret()), {}, /does not match/],
      [
        'stale timestamp',
        () => signStandard('acme', msg, STANDARD_A, { timestamp: new Date(Date.now() - 400_000) }),
        {},
        /too old/,
      ],
      [
        'future timestamp',
        () => signStandard('acme', msg, STANDARD_A, { timestamp: new Date(Date.now() + 400_000) }),
        {},
        /future/,
      ],
      [
        'missing webhook-id',
        () => signStandard('acme', msg, STANDARD_A),
        { headers: { 'webhook-id': undefined } },
        /missing webhook-id/,
      ],
      ['malformed JSON (signed)', () => signStandard('acme', '{"type":', STANDARD_A), {}, /not valid JSON/],
    ])('Standard Webhooks: %s', async (_name, make, change, message) => {
      const before = await countEvents();
      const response = await send(t.url, make(), change as never);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(message) });
      expect(await countEvents()).toBe(before);
    });

    it('a body type other than application/json → 415; a body above the provider limit → 413', async () => {
      const before = await countEvents();
      const request = signStripe('{"id":"evt_ct","type":"x"}', STRIPE_A);
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/vnd.api+json']) {
        const response = await send(t.url, request, { headers: { 'content-type': type } });
        expect(response.status).toBe(415);
        expect(response.body).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' });
      }
      const big = JSON.stringify({ id: 'evt_big', type: 'x', pad: 'x'.repeat(5000) });
      const tooLarge = await send(t.url, signStripe(big, STRIPE_A));
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      // GitHub has its own (larger) limit: 5 KB passes there, 9 KB does not.
      const mid = JSON.stringify({ repository: { full_name: 'a/b' }, pad: 'x'.repeat(5000) });
      expect((await send(t.url, await signGithub('star', mid, GITHUB_A))).status).toBe(200);
      const huge = JSON.stringify({ repository: { full_name: 'a/b' }, pad: 'x'.repeat(9000) });
      expect((await send(t.url, await signGithub('star', huge, GITHUB_A))).status).toBe(413);
      expect(await countEvents()).toBe(before + 1);
    });

    it('rejections are counted by reason', async () => {
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      for (const line of [
        'inbound_webhooks_rejected_total{provider="stripe",reason="bad_signature"}',
        'inbound_webhooks_rejected_total{provider="stripe",reason="stale"}',
        'inbound_webhooks_rejected_total{provider="stripe",reason="future"}',
        'inbound_webhooks_rejected_total{provider="stripe",reason="missing_header"}',
        'inbound_webhooks_rejected_total{provider="stripe",reason="malformed_json"}',
        'inbound_webhooks_rejected_total{provider="stripe",reason="unsupported_media_type"} 3',
        'inbound_webhooks_rejected_total{provider="stripe",reason="too_large"} 1',
        'inbound_webhooks_rejected_total{provider="github",reason="missing_header"} 3',
        'inbound_webhooks_rejected_total{provider="acme",reason="stale"} 1',
        'inbound_webhooks_rejected_total{provider="unknown",reason="unknown_source"}',
      ]) {
        expect(metrics).toContain(line);
      }
    });
  });

  describe('failures, replay and the admin API', () => {
    it('a handler that throws → retried, visible as failed with its error, replayable from the admin API', async () => {
      const userId = randomUUID(); // no such user yet: the plan handler throws
      const event = stripeEvent('checkout.session.completed', {
        id: 'cs_retry',
        client_reference_id: userId,
        metadata: { plan: 'team' },
      });
      expect((await send(t.url, signStripe(JSON.stringify(event), STRIPE_A))).status).toBe(200);
      const failed = await settled('stripe', event.id, 'failed');
      expect(failed.attempts).toBe(3); // QUEUE_DEFAULT_ATTEMPTS
      expect(failed.last_error).toBe(`user ${userId} not found`);
      expect(await outbox('subscription.updated', 'stripeEventId', event.id)).toHaveLength(0);

      const listed = await api(t.url, 'GET', '/admin/webhooks/inbound?status=failed&provider=stripe');
      expect(listed.body.items).toEqual([
        expect.objectContaining({
          id: failed.id,
          status: 'failed',
          lastError: `user ${userId} not found`,
          attempts: 3,
        }),
      ]);

      // The operator fixes the cause, then replays.
      await query(env.databaseUrl, `INSERT INTO users (id, name) VALUES ($1, 'Late')`, [userId]);
      const replay = await api(t.url, 'POST', `/admin/webhooks/inbound/${failed.id}/replay`);
      expect(replay.status).toBe(202);
      expect(replay.body).toMatchObject({ id: failed.id, status: 'received', replays: 1 });
      const processed = await settled('stripe', event.id);
      expect(processed).toMatchObject({ attempts: 4, last_error: null });
      expect((await api(t.url, 'GET', `/admin/users/${userId}`)).body.plan).toBe('team');
      expect(await outbox('subscription.updated', 'stripeEventId', event.id)).toHaveLength(1);

      const again = await api(t.url, 'POST', `/admin/webhooks/inbound/${failed.id}/replay`);
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/is processed; only failed or waiting events can be replayed/);
    });

    it('a failing event among many processed together fails alone; the others are processed once', async () => {
      const failing = stripeEvent('checkout.session.completed', {
        client_reference_id: randomUUID(),
        metadata: { plan: 'pro' },
      });
      const payments = Array.from({ length: 30 }, (_, i) =>
        stripeEvent('payment_intent.succeeded', { id: `pi_batch_${i}`, amount: i }),
      );
      const all = [...payments.slice(0, 15), failing, ...payments.slice(15)];
      const responses = await Promise.all(all.map((e) => send(t.url, signStripe(JSON.stringify(e), STRIPE_A))));
      expect(responses.every((r) => r.status === 200)).toBe(true);
      const failed = await settled('stripe', failing.id, 'failed');
      expect(failed.last_error).toMatch(/not found/);
      for (const payment of payments) {
        const row = await settled('stripe', payment.id);
        expect(row.attempts).toBe(1);
        expect(await outbox('payment.succeeded', 'stripeEventId', payment.id)).toHaveLength(1);
      }
    });

    it('list: filters, newest first, paginated; get: with headers and payload; bad ids', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const event = stripeEvent('list.test', { n: i });
        ids.push(event.id);
        await send(t.url, signStripe(JSON.stringify(event), STRIPE_A));
        await sleep(5);
      }
      const pageOne = await api(t.url, 'GET', '/admin/webhooks/inbound?type=list.test&limit=2');
      expect(pageOne.status).toBe(200);
      expect(pageOne.body).toMatchObject({ page: 1, limit: 2, total: 3 });
      expect(pageOne.body.items.map((e: any) => e.externalId)).toEqual([ids[2], ids[1]]);
      expect(pageOne.body.items[0].payload).toBeUndefined();
      const pageTwo = await api(t.url, 'GET', '/admin/webhooks/inbound?type=list.test&limit=2&page=2');
      expect(pageTwo.body.items.map((e: any) => e.externalId)).toEqual([ids[0]]);
      expect((await api(t.url, 'GET', '/admin/webhooks/inbound?provider=github&type=list.test')).body.total).toBe(0);

      const one = await api(t.url, 'GET', `/admin/webhooks/inbound/${pageOne.body.items[0].id}`);
      expect(one.body).toMatchObject({
        provider: 'stripe',
        externalId: ids[2],
        type: 'list.test',
        payload: { id: ids[2], type: 'list.test', data: { object: { n: 2 } } },
        headers: { 'content-type': 'application/json' },
      });
      expect(JSON.stringify(one.body.headers)).not.toMatch(/signature/i);

      expect((await api(t.url, 'GET', `/admin/webhooks/inbound/${randomUUID()}`)).status).toBe(404);
      expect((await api(t.url, 'GET', '/admin/webhooks/inbound/not-a-uuid')).status).toBe(400);
      expect((await api(t.url, 'POST', `/admin/webhooks/inbound/${randomUUID()}/replay`)).status).toBe(404);
      const badStatus = await api(t.url, 'GET', '/admin/webhooks/inbound?status=lost');
      expect(badStatus.status).toBe(400);
      expect(badStatus.body.message).toMatch(/status must be one of/);
      expect((await api(t.url, 'GET', '/admin/webhooks/inbound', undefined, {})).status).toBe(401);
    });

    it('the reconciler queues a stored event whose job is missing (Redis lost it), and it is processed once', async () => {
      const event = stripeEvent('payment_intent.succeeded', { id: 'pi_lost', amount: 1, currency: 'usd' });
      // As if the app had committed the row and then lost the job (or died before queueing it).
      await storeWithoutJob(event);
      await settled('stripe', event.id);
      await sleep(800); // a few more reconciler passes
      expect(await outbox('payment.succeeded', 'stripeEventId', event.id)).toHaveLength(1);
      expect((await rows('stripe', event.id))[0].attempts).toBe(1);
    });

    it('the reconciler keeps running after an instance died between starting a run and scheduling the next', async () => {
      // BullMQ's worker adds a scheduler's next job after the current one became active: killed in
      // between, the scheduler is left with no next job. Make that state: the scheduler, no job.
      const maintenance = t.app.get<Queue>(getQueueToken(QUEUES.maintenance));
      const redis = t.app.get(RedisService).command;
      await waitFor(
        async () => {
          const jobs = await maintenance.getJobs(['active', 'waiting', 'delayed', 'prioritized']);
          const pending = jobs.filter((job) => job.repeatJobKey === 'inbound.reconcile');
          if (pending.length === 0) return true;
          for (const job of pending)
            await redis
              .multi()
              .zrem(maintenance.toKey('delayed'), job.id!)
              .lrem(maintenance.toKey('wait'), 0, job.id!)
              .zrem(maintenance.toKey('prioritized'), job.id!)
              .del(maintenance.toKey(job.id!))
              .exec();
          return false;
        },
        10_000,
        0,
      );
      expect(await maintenance.getJobScheduler('inbound.reconcile')).toBeTruthy();

      const event = stripeEvent('payment_intent.succeeded', {
        id: 'pi_orphaned_scheduler',
        amount: 3,
        currency: 'usd',
      });
      await storeWithoutJob(event);
      await settled('stripe', event.id);
      expect(await outbox('payment.succeeded', 'stripeEventId', event.id)).toHaveLength(1);
    });

    it('the reconciler runs again an event whose job finished but whose outcome never reached Postgres', async () => {
      const event = stripeEvent('payment_intent.succeeded', { id: 'pi_rolled_back', amount: 2, currency: 'usd' });
      expect((await send(t.url, signStripe(JSON.stringify(event), STRIPE_A))).status).toBe(200);
      await settled('stripe', event.id);
      // As if the processing commit had been lost (its job is completed in BullMQ all the same).
      await query(
        env.databaseUrl,
        `WITH gone AS (DELETE FROM outbox_events WHERE type = 'payment.succeeded' AND data->>'stripeEventId' = $1)
         UPDATE inbound_events SET status = 'received', attempts = 0, processed_at = NULL,
           received_at = now() - interval '1 minute' WHERE external_id = $1`,
        [event.id],
      );
      const row = await settled('stripe', event.id);
      expect(row.attempts).toBe(1);
      expect(await outbox('payment.succeeded', 'stripeEventId', event.id)).toHaveLength(1);
    });

    it('metrics: received, duplicates, processing latency, failures', async () => {
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      expect(metrics).toMatch(/inbound_webhooks_received_total\{provider="stripe"\} \d+/);
      expect(metrics).toMatch(/inbound_webhooks_duplicates_total\{provider="stripe"\} [1-9]/);
      expect(metrics).toMatch(
        /inbound_webhook_processing_latency_seconds_count\{provider="stripe",status="processed"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /inbound_webhook_failures_total\{provider="stripe",type="checkout.session.completed"\} [1-9]/,
      );
      expect(metrics).toMatch(/inbound_webhooks_reconciled_total [1-9]/);
    });

    it('is documented in the OpenAPI', async () => {
      const docs = (await (await fetch(`${t.url}/docs-json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(docs.paths)).toEqual(
        expect.arrayContaining([
          '/webhooks/stripe',
          '/webhooks/github',
          '/webhooks/in/{source}',
          '/admin/webhooks/inbound',
          '/admin/webhooks/inbound/{id}',
          '/admin/webhooks/inbound/{id}/replay',
          '/admin/webhooks/github/bindings',
        ]),
      );
    });
  });
});
