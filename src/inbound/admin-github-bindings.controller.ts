import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { CreateGithubBindingDto } from './dto/create-github-binding.dto.js';
import { ListGithubBindingsDto } from './dto/list-github-bindings.dto.js';
import { GithubBindingDto, GithubBindingPageDto } from './dto/inbound-responses.dto.js';
import { GithubBindingsService } from './github-bindings.service.js';

/** Repository → chat conversation: the conversations that get a system message per GitHub event. */
@ApiTags('admin: inbound webhooks')
@AdminOnly()
@Controller('admin/webhooks/github/bindings')
export class AdminGithubBindingsController {
  constructor(private readonly bindings: GithubBindingsService) {}

  /** 409 if the repository is already bound to that conversation. */
  @Post()
  @ApiOperation({
    summary: 'Bind a GitHub repository to a conversation',
    description: 'Its GitHub events are posted there as system messages; already bound → 409.',
  })
  @ApiCreatedResponse({ type: GithubBindingDto })
  create(@Body() dto: CreateGithubBindingDto) {
    return this.bindings.create(dto);
  }

  @Get()
  @ApiOperation({ summary: 'List GitHub bindings' })
  @ApiOkResponse({ type: GithubBindingPageDto })
  list(@Query() query: ListGithubBindingsDto) {
    return this.bindings.list(query);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a GitHub binding' })
  @ApiNoContentResponse({ description: 'removed' })
  remove(@Param('id', ParseUUIDPipe) id: string) {
    return this.bindings.remove(id);
  }
}
