import {
  BadRequestException,
  Controller,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '#src/config/app-config.js';
import { RateLimit } from '#src/platform/rate-limit/rate-limit.decorators.js';
import { InboundReceiptDto } from './dto/inbound-responses.dto.js';
import { receiverRoute } from './inbound-routes.js';
import { InboundMetrics } from './inbound.metrics.js';
import { InboundVerifier, Rejection, type VerifiedEvent } from './inbound.verifier.js';
import { IntakeWriter, type StoreResult } from './intake-writer.js';
import { RejectionSpikes } from './rejection-spikes.js';

const FORM = 'application/x-www-form-urlencoded';
const STORED = {
  type: InboundReceiptDto,
  description: 'stored (or already stored: `duplicate: true`); processed asynchronously',
};

/** The body is read as raw bytes (the signature covers them), so the docs describe it by hand. */
const RawJsonBody = (description: string, example: object) =>
  ApiBody({
    required: true,
    description: `${description} The exact bytes are verified: send them unchanged.`,
    schema: { type: 'object', additionalProperties: true, example },
  });

/**
 * The receivers. Each answers 2xx only once the event is committed to Postgres; a bad signature,
 * a missing header or a malformed body is a 400 and stores nothing; storage down is a 503.
 */
@ApiTags('webhooks: inbound')
@RateLimit('webhooks')
@Controller('webhooks')
export class InboundWebhooksController {
  constructor(
    private readonly verifier: InboundVerifier,
    private readonly intake: IntakeWriter,
    private readonly metrics: InboundMetrics,
    private readonly config: AppConfig,
    private readonly spikes: RejectionSpikes,
  ) {}

  @Post('stripe')
  @HttpCode(200)
  @RouteConfig(receiverRoute('stripe'))
  @ApiOperation({
    summary: 'Receive a Stripe webhook',
    description: 'Signed with one of STRIPE_WEBHOOK_SECRETS (404 while it is empty).',
  })
  @ApiHeader({ name: 'Stripe-Signature', required: true, description: '`t=<unix time>,v1=<HMAC-SHA256 hex>`' })
  @RawJsonBody('A Stripe event, as Stripe sends it.', {
    id: 'evt_1',
    object: 'event',
    type: 'payment_intent.succeeded',
    data: { object: { id: 'pi_1', object: 'payment_intent' } },
  })
  @ApiOkResponse(STORED)
  stripe(@Req() request: FastifyRequest): Promise<StoreResult> {
    if (this.config.inbound.stripeSecrets.length === 0) this.notConfigured('stripe', 'STRIPE_WEBHOOK_SECRETS');
    const raw = this.rawBody(request);
    return this.receive('stripe', raw, () => this.verifier.stripe(raw, request.headers));
  }

  /** Also answers GitHub's `ping` (stored, then ignored). */
  @Post('github')
  @HttpCode(200)
  @RouteConfig(receiverRoute('github'))
  @ApiOperation({
    summary: 'Receive a GitHub webhook',
    description:
      'Signed with one of GITHUB_WEBHOOK_SECRETS (404 while it is empty). Also answers `ping` (stored, then ignored).',
  })
  @ApiHeader({ name: 'X-Hub-Signature-256', required: true, description: '`sha256=<HMAC-SHA256 hex of the body>`' })
  @ApiHeader({ name: 'X-GitHub-Event', required: true, description: 'e.g. `push`, `release`, `ping`' })
  @ApiHeader({ name: 'X-GitHub-Delivery', required: true, description: 'The delivery id (deduplicates)' })
  @RawJsonBody(
    "A GitHub event payload, as GitHub sends it: `application/json`, or `application/x-www-form-urlencoded` (GitHub's default for a new hook) with the JSON in the `payload` field; the signature covers the bytes sent.",
    {
      zen: 'Keep it logically awesome.',
      hook_id: 1,
      repository: { full_name: 'acme/app' },
    },
  )
  @ApiOkResponse(STORED)
  github(@Req() request: FastifyRequest): Promise<StoreResult> {
    if (this.config.inbound.githubSecrets.length === 0) this.notConfigured('github', 'GITHUB_WEBHOOK_SECRETS');
    const raw = this.rawBody(request, true);
    const form = this.contentType(request) === FORM;
    return this.receive('github', raw, () => this.verifier.github(raw, request.headers, form));
  }

  /** Any Standard Webhooks sender configured in STANDARD_WEBHOOK_SOURCES (`name=whsec_…`). */
  @Post('in/:source')
  @HttpCode(200)
  @RouteConfig(receiverRoute('standard'))
  @ApiOperation({
    summary: 'Receive a Standard Webhooks event',
    description: 'From a sender named in STANDARD_WEBHOOK_SOURCES (`name=whsec_…`); an unknown source is a 404.',
  })
  @ApiHeader({
    name: 'webhook-id',
    required: true,
    description: 'The message id (deduplicates); Svix-hosted senders send it as `svix-id`',
  })
  @ApiHeader({ name: 'webhook-timestamp', required: true, description: 'Unix seconds (or `svix-timestamp`)' })
  @ApiHeader({
    name: 'webhook-signature',
    required: true,
    description: '`v1,<base64 HMAC-SHA256>` (space-separated list; or `svix-signature`)',
  })
  @RawJsonBody('Any JSON the sender signs; `type` names the event.', { type: 'invoice.paid', data: { id: 'inv_1' } })
  @ApiOkResponse(STORED)
  standard(@Param('source') source: string, @Req() request: FastifyRequest): Promise<StoreResult> {
    if (!this.verifier.hasStandardSource(source)) {
      this.metrics.rejected.inc({ provider: 'unknown', reason: 'unknown_source' });
      throw new NotFoundException(`unknown webhook source "${source.slice(0, 40)}"`);
    }
    const raw = this.rawBody(request);
    return this.receive(source, raw, () => this.verifier.standardWebhook(source, raw, request.headers));
  }

  private async receive(
    provider: string,
    raw: Buffer,
    verify: () => VerifiedEvent | Promise<VerifiedEvent>,
  ): Promise<StoreResult> {
    let verified: VerifiedEvent;
    try {
      verified = await verify();
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      this.metrics.rejected.inc({ provider, reason: error.reason });
      this.spikes.note(provider, error.reason);
      throw new BadRequestException(error.message);
    }
    return this.intake.store(provider, verified, raw);
  }

  /** The exact bytes (see app.setup.ts): JSON, or for GitHub also its form encoding. */
  private rawBody(request: FastifyRequest, formAllowed = false): Buffer {
    const type = this.contentType(request);
    if (type !== 'application/json' && !(formAllowed && type === FORM)) {
      throw new UnsupportedMediaTypeException(
        formAllowed ? `send application/json or ${FORM}` : 'webhooks must be sent as application/json',
      );
    }
    return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  }

  private contentType(request: FastifyRequest): string | undefined {
    return request.headers['content-type']?.split(';')[0].trim().toLowerCase();
  }

  private notConfigured(provider: string, variable: string): never {
    this.metrics.rejected.inc({ provider, reason: 'not_configured' });
    throw new NotFoundException(`${provider} webhooks are not configured (${variable} is empty)`);
  }
}
