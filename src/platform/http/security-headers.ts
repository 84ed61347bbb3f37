/**
 * The security headers (helmet's) of every response, computed once at boot. For a fixed policy
 * helmet sets the same headers on every response, so it runs once here against a recorder, and
 * an `onRequest` hook hands the result to the Fastify reply, which writes it out with the reply's
 * other headers (a hijacked stream writes them in its head too). Why not @fastify/helmet: it
 * builds the whole middleware again on every request and sets the headers on the raw response,
 * which keeps a copy of each for as long as the response lives (an open stream: hours).
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
