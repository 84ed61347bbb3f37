/**
 * An SSE client that behaves like a browser's EventSource behind a load balancer: when its stream
 * ends (the instance restarted, crashed, or ended it on purpose), it reconnects to whichever
 * instance `pick()` names and sends the `Last-Event-ID` of the last frame it got. Every frame of
 * every connection lands in one list, so a test can check the whole story for gaps and repeats.
 */
import { type SseClient, type SseFrame, openSse } from './sse-client.js';

export interface ResumingFrame extends SseFrame {
  /** Which instance (base URL) served it. */
  from: string;
  /** Which connection (0 = the first). */
  connection: number;
}

export class ResumingSse {
  readonly frames: ResumingFrame[] = [];
  /** Base URL of each connection made, in order. */
  readonly served: string[] = [];
  /** Failed attempts (refused, non-200), with the last reason. */
  failedAttempts = 0;
  lastFailure?: string;
  private current?: SseClient;
  private closed = false;
  private lastEventId?: string;
  private readonly waiters = new Set<() => void>();

  /** `first` is where the first connection goes; reconnects go to `pick()`. */
  constructor(
    private readonly path: string,
    private readonly pick: () => string,
    private readonly first = pick(),
    private readonly retryMs = 150,
  ) {}

  /** Resolves once the first connection is open. */
  async start(): Promise<this> {
    if (!(await this.connect(this.first))) throw new Error(`could not open ${this.first}${this.path}`);
    return this;
  }

  get connections(): number {
    return this.served.length;
  }

  of(event: string): ResumingFrame[] {
    return this.frames.filter((frame) => frame.event === event);
  }

  waitFor(predicate: (frames: ResumingFrame[]) => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (predicate(this.frames)) return resolve();
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `ResumingSse(${this.path}) wait timed out: ${this.frames.length} frames over ${this.connections} connections` +
              ` (${this.failedAttempts} failed attempts${this.lastFailure ? `, last: ${this.lastFailure}` : ''}), last frames ${JSON.stringify(this.frames.slice(-2))}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (!predicate(this.frames)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  close(): void {
    this.closed = true;
    this.current?.close();
  }

  private async connect(base: string): Promise<boolean> {
    let client: SseClient;
    try {
      client = await openSse(`${base}${this.path}`, this.lastEventId ? { 'last-event-id': this.lastEventId } : {});
    } catch (error) {
      this.failedAttempts++;
      this.lastFailure = `${base}: ${(error as Error).message}`;
      return false;
    }
    if (client.status !== 200 || this.closed) {
      client.close();
      if (!this.closed) {
        this.failedAttempts++;
        this.lastFailure = `${base}: HTTP ${client.status}`;
      }
      return false;
    }
    const connection = this.served.length;
    this.served.push(base);
    this.current = client;
    let seen = 0;
    const take = () => {
      for (; seen < client.frames.length; seen++) {
        const frame = client.frames[seen];
        this.frames.push({ ...frame, from: base, connection });
        if (frame.id) this.lastEventId = frame.id;
      }
      for (const wake of this.waiters) wake();
    };
    // openSse's own 'data' listener was added first, so its frames are parsed when this one runs.
    client.response.on('data', take);
    client.response.on('error', () => undefined); // a killed instance resets the connection: just resume
    take();
    client.response.once('close', () => {
      take();
      if (!this.closed) void this.reconnect();
    });
    return true;
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      if (this.closed) return;
      if (await this.connect(this.pick())) return;
    }
  }
}
