import { sign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { loadConfig } from '#src/config/app-config.js';
import { InboundVerifier, Rejection } from './inbound.verifier.js';

const STANDARD = `whsec_${Buffer.from('standard-secret-0123456789').toString('base64')}`;
const verifier = new InboundVerifier(
  loadConfig({
    STRIPE_WEBHOOK_SECRETS: 'whsec_old,whsec_new',
    GITHUB_WEBHOOK_SECRETS: 'gh-old,gh-new',
    STANDARD_WEBHOOK_SOURCES: `acme=${STANDARD}`,
    WEBHOOK_TOLERANCE_SECONDS: '60',
  }).config,
);

const reason = async (fn: () => unknown) => {
  try {
    await fn();
  } catch (error) {
    if (error instanceof Rejection) return error.reason;
    throw error;
  }
  return 'accepted';
};

describe('InboundVerifier', () => {
  const body = '{"id":"evt_1","type":"payment_intent.succeeded"}';
  const stripeHeaders = (secret: string, timestamp?: number, payload = body) => ({
    'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }),
  });
  const now = Math.floor(Date.now() / 1000);

  it('Stripe: accepts either secret; names each refusal', async () => {
    expect(verifier.stripe(Buffer.from(body), stripeHeaders('whsec_new'))).toMatchObject({
      externalId: 'evt_1',
      type: 'payment_intent.succeeded',
    });
    expect(await reason(() => verifier.stripe(Buffer.from(body), stripeHeaders('whsec_old')))).toBe('accepted');
    expect(await reason(() => verifier.stripe(Buffer.from(body), stripeHeaders('whsec_x')))).toBe('bad_signature');
    expect(await reason(() => verifier.stripe(Buffer.from(body), stripeHeaders('whsec_new', now - 61)))).toBe('stale');
    expect(await reason(() => verifier.stripe(Buffer.from(body), stripeHeaders('whsec_new', now + 61)))).toBe('future');
    expect(await reason(() => verifier.stripe(Buffer.from(body), {}))).toBe('missing_header');
    expect(await reason(() => verifier.stripe(Buffer.from('{'), stripeHeaders('whsec_new', now, '{')))).toBe(
      'malformed_json',
    );
    expect(await reason(() => verifier.stripe(Buffer.from('[]'), stripeHeaders('whsec_new', now, '[]')))).toBe(
      'invalid_event',
    );
  });

  it('GitHub: accepts either secret, requires its headers, keeps no signature', async () => {
    const headers = async (secret: string, payload = body) => ({
      'x-hub-signature-256': await sign(secret, payload),
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
    });
    const verified = await verifier.github(Buffer.from(body), await headers('gh-old'));
    expect(verified).toEqual({
      externalId: 'd-1',
      type: 'push',
      headers: { 'x-github-event': 'push', 'x-github-delivery': 'd-1' },
    });
    expect(await reason(async () => verifier.github(Buffer.from(body), await headers('gh-new')))).toBe('accepted');
    expect(await reason(async () => verifier.github(Buffer.from(body), await headers('nope')))).toBe('bad_signature');
    expect(
      await reason(async () =>
        verifier.github(Buffer.from(body), { ...(await headers('gh-new')), 'x-github-delivery': undefined }),
      ),
    ).toBe('missing_header');
    expect(await reason(async () => verifier.github(Buffer.from('{'), await headers('gh-new', '{')))).toBe(
      'malformed_json',
    );
  });

  it('Standard Webhooks: verifies with the library, applies a smaller tolerance on top', async () => {
    const headers = (at: Date, payload = '{"type":"a.b"}') => ({
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(STANDARD).sign('msg_1', at, payload),
    });
    const payload = Buffer.from('{"type":"a.b"}');
    expect(verifier.standardWebhook('acme', payload, headers(new Date()))).toMatchObject({
      externalId: 'msg_1',
      type: 'a.b',
    });
    // 120 s old: inside the library's 300 s, outside WEBHOOK_TOLERANCE_SECONDS=60.
    expect(await reason(() => verifier.standardWebhook('acme', payload, headers(new Date(Date.now() - 120_000))))).toBe(
      'stale',
    );
    expect(await reason(() => verifier.standardWebhook('acme', payload, headers(new Date(Date.now() + 120_000))))).toBe(
      'future',
    );
    expect(
      await reason(() => verifier.standardWebhook('acme', Buffer.from('{"type":"a.c"}'), headers(new Date()))),
    ).toBe('bad_signature');
  });

  it('refuses to boot with a malformed Standard Webhooks secret, naming the variable', () => {
    expect(() => new InboundVerifier(loadConfig({ STANDARD_WEBHOOK_SOURCES: 'acme=whsec_%%%' }).config)).toThrow(
      /STANDARD_WEBHOOK_SOURCES: bad secret for "acme"/,
    );
    expect(() => loadConfig({ STANDARD_WEBHOOK_SOURCES: 'stripe=whsec_abc' })).toThrow(/not stripe or github/);
  });
});
