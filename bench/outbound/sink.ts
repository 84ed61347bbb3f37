/**
 * The receiving end for both senders: node:http on 127.0.0.1, answers 204 at once, and bins
 * `Date.now() - data.t0` of each request into a 1 ms histogram. Driven over IPC by run.ts.
 */
import { createServer } from 'node:http';
import { T0_MARKER, percentile, serve } from './common.js';

const MAX_MS = 120_000;
let hist = new Array<number>(MAX_MS + 1).fill(0);
let count = 0;
let firstAt = 0;
let lastAt = 0;
let bytes = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const now = Date.now();
    const at = body.indexOf(T0_MARKER);
    if (at >= 0) {
      let t0 = 0;
      let i = at + T0_MARKER.length;
      while (body[i] === 32) i++; // Postgres writes `"t0": 123`
      for (; i < body.length; i++) {
        const c = body[i];
        if (c < 48 || c > 57) break;
        t0 = t0 * 10 + (c - 48);
      }
      hist[Math.min(MAX_MS, Math.max(0, now - t0))]++;
      count++;
      bytes += body.length;
      if (count === 1) firstAt = now;
      lastAt = now;
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

serve({
  listen: () =>
    new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port })),
    ),
  reset: () => {
    hist = new Array<number>(MAX_MS + 1).fill(0);
    count = 0;
    bytes = 0;
    firstAt = lastAt = 0;
    return {};
  },
  report: () => ({
    count,
    bytes,
    firstAt,
    lastAt,
    p50Ms: percentile(hist, count, 0.5),
    p99Ms: percentile(hist, count, 0.99),
  }),
});
