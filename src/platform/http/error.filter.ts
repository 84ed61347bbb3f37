import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Health checks: which dependency is down. */
  details?: unknown;
  /** Feed access: the topics refused (a 403). */
  topics?: string[];
}

/** Turns any thrown value into an `ErrorBody`; `message` is one readable string. */
export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    const details = typeof response === 'object' ? (response as { details?: unknown }).details : undefined;
    if (details && typeof details === 'object') {
      const down = Object.entries(details).filter(([, v]) => (v as { status?: string }).status !== 'up');
      const message = `unavailable: ${down.map(([name]) => name).join(', ')}`;
      return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message, details };
    }
    const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
    const topics = typeof response === 'object' ? (response as { topics?: unknown }).topics : undefined;
    return {
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message,
      ...(Array.isArray(topics) ? { topics: topics as string[] } : {}),
    };
  }
  // Fastify's own errors (body too large, bad JSON, wrong content type) carry a 4xx statusCode.
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = (exception as Error).message.replace(/^FST_[A-Z_]+:\s*/, '');
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
  }
  if (isUnavailable(exception)) {
    return { statusCode: 503, error: 'Service Unavailable', message: 'a backing service is unavailable; retry later' };
  }
  return { statusCode: 500, error: 'Internal Server Error', message: 'internal server error' };
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '53300']);

/**
 * Postgres or Redis unreachable or saturated (refused, reset, pool wait timed out, too many
 * connections, server shutting down): the client should retry, so 503 rather than 500.
 */
export function isUnavailable(exception: unknown): boolean {
  const error = exception as { code?: unknown; message?: unknown; driverError?: unknown } | null;
  if (!error || typeof error !== 'object') return false;
  if (typeof error.code === 'string' && UNAVAILABLE_CODES.has(error.code)) return true;
  const message = typeof error.message === 'string' ? error.message : '';
  if (
    /timeout exceeded when trying to connect|Connection terminated|Connection is closed|MaxRetriesPerRequest|Command timed out/i.test(
      message,
    )
  ) {
    return true;
  }
  return error.driverError !== undefined && error.driverError !== exception && isUnavailable(error.driverError);
}

/** One JSON error envelope for every route: `{ statusCode, error, message }`. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const body = toErrorBody(exception);
    if (body.statusCode === 503) this.logger.warn(`503: ${(exception as Error)?.message ?? String(exception)}`);
    else if (body.statusCode >= 500)
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    const reply = host.switchToHttp().getResponse<{
      sent?: boolean;
      raw?: { headersSent?: boolean };
      header?: (name: string, value: string) => unknown;
    }>();
    if (reply.sent || reply.raw?.headersSent) return; // a stream already answered
    if (body.statusCode === 503) reply.header?.('retry-after', '2');
    this.adapterHost.httpAdapter.reply(reply, body, body.statusCode);
  }
}
