/**
 * A second reference point: the raw loop's work (sign + undici POST) done inside a BullMQ worker, one
 * job per message with a deterministic id, at the same concurrency, and nothing else (no Postgres).
 * The gap between this and `raw` is what the queue costs on this machine; the gap between this and
 * ours is what Postgres bookkeeping (outbox, messages, leases, attempt log) costs. Driven over IPC.
 */
import { Queue, Worker } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { messageBody, serve } from './common.js';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const webhook = new Webhook(SECRET);
const connection = (() => {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
})();
const prefix = `bench:${randomBytes(4).toString('hex')}:bq`;
const queue = new Queue('bench-outbound', { connection, prefix });
let worker: Worker | undefined;
let agent: Agent | undefined;
let onDone: (() => void) | undefined;
let target = 0;
let completed = 0;

function start(url: string, concurrency: number): void {
  if (worker) return;
  agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  worker = new Worker(
    'bench-outbound',
    async (job) => {
      const { seq, t0, run } = job.data as { seq: number; t0: number; run: string };
      const body = messageBody(seq, t0, run);
      const now = new Date();
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'webhook-id': job.id!,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': webhook.sign(job.id!, now, body),
        },
        body,
      });
      await res.body.dump();
    },
    { connection, prefix, concurrency },
  );
  worker.on('completed', () => {
    if (++completed >= target) onDone?.();
  });
}

serve({
  burst: async ({ url, n, concurrency, run }) => {
    start(url, concurrency);
    completed = 0;
    target = n;
    const done = new Promise<void>((resolve) => (onDone = resolve));
    const t0 = Date.now();
    for (let i = 0; i < n; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1_000, n - i) }, (_, k) => ({
          name: 'deliver',
          data: { seq: i + k, t0, run },
          opts: { jobId: `${run}_${i + k}`, removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    await done;
    return { startedAt: t0, doneAt: Date.now() };
  },
  cleanup: async () => {
    await worker?.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await agent?.close();
    return {};
  },
});
