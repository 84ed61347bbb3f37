/**
 * Keeps one slow receiver from taking every delivery slot of an instance (the noisy neighbour).
 *
 * Each instance runs OUTBOUND_CONCURRENCY deliveries at once, taken from one queue in order. A
 * receiver that answers in a second (or times out) holds a slot that long, so an endpoint with many
 * deliveries and slow answers would soon hold all of them, and every other endpoint would wait behind
 * it. The gate learns each endpoint's answer time (moving average of its attempts on this instance);
 * once that is at least OUTBOUND_SLOW_ENDPOINT_MS (500), the endpoint may have at most
 * OUTBOUND_SLOW_ENDPOINT_IN_FLIGHT (8) attempts in flight here. A delivery over that is not sent now: its
 * job waits in BullMQ's delayed set (nothing lost, no Postgres lease taken) until about when a slot
 * should be free, the waits spaced by answer time / allowed in flight, so a backlog comes back at the
 * rate the receiver answers instead of spinning. Fast endpoints never wait here, whatever their volume.
 */
interface EndpointState {
  inFlight: number;
  /** Moving average of the answer time, ms; unknown until the first attempt ends. */
  latencyMs?: number;
  /** When the last deferred delivery was told to come back. */
  nextSlotAt: number;
  lastUsed: number;
}

/** Weight of the newest attempt in the moving average. */
const ALPHA = 0.3;
/** Past this many endpoints, idle ones are forgotten. */
const MAX_TRACKED = 10_000;

export class EndpointGate {
  private readonly endpoints = new Map<string, EndpointState>();

  constructor(
    private readonly slowMs: number,
    private readonly slowInFlight: number,
  ) {}

  /**
   * 0: go now, counted in flight (call `leave` when done). Otherwise the ms to wait before trying
   * again; nothing is counted.
   */
  enter(endpointId: string, now = Date.now()): number {
    const state = this.state(endpointId, now);
    if (state.latencyMs !== undefined && state.latencyMs >= this.slowMs && state.inFlight >= this.slowInFlight) {
      state.nextSlotAt = Math.max(now, state.nextSlotAt) + state.latencyMs / this.slowInFlight;
      return Math.ceil(state.nextSlotAt - now);
    }
    state.inFlight++;
    return 0;
  }

  /** Ends what `enter` let through; `latencyMs` when a request was sent (not when the delivery was skipped). */
  leave(endpointId: string, latencyMs?: number): void {
    const state = this.endpoints.get(endpointId);
    if (!state) return;
    state.inFlight = Math.max(0, state.inFlight - 1);
    if (latencyMs !== undefined) {
      state.latencyMs =
        state.latencyMs === undefined ? latencyMs : state.latencyMs + ALPHA * (latencyMs - state.latencyMs);
    }
  }

  /** Whether the endpoint counts as slow now (its unit spec reads it). */
  isSlow(endpointId: string): boolean {
    const latency = this.endpoints.get(endpointId)?.latencyMs;
    return latency !== undefined && latency >= this.slowMs;
  }

  private state(endpointId: string, now: number): EndpointState {
    let state = this.endpoints.get(endpointId);
    if (!state) {
      if (this.endpoints.size >= MAX_TRACKED) this.forgetIdle(now);
      state = { inFlight: 0, nextSlotAt: 0, lastUsed: now };
      this.endpoints.set(endpointId, state);
    }
    state.lastUsed = now;
    return state;
  }

  private forgetIdle(now: number): void {
    for (const [id, state] of this.endpoints) {
      if (state.inFlight === 0 && now - state.lastUsed > 60_000) this.endpoints.delete(id);
    }
  }
}
