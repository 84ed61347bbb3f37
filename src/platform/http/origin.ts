/**
 * The Origin rule of the app's upgrades (socket.io chat, feed WebSockets): no Origin header (not a
 * browser), an origin in CORS_ORIGINS, or the page's own origin (its host equals the request's
 * `X-Forwarded-Host` or `Host`).
 */
import type { IncomingMessage } from 'node:http';

export function originAllowed(req: IncomingMessage, corsOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (corsOrigins.includes(origin)) return true;
  const forwarded = req.headers['x-forwarded-host'];
  const host = (Array.isArray(forwarded) ? forwarded[0] : forwarded) ?? req.headers.host;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
