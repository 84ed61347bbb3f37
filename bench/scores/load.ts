/**
 * The scores bench's load process, forked by run.ts so that it never shares an event loop with a
 * server. It holds N SSE subscribers (raw sockets; subscriber i follows match i mod M) and posts the
 * events, keeping at most one post in flight per match, so it knows each event's seq before the
 * server assigns it and can time post → receive for every frame. Per frame it reads only the
 * `"matchId":"` and `"seq":` fields with a byte search.
 *
 * Modes of a phase: `closed` (each match posts its next event as soon as the previous one is
 * answered: as fast as the server sustains) and `open` (a fixed rate over all matches; a tick that
 * finds every match busy is counted as skipped).
 *
 * IPC: `{ id, cmd, ... }` → one reply `{ id, ok, ... }`.
 */
import { Agent } from 'node:http';
import { type Socket, connect as netConnect } from 'node:net';
import { httpJson } from '../ticker/publisher.js';
import { streamPath } from './common.js';

const FRAME_END = Buffer.from('\n\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const SCORE_EVENT = Buffer.from('event: score');
const MATCH_FIELD = Buffer.from('"matchId":"');
const SEQ_FIELD = Buffer.from('"seq":');
const HIST_MAX_MS = 60_000;

interface Conn {
  socket: Socket;
  match: number;
  tail: Buffer | null;
  lastSeq: number;
  gotFirstFrame: boolean;
}

let port = 0;
let headers: Record<string, string> = {};
let matchIds: string[] = [];
const matchIndex = new Map<string, number>();
/** Per match: next seq to post, whether a post is in flight, and each seq's send time. */
let nextSeq: number[] = [];
let busy: boolean[] = [];
let sentAt: number[][] = [];
/** Subscribers per match. */
let subs: number[] = [];
const conns = new Set<Conn>();
let closing = false;
let dropped = 0;
let duplicates = 0;
let gaps = 0;

let win = { start: Infinity, end: 0, onTimeBy: 0 };
let hist = new Uint32Array(HIST_MAX_MS + 1);
let windowFrames = 0;
let onTimeFrames = 0;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function readNumber(buf: Buffer, at: number): number {
  let value = 0;
  let digits = 0;
  for (let c = buf[at]; c >= 0x30 && c <= 0x39; c = buf[++at]) {
    value = value * 10 + (c - 0x30);
    digits++;
  }
  return digits > 0 ? value : -1;
}

function onFrame(conn: Conn, buf: Buffer, pos: number, end: number, now: number): void {
  conn.gotFirstFrame = true;
  const e = buf.indexOf(SCORE_EVENT, pos);
  if (e < 0 || e >= end) return;
  const m = buf.indexOf(MATCH_FIELD, e);
  const s = buf.indexOf(SEQ_FIELD, e);
  if (m < 0 || s < 0 || s >= end) return;
  const idStart = m + MATCH_FIELD.length;
  const match = matchIndex.get(buf.toString('latin1', idStart, idStart + 36));
  const seq = readNumber(buf, s + SEQ_FIELD.length);
  if (match === undefined || seq < 0) return;
  if (seq <= conn.lastSeq) duplicates++;
  else if (conn.lastSeq > 0 && seq !== conn.lastSeq + 1) gaps++;
  if (seq > conn.lastSeq) conn.lastSeq = seq;
  const t = sentAt[match][seq];
  if (!t || t < win.start || t >= win.end) return;
  windowFrames++;
  if (now <= win.onTimeBy) onTimeFrames++;
  const latency = Math.min(HIST_MAX_MS, Math.max(0, Math.round(now - t)));
  hist[latency]++;
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
    onFrame(conn, buf, pos, end, now);
    pos = end + FRAME_END.length;
  }
  if (pos < buf.length) conn.tail = Buffer.from(buf.subarray(pos));
}

/** One SSE subscriber over a bare socket (see bench/ticker/client.ts for why). */
function openOne(match: number): Promise<string | null> {
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
      socket.write(
        `GET ${streamPath(matchIds[match])} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn) return consume(conn, chunk);
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1', 0, Math.min(end, 64)));
      if (status?.[1] !== '200') {
        socket.destroy();
        done(`HTTP ${status?.[1] ?? '?'}`);
        return;
      }
      conn = { socket, match, tail: null, lastSeq: 0, gotFirstFrame: false };
      conns.add(conn);
      subs[match]++;
      const rest = head.subarray(end + HEAD_END.length);
      head = null;
      done(null);
      if (rest.length > 0) consume(conn, rest);
    });
    socket.on('close', () => {
      if (conn && conns.delete(conn)) {
        subs[conn.match]--;
        if (!closing) dropped++;
      }
      done('closed before the response head');
    });
    socket.on('error', (error) => done(error.message));
    const timer = setTimeout(() => {
      socket.destroy();
      done('connect timeout');
    }, 30_000);
  });
}

async function connect(n: number, concurrency = 200) {
  const started = Date.now();
  const errors = new Map<string, number>();
  let next = 0;
  let ok = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const error = await openOne(i % matchIds.length);
      if (error === null) ok++;
      else errors.set(error, (errors.get(error) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  // Subscribed for real once the first frame (the snapshot) is in.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && [...conns].some((c) => !c.gotFirstFrame)) await sleep(50);
  return { ok, failed: n - ok, errors: Object.fromEntries(errors), ms: Date.now() - started };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface PostStats {
  posted: number;
  inWindow: number;
  expectedFrames: number;
  errors: number;
  firstError?: string;
  skipped: number;
}

async function postOne(match: number, stats: PostStats, body: unknown): Promise<void> {
  busy[match] = true;
  const seq = nextSeq[match];
  const t = Date.now();
  sentAt[match][seq] = t;
  try {
    const res = await httpJson('POST', port, `/admin/scores/matches/${matchIds[match]}/events`, body, headers, agent);
    if (res.status !== 201) {
      stats.errors++;
      stats.firstError ??= `${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
      sentAt[match][seq] = 0;
      return;
    }
    if (res.body?.event?.seq !== seq) {
      stats.errors++;
      stats.firstError ??= `seq ${res.body?.event?.seq} where ${seq} was expected`;
    }
    nextSeq[match] = seq + 1;
    stats.posted++;
    if (t >= win.start && t < win.end) {
      stats.inWindow++;
      stats.expectedFrames += subs[match];
    }
  } catch (error) {
    stats.errors++;
    stats.firstError ??= String(error);
    sentAt[match][seq] = 0;
  } finally {
    busy[match] = false;
  }
}

