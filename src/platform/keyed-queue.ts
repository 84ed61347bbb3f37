/**
 * Runs tasks one at a time per key, in arrival order, in this process. Callers that would all queue
 * on the same database row lock wait here instead, without holding a pooled connection each (100
 * concurrent posts to one match would otherwise hold 100 connections, or time out waiting for one).
 * Across instances the database lock still decides; this only keeps each instance's pool free.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running (for tests and diagnostics). */
  get size(): number {
    return this.tails.size;
  }
}
