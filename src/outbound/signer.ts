/**
 * Standard Webhooks signing (the `standardwebhooks` library): `webhook-signature` carries one `v1,…`
 * signature per active secret, so during a rotation receivers holding either secret verify.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { PreviousSecret } from './entities/endpoint.entity.js';

/** `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The current secret first, then rotated-out ones still inside their grace period. */
export function activeSecrets(secret: string, previous: readonly PreviousSecret[], now = Date.now()): string[] {
  return [secret, ...previous.filter((p) => Date.parse(p.expiresAt) > now).map((p) => p.secret)];
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export class Signer {
  private readonly cache = new Map<string, Webhook>();

  private webhook(secret: string): Webhook {
    let webhook = this.cache.get(secret);
    if (!webhook) {
      if (this.cache.size >= 10_000) this.cache.clear();
      webhook = new Webhook(secret);
      this.cache.set(secret, webhook);
    }
    return webhook;
  }

  /** Headers for one attempt: signed at `timestamp` (each attempt is signed afresh, same id). */
  sign(webhookId: string, body: string, secrets: readonly string[], timestamp = new Date()): SignedHeaders {
    const signature = secrets.map((secret) => this.webhook(secret).sign(webhookId, timestamp, body)).join(' ');
    return {
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    };
  }
}
