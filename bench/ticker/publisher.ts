/**
 * Publishes ticks at a fixed rate (ticks/s, symbols in rotation) by POSTing batches to the server under
 * test, and the small JSON-over-HTTP helper the driver uses for everything else. Each tick's `ts` is
 * Date.now() when its batch is sent: the client measures publish→receive against it.
 */
import { Agent, request } from 'node:http';
import { SYMBOLS } from './common.js';

export interface HttpResult {
  status: number;
  body: any;
}

const controlAgent = new Agent({ keepAlive: true, maxSockets: 2 });

export function httpJson(
  method: string,
  port: number,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  agent: Agent = controlAgent,
  timeoutMs = 10_000,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: {
          ...headers,
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface PublishResult {
  /** Ticks the server accepted (2xx). */
  accepted: number;
  /** Accepted ticks whose ts fell in the measurement window, per symbol index. */
  windowBySymbol: number[];
  /** Ticks that should have been sent by the end, at the asked rate. */
  due: number;
  errors: number;
  firstError?: string;
}

/** At most this many POSTs in flight; past it, owed ticks wait and go in the next (bigger) batch. */
const MAX_IN_FLIGHT = 4;

export class Publisher {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  private seq = 0;

  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly headers: Record<string, string>,
    /** The server's largest accepted batch (the app's MAX_TICKS_PER_BATCH defaults to 1,000). */
    private readonly maxBatch = 1_000,
  ) {}

  /** Publishes `rate` ticks/s from now until `until` (epoch ms); counts those with ts in [winStart, winEnd). */
  async run(rate: number, until: number, winStart: number, winEnd: number): Promise<PublishResult> {
    const result: PublishResult = { accepted: 0, windowBySymbol: new Array(SYMBOLS.length).fill(0), due: 0, errors: 0 };
    const begin = Date.now();
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    for (let now = begin; now < until; now = Date.now()) {
      const due = Math.floor(((now - begin) * rate) / 1000) + 1;
      if (due > sent && inFlight.size < MAX_IN_FLIGHT) {
        const count = Math.min(due - sent, this.maxBatch);
        sent += count;
        const p = this.post(count, result, winStart, winEnd).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      const nextDue = begin + (sent * 1000) / rate;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(10, nextDue - Date.now()))));
    }
    result.due = Math.floor(((until - begin) * rate) / 1000);
    await Promise.all(inFlight);
    return result;
  }

  private async post(count: number, result: PublishResult, winStart: number, winEnd: number): Promise<void> {
    const ts = Date.now();
    const symbols: number[] = [];
    const ticks = [];
    for (let i = 0; i < count; i++) {
      const seq = this.seq++;
      const s = seq % SYMBOLS.length;
      symbols.push(s);
      ticks.push({ symbol: SYMBOLS[s], price: 100 + (seq % 10_000) / 100, size: 1 + (seq % 100), ts });
    }
    try {
      const res = await httpJson('POST', this.port, this.path, { ticks }, this.headers, this.agent);
      if (res.status < 200 || res.status >= 300) {
        result.errors += count;
        result.firstError ??= `${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
        return;
      }
      result.accepted += count;
      if (ts >= winStart && ts < winEnd) for (const s of symbols) result.windowBySymbol[s]++;
    } catch (error) {
      result.errors += count;
      result.firstError ??= String(error);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
