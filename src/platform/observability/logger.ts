import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '#src/config/app-config.js';
import { traceLogFields, tracingEnabled } from './tracing.js';

/** Header and body paths that never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["webhook-signature"]',
  'res.headers["set-cookie"]',
  '*.secret',
  '*.token',
];

/**
 * The request id: the client's `X-Request-Id` when it is a plain token, else a new UUID. Node builds
 * a UUID by concatenating its pieces, which V8 keeps as a tree of ~14 string nodes (~450 bytes); the
 * id lives as long as the request (an open stream: hours), so it is copied into one flat string
 * (Buffer's decoder writes a flat string: ~60 bytes).
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && /^[\w.-]{1,128}$/.test(given)) return given;
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}

export function accessLogLevel(status: number): 'log' | 'warn' | 'error' {
  return status >= 500 ? 'error' : status >= 400 ? 'warn' : 'log';
}

/**
 * JSON logs (pino). The access line is written by a Fastify `onResponse` hook (app.setup.ts) for
 * every route: the pino-http middleware that nestjs-pino installs runs only for the routes its
 * pattern matches (under Nest 12, only `/`), so its own request logging is off.
 */
export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.app.logLevel,
      base: { instance: config.app.instanceId },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      genReqId: requestId,
      autoLogging: false,
      // With tracing on, each line names the active span's trace (`trace_id`, `span_id`).
      ...(tracingEnabled() ? { mixin: traceLogFields } : {}),
    },
  };
}
