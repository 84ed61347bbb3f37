/**
 * When to try again. The schedule (seconds, `OUTBOUND_RETRY_SCHEDULE`) lists the waits after the
 * first, second, … failed attempt; each wait gets ±20 % jitter so a receiver that comes back is not
 * hit by every delivery at once. A `Retry-After` (429/503) is honoured exactly, clamped to twice the
 * step it replaces so a receiver cannot park a delivery for a week.
 */
export class RetryPolicy {
  constructor(
    private readonly scheduleSeconds: readonly number[],
    private readonly random: () => number = Math.random,
  ) {}

  /** First attempt plus one per step. */
  get maxAttempts(): number {
    return this.scheduleSeconds.length + 1;
  }

  /** Milliseconds before the next attempt after `attemptsMade` failed ones; null when exhausted. */
  nextDelayMs(attemptsMade: number, retryAfterMs?: number): number | null {
    if (attemptsMade < 1 || attemptsMade > this.scheduleSeconds.length) return null;
    const stepMs = this.scheduleSeconds[attemptsMade - 1] * 1000;
    if (retryAfterMs !== undefined) return Math.max(0, Math.min(retryAfterMs, stepMs * 2));
    return Math.round(stepMs * (0.8 + 0.4 * this.random()));
  }
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or malformed. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
