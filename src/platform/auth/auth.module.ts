import { Global, Module } from '@nestjs/common';
import { AdminGuard } from './admin.guard.js';
import { TokenService } from './token.service.js';
import { UserGuard } from './user.guard.js';

/** Admin key guard, user JWTs, and the socket.io auth middleware. */
@Global()
@Module({ providers: [TokenService, AdminGuard, UserGuard], exports: [TokenService, AdminGuard, UserGuard] })
export class AuthModule {}
