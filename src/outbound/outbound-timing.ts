import type { AppConfig } from '#src/config/app-config.js';

/**
 * The BullMQ lock (and the Postgres lease on a delivery being sent) outlasts the longest attempt: the
 * total HTTP timeout plus room for the two Postgres writes around it. A worker killed mid-attempt
 * loses its lock after this long and the stalled-job check hands the job to another worker.
 */
export function outboundTiming(config: AppConfig) {
  const lockDurationMs = config.outbound.requestTimeoutMs + config.outbound.connectTimeoutMs + 5_000;
  return {
    lockDurationMs,
    stalledIntervalMs: Math.min(30_000, Math.max(1_000, Math.round(lockDurationMs / 2))),
  };
}
