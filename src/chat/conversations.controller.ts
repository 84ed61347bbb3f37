import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import { PageQueryDto } from '#src/platform/http/page.js';
import { ConversationsService } from './conversations.service.js';
import { AddMembersDto } from './dto/add-members.dto.js';
import {
  ConversationDto,
  ConversationPageDto,
  MessageHistoryDto,
  PresenceResponseDto,
} from './dto/chat-responses.dto.js';
import { CreateConversationDto } from './dto/create-conversation.dto.js';
import { HistoryQueryDto } from './dto/history-query.dto.js';
import { PresenceQueryDto } from './dto/presence-query.dto.js';
import { MessagesService } from './messages.service.js';
import { DeliveryService } from './delivery.service.js';
import { PresenceService } from './presence.service.js';

@ApiTags('chat')
@UserOnly()
@Controller('chat')
export class ConversationsController {
  constructor(
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly presence: PresenceService,
    private readonly delivery: DeliveryService,
  ) {}

  /** Direct (one per pair: 201 when created, 200 with the existing one) or group (you are its owner). */
  @Post('conversations')
  @ApiOperation({
    summary: 'Start a conversation',
    description:
      "`{ type: 'direct', userId }` (one per pair: 201 when created, 200 with the existing one) or `{ type: 'group', title, memberIds }` (you are its owner).",
  })
  // Ids must be real users' ids (GET /admin/users): the examples show the shape.
  @ApiBody({
    type: CreateConversationDto,
    examples: {
      direct: {
        summary: 'a direct conversation',
        value: { type: 'direct', userId: '3fa85f64-5717-4562-b3fc-2c963f66afa6' },
      },
      group: {
        summary: 'a group (you are its owner)',
        value: { type: 'group', title: 'Launch', memberIds: ['3fa85f64-5717-4562-b3fc-2c963f66afa6'] },
      },
    },
  })
  @ApiCreatedResponse({ type: ConversationDto, description: 'created' })
  @ApiOkResponse({ type: ConversationDto, description: 'the direct conversation already existed' })
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateConversationDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { conversation, created } = await this.conversations.create(user.id, dto);
    if (created)
      this.delivery.joined(
        conversation.id,
        conversation.members.map((m) => m.userId),
      );
    reply.status(created ? 201 : 200);
    return conversation;
  }

  /** Yours, most recently active first, with the last message and your unread count. */
  @Get('conversations')
  @ApiOperation({ summary: 'My conversations (most recently active first)' })
  @ApiOkResponse({ type: ConversationPageDto })
  list(@CurrentUser() user: AuthUser, @Query() query: PageQueryDto) {
    return this.conversations.list(user.id, query);
  }

  @Get('conversations/:id')
  @ApiOperation({ summary: 'One conversation (members only, else 404)' })
  @ApiOkResponse({ type: ConversationDto })
  get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string) {
    return this.conversations.get(user.id, id);
  }

  /** `{ items (oldest first), limit, nextBeforeSeq }`; pass `nextBeforeSeq` as `beforeSeq` for the older page. */
  @Get('conversations/:id/messages')
  @ApiOperation({ summary: 'Message history (keyset pages by seq)' })
  @ApiOkResponse({ type: MessageHistoryDto })
  history(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string, @Query() query: HistoryQueryDto) {
    return this.messages.history(user.id, id, query.beforeSeq, query.limit);
  }

  /** Group owner or admin adds members. */
  @Post('conversations/:id/members')
  @ApiOperation({ summary: 'Add group members (owner or admin)' })
  @ApiOkResponse({ type: ConversationDto })
  @HttpCode(200)
  async addMembers(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string, @Body() dto: AddMembersDto) {
    const conversation = await this.conversations.addMembers(user.id, id, dto.userIds, dto.role);
    this.delivery.joined(id, dto.userIds);
    return conversation;
  }

  /** Leave (your own id), or remove a member (owner: anyone; admin: plain members). */
  @Delete('conversations/:id/members/:userId')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Leave, or remove a member',
    description: 'Your own id: leave. Owner: anyone; admin: plain members.',
  })
  @ApiNoContentResponse({ description: 'removed' })
  async removeMember(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Param('userId', ParseUUIDPipe) userId: string,
  ) {
    await this.conversations.removeMember(user.id, id, userId);
  }

  /** `{ presence: [{ userId, online }] }`. */
  @Get('presence')
  @ApiOperation({ summary: 'Online status of users' })
  @ApiOkResponse({ type: PresenceResponseDto })
  async presenceOf(@Query() query: PresenceQueryDto) {
    const online = await this.presence.online(query.userIds);
    return { presence: query.userIds.map((userId) => ({ userId, online: online.get(userId) ?? false })) };
  }
}
