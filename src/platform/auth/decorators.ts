import { type ExecutionContext, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { ApiBearerAuth, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { RateLimit } from '#src/platform/rate-limit/rate-limit.decorators.js';
import { AdminGuard } from './admin.guard.js';
import type { AuthUser } from './token.service.js';
import { UserGuard, type UserRequest } from './user.guard.js';

export const ADMIN_AUTH = 'admin';
export const USER_AUTH = 'user';

/** Admin-only route or controller (operators: outside the public rate limits). */
export const AdminOnly = () =>
  applyDecorators(
    RateLimit('none'),
    UseGuards(AdminGuard),
    ApiBearerAuth(ADMIN_AUTH),
    ApiUnauthorizedResponse({ description: 'missing or wrong admin key' }),
  );

/** Route for a signed-in user (JWT). */
export const UserOnly = () =>
  applyDecorators(
    UseGuards(UserGuard),
    ApiBearerAuth(USER_AUTH),
    ApiUnauthorizedResponse({ description: 'missing, forged or expired token' }),
  );

/** The signed-in user, on a `@UserOnly()` route. */
export const CurrentUser = createParamDecorator(
  (_: unknown, context: ExecutionContext): AuthUser => context.switchToHttp().getRequest<UserRequest>().user!,
);
