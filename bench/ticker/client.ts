/**
 * The load client, forked by run.ts so that it never shares a process (or an event loop) with a server.
 * Opens N connections, connection i subscribing to SYMBOLS[i % 10], and counts tick frames. Per frame it
 * reads only the `"ts":` field of the payload (publish time) and bins `Date.now() - ts` into a 1 ms
 * histogram; nothing else is parsed. Two transports, chosen per `connect` command (`transport`):
 *  - `sse` (default): `GET /ticker/stream?symbols=…`, over a bare `node:net` socket (or node:http with
 *    `BENCH_CLIENT=http`); frames are `event: tick` SSE events.
 *  - `ws`: the app's feed WebSocket (`GET /feeds/ws`, subprotocol `livefeed.v1`), also over a bare
 *    socket: the upgrade written by hand, one masked `subscribe` op, then the server's (unmasked, whole)
 *    frames parsed as they come; text frames with `"type":"tick"` are ticks, pings are answered with
 *    masked pongs (the server ends a socket that misses one), a close frame ends the connection.
 *
 * Commands arrive over IPC as `{ id, cmd, ... }` and each gets one reply `{ id, ... }`.
 */
import { randomBytes } from 'node:crypto';
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { type Socket, connect as netConnect } from 'node:net';
import { SYMBOLS } from './common.js';

const FRAME_END = Buffer.from('\n\n');
const EVENT_FIELD = Buffer.from('event:');
const TS_FIELD = Buffer.from('"ts":');
const TICK = Buffer.from('tick\n');
const HIST_MAX_MS = 60_000;

interface Conn {
  /** What to destroy to close it: the request (http transport) or the socket (net transport). */
  handle: ClientRequest | Socket;
  res?: IncomingMessage;
  tail: Buffer | null;
  group: string;
  symbol: number;
  /** WebSocket transport: answers pings (and close frames) on this socket. */
  ws?: Socket;
  /** WebSocket transport, until the subscription is confirmed: sees the text frames instead. */
  onReply?: (text: string) => void;
}

const conns = new Set<Conn>();
let closing = false;
let dropped = 0;
let totalTicks = 0;

/**
 * The measurement window: ticks published in [start, end) are counted; mid splits it in halves; those
 * received by `onTimeBy` (end + a grace) count as delivered on time, the rest only for latency.
 */
let win = { start: Number.POSITIVE_INFINITY, mid: 0, end: 0, onTimeBy: 0 };
let firstHalf = new Uint32Array(HIST_MAX_MS + 1);
let secondHalf = new Uint32Array(HIST_MAX_MS + 1);
let windowTicks = 0;
let onTimeTicks = 0;
let cpuAtWindow = process.cpuUsage();
let wallAtWindow = Date.now();

function record(ts: number, now: number): void {
  totalTicks++;
  if (ts < win.start || ts >= win.end) return;
  windowTicks++;
  if (now <= win.onTimeBy) onTimeTicks++;
  let latency = now - ts;
  if (latency < 0) latency = 0;
  else if (latency > HIST_MAX_MS) latency = HIST_MAX_MS;
  (ts < win.mid ? firstHalf : secondHalf)[latency]++;
}

/** True when the frame [pos, end) has `event: tick` (or `event:tick`). */
function isTick(buf: Buffer, pos: number, end: number): boolean {
  const e = buf.indexOf(EVENT_FIELD, pos);
  if (e < 0 || e >= end) return false;
  let j = e + EVENT_FIELD.length;
  if (buf[j] === 0x20) j++;
  for (let k = 0; k < TICK.length; k++) if (buf[j + k] !== TICK[k]) return false;
  return true;
}

