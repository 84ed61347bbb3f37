import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import { PageQueryDto } from '#src/platform/http/page.js';
import { ConversationsService } from './conversations.service.js';
import { AddMembersDto } from './dto/add-members.dto.js';
import { CreateConversationDto } from './dto/create-conversation.dto.js';
import { HistoryQueryDto } from './dto/history-query.dto.js';
import { PresenceQueryDto } from './dto/presence-query.dto.js';
import { MessagesService } from './messages.service.js';
import { PresenceService } from './presence.service.js';

@ApiTags('chat')
@UserOnly()
@Controller('chat')
export class ConversationsController {
  constructor(
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly presence: PresenceService,
  ) {}

  /** Direct (one per pair: 201 when created, 200 with the existing one) or group (you are its owner). */
  @Post('conversations')
  @ApiCreatedResponse({ description: 'created' })
  @ApiOkResponse({ description: 'the direct conversation already existed' })
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateConversationDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { conversation, created } = await this.conversations.create(user.id, dto);
    reply.status(created ? 201 : 200);
    return conversation;
  }

  /** Yours, most recently active first, with the last message and your unread count. */
  @Get('conversations')
  list(@CurrentUser() user: AuthUser, @Query() query: PageQueryDto) {
    return this.conversations.list(user.id, query);
  }

  @Get('conversations/:id')
  get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string) {
    return this.conversations.get(user.id, id);
  }

  /** `{ items (oldest first), limit, nextBeforeSeq }`; pass `nextBeforeSeq` as `beforeSeq` for the older page. */
  @Get('conversations/:id/messages')
  history(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string, @Query() query: HistoryQueryDto) {
    return this.messages.history(user.id, id, query.beforeSeq, query.limit);
  }

  /** Group owner or admin adds members. */
  @Post('conversations/:id/members')
  @HttpCode(200)
  addMembers(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string, @Body() dto: AddMembersDto) {
    return this.conversations.addMembers(user.id, id, dto.userIds, dto.role);
  }

  /** Leave (your own id), or remove a member (owner: anyone; admin: plain members). */
  @Delete('conversations/:id/members/:userId')
  @HttpCode(204)
  async removeMember(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Param('userId', ParseUUIDPipe) userId: string,
  ) {
    await this.conversations.removeMember(user.id, id, userId);
  }

  /** `{ presence: [{ userId, online }] }`. */
  @Get('presence')
  async presenceOf(@Query() query: PresenceQueryDto) {
    const online = await this.presence.online(query.userIds);
    return { presence: query.userIds.map((userId) => ({ userId, online: online.get(userId) ?? false })) };
  }
}
