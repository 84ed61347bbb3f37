/**
 * Baseline: a bare socket.io relay with the same Redis adapter as the app and no persistence.
 * Namespace `/chat`; the handshake names the user (`auth.userId`, no token check); each socket joins
 * `user:<id>`; `message:send { conversationId, body, clientMsgId, to }` is acked with a message (a
 * per-instance counter as seq) and emitted as `message:new` to the recipient's and the sender's rooms except
 * the sending socket, the same deliveries the app makes for a direct conversation. Prints `READY <port>`.
 * Env: PORT (0 = any), REDIS_URL, REDIS_KEY_PREFIX.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.REDIS_KEY_PREFIX ?? 'bench:relay:';
const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);
const http = createServer();
const io = new Server(http, { serveClient: false });
io.adapter(createAdapter(pub, sub, { key: `${prefix}socket.io` }));
const nsp = io.of('/chat');
let seq = 0;

nsp.use((socket, next) => {
  const userId = (socket.handshake.auth as { userId?: unknown }).userId;
  if (typeof userId !== 'string') return next(new Error('unauthorized'));
  socket.data.userId = userId;
  next();
});
nsp.on('connection', (socket) => {
  const userId = socket.data.userId as string;
  void socket.join(`user:${userId}`);
  socket.on('message:send', (payload: any, ack?: (response: unknown) => void) => {
    if (!payload || typeof payload.body !== 'string' || typeof payload.to !== 'string') {
      ack?.({ ok: false, error: { code: 'invalid', message: 'body and to are required' } });
      return;
    }
    const message = {
      id: randomUUID(),
      conversationId: payload.conversationId,
      seq: ++seq,
      senderId: userId,
      body: payload.body,
      createdAt: new Date().toISOString(),
    };
    ack?.({ ok: true, message });
    socket.to([`user:${payload.to}`, `user:${userId}`]).emit('message:new', { message });
  });
});

http.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  const address = http.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : 0}`);
});
const stop = () => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  setTimeout(() => process.exit(0), 500).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
if (!process.stdin.isTTY) {
  // The driver holds our stdin open; if it dies, we go too.
  process.stdin.on('end', stop);
  process.stdin.resume();
}
