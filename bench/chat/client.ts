/**
 * Chat bench load client, forked by run.ts and driven over IPC (one command → one reply).
 *
 * It holds N socket.io connections (user i on instance i mod 2, so a direct pair spans both
 * instances), sends `message:send` at a fixed total rate spread round-robin over the users, and
 * measures at the receiving user send→receive latency (the body carries the sender's
 * `performance.now()`: same process, same clock). It acknowledges every `message:new`, as an app would.
 *
 * Commands: connect { urls, users, auth }, window { start, mid, end, onTimeBy, rate }, report, close, exit.
 */
import { type Socket, io } from 'socket.io-client';
import { Histogram, type UserSpec } from './common.js';

interface Conn {
  user: UserSpec;
  socket: Socket;
}

let conns: Conn[] = [];
let next = 0;
let seqId = 0;

interface WindowState {
  start: number;
  mid: number;
  end: number;
  onTimeBy: number;
  rate: number;
  due: number;
  sent: number;
  acked: number;
  ackErrors: number;
  firstError?: string;
  delivered: number;
  onTime: number;
  latency: Histogram;
  ackLatency: Histogram;
  firstHalf: Histogram;
  secondHalf: Histogram;
  timer?: NodeJS.Timeout;
}
let win: WindowState | undefined;
let totalDelivered = 0;

const now = () => performance.now();
/** performance.now() and Date.now() differ by a constant: windows are given in epoch ms. */
const toPerf = (epochMs: number) => epochMs - Date.now() + performance.now();

function onMessage(conn: Conn, payload: { message: { senderId: string | null; body: string } }, ack?: () => void) {
  ack?.();
  const message = payload?.message;
  if (!message || message.senderId === conn.user.id) return; // our own echo
  totalDelivered++;
  const sentAt = Number(message.body);
  const w = win;
  if (!w || !Number.isFinite(sentAt) || sentAt < w.start || sentAt >= w.end) return;
  const t = now();
  const latency = t - sentAt;
  w.delivered++;
  if (t <= w.onTimeBy) w.onTime++;
  w.latency.add(latency);
  (sentAt < w.mid ? w.firstHalf : w.secondHalf).add(latency);
}

async function connect(urls: string[], users: UserSpec[], auth: 'token' | 'userId') {
  const started = Date.now();
  const errors: Record<string, number> = {};
  let failed = 0;
  const connectOne = (user: UserSpec, index: number) =>
    new Promise<void>((resolve) => {
      const socket = io(`${urls[index % urls.length]}/chat`, {
        transports: ['websocket'],
        auth: auth === 'token' ? { token: user.token } : { userId: user.id },
        reconnection: false,
        forceNew: true,
        timeout: 20_000,
      });
      const conn: Conn = { user, socket };
      socket.on('message:new', (payload: any, ack?: () => void) => onMessage(conn, payload, ack));
      socket.once('connect', () => {
        conns.push(conn);
        resolve();
      });
      socket.once('connect_error', (error: Error) => {
        failed++;
        errors[error.message] = (errors[error.message] ?? 0) + 1;
        socket.disconnect();
        resolve();
      });
    });
  // At most 100 handshakes at once.
  let cursor = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (cursor < users.length) {
        const index = cursor++;
        await connectOne(users[index], index);
      }
    }),
  );
  return { connected: conns.length, failed, errors, ms: Date.now() - started };
}

function sendOne(w: WindowState): void {
  const conn = conns[next++ % conns.length];
  const sentAt = now();
  w.sent++;
  conn.socket.emit(
    'message:send',
    {
      conversationId: conn.user.conversationId,
      body: sentAt.toFixed(3),
      clientMsgId: `b${process.pid}-${seqId++}`,
      to: conn.user.peerId,
    },
    (ack: { ok: boolean; error?: { code: string; message: string } }) => {
      if (win !== w) return;
      if (ack?.ok) {
        w.acked++;
        w.ackLatency.add(now() - sentAt);
      } else {
        w.ackErrors++;
        w.firstError ??= ack?.error ? `${ack.error.code}: ${ack.error.message}` : 'no ack body';
      }
    },
  );
}

function startWindow(start: number, mid: number, end: number, onTimeBy: number, rate: number): void {
  if (win?.timer) clearInterval(win.timer);
  const w: WindowState = {
    start: toPerf(start),
    mid: toPerf(mid),
    end: toPerf(end),
    onTimeBy: toPerf(onTimeBy),
    rate,
    due: 0,
    sent: 0,
    acked: 0,
    ackErrors: 0,
    delivered: 0,
    onTime: 0,
    latency: new Histogram(),
    ackLatency: new Histogram(),
    firstHalf: new Histogram(),
    secondHalf: new Histogram(),
  };
  win = w;
  // Every 2 ms, send what is due by now (a late timer sends a burst: the schedule is kept, not the spacing).
  w.timer = setInterval(() => {
    const t = Math.min(now(), w.end);
    if (t < w.start) return;
    w.due = Math.floor(((t - w.start) / 1000) * w.rate);
    // No more than 5 ms of sends per tick: a client that fell behind shows as sent < due.
    const cap = Math.max(1, Math.ceil(w.rate / 200));
    for (let i = 0; i < cap && w.sent < w.due; i++) sendOne(w);
    if (now() >= w.end) {
      clearInterval(w.timer);
      w.timer = undefined;
      w.due = Math.round(((w.end - w.start) / 1000) * w.rate);
    }
  }, 2);
}

function report() {
  const w = win;
  if (!w) return { totalDelivered };
  return {
    totalDelivered,
    due: w.due,
    sent: w.sent,
    acked: w.acked,
    ackErrors: w.ackErrors,
    firstError: w.firstError,
    delivered: w.delivered,
    onTime: w.onTime,
    p50Ms: w.latency.quantile(0.5),
    p99Ms: w.latency.quantile(0.99),
    ackP50Ms: w.ackLatency.quantile(0.5),
    ackP99Ms: w.ackLatency.quantile(0.99),
    firstHalfP50Ms: w.firstHalf.quantile(0.5),
    secondHalfP50Ms: w.secondHalf.quantile(0.5),
  };
}

process.on('message', async (msg: any) => {
  const reply = (body: Record<string, unknown>) => process.send!({ id: msg.id, ok: true, ...body });
  try {
    switch (msg.cmd) {
      case 'connect':
        reply(await connect(msg.urls, msg.users, msg.auth));
        break;
      case 'window':
        startWindow(msg.start, msg.mid, msg.end, msg.onTimeBy, msg.rate);
        reply({});
        break;
      case 'report':
        reply(report());
        break;
      case 'close':
        for (const conn of conns) conn.socket.disconnect();
        conns = [];
        win = undefined;
        reply({});
        break;
      case 'exit':
        for (const conn of conns) conn.socket.disconnect();
        reply({});
        setTimeout(() => process.exit(0), 50);
        break;
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  } catch (error) {
    process.send!({ id: msg.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
