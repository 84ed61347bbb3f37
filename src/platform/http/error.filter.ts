import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Health checks: which dependency is down. */
  details?: unknown;
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
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
  }
  // Fastify's own errors (body too large, bad JSON, wrong content type) carry a 4xx statusCode.
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = (exception as Error).message.replace(/^FST_[A-Z_]+:\s*/, '');
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
  }
  return { statusCode: 500, error: 'Internal Server Error', message: 'internal server error' };
}

/** One JSON error envelope for every route: `{ statusCode, error, message }`. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const body = toErrorBody(exception);
    if (body.statusCode >= 500) this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    const reply = host.switchToHttp().getResponse<{ sent?: boolean; raw?: { headersSent?: boolean } }>();
    if (reply.sent || reply.raw?.headersSent) return; // a stream already answered
    this.adapterHost.httpAdapter.reply(reply, body, body.statusCode);
  }
}
