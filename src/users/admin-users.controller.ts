import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { PageQueryDto } from '#src/platform/http/page.js';
import { CreateUserDto } from './dto/create-user.dto.js';
import { MintTokenDto } from './dto/mint-token.dto.js';
import { TokenDto, UserDto, UserPageDto } from './dto/user-responses.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('admin: users')
@AdminOnly()
@Controller('admin/users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @ApiOperation({ summary: 'Create a user' })
  @ApiCreatedResponse({ type: UserDto })
  create(@Body() dto: CreateUserDto) {
    return this.users.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List users (newest first)' })
  @ApiOkResponse({ type: UserPageDto })
  list(@Query() query: PageQueryDto) {
    return this.users.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One user' })
  @ApiOkResponse({ type: UserDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.users.get(id);
  }

  /** A user JWT (HS256, `sub` = user id). */
  @Post(':id/tokens')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Mint a user token (JWT)',
    description: 'HS256, `sub` = user id; default lifetime JWT_TTL_SECONDS.',
  })
  @ApiCreatedResponse({ type: TokenDto })
  mintToken(@Param('id', ParseUUIDPipe) id: string, @Body() dto: MintTokenDto) {
    return this.users.mintToken(id, dto.ttlSeconds);
  }
}
