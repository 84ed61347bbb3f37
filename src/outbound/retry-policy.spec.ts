import { DEFAULT_OUTBOUND_RETRY_SCHEDULE } from '#src/config/app-config.js';
import { RetryPolicy, parseRetryAfter } from './retry-policy.js';

describe('RetryPolicy', () => {
  it('follows the schedule with ±20 % jitter, then is exhausted', () => {
    const low = new RetryPolicy(DEFAULT_OUTBOUND_RETRY_SCHEDULE, () => 0);
    const high = new RetryPolicy(DEFAULT_OUTBOUND_RETRY_SCHEDULE, () => 0.999999);
    expect(low.maxAttempts).toBe(8);
    expect(low.nextDelayMs(1)).toBe(4_000);
    expect(high.nextDelayMs(1)).toBe(6_000);
    expect(low.nextDelayMs(2)).toBe(240_000);
    expect(high.nextDelayMs(7)).toBeCloseTo(43_200_000, -2);
    expect(low.nextDelayMs(8)).toBeNull();
  });

  it('honours Retry-After, clamped to twice the step it replaces', () => {
    const policy = new RetryPolicy([1, 300]);
    expect(policy.nextDelayMs(1, 2_000)).toBe(2_000);
    expect(policy.nextDelayMs(1, 60_000)).toBe(2_000);
    expect(policy.nextDelayMs(2, 60_000)).toBe(60_000);
    expect(policy.nextDelayMs(2, 0)).toBe(0);
    expect(policy.nextDelayMs(3, 1_000)).toBeNull();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