/** The `"ts":` number of the frame [pos, end), or -1. A quoted ISO date is accepted too. */
function readTs(buf: Buffer, pos: number, end: number): number {
  const t = buf.indexOf(TS_FIELD, pos);
  if (t < 0 || t >= end) return -1;
  let j = t + TS_FIELD.length;
  if (buf[j] === 0x22) {
    const close = buf.indexOf(0x22, j + 1);
    return close > 0 && close < end ? Date.parse(buf.toString('latin1', j + 1, close)) : -1;
  }
  let value = 0;
  let digits = 0;
  for (let c = buf[j]; c >= 0x30 && c <= 0x39; c = buf[++j]) {
    value = value * 10 + (c - 0x30);
    digits++;
  }
  return digits > 0 ? value : -1;
}

function consume(conn: Conn, chunk: Buffer): void {
  const now = Date.now();
  let buf = chunk;
  if (conn.tail) {
    buf = Buffer.concat([conn.tail, chunk]);
    conn.tail = null;
  }
  let pos = 0;
  for (;;) {
    const end = buf.indexOf(FRAME_END, pos);
    if (end < 0) break;
    if (isTick(buf, pos, end)) {
      const ts = readTs(buf, pos, end);
      if (ts >= 0) record(ts, now);
    }
    pos = end + FRAME_END.length;
  }
  // Copy the partial frame so the (possibly large) chunk is not pinned until the next one.
  if (pos < buf.length) conn.tail = Buffer.from(buf.subarray(pos));
}

function openOne(port: number, path: string, group: string, symbol: number): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(error);
    };
    const req = request(
      { host: '127.0.0.1', port, path, agent: false, headers: { Accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          req.destroy();
          done(`HTTP ${res.statusCode}`);
          return;
        }
        const conn: Conn = { handle: req, res, tail: null, group, symbol };
        conns.add(conn);
        res.on('data', (chunk: Buffer) => consume(conn, chunk));
        res.on('close', () => {
          if (conns.delete(conn) && !closing) dropped++;
        });
        res.on('error', () => undefined);
        done(null);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done('connect timeout');
    }, 30_000);
    req.on('error', (error) => done(error.message));
    req.end();
  });
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The same GET over a bare socket: the request line and headers by hand, the status line checked, and
 * the body scanned as it comes off the socket. The chunked-encoding size lines between frames are
 * skipped by the frame scan (each server writes a frame per chunk), which saves the HTTP parser's
 * per-chunk work in the client (`BENCH_CLIENT=http` uses node:http instead).
 */
function openOneNet(port: number, path: string, group: string, symbol: number): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(error);
    };
    const socket = netConnect({ host: '127.0.0.1', port });
    let head: Buffer | null = Buffer.alloc(0);
    let conn: Conn | undefined;
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn) return consume(conn, chunk);
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > 16_384) socket.destroy(new Error('response head too large'));
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1', 0, Math.min(end, 64)));
      if (status?.[1] !== '200') {
        socket.destroy();
        done(`HTTP ${status?.[1] ?? '?'}`);
        return;
      }
      conn = { handle: socket, tail: null, group, symbol };
      conns.add(conn);
      const rest = head.subarray(end + HEAD_END.length);
      head = null;
      done(null);
      if (rest.length > 0) consume(conn, rest);
    });
    socket.on('close', () => {
      if (conn && conns.delete(conn) && !closing) dropped++;
      done('closed before the response head');
    });
    socket.on('error', (error) => done(error.message));
    const timer = setTimeout(() => {
      socket.destroy();
      done('connect timeout');
    }, 30_000);
  });
}

const open = process.env.BENCH_CLIENT === 'http' ? openOne : openOneNet;

const WS_PROTOCOL = 'livefeed.v1';
const WS_TICK = Buffer.from('"type":"tick"');
const WS_TEXT = 0x1;
const WS_CLOSE = 0x8;
const WS_PING = 0x9;

