/**
 * Coalesces concurrent calls into one: calls made while a batch is running (or in the same tick)
 * are run together by `run(inputs)`, which answers one output per input, in order. With many
 * deliveries in flight this turns one Postgres round trip per delivery into one per batch. If a
 * batch fails, each of its inputs is retried on its own, so one bad input fails only its caller.
 */
export class Batcher<I, O> {
  private queue: { input: I; resolve: (output: O) => void; reject: (error: unknown) => void }[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly maxBatch = 200,
    private readonly maxRunning = 4,
  ) {}

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.maxRunning) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && this.running < this.maxRunning) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.running++;
      this.execute(batch).finally(() => {
        this.running--;
        if (this.queue.length > 0) this.schedule();
      });
    }
  }

  private async execute(batch: typeof this.queue): Promise<void> {
    try {
      const outputs = await this.run(batch.map((item) => item.input));
      batch.forEach((item, i) => item.resolve(outputs[i]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      await Promise.all(
        batch.map((item) =>
          this.run([item.input]).then(
            ([output]) => item.resolve(output),
            (e: unknown) => item.reject(e),
          ),
        ),
      );
    }
  }
}
