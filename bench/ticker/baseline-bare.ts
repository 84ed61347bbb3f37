/**
 * Baseline (a): the least an SSE server can do. A bare node:http server; each tick is encoded once into
 * a Buffer and that same Buffer is written to every subscribed response. No backpressure handling, no
 * heartbeat, no resume: the floor the app is measured against.
 *
 *   GET  /ticker/stream?symbols=A,B   SSE, `event: tick` frames
 *   POST /publish { ticks: [...] }    fan out each tick → 202 { accepted }
 *   GET  /stats                       { rss, connections }
 */
import { createServer, type ServerResponse } from 'node:http';
import { SSE_HEADERS, listenAndAnnounce, parseSymbols, readJson, sendJson, tickFrame, ticksOf } from './common.js';

const bySymbol = new Map<string, Set<ServerResponse>>();
let connections = 0;
let lastId = 0;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/ticker/stream') {
    const symbols = parseSymbols(url);
    if (symbols.length === 0) return sendJson(res, 400, { statusCode: 400, message: 'symbols is required' });
    res.writeHead(200, SSE_HEADERS);
    res.write('retry: 2000\n\n');
    connections++;
    for (const symbol of symbols) {
      let set = bySymbol.get(symbol);
      if (!set) bySymbol.set(symbol, (set = new Set()));
      set.add(res);
    }
    res.once('close', () => {
      connections--;
      for (const symbol of symbols) bySymbol.get(symbol)?.delete(res);
    });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/publish') {
    readJson(req).then(
      (body) => {
        const ticks = ticksOf(body);
        for (const tick of ticks) {
          const frame = Buffer.from(tickFrame(++lastId, tick));
          const subscribers = bySymbol.get(tick.symbol);
          if (subscribers) for (const sub of subscribers) sub.write(frame);
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
