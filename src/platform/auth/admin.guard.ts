import { type CanActivate, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '#src/config/app-config.js';
import { bearerToken } from './token.service.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** `Authorization: Bearer <ADMIN_API_KEY>`, compared in constant time. */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(config: AppConfig) {
    this.expected = digest(config.auth.adminApiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const key = bearerToken(request.headers.authorization);
    if (!key) throw new UnauthorizedException('missing admin key: send Authorization: Bearer <admin key>');
    if (!timingSafeEqual(digest(key), this.expected)) throw new UnauthorizedException('invalid admin key');
    return true;
  }
}
