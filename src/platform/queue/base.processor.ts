import { OnWorkerEvent, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';

/**
 * What every processor extends. A BullMQ worker with no `error` listener prints each Redis
 * connection error to the console; this logs each distinct one once instead.
 */
export abstract class BaseProcessor extends WorkerHost {
  protected readonly logger = new Logger(this.constructor.name);
  private lastError = '';

  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    if (error.message !== this.lastError) this.logger.warn(`worker: ${error.message}`);
    this.lastError = error.message;
  }

  @OnWorkerEvent('ready')
  onWorkerReady(): void {
    this.lastError = '';
  }
}
