/**
 * What the ticker bench's processes share: the symbol set, the tick shape, the SSE frame the baselines
 * write, and the few node:http helpers the two baseline servers need.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Ten symbols; subscriber i listens to SYMBOLS[i % 10], so each symbol has N / 10 subscribers. */
export const SYMBOLS = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'META', 'NVDA', 'TSLA', 'NFLX', 'AMD', 'INTC'] as const;

export interface Tick {
  symbol: string;
  price: number;
  size: number;
  /** Publish time, epoch ms, set by the bench publisher; the client measures receipt against it. */
  ts: number;
}

/** Response headers of every SSE stream the baselines serve (the same ones the app sends). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

/** The frame, byte for byte, that the bare baseline writes for one tick (better-sse writes its own). */
export function tickFrame(id: number, tick: Tick): string {
  const data = JSON.stringify({ symbol: tick.symbol, price: tick.price, size: tick.size, ts: tick.ts });
  return `id: ${id}\nevent: tick\ndata: ${data}\n\n`;
}

/** `?symbols=A,B` → the known symbols asked for (unknown ones are ignored; none → 400 by the caller). */
export function parseSymbols(url: URL): string[] {
  const known = new Set<string>(SYMBOLS);
  return (url.searchParams.get('symbols') ?? '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter((s) => known.has(s));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a JSON body of at most 4 MB; rejects on anything else. */
export function readJson(req: IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 4 * 1_048_576) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    req.on('error', reject);
  });
}

/** Validates `{ ticks: [{ symbol, price, size, ts }] }` loosely: the bench publisher is the only caller. */
export function ticksOf(body: any): Tick[] {
  if (!body || !Array.isArray(body.ticks)) throw new Error('ticks must be an array');
  return body.ticks.map((t: any) => ({
    symbol: String(t.symbol),
    price: Number(t.price),
    size: Number(t.size ?? 0),
    ts: Number(t.ts ?? Date.now()),
  }));
}

/**
 * Listens on 127.0.0.1:PORT (0 = any free port), prints `READY <port>` for the driver, and exits
 * cleanly on SIGTERM/SIGINT. Idle timeouts are off: SSE responses live as long as the bench wants.
 */
export function listenAndAnnounce(server: Server): void {
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.timeout = 0;
  const port = Number(process.env.PORT ?? 0);
  server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    console.log(`READY ${actual}`);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!process.stdin.isTTY) {
    // The driver holds our stdin open; if it dies, stdin ends and we go too (no orphans holding ports).
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
}
