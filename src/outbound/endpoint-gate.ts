/**
 * Keeps one slow receiver from taking every send slot of an instance (the noisy neighbour).
 *
 * Each instance has OUTBOUND_CONCURRENCY requests in flight at most (send-slots.ts), shared by the
 * pumps of every endpoint it runs. A receiver that answers in a second (or times out) holds a slot
 * that long, so an endpoint with many due deliveries and slow answers would soon hold all of them,
 * and every other endpoint would wait behind it. The gate learns each endpoint's answer time (moving
 * average of its attempts on this instance); once that is at least OUTBOUND_SLOW_ENDPOINT_MS (500),
 * the endpoint's share is OUTBOUND_SLOW_ENDPOINT_IN_FLIGHT (8) requests in flight here: its pump
 * claims no more than that, and the rest of its deliveries wait in Postgres (no lease taken) until
 * one of its requests ends, so a backlog goes out at the rate the receiver answers. Fast endpoints
 * are not held here, whatever their volume (only by the instance's slots).
 */
interface EndpointState {
  /** Moving average of the answer time, ms; unknown until the first attempt ends. */
  latencyMs?: number;
  lastUsed: number;
}

/** Weight of the newest attempt in the moving average. */
const ALPHA = 0.3;
/** Past this many endpoints, ones not heard of for a minute are forgotten. */
const MAX_TRACKED = 10_000;

export class EndpointGate {
  private readonly endpoints = new Map<string, EndpointState>();

  constructor(
    private readonly slowMs: number,
    private readonly slowInFlight: number,
  ) {}

  /** How many of the endpoint's requests may be in flight on this instance (Infinity: no limit of its own). */
  share(endpointId: string): number {
    return this.isSlow(endpointId) ? this.slowInFlight : Infinity;
  }

  /** Learns from an attempt that sent a request and got an answer (or a timeout) after `latencyMs`. */
  observe(endpointId: string, latencyMs: number, now = Date.now()): void {
    let state = this.endpoints.get(endpointId);
    if (!state) {
      if (this.endpoints.size >= MAX_TRACKED) this.forgetIdle(now);
      state = { lastUsed: now };
      this.endpoints.set(endpointId, state);
    }
    state.lastUsed = now;
    state.latencyMs =
      state.latencyMs === undefined ? latencyMs : state.latencyMs + ALPHA * (latencyMs - state.latencyMs);
  }

  /** Whether the endpoint counts as slow now. */
  isSlow(endpointId: string): boolean {
    const latency = this.endpoints.get(endpointId)?.latencyMs;
    return latency !== undefined && latency >= this.slowMs;
  }

  private forgetIdle(now: number): void {
    for (const [id, state] of this.endpoints) {
      if (now - state.lastUsed > 60_000) this.endpoints.delete(id);
    }
  }
}
