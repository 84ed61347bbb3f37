import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { PageQueryDto } from '#src/platform/http/page.js';
import { REPOSITORY_PATTERN } from './create-github-binding.dto.js';

export class ListGithubBindingsDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'acme/app' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(REPOSITORY_PATTERN, { message: 'repository must be owner/name' })
  repository?: string;
}
