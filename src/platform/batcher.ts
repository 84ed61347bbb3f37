/**
 * The one batching primitive: concurrent calls coalesced into one run (`run(inputs)` answers one
 * output per input, in order), so many callers share a round trip and a commit.
 *
 * - `maxBatch` inputs per run, and optionally at most `maxSize` units of `sizeOf` (a batch always
 *   takes its first input, however large).
 * - `lingerMs`: an idle batcher (or lane) waits this long for company before its first run; while
 *   a run is in flight the next batch gathers by itself. Default 0: the calls of the same tick.
 * - Runs in flight: `maxInFlight` (default 1). With `laneOf`, inputs go to lanes by key: one run in
 *   flight per lane, so a lane keeps its inputs' order, and lanes run in parallel.
 * - A failed run is retried input by input (in order, one at a time within a lane), so a bad input
 *   fails only its caller; `isolate(error)` false (an unreachable database, say) fails the whole
 *   batch with the error instead.
 */
export interface BatcherOptions<I> {
  maxBatch: number;
  maxSize?: number;
  sizeOf?: (input: I) => number;
  lingerMs?: number;
  maxInFlight?: number;
  laneOf?: (input: I) => string | number;
  isolate?: (error: unknown) => boolean;
}

interface Item<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

interface Lane<I, O> {
  queue: Item<I, O>[];
  running: number;
  scheduled: boolean;
}

export class Batcher<I, O> {
  private readonly lanes = new Map<string | number, Lane<I, O>>();
  private readonly options: Required<Omit<BatcherOptions<I>, 'laneOf' | 'sizeOf' | 'maxSize'>> &
    Pick<BatcherOptions<I>, 'laneOf' | 'sizeOf' | 'maxSize'>;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    options: BatcherOptions<I>,
  ) {
    this.options = {
      lingerMs: 0,
      maxInFlight: 1,
      isolate: () => true,
      ...options,
    };
    if (options.laneOf) this.options.maxInFlight = 1; // per lane: its order
  }

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const key = this.options.laneOf?.(input) ?? 0;
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { queue: [], running: 0, scheduled: false }));
      lane.queue.push({ input, resolve, reject });
      this.schedule(key, lane, true);
    });
  }

  private schedule(key: string | number, lane: Lane<I, O>, fresh: boolean): void {
    if (lane.scheduled || lane.running >= this.options.maxInFlight) return;
    lane.scheduled = true;
    const go = () => {
      lane.scheduled = false;
      this.drain(key, lane);
    };
    // Only an idle lane lingers; one that just finished a run goes on at once.
    if (fresh && lane.running === 0 && this.options.lingerMs > 0) setTimeout(go, this.options.lingerMs);
    else setImmediate(go);
  }

  private drain(key: string | number, lane: Lane<I, O>): void {
    while (lane.queue.length > 0 && lane.running < this.options.maxInFlight) {
      const batch = lane.queue.splice(0, this.countFor(lane.queue));
      lane.running++;
      void this.execute(batch).finally(() => {
        lane.running--;
        if (lane.queue.length > 0) this.schedule(key, lane, false);
        else if (lane.running === 0 && this.options.laneOf) this.lanes.delete(key);
      });
    }
  }

  private countFor(queue: Item<I, O>[]): number {
    const { maxBatch, maxSize, sizeOf } = this.options;
    if (maxSize === undefined || !sizeOf) return Math.min(queue.length, maxBatch);
    let size = 0;
    let count = 0;
    while (count < queue.length && count < maxBatch && (count === 0 || size < maxSize)) {
      size += sizeOf(queue[count].input);
      count++;
    }
    return count;
  }

  private async execute(batch: Item<I, O>[]): Promise<void> {
    try {
      const outputs = await this.run(batch.map((item) => item.input));
      batch.forEach((item, i) => item.resolve(outputs[i]));
    } catch (error) {
      if (batch.length === 1 || !this.options.isolate(error)) {
        for (const item of batch) item.reject(error);
        return;
      }
      const alone = async (item: Item<I, O>) => {
        try {
          item.resolve((await this.run([item.input]))[0]);
        } catch (e) {
          item.reject(e);
        }
      };
      if (this.options.laneOf) for (const item of batch) await alone(item);
      else await Promise.all(batch.map(alone));
    }
  }
}
