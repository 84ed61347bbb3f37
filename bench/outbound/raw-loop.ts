/**
 * The baseline: a raw undici loop. An in-memory queue of message bodies, `concurrency` workers, each
 * signing its body with `standardwebhooks` (as ours does per attempt) and POSTing it through one
 * keep-alive Agent to the sink; no persistence, no retries, no guard. Driven over IPC by run.ts.
 */
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { messageBody, serve, sleep } from './common.js';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const webhook = new Webhook(SECRET);
let agent: Agent | undefined;

interface Item {
  id: string;
  body: string;
}

async function drain(url: string, queue: Item[], concurrency: number, until: () => boolean): Promise<number> {
  let errors = 0;
  const worker = async () => {
    for (;;) {
      const item = queue.shift();
      if (!item) {
        if (until()) return;
        await sleep(1);
        continue;
      }
      const now = new Date();
      try {
        const res = await request(url, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': 'application/json',
            'webhook-id': item.id,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': webhook.sign(item.id, now, item.body),
          },
          body: item.body,
        });
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return errors;
}

serve({
  /** All `n` enqueued at once, then drained. */
  burst: async ({ url, n, concurrency, run }) => {
    agent ??= new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
    const t0 = Date.now();
    const queue: Item[] = Array.from({ length: n }, (_, i) => ({
      id: `msg_${run}_${i}`,
      body: messageBody(i, t0, run),
    }));
    const errors = await drain(url, queue, concurrency, () => true);
    return { startedAt: t0, doneAt: Date.now(), errors };
  },
  /** Enqueued at a fixed rate (every ≤ 5 ms) for `durationMs`, drained as they come. */
  rate: async ({ url, rate, durationMs, concurrency, run }) => {
    agent ??= new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
    const queue: Item[] = [];
    const start = Date.now();
    let produced = 0;
    let done = false;
    const producer = (async () => {
      while (Date.now() - start < durationMs) {
        const due = Math.floor(((Date.now() - start) / 1000) * rate);
        const now = Date.now();
        for (; produced < due; produced++)
          queue.push({ id: `msg_${run}_${produced}`, body: messageBody(produced, now, run) });
        await sleep(5);
      }
      done = true;
    })();
    const errors = await drain(url, queue, concurrency, () => done);
    await producer;
    return { produced, errors };
  },
});
