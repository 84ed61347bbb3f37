/**
 * Signature checks with each provider's own library, over the exact bytes received. Each failure
 * is a `Rejection` with a reason (a metric label) and a message for the 400 body.
 */
import { Injectable } from '@nestjs/common';
import { verifyWithFallback } from '@octokit/webhooks-methods';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import Stripe from 'stripe';
import { AppConfig } from '#src/config/app-config.js';
import { storableText } from '#src/platform/http/safe-text.js';

export type RejectReason =
  'missing_header' | 'bad_signature' | 'stale' | 'future' | 'empty_body' | 'malformed_json' | 'invalid_event';

export class Rejection extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

/** What the store needs from a verified request. */
export interface VerifiedEvent {
  externalId: string;
  type: string;
  /** Headers worth keeping; never a signature. */
  headers: Record<string, string>;
  /** The JSON to store when the signed body is not itself JSON (GitHub's form encoding). */
  json?: string;
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

const EXTERNAL_ID = /^[\x21-\x7e]{1,255}$/;
const KEPT_HEADERS = ['content-type', 'user-agent'];

function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function required(headers: RequestHeaders, name: string, display: string): string {
  const value = header(headers, name);
  if (value === undefined) throw new Rejection('missing_header', `missing ${display} header`);
  return value;
}

function keep(headers: RequestHeaders, names: string[]): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of [...KEPT_HEADERS, ...names]) {
    const value = header(headers, name);
    if (value !== undefined) kept[name] = value.slice(0, 500);
  }
  return kept;
}

function parseObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Rejection('malformed_json', 'body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Rejection('invalid_event', 'body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !EXTERNAL_ID.test(value)) {
    throw new Rejection('invalid_event', `${what} must be 1-255 printable characters`);
  }
  return value;
}

/** The provider's own type string, stored as text: a NUL in it becomes U+FFFD (see safe-text.ts). */
function checkType(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new Rejection('invalid_event', `${what} must be a string of 1-200 characters`);
  }
  return storableText(value);
}

@Injectable()
export class InboundVerifier {
  private readonly standard = new Map<string, Webhook[]>();

  constructor(private readonly config: AppConfig) {
    for (const [source, secrets] of Object.entries(config.inbound.standardSources)) {
      this.standard.set(
        source,
        secrets.map((secret) => {
          try {
            return new Webhook(secret);
          } catch (error) {
            throw new Error(`STANDARD_WEBHOOK_SOURCES: bad secret for "${source}": ${(error as Error).message}`, {
              cause: error,
            });
          }
        }),
      );
    }
  }

  hasStandardSource(source: string): boolean {
    return this.standard.has(source);
  }

  /**
   * `Stripe-Signature` through `stripe.webhooks.constructEvent`, against each secret in turn
   * (rotation). The library refuses old timestamps; one too far in the future is refused here.
   */
  stripe(raw: Buffer, headers: RequestHeaders, now = Date.now()): VerifiedEvent {
    const signature = required(headers, 'stripe-signature', 'Stripe-Signature');
    if (raw.length === 0) throw new Rejection('empty_body', 'empty body');
    const tolerance = this.config.inbound.toleranceSeconds;
    let event: Stripe.Event | undefined;
    for (const secret of this.config.inbound.stripeSecrets) {
      try {
        // The static and an instance's `webhooks` are the same object; no client needs building.
        event = Stripe.webhooks.constructEvent(raw, signature, secret, tolerance, undefined, now);
        break;
      } catch (error) {
        if (error instanceof SyntaxError) throw new Rejection('malformed_json', 'body is not valid JSON');
        const message = (error as Error).message;
        if (message.startsWith('Timestamp outside the tolerance zone')) {
          throw new Rejection('stale', `signature timestamp is more than ${tolerance} s old`);
        }
        if (message.startsWith('No signatures found matching')) continue; // maybe the next secret
        throw new Rejection('bad_signature', `invalid Stripe-Signature: ${message.split('\n')[0]}`);
      }
    }
    if (!event) throw new Rejection('bad_signature', 'Stripe-Signature does not match the body');
    const timestamp = Number(/(?:^|,)t=(\d+)/.exec(signature)?.[1]);
    if (timestamp > Math.floor(now / 1000) + tolerance) {
      throw new Rejection('future', `signature timestamp is more than ${tolerance} s in the future`);
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      throw new Rejection('invalid_event', 'body must be a JSON object');
    }
    return {
      externalId: checkId(event.id, 'event id'),
      type: checkType(event.type, 'event type'),
      headers: keep(headers, []),
    };
  }

