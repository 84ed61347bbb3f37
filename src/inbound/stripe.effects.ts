/**
 * What Stripe events do here: a succeeded payment becomes `payment.succeeded`; a completed
 * checkout or a subscription change sets the user's plan and records `subscription.updated`.
 * The user is `client_reference_id` (checkout) or `metadata.userId`; the plan is `metadata.plan`
 * (or, on a subscription, its first price's `lookup_key`): free, pro or team.
 */
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PLANS, type Plan } from '#src/users/user.entity.js';
import { UsersService } from '#src/users/users.service.js';
import { type HandlerContext, type Ignored, InboundHandlers } from './inbound-handlers.js';
import { isUuid } from '#src/platform/http/uuid.js';

/** The parts of a Stripe event we read; everything is checked before use. */
interface StripeObject {
  id?: unknown;
  amount?: unknown;
  currency?: unknown;
  customer?: unknown;
  status?: unknown;
  payment_status?: unknown;
  client_reference_id?: unknown;
  subscription?: unknown;
  metadata?: Record<string, unknown> | null;
  items?: { data?: { price?: { lookup_key?: unknown; metadata?: Record<string, unknown> | null } }[] };
}
interface StripeEventBody {
  id: string;
  type: string;
  data?: { object?: StripeObject };
}

const SUBSCRIPTION_EVENTS = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
] as const;
/** Subscription statuses that keep the paid plan, and those that end it. */
const LIVE = new Set(['active', 'trialing', 'past_due']);
const ENDED = new Set(['canceled', 'unpaid', 'incomplete_expired']);

const isPlan = (value: unknown): value is Plan => (PLANS as readonly unknown[]).includes(value);
const str = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 ? value : null);

function dataObject(payload: unknown): { event: StripeEventBody; object: StripeObject } | undefined {
  const event = payload as StripeEventBody;
  const object = event.data?.object;
  return object && typeof object === 'object' ? { event, object } : undefined;
}

@Injectable()
export class StripeEffects implements OnModuleInit {
  constructor(
    private readonly handlers: InboundHandlers,
    private readonly users: UsersService,
  ) {}

  onModuleInit(): void {
    this.handlers.register('stripe', ['payment_intent.succeeded'], (context) => this.paymentSucceeded(context));
    this.handlers.register('stripe', ['checkout.session.completed'], (context) => this.checkoutCompleted(context));
    this.handlers.register('stripe', SUBSCRIPTION_EVENTS, (context) => this.subscriptionChanged(context));
  }

  private async paymentSucceeded({ payload, record }: HandlerContext): Promise<Ignored | void> {
    const found = dataObject(payload);
    if (!found) return { ignored: 'no data.object' };
    const { event, object: intent } = found;
    const customer = str(intent.customer);
    const userId = str(intent.metadata?.userId);
    record({
      type: 'payment.succeeded',
      key: userId ? `user:${userId.slice(0, 100)}` : customer ? `stripe:${customer.slice(0, 100)}` : '',
      data: {
        stripeEventId: event.id,
        paymentIntentId: str(intent.id),
        amount: typeof intent.amount === 'number' ? intent.amount : null,
        currency: str(intent.currency),
        customer,
        userId,
      },
    });
  }

  private async checkoutCompleted(context: HandlerContext): Promise<Ignored | void> {
    const { payload } = context;
    const found = dataObject(payload);
    if (!found) return { ignored: 'no data.object' };
    const { event, object: session } = found;
    const userId = str(session.client_reference_id) ?? str(session.metadata?.userId);
    if (!userId) return { ignored: 'no client_reference_id or metadata.userId' };
    if (session.payment_status === 'unpaid') return { ignored: 'checkout completed but not paid yet' };
    const plan = session.metadata?.plan;
    if (!isPlan(plan)) return { ignored: `metadata.plan is not one of ${PLANS.join(', ')}` };
    await this.applyPlan(context, event, userId, plan, {
      subscriptionId: str(session.subscription),
      status: str(session.status),
    });
  }

  private async subscriptionChanged(context: HandlerContext): Promise<Ignored | void> {
    const { payload } = context;
    const found = dataObject(payload);
    if (!found) return { ignored: 'no data.object' };
    const { event, object: subscription } = found;
    const userId = str(subscription.metadata?.userId);
    if (!userId) return { ignored: 'no metadata.userId on the subscription' };
    const status = str(subscription.status);
    let plan: unknown;
    if (event.type === 'customer.subscription.deleted' || ENDED.has(status ?? '')) plan = 'free';
    else if (LIVE.has(status ?? '')) {
      const price = subscription.items?.data?.[0]?.price;
      plan = subscription.metadata?.plan ?? price?.lookup_key ?? price?.metadata?.plan;
    } else return { ignored: `subscription status ${status ?? 'missing'} changes no plan` };
    if (!isPlan(plan)) return { ignored: `no plan (metadata.plan or price lookup_key) among ${PLANS.join(', ')}` };
    await this.applyPlan(context, event, userId, plan, { subscriptionId: str(subscription.id), status });
  }

  /** An unknown user fails the event (retried, then visible as failed): a paid plan must not vanish. */
  private async applyPlan(
    { manager, record }: HandlerContext,
    event: StripeEventBody,
    userId: string,
    plan: Plan,
    extra: { subscriptionId: string | null; status: string | null },
  ): Promise<void> {
    if (!isUuid(userId)) throw new Error(`user id "${String(userId).slice(0, 100)}" is not a uuid`);
    const user = await this.users.setPlan(manager, userId, plan);
    if (!user) throw new Error(`user ${userId} not found`);
    record({
      type: 'subscription.updated',
      key: `user:${userId}`,
      data: { stripeEventId: event.id, stripeEventType: event.type, userId, plan, ...extra },
    });
  }
}
