/**
 * The soak's SSE subscribers, forked by run.ts: ticker subscribers (one symbol each) and scores
 * subscribers (one match each), spread over the instances, on raw sockets. A stream that ends is
 * resumed on the other instance with its Last-Event-ID, like an EventSource behind a balancer.
 * Per frame only a few fields are read with a byte search: the id, the tick's price and `ts`, the
 * score's `seq`.
 *
 * IPC: `{ id, cmd: 'connect', ports, ticker: [symbol…], scores: [matchId…] }` (one entry per
 * subscriber), `{ cmd: 'report', final? }`, `{ cmd: 'exit' }`.
 */
import { type Socket, connect as netConnect } from 'node:net';

const FRAME_END = Buffer.from('\n\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const ID_FIELD = Buffer.from('id: ');
const DATA_FIELD = Buffer.from('data:');
const TICK = Buffer.from('event: tick');
const SCORE = Buffer.from('event: score');
const RESET = Buffer.from('event: reset');
const PRICE = Buffer.from('"price":');
const TS = Buffer.from('"ts":');
const SEQ = Buffer.from('"seq":');
const HIST_MAX_MS = 60_000;

interface Sub {
  kind: 'ticker' | 'scores';
  topic: string;
  path: string;
  instance: number;
  socket?: Socket;
  tail: Buffer | null;
  lastId?: string;
  lastPrice: number;
  /** scores: every seq seen (a repeat is counted, not stored twice). */
  seqs: Set<number>;
  repeats: number;
  reconnects: number;
  resets: number;
  frames: number;
}

let ports: number[] = [];
const subs: Sub[] = [];
let closing = false;
let connectErrors = 0;
const tickLatency = new Uint32Array(HIST_MAX_MS + 1);
let tickFrames = 0;
let scoreFrames = 0;

function readNumber(buf: Buffer, at: number): number {
  let end = at;
  while (end < buf.length && ((buf[end] >= 0x30 && buf[end] <= 0x39) || buf[end] === 0x2e || buf[end] === 0x2d)) end++;
  return end > at ? Number(buf.toString('latin1', at, end)) : NaN;
}

function field(buf: Buffer, name: Buffer, pos: number, end: number): number {
  const at = buf.indexOf(name, pos);
  return at < 0 || at >= end ? NaN : readNumber(buf, at + name.length);
}

function onFrame(sub: Sub, buf: Buffer, pos: number, end: number, now: number): void {
  // `id:` starts a line before `data:` (a chunk-size line of chunked encoding may come first).
  const dataAt = buf.indexOf(DATA_FIELD, pos);
  const limit = dataAt >= 0 && dataAt < end ? dataAt : end;
  let at = buf.indexOf(ID_FIELD, pos);
  while (at > pos && at < limit && buf[at - 1] !== 0x0a) at = buf.indexOf(ID_FIELD, at + 1);
  if (at >= 0 && at < limit) sub.lastId = buf.toString('latin1', at + ID_FIELD.length, buf.indexOf(0x0a, at));
  const has = (marker: Buffer) => {
    const at = buf.indexOf(marker, pos);
    return at >= 0 && at < end;
  };
  if (has(TICK)) {
    sub.frames++;
    tickFrames++;
    const price = field(buf, PRICE, pos, end);
    if (!Number.isNaN(price)) sub.lastPrice = price;
    const ts = field(buf, TS, pos, end);
    if (!Number.isNaN(ts)) tickLatency[Math.min(HIST_MAX_MS, Math.max(0, now - ts))]++;
  } else if (has(SCORE)) {
    sub.frames++;
    scoreFrames++;
    const seq = field(buf, SEQ, pos, end);
    if (Number.isNaN(seq)) return;
    if (sub.seqs.has(seq)) sub.repeats++;
    else sub.seqs.add(seq);
  } else if (has(RESET)) {
    sub.resets++;
  }
}

function consume(sub: Sub, chunk: Buffer): void {
  const now = Date.now();
  let buf = chunk;
  if (sub.tail) {
    buf = Buffer.concat([sub.tail, chunk]);
    sub.tail = null;
  }
  let pos = 0;
  for (;;) {
    const end = buf.indexOf(FRAME_END, pos);
    if (end < 0) break;
    onFrame(sub, buf, pos, end, now);
    pos = end + FRAME_END.length;
  }
  if (pos < buf.length) sub.tail = Buffer.from(buf.subarray(pos));
}

function open(sub: Sub): Promise<boolean> {
  return new Promise((resolve) => {
    const port = ports[sub.instance];
    const socket = netConnect({ host: '127.0.0.1', port });
    let head: Buffer | null = Buffer.alloc(0);
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    socket.on('connect', () => {
      const resume = sub.lastId ? `Last-Event-ID: ${sub.lastId}\r\n` : '';
      socket.write(`GET ${sub.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${resume}\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (head === null) return consume(sub, chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return;
      if (!/^HTTP\/1\.[01] 200/.test(head.toString('latin1', 0, 16))) {
        socket.destroy();
        return done(false);
      }
      const rest = head.subarray(end + HEAD_END.length);
      head = null;
      sub.socket = socket;
      sub.tail = null;
      done(true);
      if (rest.length > 0) consume(sub, rest);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      done(false);
      if (sub.socket !== socket || closing) return;
      sub.socket = undefined;
      // Resume on the other instance, as a balancer would send it there.
      sub.reconnects++;
      sub.instance = (sub.instance + 1) % ports.length;
      setTimeout(() => void reopen(sub), 500 + Math.random() * 1_000);
    });
  });
}

async function reopen(sub: Sub): Promise<void> {
  while (!closing && !(await open(sub))) {
    connectErrors++;
    sub.instance = (sub.instance + 1) % ports.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function connect(msg: { ports: number[]; ticker: string[]; scores: string[] }) {
  ports = msg.ports;
  const started = Date.now();
  const fresh: Sub[] = [];
  const make = (kind: Sub['kind'], topic: string, i: number): Sub => ({
    kind,
    topic,
    path: kind === 'ticker' ? `/ticker/stream?symbols=${topic}` : `/scores/stream?matches=${topic}`,
    instance: i % ports.length,
    tail: null,
    lastPrice: NaN,
    seqs: new Set(),
    repeats: 0,
    reconnects: 0,
    resets: 0,
    frames: 0,
  });
  msg.ticker.forEach((symbol, i) => fresh.push(make('ticker', symbol, i)));
  msg.scores.forEach((match, i) => fresh.push(make('scores', match, i)));
  subs.push(...fresh);
  let next = 0;
  let failed = 0;
  const worker = async () => {
    for (let i = next++; i < fresh.length; i = next++) {
      if (!(await open(fresh[i]))) {
        failed++;
        void reopen(fresh[i]);
      }
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return { opened: fresh.length - failed, failed, ms: Date.now() - started };
}

function percentile(p: number): number | null {
  let total = 0;
  for (let i = 0; i <= HIST_MAX_MS; i++) total += tickLatency[i];
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(total * p));
  let seen = 0;
  for (let ms = 0; ms <= HIST_MAX_MS; ms++) {
    seen += tickLatency[ms];
    if (seen >= rank) return ms;
  }
  return HIST_MAX_MS;
}

function report(final: boolean) {
  const open = subs.filter((s) => s.socket).length;
  const base = {
    subscribers: subs.length,
    open,
    reconnects: subs.reduce((n, s) => n + s.reconnects, 0),
    resets: subs.reduce((n, s) => n + s.resets, 0),
    connectErrors,
    tickFrames,
    scoreFrames,
    tickP50Ms: percentile(0.5),
    tickP99Ms: percentile(0.99),
  };
  if (!final) return base;
  return {
    ...base,
    /** ticker: the last price each subscriber saw, per symbol (the driver compares with the last published). */
    tickerLast: subs.filter((s) => s.kind === 'ticker').map((s) => [s.topic, s.lastPrice]),
    /** scores: per subscriber, its match, the seqs it has (as ranges would be overkill: a count, min, max, and holes). */
    scores: subs
      .filter((s) => s.kind === 'scores')
      .map((s) => {
        const seqs = [...s.seqs].sort((a, b) => a - b);
        return {
          match: s.topic,
          count: seqs.length,
          min: seqs[0] ?? null,
          max: seqs.at(-1) ?? null,
          repeats: s.repeats,
          seqs,
        };
      }),
  };
}

process.on('message', (msg: any) => {
  const reply = async () => {
    switch (msg.cmd) {
      case 'connect':
        return connect(msg);
      case 'report':
        return report(Boolean(msg.final));
      case 'exit':
        closing = true;
        for (const sub of subs) sub.socket?.destroy();
        setImmediate(() => process.exit(0));
        return {};
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  };
  reply().then(
    (result) => process.send?.({ id: msg.id, ok: true, ...result }),
    (error: unknown) => process.send?.({ id: msg.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
