/**
 * The instance's bound on outbound requests in flight (OUTBOUND_CONCURRENCY), shared by the pumps
 * of every endpoint it runs at once. A slow or rate-limited endpoint's pump takes slots before it
 * claims deliveries (so it never leases more than it can send now); a fast endpoint's reads ahead
 * and each delivery takes its slot as it goes. Each slot is given back when its request has an
 * answer. First come, first served: a pump asking while others wait queues behind them, so a busy
 * endpoint that frees a slot cannot take it straight back from an endpoint that was waiting.
 */
interface Waiter {
  max: number;
  resolve: (count: number) => void;
}

export class SendSlots {
  private available: number;
  private readonly waiting: Waiter[] = [];

  constructor(readonly size: number) {
    this.available = size;
  }

  /** Resolves with between 1 and `max` slots, as soon as one is free and no earlier caller waits. */
  take(max: number): Promise<number> {
    if (max < 1) throw new Error('take at least one slot');
    if (this.waiting.length === 0 && this.available > 0) {
      const count = Math.min(max, this.available);
      this.available -= count;
      return Promise.resolve(count);
    }
    return new Promise((resolve) => this.waiting.push({ max, resolve }));
  }

  give(count: number): void {
    if (count <= 0) return;
    this.available += count;
    while (this.available > 0 && this.waiting.length > 0) {
      const waiter = this.waiting.shift()!;
      const granted = Math.min(waiter.max, this.available);
      this.available -= granted;
      waiter.resolve(granted);
    }
  }

  /** Slots free now (the unit spec reads it). */
  get free(): number {
    return this.available;
  }
}
