/** What the users and auth routes answer, for the API docs. */
import { ApiProperty } from '@nestjs/swagger';
import { PageResponseDto } from '#src/platform/http/page-response.dto.js';
import { PLANS, type Plan } from '../user.entity.js';

export class UserDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Alice' })
  name: string;

  @ApiProperty({ enum: PLANS, example: 'free' })
  plan: Plan;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
}

export class UserPageDto extends PageResponseDto {
  @ApiProperty({ type: [UserDto] })
  items: UserDto[];
}

export class TokenDto {
  @ApiProperty({ description: 'A user JWT (HS256, `sub` = user id): send it as `Authorization: Bearer <token>`' })
  token: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt: string;
}

export class DemoLoginResponseDto extends TokenDto {
  @ApiProperty({ type: UserDto })
  user: UserDto;
}
