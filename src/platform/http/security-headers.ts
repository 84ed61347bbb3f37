/**
 * The security headers (helmet's) of every response, computed once at boot. For a fixed policy
 * helmet sets the same headers on every response, so it runs once here against a recorder, and
 * an `onRequest` hook hands the result to the Fastify reply, which writes it out with the reply's
 * other headers (a hijacked stream writes them in its head too). Why not @fastify/helmet: it
 * builds the whole middleware again on every request and sets the headers on the raw response,
 * which keeps a copy of each for as long as the response lives (an open stream: hours).
 *
 * A stream (SSE, NDJSON) is not a document: nothing renders it, frames it or runs its scripts, so
 * the page policies (the dashboard's CSP, frame and cross-origin policies, the legacy IE/Flash
 * headers) say nothing about it. `streamHeaders` keeps what applies to any response (nosniff, HSTS,
 * the referrer policy) and sends the API's CSP, `default-src 'none'; frame-ancestors 'none'`
 * (OWASP's REST recommendation). Node keeps a stream's head in memory while it is open, so its
 * size is paid per connection: about 400 bytes instead of 1 KB.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

export function securityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error as Error;
  });
  return Object.freeze(headers);
}

/** Helmet's headers about documents (see the header): a stream's head leaves them out. */
const DOCUMENT_ONLY = new Set([
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);
const STREAM_CSP = "default-src 'none'; frame-ancestors 'none'";

/** A stream's head: its reply headers less the document-only security headers, with the API's CSP. */
export function streamHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string | string[] | number> {
  const head: Record<string, string | string[] | number> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !DOCUMENT_ONLY.has(name)) head[name] = value;
  }
  head['content-security-policy'] = STREAM_CSP;
  return head;
}