/** One client frame (FIN set, masked as RFC 6455 requires of clients); payloads here are small. */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLen + 4 + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headLen);
  for (let i = 0; i < len; i++) frame[headLen + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/**
 * Server frames of a WebSocket conn: unmasked, 7/16/64-bit lengths, FIN assumed (the server sends
 * whole messages). Text frames holding `"type":"tick"` are recorded; before the subscription is
 * confirmed, `conn.onReply` sees the text frames instead. A partial frame waits in `conn.tail`.
 */
function consumeWs(conn: Conn, chunk: Buffer): void {
  const now = Date.now();
  let buf = chunk;
  if (conn.tail) {
    buf = Buffer.concat([conn.tail, chunk]);
    conn.tail = null;
  }
  let pos = 0;
  while (buf.length - pos >= 2) {
    const opcode = buf[pos] & 0x0f;
    const masked = (buf[pos + 1] & 0x80) !== 0;
    let len = buf[pos + 1] & 0x7f;
    let start = pos + 2;
    if (len === 126) {
      if (buf.length - pos < 4) break;
      len = buf.readUInt16BE(pos + 2);
      start = pos + 4;
    } else if (len === 127) {
      if (buf.length - pos < 10) break;
      len = buf.readUInt32BE(pos + 2) * 2 ** 32 + buf.readUInt32BE(pos + 6);
      start = pos + 10;
    }
    if (masked) start += 4; // a server must not mask; skipped rather than unmasked (never seen)
    const end = start + len;
    if (end > buf.length) break;
    if (opcode === WS_TEXT) {
      if (conn.onReply) conn.onReply(buf.toString('utf8', start, end));
      else {
        const t = buf.indexOf(WS_TICK, start);
        if (t >= 0 && t < end) {
          const ts = readTs(buf, t + WS_TICK.length, end);
          if (ts >= 0) record(ts, now);
        }
      }
    } else if (opcode === WS_PING) {
      conn.ws?.write(wsFrame(0xa, buf.subarray(start, end)));
    } else if (opcode === WS_CLOSE) {
      // Echo the status code, then let the server close the TCP connection (the close handler counts it).
      conn.ws?.end(wsFrame(WS_CLOSE, buf.subarray(start, Math.min(end, start + 2))));
      conn.tail = null;
      return;
    }
    pos = end;
  }
  if (pos < buf.length) conn.tail = Buffer.from(buf.subarray(pos));
}

/**
 * The feed WebSocket over a bare socket: the upgrade request by hand, `101` and the subprotocol
 * checked, then one masked `subscribe` op for the symbol. Connected once the server answers
 * `{"op":"subscribed"}` (the stream is admitted then, as an SSE stream is by its 200); an
 * `{"op":"error"}` (e.g. `too_many_streams`) is a failure named by its code.
 */
function openOneWs(port: number, path: string, group: string, symbol: number): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(error);
    };
    const socket = netConnect({ host: '127.0.0.1', port });
    let head: Buffer | null = Buffer.alloc(0);
    let conn: Conn | undefined;
    const onReply = (text: string) => {
      if (text.includes('"op":"subscribed"')) {
        conn!.onReply = undefined;
        conns.add(conn!);
        done(null);
      } else if (text.includes('"op":"error"')) {
        const code = /"code":"([^"]*)"/.exec(text)?.[1] ?? 'error';
        socket.destroy();
        done(`ws ${code}`);
      }
    };
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Protocol: ${WS_PROTOCOL}\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn) return consumeWs(conn, chunk);
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > 16_384) socket.destroy(new Error('response head too large'));
        return;
      }
      const text = head.toString('latin1', 0, end);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text.slice(0, 64));
      if (status?.[1] !== '101') {
        socket.destroy();
        done(`HTTP ${status?.[1] ?? '?'}`);
        return;
      }
      if (!/^sec-websocket-protocol:\s*livefeed\.v1\s*$/im.test(text)) {
        socket.destroy();
        done('101 without subprotocol');
        return;
      }
      conn = { handle: socket, tail: null, group, symbol, ws: socket, onReply };
      const rest = head.subarray(end + HEAD_END.length);
      head = null;
      const topics = JSON.stringify([SYMBOLS[symbol]]);
      socket.write(wsFrame(WS_TEXT, Buffer.from(`{"op":"subscribe","feed":"ticker","topics":${topics}}`)));
      if (rest.length > 0) consumeWs(conn, rest);
    });
    socket.on('close', () => {
      if (conn && conns.delete(conn) && !closing) dropped++;
      done(conn ? 'closed before subscribed' : 'closed before the response head');
    });
    socket.on('error', (error) => done(error.message));
    const timer = setTimeout(() => {
      socket.destroy();
      done('connect timeout');
    }, 30_000);
  });
}

