import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '#src/config/app-config.js';

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

/** JSON logs (pino) with a request id taken from `X-Request-Id` or made up. */
export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.app.logLevel,
      base: { instance: config.app.instanceId },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      genReqId: (req: IncomingMessage) => {
        const given = req.headers['x-request-id'];
        return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
      },
      autoLogging: { ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? '') },
      customLogLevel: (_req, res, error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    },
  };
}
