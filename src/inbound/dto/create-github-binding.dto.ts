import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUUID, Matches, MaxLength } from 'class-validator';

export const REPOSITORY_PATTERN = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

export class CreateGithubBindingDto {
  @ApiProperty({ example: 'acme/app', description: 'owner/name (case-insensitive)' })
  @IsString()
  @MaxLength(200)
  @Matches(REPOSITORY_PATTERN, { message: 'repository must be owner/name' })
  repository: string;

  @ApiProperty({ format: 'uuid', description: 'the chat conversation that gets this repository’s events' })
  @IsUUID()
  conversationId: string;
}
