/**
 * Counts inbound signature failures per source in Redis (shared by every instance) and records
 * `inbound.rejected.spike` when one source reaches INBOUND_REJECTION_SPIKE_THRESHOLD of them within
 * a window of INBOUND_REJECTION_SPIKE_WINDOW_SECONDS.
 *
 * Windows are fixed (aligned to the epoch): one counter key per source and window, INCR plus an
 * expiry set on the first hit, in one script. Only the request whose INCR lands exactly on the
 * threshold records the event, so it is recorded at most once per window and source however many
 * instances count. Counting never delays or changes the 400: it runs after the answer is decided,
 * and a failure (Redis or Postgres away) is logged and that spike goes unreported.
 */
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '#src/config/app-config.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { RedisService } from '#src/platform/redis/redis.service.js';
import type { RejectReason } from './inbound.verifier.js';

/** Rejections that mean the request's signature could not be verified. */
const SIGNATURE_FAILURES: ReadonlySet<RejectReason> = new Set(['bad_signature', 'missing_header', 'stale', 'future']);

/** KEYS: the window's counter. ARGV: expiry (ms). → hits in the window, this one included. */
const COUNT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return hits`;

@Injectable()
export class RejectionSpikes implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RejectionSpikes.name);
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly redis: RedisService,
    private readonly outbox: OutboxService,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Counts a rejection of `source` in the background (signature failures only). */
  note(source: string, reason: RejectReason): void {
    if (this.config.inbound.rejectionSpikeThreshold === 0 || !SIGNATURE_FAILURES.has(reason)) return;
    const counted = this.count(source, reason)
      .catch((error: Error) => this.logger.warn(`counting a rejection of ${source}: ${error.message}`))
      .finally(() => this.inFlight.delete(counted));
    this.inFlight.add(counted);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private async count(source: string, reason: RejectReason): Promise<void> {
    const { rejectionSpikeThreshold: threshold, rejectionSpikeWindowSeconds: windowSeconds } = this.config.inbound;
    const windowMs = windowSeconds * 1000;
    const window = Math.floor(Date.now() / windowMs);
    const key = this.redis.key(`inbound:rejections:${source}:${window}`);
    // The key outlives its window a little, so a late INCR from a slow clock cannot restart it.
    const hits = Number(await this.redis.command.eval(COUNT, 1, key, windowMs * 2));
    if (hits !== threshold) return;
    const windowStart = new Date(window * windowMs);
    await this.dataSource.transaction((manager) =>
      this.outbox.record(manager, {
        type: 'inbound.rejected.spike',
        key: `inbound:${source}`,
        data: {
          source,
          count: hits,
          threshold,
          windowSeconds,
          windowStart: windowStart.toISOString(),
          windowEnd: new Date(windowStart.getTime() + windowMs).toISOString(),
          lastReason: reason,
        },
      }),
    );
    this.logger.warn(
      `${hits} inbound webhooks of ${source} failed their signature check since ${windowStart.toISOString()}`,
    );
  }
}
