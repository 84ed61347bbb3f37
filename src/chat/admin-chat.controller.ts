import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { PresenceService } from './presence.service.js';

class ChatStatsDto {
  @ApiProperty({ description: 'Users with a connected chat socket on any instance' })
  onlineUsers: number;
}

/** Chat as operators see it (the console's Chat page); its rates are in `GET /admin/instances`. */
@ApiTags('admin: chat')
@AdminOnly()
@Controller('admin/chat')
export class AdminChatController {
  constructor(private readonly presence: PresenceService) {}

  @Get('stats')
  @ApiOperation({ summary: 'Chat stats', description: 'Online users across instances.' })
  @ApiOkResponse({ type: ChatStatsDto })
  async stats(): Promise<ChatStatsDto> {
    return { onlineUsers: await this.presence.onlineCount() };
  }
}
