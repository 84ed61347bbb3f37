import { Body, Controller, Get, Param, Put, UnprocessableEntityException } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { AdminOnly } from '#src/platform/auth/decorators.js';
import { ACCESS_PLANS, type AccessPlan, parseEntitlement } from './entitlement.js';
import { EntitlementsService } from './entitlements.service.js';
import { EntitlementBodyDto, EntitlementDto, EntitlementListDto } from './dto/entitlement.dto.js';

@ApiTags('admin: entitlements')
@AdminOnly()
@Controller('admin/entitlements')
export class AdminEntitlementsController {
  constructor(private readonly entitlements: EntitlementsService) {}

  @Get()
  @ApiOperation({ summary: 'What each plan may read from the feeds' })
  @ApiOkResponse({ type: EntitlementListDto })
  list() {
    return { items: this.entitlements.list() };
  }

  /** Takes effect on every instance within about a second, open streams included (`event: revoked`). */
  @Put(':plan')
  @ApiOperation({
    summary: "Set a plan's entitlement",
    description:
      'Takes effect on every instance within about a second, open streams included: topics no longer allowed get `event: revoked`.',
  })
  @ApiBody({
    type: EntitlementBodyDto,
    examples: {
      free: {
        summary: 'free: basic instruments, realtime, five streams',
        value: { ticker: { mode: 'realtime', tiers: ['basic'] }, scores: { mode: 'realtime' }, maxStreams: 5 },
      },
    },
  })
  @ApiOkResponse({ type: EntitlementDto })
  @ApiUnprocessableEntityResponse({ description: 'names each bad field' })
  async set(@Param('plan') plan: string, @Body() body: unknown) {
    if (!(ACCESS_PLANS as readonly string[]).includes(plan)) {
      throw new UnprocessableEntityException(`plan must be one of ${ACCESS_PLANS.join(', ')}`);
    }
    const { value, problems } = parseEntitlement(plan as AccessPlan, body);
    if (!value || problems.length > 0) throw new UnprocessableEntityException(problems.join('; '));
    return this.entitlements.set(value);
  }
}
