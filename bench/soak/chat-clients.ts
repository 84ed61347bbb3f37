/**
 * The soak's chat users, forked by run.ts: real socket.io clients on `/chat`, user i on instance
 * i mod 2, paired in direct conversations (2k, 2k+1), so every conversation spans both instances.
 * While running, each user sends a message every `intervalMs` (with jitter) and acknowledges what
 * it receives (`message:new` acks, as an app does). socket.io-client reconnects by itself; the
 * server then sends what was not delivered yet.
 *
 * IPC: `{ id, cmd: 'connect', urls, users: [{ id, token, conversationId, partner }] }`,
 * `{ cmd: 'start', intervalMs }`, `{ cmd: 'stop' }`, `{ cmd: 'report', final? }`, `{ cmd: 'exit' }`.
 */
import { type Socket, io } from 'socket.io-client';

interface User {
  index: number;
  id: string;
  token: string;
  conversationId: string;
  partner: number;
  socket?: Socket;
  /** message ids received, and how many arrived again. */
  received: Set<string>;
  repeats: number;
  sent: number;
}

interface Acked {
  sender: number;
  clientMsgId: string;
  id: string;
  seq: number;
}

const users: User[] = [];
const acked: Acked[] = [];
const sendErrors = new Map<string, number>();
let timers: NodeJS.Timeout[] = [];
let disconnects = 0;
let connectErrors = 0;
let pendingAcks = 0;
const ackLatency: number[] = [];

function connectUser(user: User, url: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = io(`${url}/chat`, {
      auth: { token: user.token },
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
      timeout: 20_000,
    });
    user.socket = socket;
    socket.on('message:new', (payload: { message: { id: string } }, ack?: () => void) => {
      if (user.received.has(payload.message.id)) user.repeats++;
      else user.received.add(payload.message.id);
      ack?.();
    });
    socket.on('disconnect', () => disconnects++);
    socket.on('connect_error', () => connectErrors++);
    socket.once('connect', () => resolve());
  });
}

async function send(user: User): Promise<void> {
  if (!user.socket?.connected) return;
  const n = user.sent++;
  const clientMsgId = `soak-${user.index}-${n}`;
  const started = Date.now();
  pendingAcks++;
  try {
    const ack = await user.socket.timeout(30_000).emitWithAck('message:send', {
      conversationId: user.conversationId,
      body: `soak ${n} from ${user.index}`,
      clientMsgId,
    });
    if (ack?.ok) {
      acked.push({ sender: user.index, clientMsgId, id: ack.message.id, seq: ack.message.seq });
      ackLatency.push(Date.now() - started);
    } else {
      const code = ack?.error?.code ?? 'no ack';
      sendErrors.set(code, (sendErrors.get(code) ?? 0) + 1);
    }
  } catch (error) {
    const code = (error as Error).message.includes('timed out') ? 'ack timeout' : (error as Error).message;
    sendErrors.set(code, (sendErrors.get(code) ?? 0) + 1);
  } finally {
    pendingAcks--;
  }
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

function report(final: boolean) {
  const base = {
    users: users.length,
    connected: users.filter((u) => u.socket?.connected).length,
    acked: acked.length,
    pendingAcks,
    sendErrors: Object.fromEntries(sendErrors),
    disconnects,
    connectErrors,
    ackP50Ms: percentile(ackLatency, 0.5),
    ackP99Ms: percentile(ackLatency, 0.99),
  };
  // Delivery: each acknowledged message must have reached the sender's partner.
  let missing = 0;
  for (const m of acked) if (!users[users[m.sender].partner].received.has(m.id)) missing++;
  const repeats = users.reduce((n, u) => n + u.repeats, 0);
  if (!final) return { ...base, undelivered: missing, repeats };
  return {
    ...base,
    undelivered: missing,
    repeats,
    messages: acked.map((m) => [m.clientMsgId, m.id, users[m.sender].id]),
  };
}

process.on('message', (msg: any) => {
  const reply = async () => {
    switch (msg.cmd) {
      case 'connect': {
        const started = Date.now();
        msg.users.forEach((u: Omit<User, 'received' | 'repeats' | 'sent' | 'index'>, index: number) =>
          users.push({ ...u, index, received: new Set(), repeats: 0, sent: 0 }),
        );
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < users.length; i = next++) await connectUser(users[i], msg.urls[i % msg.urls.length]);
        };
        await Promise.all(Array.from({ length: 50 }, worker));
        return { connected: users.filter((u) => u.socket?.connected).length, ms: Date.now() - started };
      }
      case 'start':
        for (const user of users) {
          // Spread the users over the interval so the total rate is steady.
          const first = Math.random() * msg.intervalMs;
          const timer = setTimeout(() => {
            void send(user);
            timers.push(setInterval(() => void send(user), msg.intervalMs * (0.9 + Math.random() * 0.2)));
          }, first);
          timers.push(timer);
        }
        return {};
      case 'stop':
        timers.forEach((t) => clearTimeout(t));
        timers = [];
        for (let i = 0; i < 300 && pendingAcks > 0; i++) await new Promise((r) => setTimeout(r, 100));
        return { pendingAcks };
      case 'report':
        return report(Boolean(msg.final));
      case 'exit':
        for (const user of users) user.socket?.disconnect();
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
