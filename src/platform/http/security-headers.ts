/**
 * The security headers (helmet's) of every response, computed once at load. For a fixed policy
 * helmet sets the same headers on every response, so it runs once here against a recorder, and
 * an `onSend` hook hands the result to the Fastify reply, which writes it out with the reply's
 * other headers. A hijacked stream never sends through Fastify, so its reply never carries them:
 * it writes its own (below). Why not @fastify/helmet: it builds the whole middleware again on
 * every request and sets the headers on the raw response, which keeps a copy of each for as long
 * as the response lives (an open stream: hours).
 *
 * A stream (SSE, NDJSON) is not a document: nothing renders it, frames it or runs its scripts, so
 * the page policies (the dashboard's CSP, frame and cross-origin policies, the legacy IE/Flash
 * headers) say nothing about it. Its head (`streamHeaders`) has what applies to any response
 * (nosniff, HSTS, the referrer policy) and the API's CSP, `default-src 'none'; frame-ancestors
 * 'none'` (OWASP's REST recommendation). Node keeps a stream's head in memory while it is open,
 * and Fastify its reply's header object, so both sizes are paid per connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

function securityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
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

/** The app's policy: every response sent through Fastify carries these (app.setup.ts, `onSend`). */
export const SECURITY_HEADERS = securityHeaders({
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      // The dashboard's bundle is a same-origin file: no inline script, no eval, no CDN.
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      // EventSource, fetch and the socket.io WebSocket (CSP3 'self' covers ws:/wss: to this host).
      connectSrc: ["'self'"],
      // Helmet's default would rewrite the page's http:// requests to https:// behind a plain-HTTP
      // proxy or on a LAN address, and the page would load nothing.
      upgradeInsecureRequests: null,
    },
  },
  crossOriginEmbedderPolicy: false,
});

/** Of the app's headers, those that apply to a response nothing renders (see the header). */
const STREAM_KEEPS = ['x-content-type-options', 'strict-transport-security', 'referrer-policy'];

/** A stream's security headers: the app's that apply to any response, and the API's CSP. */
export const STREAM_SECURITY_HEADERS: Readonly<Record<string, string>> = (() => {
  const kept: Record<string, string> = {};
  for (const name of STREAM_KEEPS) kept[name] = SECURITY_HEADERS[name];
  kept['content-security-policy'] = "default-src 'none'; frame-ancestors 'none'";
  return Object.freeze(kept);
})();

/** A stream's head: the reply's own headers and the stream's security headers. */
export function streamHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string | string[] | number> {
  const head: Record<string, string | string[] | number> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) head[name] = value;
  }
  return Object.assign(head, STREAM_SECURITY_HEADERS);
}
