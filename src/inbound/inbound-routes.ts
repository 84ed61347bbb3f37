import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, onResponseHookHandler } from 'fastify';
import { AppConfig } from '#src/config/app-config.js';
import { InboundMetrics } from './inbound.metrics.js';

/** Marks a receiver route: its body arrives as raw bytes, with this kind's size limit. */
export type ReceiverKind = 'stripe' | 'github' | 'standard';
export interface ReceiverRouteConfig {
  rawBody: true;
  receiver: ReceiverKind;
}
export const receiverRoute = (receiver: ReceiverKind): ReceiverRouteConfig => ({ rawBody: true, receiver });

/**
 * Fastify route options for the receivers, from the config: the body limit per provider (Fastify
 * answers 413 above it, before any byte is parsed), and 413/415 counted as rejections. Nest
 * registers routes before any lifecycle hook runs, so the `onRoute` hook is added on construction.
 */
@Injectable()
export class InboundRoutes {
  constructor(adapterHost: HttpAdapterHost, config: AppConfig, metrics: InboundMetrics) {
    const fastify = adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    const limits: Record<ReceiverKind, number> = {
      stripe: config.inbound.stripeBodyLimitBytes,
      github: config.inbound.githubBodyLimitBytes,
      standard: config.inbound.standardBodyLimitBytes,
    };
    fastify.addHook('onRoute', (route) => {
      const receiver = (route.config as Partial<ReceiverRouteConfig> | undefined)?.receiver;
      if (!receiver) return;
      route.bodyLimit = limits[receiver];
      const count: onResponseHookHandler = (request, reply, done) => {
        const reason =
          reply.statusCode === 413 ? 'too_large' : reply.statusCode === 415 ? 'unsupported_media_type' : undefined;
        if (reason) {
          const source = (request.params as { source?: string } | undefined)?.source;
          const provider =
            receiver !== 'standard'
              ? receiver
              : source && source in config.inbound.standardSources
                ? source
                : 'unknown';
          metrics.rejected.inc({ provider, reason });
        }
        done();
      };
      const existing = route.onResponse;
      route.onResponse = existing ? [...(Array.isArray(existing) ? existing : [existing]), count] : [count];
    });
  }
}
