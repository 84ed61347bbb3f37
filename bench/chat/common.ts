/** What the chat bench's processes share: a user's spec and a latency recorder. */

export interface UserSpec {
  id: string;
  /** JWT for ours; the relay takes `userId` in the handshake instead. */
  token: string;
  conversationId: string;
  peerId: string;
}

/** Latency samples (ms); a window holds at most a few tens of thousands. */
export class Histogram {
  private values: number[] = [];

  add(ms: number): void {
    this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  /** The q-quantile in ms (one decimal), or null without samples. */
  quantile(q: number): number | null {
    if (this.values.length === 0) return null;
    const sorted = Float64Array.from(this.values).sort();
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return Math.round(sorted[index] * 10) / 10;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
