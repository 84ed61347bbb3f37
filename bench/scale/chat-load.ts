/**
 * The chat half of the scale load, driven from the bench process: users seeded straight into the
 * database (half in direct pairs, half in groups of five), user i's socket on instance i mod K, a
 * fixed plan of messages (message j from user j mod U) at a steady rate, and what came back: every
 * `message:new` per user (by id, so repeats show), every `message:receipt`. From the plan and the
 * placement it works out each instance's share of the traffic. Also a closed loop (every user sends
 * again as soon as its send is acked) for a saturated throughput, and latency samples: send → ack at
 * the sender, send → `message:new` at each recipient (same process, one clock).
 */
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import pg from 'pg';
import { type Socket, io } from 'socket.io-client';
import { JWT_SECRET } from './cluster.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ChatPlan {
  users: number;
  groupSize: number;
  messages: number;
  ratePerSec: number;
}

interface User {
  index: number;
  id: string;
  token: string;
  conversation: number;
}

interface Conversation {
  id: string;
  members: number[];
}

export interface Seeded {
  users: User[];
  conversations: Conversation[];
}

/** Users 0..U/2-1 in direct pairs (2p, 2p+1), the rest in groups of `groupSize`; tokens signed here. */
export async function seedChat(databaseUrl: string, plan: ChatPlan): Promise<Seeded> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      'INSERT INTO users (name) SELECT unnest($1::varchar[]) RETURNING id',
      [Array.from({ length: plan.users }, (_, i) => `scale-${i}`)],
    );
    const ids = rows.map((row) => row.id);
    const groups: number[][] = [];
    const half = Math.floor(plan.users / 2);
    for (let i = 0; i + 1 < half; i += 2) groups.push([i, i + 1]);
    for (let i = half; i + plan.groupSize <= plan.users; i += plan.groupSize)
      groups.push(Array.from({ length: plan.groupSize }, (_, j) => i + j));
    const conversations: Conversation[] = [];
    for (const members of groups) {
      const direct = members.length === 2;
      const {
        rows: [row],
      } = await client.query<{ id: string }>(
        direct
          ? `INSERT INTO conversations (type, direct_key) VALUES ('direct', $1) RETURNING id`
          : `INSERT INTO conversations (type, title) VALUES ('group', $1) RETURNING id`,
        [
          direct
            ? members
                .map((m) => ids[m])
                .sort()
                .join(':')
            : `scale group ${conversations.length}`,
        ],
      );
      await client.query('INSERT INTO conversation_members (conversation_id, user_id) SELECT $1, unnest($2::uuid[])', [
        row.id,
        members.map((m) => ids[m]),
      ]);
      conversations.push({ id: row.id, members });
    }
    const key = new TextEncoder().encode(JWT_SECRET);
    const users: User[] = [];
    conversations.forEach((conversation, c) => {
      for (const m of conversation.members) users.push({ index: m, id: ids[m], token: '', conversation: c });
    });
    users.sort((a, b) => a.index - b.index);
    for (const user of users) {
      user.token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(user.id)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key);
    }
    return { users, conversations };
  } finally {
    await client.end();
  }
}

/** Which instance holds user i's socket. */
export const placement = (userIndex: number, k: number) => userIndex % k;

interface Conn {
  user: User;
  socket: Socket;
  /** message ids received from others; `repeats` counts a second arrival of one. */
  received: Set<string>;
}

export class ChatLoad {
  private conns: Conn[] = [];
  private readonly byId = new Map<string, User>();
  repeats = 0;
  /** Unique receipts (conversation, user, delivered, read) → indexes of the users who got it. */
  readonly receipts = new Map<string, { from: number; to: Set<number> }>();
  sent = 0;
  acked = 0;
  ackErrors = 0;
  firstError?: string;
  /** Deliveries the sends so far call for: each message to every other member of its conversation. */
  expectedFromSent = 0;
  /** performance.now() of send n (its body is `m<n>`, its clientMsgId `scale-<n>`, unique over the load). */
  private readonly sentAt: number[] = [];
  /** Since the last resetSamples(): send → message:new at a recipient, and send → ack, in ms. */
  deliveryMs: number[] = [];
  ackMs: number[] = [];

  constructor(
    private readonly seeded: Seeded,
    private readonly k: number,
    private readonly urls: string[],
  ) {
    for (const user of seeded.users) this.byId.set(user.id, user);
  }

