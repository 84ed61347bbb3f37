import { type CanActivate, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { type AuthUser, TokenService, bearerToken } from './token.service.js';

export interface UserRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: AuthUser;
}

/** A valid user JWT in `Authorization: Bearer`; sets `request.user`. */
@Injectable()
export class UserGuard implements CanActivate {
  constructor(private readonly tokens: TokenService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<UserRequest>();
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new UnauthorizedException('missing user token: send Authorization: Bearer <token>');
    const user = await this.tokens.verify(token);
    if (!user) throw new UnauthorizedException('invalid or expired token');
    request.user = user;
    return true;
  }
}
