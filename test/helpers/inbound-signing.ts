/**
 * Signs webhook requests the way each provider does, with the providers' own libraries, and sends
 * them with the exact bytes that were signed.
 */
import { sign as githubSign } from '@octokit/webhooks-methods';
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';

export const newStandardSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export interface SignedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export function stripeEvent(type: string, object: Record<string, unknown>, id = `evt_${randomUUID()}`) {
  return {
    id,
    object: 'event',
    type,
    api_version: '2024-06-20',
    created: Math.floor(Date.now() / 1000),
    data: { object },
  };
}

/** `timestamp` in seconds; default now. */
export function signStripe(body: string, secret: string, timestamp?: number): SignedRequest {
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return {
    path: '/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body,
  };
}

export async function signGithub(
  event: string,
  body: string,
  secret: string,
  delivery: string = randomUUID(),
): Promise<SignedRequest> {
  return {
    path: '/webhooks/github',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': await githubSign(secret, body),
      'user-agent': 'GitHub-Hookshot/test',
    },
    body,
  };
}

export function signStandard(
  source: string,
  body: string,
  secret: string,
  options: { id?: string; timestamp?: Date } = {},
): SignedRequest {
  const id = options.id ?? `msg_${randomUUID()}`;
  const timestamp = options.timestamp ?? new Date();
  return {
    path: `/webhooks/in/${source}`,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, timestamp, body),
    },
    body,
  };
}

export async function send(
  base: string,
  request: SignedRequest,
  change: { body?: string; headers?: Record<string, string | undefined> } = {},
): Promise<{ status: number; body: any }> {
  const headers = Object.fromEntries(
    Object.entries({ ...request.headers, ...change.headers }).filter((entry): entry is [string, string] =>
      Boolean(entry[1]),
    ),
  );
  const response = await fetch(`${base}${request.path}`, {
    method: 'POST',
    headers,
    body: change.body ?? request.body,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, body };
}
