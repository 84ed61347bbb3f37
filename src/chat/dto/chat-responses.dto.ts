/** What the chat REST routes answer, for the API docs (a message has the `message:new` shape). */
import { ApiProperty } from '@nestjs/swagger';
import { PageResponseDto } from '#src/platform/http/page-response.dto.js';
import { CONVERSATION_TYPES, type ConversationType } from '../entities/conversation.entity.js';
import { MEMBER_ROLES, type MemberRole } from '../entities/conversation-member.entity.js';

export class ChatMessageDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  conversationId: string;

  @ApiProperty({ example: 1, description: 'Position in the conversation' })
  seq: number;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'null for a system message' })
  senderId: string | null;

  @ApiProperty({ example: 'Hello' })
  body: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;
}

export class ConversationMemberDto {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ enum: MEMBER_ROLES })
  role: MemberRole;
}

export class ConversationDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: CONVERSATION_TYPES })
  type: ConversationType;

  @ApiProperty({ nullable: true, type: String, description: 'null for a direct conversation' })
  title: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ type: [ConversationMemberDto] })
  members: ConversationMemberDto[];

  @ApiProperty({ enum: MEMBER_ROLES, description: 'Your role in it' })
  role: MemberRole;

  @ApiProperty({ example: 0, description: 'seq of the newest message' })
  lastSeq: number;

  @ApiProperty({ type: ChatMessageDto, nullable: true })
  lastMessage: ChatMessageDto | null;

  @ApiProperty({ example: 0, description: 'Messages after your read cursor that others sent' })
  unreadCount: number;

  @ApiProperty({ example: 0 })
  readSeq: number;

  @ApiProperty({ example: 0 })
  deliveredSeq: number;
}

export class ConversationPageDto extends PageResponseDto {
  @ApiProperty({ type: [ConversationDto] })
  items: ConversationDto[];
}

export class MessageHistoryDto {
  @ApiProperty({ type: [ChatMessageDto], description: 'Oldest first' })
  items: ChatMessageDto[];

  @ApiProperty({ example: 50 })
  limit: number;

  @ApiProperty({
    nullable: true,
    type: Number,
    description: 'Pass as `beforeSeq` for the older page; null when there is none',
  })
  nextBeforeSeq: number | null;
}

export class PresenceEntryDto {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty()
  online: boolean;
}

export class PresenceResponseDto {
  @ApiProperty({ type: [PresenceEntryDto] })
  presence: PresenceEntryDto[];
}
