import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsString, IsUUID, Length, ValidateIf } from 'class-validator';
import { CONVERSATION_TYPES, type ConversationType } from '../entities/conversation.entity.js';

/** `{ type: 'direct', userId }` or `{ type: 'group', title, memberIds }`. */
export class CreateConversationDto {
  @ApiProperty({ enum: CONVERSATION_TYPES })
  @IsIn(CONVERSATION_TYPES)
  type: ConversationType;

  @ApiPropertyOptional({ format: 'uuid', description: 'direct: the other user' })
  @ValidateIf((dto: CreateConversationDto) => dto.type === 'direct' || dto.userId !== undefined)
  @IsUUID()
  userId?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 200, description: 'group: its title' })
  @ValidateIf((dto: CreateConversationDto) => dto.type === 'group' || dto.title !== undefined)
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @Length(1, 200)
  title?: string;

  @ApiPropertyOptional({ type: [String], format: 'uuid', description: 'group: the other members (you are the owner)' })
  @ValidateIf((dto: CreateConversationDto) => dto.type === 'group' || dto.memberIds !== undefined)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10_000)
  @IsUUID('all', { each: true })
  memberIds?: string[];
}
