/**
 * Demo mode's plan switch (404 otherwise): signs a Stripe-shaped `customer.subscription.updated`
 * for the signed-in user and plan with the demo secret (`stripe`'s own test header), and hands it
 * back for the page to POST to `/webhooks/stripe` itself, so the switch takes the path a real
 * Stripe event takes (signature check, intake, processing, `subscription.updated`, open streams
 * re-evaluated). It signs only events it builds, for the caller's own user.
 */
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import Stripe from 'stripe';
import { AppConfig } from '#src/config/app-config.js';
import { CurrentUser, UserOnly } from '#src/platform/auth/decorators.js';
import type { AuthUser } from '#src/platform/auth/token.service.js';
import { DemoPlanDto, SignedStripeEventDto } from './dto/demo-plan.dto.js';

@ApiTags('demo')
@Controller('demo')
export class DemoStripeController {
  constructor(private readonly config: AppConfig) {}

  @Post('stripe/subscription')
  @UserOnly()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Sign a demo plan change (demo mode only)',
    description:
      "Demo mode only (404 otherwise). A Stripe-shaped `customer.subscription.updated` setting the signed-in user's plan, signed with the demo Stripe secret: POST `payload` to `url` with `Stripe-Signature: signature`.",
  })
  @ApiOkResponse({ type: SignedStripeEventDto })
  sign(@CurrentUser() user: AuthUser, @Body() dto: DemoPlanDto): SignedStripeEventDto {
    const secret = this.config.inbound.stripeDemoSecret;
    if (!this.config.app.demoMode || !secret) throw new NotFoundException('demo mode is off');
    const payload = JSON.stringify({
      id: `evt_demo_${randomUUID()}`,
      object: 'event',
      type: 'customer.subscription.updated',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: {
        object: {
          id: `sub_demo_${user.id}`,
          object: 'subscription',
          status: 'active',
          metadata: { userId: user.id, plan: dto.plan },
        },
      },
    });
    return {
      url: '/webhooks/stripe',
      payload,
      signature: Stripe.webhooks.generateTestHeaderString({ payload, secret }),
    };
  }
}
