/**
 * Baseline (b): the same endpoints built the way the better-sse library is meant to be used: one
 * Channel per symbol, a Session per connection registered with each channel it asked for, and
 * `channel.broadcast(tick, 'tick', { eventId })` per tick (better-sse serializes per session).
 *
 *   GET  /ticker/stream?symbols=A,B   SSE, `event: tick` frames
 *   POST /publish { ticks: [...] }    broadcast each tick → 202 { accepted }
 *   GET  /stats                       { rss, connections }
 */
import { createServer } from 'node:http';
import { type Channel, createChannel, createSession } from 'better-sse';
import { SSE_HEADERS, listenAndAnnounce, parseSymbols, readJson, sendJson, ticksOf } from './common.js';

const channels = new Map<string, Channel>();
let connections = 0;
let lastId = 0;

function channelFor(symbol: string): Channel {
  let channel = channels.get(symbol);
  if (!channel) channels.set(symbol, (channel = createChannel()));
  return channel;
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/ticker/stream') {
    const symbols = parseSymbols(url);
    if (symbols.length === 0) return sendJson(res, 400, { statusCode: 400, message: 'symbols is required' });
    // Same heartbeat period and retry hint as the app; X-Accel-Buffering like the other two.
    createSession(req, res, {
      keepAlive: 15_000,
      retry: 2_000,
      headers: { 'X-Accel-Buffering': SSE_HEADERS['X-Accel-Buffering'] },
    }).then(
      (session) => {
        connections++;
        session.once('disconnected', () => connections--);
        for (const symbol of symbols) channelFor(symbol).register(session);
      },
      () => res.destroy(),
    );
    return;
  }
  if (req.method === 'POST' && url.pathname === '/publish') {
    readJson(req).then(
      (body) => {
        const ticks = ticksOf(body);
        for (const tick of ticks) {
          channels
            .get(tick.symbol)
            ?.broadcast({ symbol: tick.symbol, price: tick.price, size: tick.size, ts: tick.ts }, 'tick', {
              eventId: String(++lastId),
            });
        }
        sendJson(res, 202, { accepted: ticks.length });
      },
      (error: Error) => sendJson(res, 400, { statusCode: 400, message: error.message }),
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    return sendJson(res, 200, { rss: process.memoryUsage.rss(), connections });
  }
  sendJson(res, 404, { statusCode: 404, message: 'not found' });
});

listenAndAnnounce(server);