async function connect(msg: any) {
  const { port, n, group, concurrency = 200, transport = 'sse' } = msg;
  const ws = transport === 'ws';
  const pathFor: string = msg.pathFor ?? (ws ? '/feeds/ws' : '/ticker/stream?symbols=');
  const started = Date.now();
  const errors = new Map<string, number>();
  let next = 0;
  let ok = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const symbol = i % SYMBOLS.length;
      const error = ws
        ? await openOneWs(port, pathFor, group, symbol)
        : await open(port, `${pathFor}${SYMBOLS[symbol]}`, group, symbol);
      if (error === null) ok++;
      else errors.set(error, (errors.get(error) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { ok, failed: n - ok, errors: Object.fromEntries(errors), ms: Date.now() - started };
}

function closeGroup(group: string | undefined) {
  const prev = closing;
  closing = true;
  let closed = 0;
  for (const conn of [...conns]) {
    if (group !== undefined && conn.group !== group) continue;
    conns.delete(conn);
    conn.handle.destroy();
    closed++;
  }
  closing = prev;
  return { closed };
}

function percentile(hists: Uint32Array[], total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(total * p));
  let seen = 0;
  for (let ms = 0; ms <= HIST_MAX_MS; ms++) {
    for (const h of hists) seen += h[ms];
    if (seen >= rank) return ms;
  }
  return HIST_MAX_MS;
}

function sum(h: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < h.length; i++) s += h[i];
  return s;
}

function report() {
  const a = sum(firstHalf);
  const b = sum(secondHalf);
  const cpu = process.cpuUsage(cpuAtWindow);
  const wall = Date.now() - wallAtWindow;
  const bySymbol = new Array<number>(SYMBOLS.length).fill(0);
  for (const conn of conns) bySymbol[conn.symbol]++;
  return {
    windowTicks,
    onTimeTicks,
    totalTicks,
    p50Ms: percentile([firstHalf, secondHalf], a + b, 0.5),
    p99Ms: percentile([firstHalf, secondHalf], a + b, 0.99),
    maxMs: percentile([firstHalf, secondHalf], a + b, 1),
    firstHalfP50Ms: percentile([firstHalf], a, 0.5),
    secondHalfP50Ms: percentile([secondHalf], b, 0.5),
    open: conns.size,
    openBySymbol: bySymbol,
    dropped,
    cpuPct: wall > 0 ? ((cpu.user + cpu.system) / 1000 / wall) * 100 : 0,
  };
}

async function handle(msg: any): Promise<any> {
  switch (msg.cmd) {
    case 'connect':
      return connect(msg);
    case 'window':
      win = { start: msg.start, mid: msg.mid, end: msg.end, onTimeBy: msg.onTimeBy };
      firstHalf = new Uint32Array(HIST_MAX_MS + 1);
      secondHalf = new Uint32Array(HIST_MAX_MS + 1);
      windowTicks = 0;
      onTimeTicks = 0;
      cpuAtWindow = process.cpuUsage();
      wallAtWindow = Date.now();
      return {};
    case 'report':
      return report();
    case 'close':
      return closeGroup(msg.group);
    case 'exit':
      closeGroup(undefined);
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

process.on('message', (msg: any) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, ...result }),
    (error: unknown) => process.send?.({ id: msg.id, ok: false, error: String(error) }),
  );
});
// The driver is our only reason to live.
process.on('disconnect', () => process.exit(0));
