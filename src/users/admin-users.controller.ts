import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { PageQueryDto } from '#src/platform/http/page.js';
import { CreateUserDto } from './dto/create-user.dto.js';
import { MintTokenDto } from './dto/mint-token.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('admin: users')
@AdminOnly()
@Controller('admin/users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  create(@Body() dto: CreateUserDto) {
    return this.users.create(dto);
  }

  @Get()
  list(@Query() query: PageQueryDto) {
    return this.users.list(query);
  }

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.users.get(id);
  }

  /** A user JWT (HS256, `sub` = user id). */
  @Post(':id/tokens')
  @HttpCode(201)
  mintToken(@Param('id', ParseUUIDPipe) id: string, @Body() dto: MintTokenDto) {
    return this.users.mintToken(id, dto.ttlSeconds);
  }
}
