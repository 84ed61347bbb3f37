import { Body, Controller, Get, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AppConfig } from '#src/config/app-config.js';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import { RateLimit } from '#src/platform/rate-limit/rate-limit.decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import { DemoLoginDto } from './dto/demo-login.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  /** Sign in by name, only in demo mode (404 otherwise). */
  @RateLimit('auth')
  @Post('demo')
  @HttpCode(200)
  demo(@Body() dto: DemoLoginDto) {
    if (!this.config.app.demoMode) throw new NotFoundException('demo sign-in is off');
    return this.users.demoLogin(dto.name);
  }

  /** The signed-in user. */
  @Get('me')
  @UserOnly()
  me(@CurrentUser() user: AuthUser) {
    return this.users.get(user.id);
  }
}
