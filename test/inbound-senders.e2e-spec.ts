/**
 * Webhook senders as they are (issue 14, items 1 and 7): GitHub's default form encoding, Svix's
 * header names, and provider payloads holding `\u0000` — each stored as received and processed
 * (never acknowledged and then stuck as failed), with nothing but the signature deciding.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { query } from './helpers/databases.js';
import { newStandardSecret, send, signGithub, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

const STRIPE = 'whsec_stripe_senders_test';
const GITHUB = 'github-senders-test';
const SVIX = newStandardSecret();

describe('webhook senders as they are (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({
      STRIPE_WEBHOOK_SECRETS: STRIPE,
      GITHUB_WEBHOOK_SECRETS: GITHUB,
      STANDARD_WEBHOOK_SOURCES: `partner=${SVIX}`,
    });
    t = await startTestApp(env);
  });
  afterAll(async () => {
    await t?.close();
    await env?.cleanup();
  });

  const settled = (provider: string, externalId: string) =>
    waitFor(async () => {
      const [row] = await query<{ id: string; status: string; type: string; last_error: string | null }>(
        env.databaseUrl,
        'SELECT id, status, type, last_error FROM inbound_events WHERE provider = $1 AND external_id = $2',
        [provider, externalId],
      );
      return row && row.status !== 'received' ? row : undefined;
    }, 15_000).then((row) => row!);
  const outbox = (type: string) =>
    query<{ data: any }>(env.databaseUrl, 'SELECT data FROM outbox_events WHERE type = $1', [type]);

  it('GitHub form-encoded (its default content type): the signature covers the form bytes, the JSON in `payload` is stored and processed', async () => {
    const conversationId = randomUUID();
    await api(t.url, 'POST', '/admin/webhooks/github/bindings', { repository: 'acme/form', conversationId });
    const json = JSON.stringify({
      ref: 'refs/heads/main',
      commits: [{ id: 'a' }],
      pusher: { name: 'forma' },
      sender: { login: 'forma' },
      repository: { full_name: 'acme/form' },
    });
    const form = `payload=${encodeURIComponent(json)}`;
    const delivery = randomUUID();
    const signed = await signGithub('push', form, GITHUB, delivery);
    const headers = { ...signed.headers, 'content-type': 'application/x-www-form-urlencoded' };
    expect((await send(t.url, signed, { headers })).status).toBe(200);
    const row = await settled('github', delivery);
    expect(row.status).toBe('processed');
    const stored = await api(t.url, 'GET', `/admin/webhooks/inbound/${row.id}`);
    expect(stored.body.payload).toEqual(JSON.parse(json));
    expect((await outbox('github.push')).map((r) => r.data.repository)).toEqual(['acme/form']);

    // The signature is over the form bytes: the same JSON re-encoded differently does not verify.
    const tampered = await send(t.url, signed, { headers, body: `payload=${encodeURIComponent(json)}&x=1` });
    expect(tampered.status).toBe(400);
    // A signed form without a payload field → 400; a form body to Stripe → 415.
    const empty = await signGithub('push', 'nothing=here', GITHUB);
    expect(
      (await send(t.url, empty, { headers: { 'content-type': 'application/x-www-form-urlencoded' } })).body,
    ).toMatchObject({ statusCode: 400, message: expect.stringContaining('payload field') });
    const stripeForm = await send(t.url, signStripe('a=b', STRIPE), {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(stripeForm.status).toBe(415);
  });

  it('Svix-hosted senders: svix-id / svix-timestamp / svix-signature verify on /webhooks/in/:source', async () => {
    const body = JSON.stringify({ type: 'invoice.paid', data: { id: 'inv_1' } });
    const id = `msg_${randomUUID()}`;
    const timestamp = new Date();
    const signature = new Webhook(SVIX).sign(id, timestamp, body);
    const svixHeaders = {
      'content-type': 'application/json',
      'svix-id': id,
      'svix-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'svix-signature': signature,
    };
    const request = { path: '/webhooks/in/partner', headers: svixHeaders, body };
    expect(await send(t.url, request)).toMatchObject({ status: 200, body: { received: true, duplicate: false } });
    expect((await settled('partner', id)).type).toBe('invoice.paid');
    expect((await send(t.url, request)).body).toMatchObject({ duplicate: true });
    const forged = await send(t.url, request, { body: body.replace('inv_1', 'inv_2') });
    expect(forged.status).toBe(400);
    const missing = await send(t.url, request, { headers: { 'svix-signature': undefined } });
    expect(missing.body).toMatchObject({ statusCode: 400, message: expect.stringContaining('svix-signature') });
  });

  it('a signed payload holding \\u0000 is stored exactly and processed, not acknowledged and then failed', async () => {
    const user = (await api(t.url, 'POST', '/admin/users', { name: 'Nul Payer' })).body;
    const event = stripeEvent('checkout.session.completed', {
      id: 'cs_nul',
      object: 'checkout.session',
      client_reference_id: user.id,
      status: 'comp\u0000lete',
      subscription: 'sub_\u0000',
      metadata: { plan: 'pro', 'note\u0000': 'a\u0000b' },
    });
    const body = JSON.stringify(event);
    expect(body).toContain('\\u0000');
    expect((await send(t.url, signStripe(body, STRIPE))).status).toBe(200);
    const row = await settled('stripe', event.id);
    expect(row).toMatchObject({ status: 'processed', last_error: null });
    expect((await api(t.url, 'GET', `/admin/users/${user.id}`)).body.plan).toBe('pro');
    const [recorded] = (await outbox('subscription.updated')).filter((r) => r.data.stripeEventId === event.id);
    expect(recorded.data).toMatchObject({ status: 'comp\uFFFDlete', subscriptionId: 'sub_\uFFFD' });
    // The stored text is the signed body, byte for byte.
    const [raw] = await query<{ payload: string }>(
      env.databaseUrl,
      'SELECT payload FROM inbound_events WHERE id = $1',
      [row.id],
    );
    expect(raw.payload).toBe(body);

    // GitHub too, with NUL in the fields its summary is built from.
    const conversationId = randomUUID();
    await api(t.url, 'POST', '/admin/webhooks/github/bindings', { repository: 'acme/nul', conversationId });
    const push = JSON.stringify({
      ref: 'refs/heads/ma\u0000in',
      commits: [{ id: 'a', message: 'fix\u0000' }],
      pusher: { name: 'n\u0000l' },
      repository: { full_name: 'acme/nul' },
    });
    const delivery = randomUUID();
    expect((await send(t.url, await signGithub('push', push, GITHUB, delivery))).status).toBe(200);
    expect(await settled('github', delivery)).toMatchObject({ status: 'processed' });
  });
});
