import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { PLANS, type Plan } from '#src/users/user.entity.js';

export class DemoPlanDto {
  @ApiProperty({ enum: PLANS, example: 'pro' })
  @IsIn(PLANS)
  plan: Plan;
}

export class SignedStripeEventDto {
  @ApiProperty({ example: '/webhooks/stripe' })
  url: string;

  @ApiProperty({ description: 'the event, exactly the bytes that were signed' })
  payload: string;

  @ApiProperty({ description: 'the Stripe-Signature header', example: 't=1764672000,v1=…' })
  signature: string;
}
