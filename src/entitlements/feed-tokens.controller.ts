import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  Post,
  UnprocessableEntityException,
} from '@nestjs/common';
import { ApiBody, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import type { Plan } from '#src/users/user.entity.js';
import { UsersService } from '#src/users/users.service.js';
import { EntitlementDto, FeedTokenDto, MintFeedTokenDto } from './dto/entitlement.dto.js';
import { EntitlementsService } from './entitlements.service.js';
import { type FeedGrants, FeedTokensService, parseGrants } from './feed-tokens.service.js';

@ApiTags('feeds')
@UserOnly()
@Controller('feeds')
export class FeedTokensController {
  constructor(
    private readonly tokens: FeedTokensService,
    private readonly users: UsersService,
    private readonly entitlements: EntitlementsService,
  ) {}

  /** What the signed-in user's plan reads now (the dashboard's plan and "delayed" badges). */
  @Get('access')
  @ApiOperation({
    summary: 'What my plan may read',
    description:
      "The signed-in user's plan and its entitlement: per feed the mode (`realtime`, `delayed` with `delaySeconds`, `conflated` with `maxPerSecond`, `none`), the ticker's tiers, and `maxStreams`.",
  })
  @ApiOkResponse({ type: EntitlementDto })
  async access(@CurrentUser() user: AuthUser) {
    const plan = await this.planOf(user.id);
    return this.entitlements.get(plan);
  }

  /** A feed token for the signed-in user, limited to what their plan allows (a token narrows, never widens). */
  @Post('tokens')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Mint a feed token',
    description:
      'For the signed-in user: `{ feeds?: { ticker?: [symbol | "*"], scores?: [matchId | "*"] }, ttlSeconds? }`. Default: every feed the plan allows, `"*"`. A feed the plan does not allow is a 403. The token is checked against the plan again on every use.',
  })
  @ApiBody({
    type: MintFeedTokenDto,
    examples: {
      ticker: { summary: 'one symbol for an hour', value: { feeds: { ticker: ['AAPL'] }, ttlSeconds: 3600 } },
    },
  })
  @ApiOkResponse({ type: FeedTokenDto })
  @ApiForbiddenResponse({ description: 'a feed your plan does not allow' })
  async mint(@CurrentUser() user: AuthUser, @Body() body: unknown) {
    const request = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const unknown = Object.keys(request).filter((key) => key !== 'feeds' && key !== 'ttlSeconds');
    if (unknown.length > 0) throw new UnprocessableEntityException(`${unknown[0]} is not a field`);
    const ttl = request.ttlSeconds ?? 3_600;
    if (!Number.isSafeInteger(ttl) || (ttl as number) < 60 || (ttl as number) > 86_400) {
      throw new UnprocessableEntityException('ttlSeconds must be an integer from 60 to 86400');
    }
    const plan = await this.planOf(user.id);
    const entitlement = this.entitlements.get(plan);
    const open = {
      ticker: entitlement.ticker.mode !== 'none',
      scores: entitlement.scores.mode !== 'none',
    };
    let feeds: FeedGrants;
    if (request.feeds === undefined) {
      feeds = {};
      if (open.ticker) feeds.ticker = ['*'];
      if (open.scores) feeds.scores = ['*'];
    } else {
      const parsed = parseGrants(request.feeds);
      if (!parsed) {
        throw new UnprocessableEntityException(
          'feeds must be { ticker?: string[], scores?: string[] } (at most 1,000 topics each)',
        );
      }
      for (const feed of Object.keys(parsed) as (keyof FeedGrants)[]) {
        if (!open[feed]) throw new ForbiddenException(`${feed} is not allowed on your plan (${plan})`);
      }
      feeds = parsed;
    }
    return { ...(await this.tokens.mint(user.id, feeds, ttl as number)), feeds };
  }

  /** The user's plan now (a user deleted meanwhile reads as free). */
  private async planOf(userId: string): Promise<Plan> {
    return (await this.users.plansOf([userId])).get(userId) ?? 'free';
  }
}
