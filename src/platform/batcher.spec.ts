import { Batcher } from './batcher.js';

describe('Batcher', () => {
  it('runs concurrent calls together and answers each in order', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(
      async (inputs) => {
        batches.push(inputs);
        return inputs.map((n) => n * 2);
      },
      { maxBatch: 200 },
    );
    const results = await Promise.all([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('a failing batch is retried item by item, so only the bad input fails', async () => {
    const batcher = new Batcher<number, number>(
      async (inputs) => {
        if (inputs.includes(3)) throw new Error(`bad batch ${inputs.join(',')}`);
        return inputs;
      },
      { maxBatch: 200 },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('bad batch 3');
  });

  it('keeps at most maxInFlight batches in flight; later calls wait and go together', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(
      async (inputs) => {
        batches.push(inputs);
        await gate;
        return inputs;
      },
      { maxBatch: 10, maxInFlight: 1 },
    );
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [2, 3, 4].map((n) => batcher.submit(n));
    release();
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('an error that must not be isolated fails the whole batch without a retry', async () => {
    let runs = 0;
    const batcher = new Batcher<number, number>(
      async () => {
        runs++;
        throw new Error('database unreachable');
      },
      { maxBatch: 10, isolate: (error) => !/unreachable/.test((error as Error).message) },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(runs).toBe(1);
  });

  it('stops a batch at maxSize units (always taking its first input)', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string, string>(
      async (inputs) => {
        batches.push(inputs);
        return inputs;
      },
      { maxBatch: 10, maxSize: 5, sizeOf: (s) => s.length, maxInFlight: 4 },
    );
    await Promise.all(['aaaaaaa', 'bb', 'cc', 'dd', 'e'].map((s) => batcher.submit(s)));
    expect(batches).toEqual([['aaaaaaa'], ['bb', 'cc', 'dd'], ['e']]);
  });

  it('lanes: one run in flight per lane, in order, lanes in parallel; an idle lane lingers for company', async () => {
    const log: string[] = [];
    let releaseA!: () => void;
    const gateA = new Promise<void>((resolve) => (releaseA = resolve));
    const batcher = new Batcher<string, string>(
      async (inputs) => {
        log.push(`start ${inputs.join(',')}`);
        if (inputs[0] === 'a1') await gateA;
        log.push(`end ${inputs.join(',')}`);
        return inputs;
      },
      { maxBatch: 10, lingerMs: 20, laneOf: (s) => s[0] },
    );
    const a1 = batcher.submit('a1');
    const b1 = batcher.submit('b1');
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Within the linger: they join the first runs of their lanes.
    const a2 = batcher.submit('a2');
    const b2 = batcher.submit('b2');
    await Promise.all([b1, b2]);
    expect(log).toEqual(['start a1,a2', 'start b1,b2', 'end b1,b2']); // b did not wait for a
    const a3 = batcher.submit('a3'); // a is busy: waits for its run, then goes at once
    releaseA();
    await Promise.all([a1, a2, a3]);
    expect(log.slice(3)).toEqual(['end a1,a2', 'start a3', 'end a3']);
  });

  it('a failing batch in a lane is retried one input at a time, in order', async () => {
    const runs: string[][] = [];
    const batcher = new Batcher<string, string>(
      async (inputs) => {
        runs.push(inputs);
        if (inputs.length > 1 || inputs[0] === 'x2') throw new Error('no');
        return inputs;
      },
      { maxBatch: 10, laneOf: () => 'x' },
    );
    const results = await Promise.allSettled(['x1', 'x2', 'x3'].map((s) => batcher.submit(s)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([['x1', 'x2', 'x3'], ['x1'], ['x2'], ['x3']]);
  });
});
