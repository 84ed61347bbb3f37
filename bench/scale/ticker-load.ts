/**
 * The ticker half of the scale load: 1,000 instruments made through the admin API, SSE subscribers
 * of `/ticker/stream?symbols=…` (instance i's subscribers hold the symbols s with s mod K = i, ten per
 * subscription, so the cluster holds each symbol exactly once), and tick batches that each cover
 * every symbol, POSTed to instance 0. Counts `event: tick` frames per subscriber as they arrive, and
 * samples publish → frame latency: each tick's `ts` is the driver's Date.now() as its POST leaves,
 * read back from the frame's data when it arrives (same process, one clock). A closed-loop publisher
 * (a few POSTs in flight, round-robin over the instances) gives a saturated rate.
 */
import { type ClientRequest, request } from 'node:http';
import { ADMIN_API_KEY } from './cluster.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const AUTH = { Authorization: `Bearer ${ADMIN_API_KEY}` };

export const symbolName = (s: number) => `SC${String(s).padStart(4, '0')}`;

async function post(url: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** POST /admin/ticker/instruments for each symbol, a few at a time. */
export async function createInstruments(url: string, symbols: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let s = next++; s < symbols; s = next++) {
        const res = await post(url, '/admin/ticker/instruments', { symbol: symbolName(s), name: `scale ${s}` });
        if (res.status !== 201)
          throw new Error(`POST /admin/ticker/instruments ${symbolName(s)} → ${res.status} ${res.text}`);
      }
    }),
  );
}

interface Subscriber {
  instance: number;
  symbols: number[];
  ticks: number;
  req?: ClientRequest;
}

export class TickerLoad {
  readonly subscribers: Subscriber[] = [];
  dropped = 0;
  /** Since the last resetSamples(): publish (the tick's `ts`) → its frame at the subscriber, in ms. */
  latencyMs: number[] = [];
  /** Batches POSTed so far: batch b's prices are 100 + b + s / 1000, so every batch is a new price. */
  private batch = 0;
  private closing = false;

  constructor(
    private readonly urls: string[],
    private readonly symbols: number,
    private readonly perSubscription: number,
  ) {
    const k = urls.length;
    for (let i = 0; i < k; i++) {
      const held = Array.from({ length: symbols }, (_, s) => s).filter((s) => s % k === i);
      for (let c = 0; c < held.length; c += perSubscription)
        this.subscribers.push({ instance: i, symbols: held.slice(c, c + perSubscription), ticks: 0 });
    }
  }

  /** Symbols held by instance i's subscribers. */
  heldBy(instance: number): number {
    return this.subscribers.filter((s) => s.instance === instance).reduce((n, s) => n + s.symbols.length, 0);
  }

  async connect(): Promise<void> {
    await Promise.all(this.subscribers.map((sub) => this.open(sub)));
  }

  private open(sub: Subscriber): Promise<void> {
    const url = new URL(this.urls[sub.instance]);
    const path = `/ticker/stream?symbols=${sub.symbols.map(symbolName).join(',')}`;
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: url.port, path, agent: false, headers: { Accept: 'text/event-stream' } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`GET ${path.slice(0, 60)}… → ${res.statusCode}`));
            return;
          }
          let tail = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const frames = (tail + chunk).split('\n\n');
            tail = frames.pop() ?? '';
            const now = Date.now();
            for (const frame of frames) {
              if (!/^event: ?tick$/m.test(frame)) continue;
              sub.ticks++;
              const ts = /"ts":(\d+)/.exec(frame);
              if (ts) this.latencyMs.push(now - Number(ts[1]));
            }
          });
          res.on('close', () => {
            if (!this.closing) this.dropped++;
          });
          res.on('error', () => undefined);
          resolve();
        },
      );
      sub.req = req;
      req.setTimeout(30_000, () => req.destroy(new Error('subscribe timed out')));
      req.on('error', (error) => reject(error));
      req.end();
    });
  }

  /** `batches` POSTs of one tick per symbol, `perSec` a second, to instance 0. */
  async publish(batches: number, perSec: number): Promise<{ accepted: number; ms: number }> {
    const started = Date.now();
    let accepted = 0;
    for (let b = 0; b < batches; b++) {
      const wait = started + (b * 1000) / perSec - Date.now();
      if (wait > 0) await sleep(wait);
      accepted += await this.postBatch(this.urls[0]);
    }
    return { accepted, ms: Date.now() - started };
  }

  /**
   * Closed loop for `durationMs`: `inFlight` POSTs of one tick per symbol, each followed at once by the
   * next, round-robin over the instances. `framesInWindow` are the tick frames that reached the
   * subscribers while it ran; `ms` is the window (until the last POST in flight answered).
   */
  async publishClosedLoop(
    durationMs: number,
    inFlight: number,
  ): Promise<{ accepted: number; batches: number; framesInWindow: number; ms: number }> {
    const started = Date.now();
    const frames0 = this.received();
    let accepted = 0;
    let batches = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (Date.now() - started < durationMs) {
          const ok = await this.postBatch(this.urls[next++ % this.urls.length]);
          accepted += ok; // after the await: `accepted += await …` would add to a stale value
          batches++;
        }
      }),
    );
    return { accepted, batches, framesInWindow: this.received() - frames0, ms: Date.now() - started };
  }

  /** One tick per symbol, stamped with the time the POST leaves; resolves to the ticks accepted. */
  private async postBatch(url: string): Promise<number> {
    const b = this.batch++;
    const ts = Date.now();
    const ticks = Array.from({ length: this.symbols }, (_, s) => ({
      symbol: symbolName(s),
      price: 100 + b + s / 1000,
      size: 1 + (s % 10),
      ts,
    }));
    const res = await post(url, '/admin/ticker/ticks', { ticks });
    if (res.status < 200 || res.status >= 300) throw new Error(`POST /admin/ticker/ticks → ${res.status} ${res.text}`);
    return (JSON.parse(res.text) as { accepted: number }).accepted;
  }

  /** Forgets the latency samples taken so far. */
  resetSamples(): void {
    this.latencyMs = [];
  }

  received(): number {
    return this.subscribers.reduce((n, s) => n + s.ticks, 0);
  }

  receivedBy(instance: number): number {
    return this.subscribers.filter((s) => s.instance === instance).reduce((n, s) => n + s.ticks, 0);
  }

  /** Waits until `expected` tick frames are in, or `timeoutMs`. */
  async drain(expected: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.received() < expected) await sleep(50);
  }

  close(): void {
    this.closing = true;
    for (const sub of this.subscribers) sub.req?.destroy();
  }
}
