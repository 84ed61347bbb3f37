/**
 * Feed tokens (Mercure-style): JWTs signed with FEED_TOKEN_SECRET (HS256) that name the topics a
 * client may read, `feeds: { ticker?: [symbol | "*"], scores?: [matchId | "*"] }`, for the user in
 * `sub`, until `exp`. A third-party backend holding the secret mints its own; `POST /feeds/tokens`
 * mints one for a signed-in user. A feed token narrows its user's plan and never widens it.
 */
import { Injectable } from '@nestjs/common';
import { SignJWT, jwtVerify } from 'jose';
import { AppConfig } from '#src/config/app-config.js';
import { isUuid } from '#src/platform/http/uuid.js';
import type { FeedName } from '@livefeed/client/wire';

export type { FeedName };
export type FeedGrants = Partial<Record<FeedName, string[]>>;

export interface FeedToken {
  sub: string;
  feeds: FeedGrants;
  /** Epoch seconds. */
  exp: number;
}

const MAX_TOPICS_PER_FEED = 1_000;

@Injectable()
export class FeedTokensService {
  private readonly key: Uint8Array;

  constructor(config: AppConfig) {
    this.key = new TextEncoder().encode(config.auth.feedTokenSecret);
  }

  async mint(userId: string, feeds: FeedGrants, ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
    const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
    const token = await new SignJWT({ feeds })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** The token's claims, or undefined when it is not a valid, unexpired feed token of ours. */
  async verify(token: string): Promise<FeedToken | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      if (!isUuid(payload.sub) || typeof payload.exp !== 'number') return undefined;
      const feeds = parseGrants(payload.feeds);
      return feeds ? { sub: payload.sub, feeds, exp: payload.exp } : undefined;
    } catch {
      return undefined;
    }
  }
}

/** `feeds` as a token carries it (or a mint request asks for it), or undefined if malformed. */
export function parseGrants(value: unknown): FeedGrants | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const grants: FeedGrants = {};
  for (const [feed, topics] of Object.entries(value)) {
    if (feed !== 'ticker' && feed !== 'scores') return undefined;
    if (!Array.isArray(topics) || topics.length > MAX_TOPICS_PER_FEED) return undefined;
    if (!topics.every((topic) => typeof topic === 'string' && topic.length > 0 && topic.length <= 64)) return undefined;
    grants[feed] = topics as string[];
  }
  return grants;
}
