/**
 * The HTTP side of a delivery: one undici Agent (keep-alive pools per receiver origin) whose connector
 * resolves names through the network guard, a connect timeout, a total timeout, no redirects (undici's
 * `request` never follows them: a 3xx is a failure like any non-2xx), and at most 4 KB of the response
 * body kept for the attempt log.
 */
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Agent, request } from 'undici';
import { AppConfig } from '#src/config/app-config.js';
import { BlockedAddressError, NetworkGuard } from './network-guard.js';
import { parseRetryAfter } from './retry-policy.js';

export const RESPONSE_EXCERPT_BYTES = 4096;
const USER_AGENT = 'livefeed-webhooks/0.1';

export interface SendResult {
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  excerpt: string | null;
  retryAfterMs?: number;
}

@Injectable()
export class WebhookSender implements OnApplicationShutdown {
  readonly guard: NetworkGuard;
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(config: AppConfig) {
    const { allowedCidrs, connectTimeoutMs, requestTimeoutMs, connectionsPerOrigin } = config.outbound;
    this.guard = new NetworkGuard(allowedCidrs);
    this.timeoutMs = requestTimeoutMs;
    this.agent = new Agent({
      connect: { timeout: connectTimeoutMs, lookup: this.guard.lookup },
      connections: connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
    });
  }

  async send(url: string, headers: Record<string, string>, body: string): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      this.guard.checkHost(new URL(url).hostname);
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const excerpt = await readExcerpt(response.body);
      const statusCode = response.statusCode;
      const ok = statusCode >= 200 && statusCode < 300;
      return {
        statusCode,
        latencyMs: elapsed(),
        error: ok ? null : `HTTP ${statusCode}`,
        excerpt,
        retryAfterMs:
          statusCode === 429 || statusCode === 503 ? parseRetryAfter(response.headers['retry-after']) : undefined,
      };
    } catch (error) {
      return { statusCode: null, latencyMs: elapsed(), error: describe(error), excerpt: null };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

/** Up to 4 KB of the body as text; the rest is not read (the connection is then closed, not reused). */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= RESPONSE_EXCERPT_BYTES) break; // leaving the loop destroys the stream
    }
  } catch {
    // a body cut short still gives what arrived
  }
  if (size === 0) return null;
  return Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { cause?: unknown };
  if (e instanceof BlockedAddressError || (e?.cause as Error) instanceof BlockedAddressError) {
    return (e instanceof BlockedAddressError ? e : (e.cause as Error)).message;
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout: no complete response in time';
  const code = e?.code ? `${e.code}: ` : '';
  return `${code}${e?.message ?? String(error)}`.slice(0, 500);
}