const goal = (n: number) => ({ kind: 'score', team: n % 2 ? 'home' : 'away' });

async function phase(msg: {
  mode: 'closed' | 'open';
  rate?: number;
  warmupMs: number;
  windowMs: number;
  graceMs: number;
}) {
  const start = Date.now() + msg.warmupMs;
  win = { start, end: start + msg.windowMs, onTimeBy: start + msg.windowMs + msg.graceMs };
  hist = new Uint32Array(HIST_MAX_MS + 1);
  windowFrames = 0;
  onTimeFrames = 0;
  const cpu0 = process.cpuUsage();
  const stats: PostStats = { posted: 0, inWindow: 0, expectedFrames: 0, errors: 0, skipped: 0 };
  let n = 0;
  if (msg.mode === 'closed') {
    await Promise.all(
      matchIds.map(async (_, match) => {
        while (Date.now() < win.end && stats.errors < 100) await postOne(match, stats, goal(n++));
      }),
    );
  } else {
    const rate = msg.rate!;
    const begin = Date.now();
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    let cursor = 0;
    while (Date.now() < win.end) {
      const due = Math.floor(((Date.now() - begin) * rate) / 1000);
      while (sent < due) {
        sent++;
        let match = -1;
        for (let k = 0; k < matchIds.length; k++) {
          const candidate = (cursor + k) % matchIds.length;
          if (!busy[candidate]) {
            match = candidate;
            break;
          }
        }
        if (match < 0) {
          if (Date.now() >= win.start) stats.skipped++;
          continue;
        }
        cursor = match + 1;
        const p = postOne(match, stats, goal(n++)).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await sleep(Math.max(1, Math.min(10, begin + ((sent + 1) * 1000) / rate - Date.now())));
    }
    await Promise.all(inFlight);
  }
  // Let the stragglers in: until everything expected arrived or nothing moved for 500 ms (max 10 s).
  const deadline = Date.now() + 10_000;
  let last = -1;
  let stableSince = Date.now();
  while (windowFrames < stats.expectedFrames && Date.now() < deadline) {
    if (windowFrames !== last) {
      last = windowFrames;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 500) break;
    await sleep(50);
  }
  const cpu = process.cpuUsage(cpu0);
  const seconds = msg.windowMs / 1000;
  return {
    posted: stats.posted,
    postedInWindow: stats.inWindow,
    eventsPerSec: Math.round(stats.inWindow / seconds),
    errors: stats.errors,
    firstError: stats.firstError,
    skipped: stats.skipped,
    expectedFrames: stats.expectedFrames,
    windowFrames,
    onTimeFrames,
    onTimeRatio: stats.expectedFrames ? Number((onTimeFrames / stats.expectedFrames).toFixed(4)) : 0,
    framesPerSec: Math.round(onTimeFrames / seconds),
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    maxMs: percentile(1),
    open: conns.size,
    dropped,
    duplicates,
    gaps,
    loadCpuPct: Math.round(((cpu.user + cpu.system) / 1000 / (Date.now() - (start - msg.warmupMs))) * 100),
  };
}

function percentile(p: number): number | null {
  let total = 0;
  for (let i = 0; i <= HIST_MAX_MS; i++) total += hist[i];
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(total * p));
  let seen = 0;
  for (let ms = 0; ms <= HIST_MAX_MS; ms++) {
    seen += hist[ms];
    if (seen >= rank) return ms;
  }
  return HIST_MAX_MS;
}

async function handle(msg: any): Promise<any> {
  switch (msg.cmd) {
    case 'setup':
      port = msg.port;
      headers = msg.headers;
      matchIds = msg.matchIds;
      matchIds.forEach((id, i) => matchIndex.set(id, i));
      nextSeq = msg.nextSeq;
      busy = matchIds.map(() => false);
      sentAt = matchIds.map(() => []);
      subs = matchIds.map(() => 0);
      return {};
    case 'connect':
      return connect(msg.n);
    case 'phase':
      return phase(msg);
    case 'exit':
      closing = true;
      for (const conn of conns) conn.socket.destroy();
      agent.destroy();
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
process.on('disconnect', () => process.exit(0));
