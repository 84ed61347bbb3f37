/**
 * What the outbound bench's processes share: the message body both senders post, where the sink finds
 * the enqueue time in it, and the tiny IPC protocol of the forked helpers.
 */
import { type ChildProcess, fork } from 'node:child_process';

/** Posted by both: Standard Webhooks `{ type, timestamp, data }`; `data.t0` is the enqueue epoch ms. */
export function messageBody(seq: number, t0: number, run: string): string {
  return JSON.stringify({
    type: 'score.updated',
    timestamp: new Date(t0).toISOString(),
    data: { run, seq, t0, matchId: 'bench-match', home: seq % 7, away: seq % 5, status: 'live' },
  });
}

/** The event data ours records in the outbox (the app wraps it into the same body shape). */
/** Events come from this many matches (a feature keys each by its match: `match:<id>`). */
export const MATCHES = 64;

export function eventData(seq: number, t0: number, run: string) {
  return { run, seq, t0, matchId: `bench-match-${seq % MATCHES}`, home: seq % 7, away: seq % 5, status: 'live' };
}

/** The sink reads `"t0":<digits>` (spaces allowed after the colon) without parsing JSON. */
export const T0_MARKER = Buffer.from('"t0":');

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A forked helper spoken to over IPC: one command → one reply `{ id, ok, ... }`. */
export class Helper {
  private static readonly live = new Set<ChildProcess>();
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  constructor(file: string) {
    this.child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    Helper.live.add(this.child);
    this.child.on('message', (msg: any) => {
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    });
    this.child.once('exit', (code) => {
      Helper.live.delete(this.child);
      for (const waiter of this.pending.values()) waiter.reject(new Error(`helper exited (${code})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${cmd} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(3_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  static killAll(): void {
    for (const child of Helper.live) child.kill('SIGKILL');
  }
}

/** Serves IPC commands in a forked helper. */
export function serve(
  handlers: Record<string, (msg: any) => Promise<Record<string, unknown>> | Record<string, unknown>>,
) {
  process.on('message', async (msg: any) => {
    try {
      const handler = handlers[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      process.send!({ id: msg.id, ok: true, ...(await handler(msg)) });
    } catch (error) {
      process.send!({ id: msg.id, ok: false, error: (error as Error).message });
    }
  });
  process.once('SIGTERM', () => process.exit(0));
  process.once('disconnect', () => process.exit(0)); // the driver died: do not linger
}

/** p-th percentile (0..1) of a 1 ms histogram. */
export function percentile(hist: number[], count: number, p: number): number | null {
  if (count === 0) return null;
  const target = Math.ceil(count * p);
  let seen = 0;
  for (let ms = 0; ms < hist.length; ms++) {
    seen += hist[ms];
    if (seen >= target) return ms;
  }
  return hist.length;
}