  /**
   * `X-Hub-Signature-256` through `@octokit/webhooks-methods` `verifyWithFallback` (rotation).
   * GitHub signs no timestamp: the delivery id, unique per delivery, is the replay guard. A hook
   * created with GitHub's default content type sends `application/x-www-form-urlencoded` with the
   * JSON in its `payload` field; the signature covers the form bytes, and the JSON is what is stored.
   */
  async github(raw: Buffer, headers: RequestHeaders, form = false): Promise<VerifiedEvent> {
    const signature = required(headers, 'x-hub-signature-256', 'X-Hub-Signature-256');
    const event = required(headers, 'x-github-event', 'X-GitHub-Event');
    const delivery = required(headers, 'x-github-delivery', 'X-GitHub-Delivery');
    if (raw.length === 0) throw new Rejection('empty_body', 'empty body');
    const [first, ...others] = this.config.inbound.githubSecrets;
    const text = raw.toString('utf8');
    if (!first || !(await verifyWithFallback(first, text, signature, others))) {
      throw new Rejection('bad_signature', 'X-Hub-Signature-256 does not match the body');
    }
    let json: string | undefined;
    if (form) {
      json = new URLSearchParams(text).get('payload') ?? undefined;
      if (json === undefined)
        throw new Rejection('invalid_event', 'a form-encoded GitHub webhook needs a payload field');
    }
    parseObject(json ?? text);
    if (!/^[a-z_]{1,100}$/.test(event)) throw new Rejection('invalid_event', 'X-GitHub-Event is not an event name');
    return {
      externalId: checkId(delivery, 'X-GitHub-Delivery'),
      type: event,
      headers: keep(headers, [
        'x-github-event',
        'x-github-delivery',
        'x-github-hook-id',
        'x-github-hook-installation-target-type',
        'x-github-hook-installation-target-id',
      ]),
      json,
    };
  }

  /**
   * `webhook-id`, `webhook-timestamp`, `webhook-signature` through `standardwebhooks`
   * `Webhook.verify`, against each secret of the source. The library allows 300 s either way; a
   * smaller WEBHOOK_TOLERANCE_SECONDS is applied on top.
   */
  standardWebhook(source: string, raw: Buffer, headers: RequestHeaders, now = Date.now()): VerifiedEvent {
    const webhooks = this.standard.get(source);
    if (!webhooks) throw new Error(`unknown source ${source}`);
    // Senders hosted by Svix sign the same way under `svix-*` names.
    const named = (name: string) => (header(headers, `webhook-${name}`) ? `webhook-${name}` : `svix-${name}`);
    const id = required(headers, named('id'), 'webhook-id (or svix-id)');
    const timestamp = required(headers, named('timestamp'), 'webhook-timestamp (or svix-timestamp)');
    const signature = required(headers, named('signature'), 'webhook-signature (or svix-signature)');
    if (raw.length === 0) throw new Rejection('empty_body', 'empty body');
    const signed = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
    let payload: unknown;
    let verified = false;
    for (const webhook of webhooks) {
      try {
        payload = webhook.verify(raw, signed);
        verified = true;
        break;
      } catch (error) {
        if (error instanceof SyntaxError) throw new Rejection('malformed_json', 'body is not valid JSON');
        if (!(error instanceof WebhookVerificationError)) throw error;
        if (error.message === 'Message timestamp too old') throw new Rejection('stale', 'webhook-timestamp is too old');
        if (error.message === 'Message timestamp too new') {
          throw new Rejection('future', 'webhook-timestamp is too far in the future');
        }
        if (error.message !== 'No matching signature found') {
          throw new Rejection('bad_signature', `invalid signature headers: ${error.message}`);
        }
      }
    }
    if (!verified) throw new Rejection('bad_signature', 'webhook-signature does not match the body');
    const tolerance = this.config.inbound.toleranceSeconds;
    const age = Math.floor(now / 1000) - Number(timestamp);
    if (age > tolerance) throw new Rejection('stale', `webhook-timestamp is more than ${tolerance} s old`);
    if (-age > tolerance) throw new Rejection('future', `webhook-timestamp is more than ${tolerance} s in the future`);
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new Rejection('invalid_event', 'body must be a JSON object');
    }
    const type = (payload as { type?: unknown }).type;
    return {
      externalId: checkId(id, 'webhook-id'),
      type: type === undefined ? 'unknown' : checkType(type, 'type'),
      headers: keep(headers, ['webhook-id', 'webhook-timestamp', 'svix-id', 'svix-timestamp']),
    };
  }
}