  async connect(): Promise<void> {
    const failures: string[] = [];
    let cursor = 0;
    const connectOne = (user: User) =>
      new Promise<void>((resolve) => {
        const socket = io(`${this.urls[placement(user.index, this.k)]}/chat`, {
          transports: ['websocket'],
          auth: { token: user.token },
          reconnection: false,
          forceNew: true,
          timeout: 20_000,
        });
        const conn: Conn = { user, socket, received: new Set() };
        socket.on(
          'message:new',
          (payload: { message: { id: string; senderId: string | null; body: string } }, ack?: () => void) => {
            ack?.();
            const message = payload?.message;
            if (!message || message.senderId === user.id) return;
            if (conn.received.has(message.id)) this.repeats++;
            else {
              conn.received.add(message.id);
              const at = this.sentAt[Number(message.body?.slice(1))];
              if (at !== undefined) this.deliveryMs.push(performance.now() - at);
            }
          },
        );
        socket.on(
          'message:receipt',
          (r: { conversationId: string; userId: string; deliveredSeq: number; readSeq: number }) => {
            const key = `${r.conversationId}:${r.userId}:${r.deliveredSeq}:${r.readSeq}`;
            let entry = this.receipts.get(key);
            if (!entry) this.receipts.set(key, (entry = { from: this.byId.get(r.userId)?.index ?? -1, to: new Set() }));
            entry.to.add(user.index);
          },
        );
        socket.once('connect', () => {
          this.conns.push(conn);
          resolve();
        });
        socket.once('connect_error', (error: Error) => {
          failures.push(error.message);
          socket.disconnect();
          resolve();
        });
      });
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (cursor < this.seeded.users.length) await connectOne(this.seeded.users[cursor++]);
      }),
    );
    if (failures.length > 0) throw new Error(`${failures.length} chat sockets failed to connect: ${failures[0]}`);
    this.conns.sort((a, b) => a.user.index - b.user.index);
  }

  /** Sockets connected. */
  get connected(): number {
    return this.conns.length;
  }

  /** Sends the plan at its rate: message j from user j mod U, to that user's conversation. */
  async send(plan: ChatPlan): Promise<number> {
    const started = Date.now();
    let j = 0;
    while (j < plan.messages) {
      const due = Math.min(plan.messages, Math.floor(((Date.now() - started) / 1000) * plan.ratePerSec) + 1);
      for (; j < due; j++) this.sendOne(j);
      await sleep(5);
    }
    return Date.now() - started;
  }

  /**
   * Closed loop for `durationMs`: each connected user keeps `perUser` sends in flight, sending the
   * next as soon as one is acked. Returns the acks that came in while it ran (`ackedInWindow`) and the
   * window's length; sends still in flight at its end are acked later (drain).
   */
  async sendClosedLoop(durationMs: number, perUser: number): Promise<{ ackedInWindow: number; ms: number }> {
    const started = performance.now();
    const acked0 = this.acked + this.ackErrors;
    let open = true;
    const loop = (conn: Conn) => {
      if (open) this.sendFrom(conn, () => loop(conn));
    };
    for (const conn of this.conns) for (let i = 0; i < perUser; i++) loop(conn);
    await sleep(durationMs);
    open = false;
    const ms = performance.now() - started;
    return { ackedInWindow: this.acked + this.ackErrors - acked0, ms };
  }

  /** Forgets the latency samples taken so far. */
  resetSamples(): void {
    this.deliveryMs = [];
    this.ackMs = [];
  }

  private sendOne(j: number): void {
    this.sendFrom(this.conns[j % this.conns.length]);
  }

  private sendFrom(conn: Conn, then?: () => void): void {
    const n = this.sent++;
    const conversation = this.seeded.conversations[conn.user.conversation];
    this.expectedFromSent += conversation.members.length - 1;
    this.sentAt[n] = performance.now();
    conn.socket.emit(
      'message:send',
      { conversationId: conversation.id, body: `m${n}`, clientMsgId: `scale-${n}` },
      (ack: { ok: boolean; error?: { code: string; message: string } }) => {
        this.ackMs.push(performance.now() - this.sentAt[n]);
        if (ack?.ok) this.acked++;
        else {
          this.ackErrors++;
          this.firstError ??= ack?.error ? `${ack.error.code}: ${ack.error.message}` : 'no ack body';
        }
        then?.();
      },
    );
  }

  /** Deliveries expected from the plan: each message to every other member of its conversation. */
  expectedDeliveries(plan: ChatPlan): number {
    let total = 0;
    for (let j = 0; j < plan.messages; j++) {
      const user = this.seeded.users[j % this.seeded.users.length];
      total += this.seeded.conversations[user.conversation].members.length - 1;
    }
    return total;
  }

  delivered(): number {
    return this.conns.reduce((sum, conn) => sum + conn.received.size, 0);
  }

  /** Waits until every expected delivery is in (or `timeoutMs`), then until receipts stop coming for `quietMs`. */
  async drain(expected: number, timeoutMs: number, quietMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (this.delivered() < expected || this.acked + this.ackErrors < this.sent))
      await sleep(50);
    let last = -1;
    while (Date.now() < deadline && this.receipts.size !== last) {
      last = this.receipts.size;
      await sleep(quietMs);
    }
  }

  /**
   * Per instance, from the plan and what the clients saw: messages and receipts with a recipient
   * socket there (its share; routed fan-out can only receive these), and of those the ones that
   * started on another instance (the least any fan-out must bring it through Redis).
   */
  shares(plan: ChatPlan): { share: number; remote: number; messages: number; receipts: number }[] {
    const out = Array.from({ length: this.k }, () => ({ share: 0, remote: 0, messages: 0, receipts: 0 }));
    const count = (from: number, to: Iterable<number>, kind: 'messages' | 'receipts') => {
      const at = new Set<number>();
      for (const user of to) at.add(placement(user, this.k));
      for (const instance of at) {
        out[instance].share++;
        out[instance][kind]++;
        if (placement(from, this.k) !== instance) out[instance].remote++;
      }
    };
    for (let j = 0; j < plan.messages; j++) {
      const sender = this.seeded.users[j % this.seeded.users.length];
      const members = this.seeded.conversations[sender.conversation].members;
      count(
        sender.index,
        members.filter((m) => m !== sender.index),
        'messages',
      );
    }
    for (const { from, to } of this.receipts.values()) count(from, to, 'receipts');
    return out;
  }

  close(): void {
    for (const conn of this.conns) conn.socket.disconnect();
    this.conns = [];
  }
}
