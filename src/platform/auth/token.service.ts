import { Injectable } from '@nestjs/common';
import { SignJWT, jwtVerify } from 'jose';
import { AppConfig } from '#src/config/app-config.js';
import { isUuid } from '#src/platform/http/uuid.js';

export interface AuthUser {
  id: string;
  /** When the token expires (epoch seconds). */
  expiresAt?: number;
}

/** Mints and verifies user JWTs (HS256, `sub` = user id, with an expiry). */
@Injectable()
export class TokenService {
  private readonly key: Uint8Array;

  constructor(private readonly config: AppConfig) {
    this.key = new TextEncoder().encode(config.auth.jwtSecret);
  }

  async mint(
    userId: string,
    ttlSeconds = this.config.auth.jwtTtlSeconds,
  ): Promise<{ token: string; expiresAt: string }> {
    const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.key);
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /** The user a token names, or undefined for a forged, malformed or expired one. */
  async verify(token: string | undefined): Promise<AuthUser | undefined> {
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      // Users are UUIDs: a token naming anything else was not minted by us, whoever signed it.
      if (!isUuid(payload.sub)) return undefined;
      return { id: payload.sub, expiresAt: payload.exp };
    } catch {
      return undefined;
    }
  }
}

export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}
