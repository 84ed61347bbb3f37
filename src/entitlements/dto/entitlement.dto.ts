/** What the entitlement and feed-token routes take and answer, for the API docs. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ACCESS_PLANS, SCORES_MODES, TICKER_MODES, TIERS } from '../entitlement.js';

export class TickerEntitlementDto {
  @ApiProperty({ enum: TICKER_MODES, example: 'realtime' })
  mode: string;

  @ApiPropertyOptional({ description: 'mode delayed: seconds behind publish' })
  delaySeconds?: number;

  @ApiPropertyOptional({ description: 'mode conflated: events per topic per second at most' })
  maxPerSecond?: number;

  @ApiProperty({ enum: TIERS, isArray: true, example: ['basic'] })
  tiers: string[];
}

export class ScoresEntitlementDto {
  @ApiProperty({ enum: SCORES_MODES, example: 'realtime' })
  mode: string;

  @ApiPropertyOptional({ description: 'mode delayed: seconds behind publish' })
  delaySeconds?: number;
}

/** The body of `PUT /admin/entitlements/:plan`. */
export class EntitlementBodyDto {
  @ApiProperty({ type: TickerEntitlementDto })
  ticker: TickerEntitlementDto;

  @ApiProperty({ type: ScoresEntitlementDto })
  scores: ScoresEntitlementDto;

  @ApiProperty({ example: 5, description: 'SSE streams and held long polls open at once, across instances' })
  maxStreams: number;
}

export class EntitlementDto extends EntitlementBodyDto {
  @ApiProperty({ enum: ACCESS_PLANS, example: 'free' })
  plan: string;
}

export class EntitlementListDto {
  @ApiProperty({ type: [EntitlementDto] })
  items: EntitlementDto[];
}

export class FeedGrantsDto {
  @ApiPropertyOptional({ type: [String], example: ['AAPL'], description: 'symbols, or "*" for every allowed one' })
  ticker?: string[];

  @ApiPropertyOptional({ type: [String], example: ['*'], description: 'match ids, or "*"' })
  scores?: string[];
}

export class MintFeedTokenDto {
  @ApiPropertyOptional({ type: FeedGrantsDto, description: 'default: everything your plan allows' })
  feeds?: FeedGrantsDto;

  @ApiPropertyOptional({ example: 3600, description: 'seconds, 60 to 86,400 (default 3,600)' })
  ttlSeconds?: number;
}

export class FeedTokenDto {
  @ApiProperty({ description: 'Send it as `Authorization: Bearer <token>` or `?token=` on the feed routes' })
  token: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt: string;

  @ApiProperty({ type: FeedGrantsDto })
  feeds: FeedGrantsDto;
}
