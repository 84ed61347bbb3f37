import { Body, Controller, Get, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppConfig } from '#src/config/app-config.js';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import { RateLimit } from '#src/platform/rate-limit/rate-limit.decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import { DemoLoginDto } from './dto/demo-login.dto.js';
import { DemoLoginResponseDto, UserDto } from './dto/user-responses.dto.js';
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
  @ApiOperation({
    summary: 'Demo sign-in by name',
    description:
      'Demo mode only (404 otherwise): the oldest user of that name, created if there is none, with a token.',
  })
  @ApiOkResponse({ type: DemoLoginResponseDto })
  demo(@Body() dto: DemoLoginDto) {
    if (!this.config.app.demoMode) throw new NotFoundException('demo sign-in is off');
    return this.users.demoLogin(dto.name);
  }

  /** The signed-in user. */
  @Get('me')
  @UserOnly()
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiOkResponse({ type: UserDto })
  me(@CurrentUser() user: AuthUser) {
    return this.users.get(user.id);
  }
}
