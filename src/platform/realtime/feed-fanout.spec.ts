import type { FeedEvent } from './feed-event.js';
import { FeedFanout } from './feed-fanout.js';

/** A message as PUBLISH_SCRIPT builds it: header, then `id|type|topic|data` lines. */
const message = (epoch: string, lines: [string, string][]) =>
  [`${epoch}|1000`, ...lines.map(([id, topic]) => `${id}|tick|${topic}|{"n":"${id}"}`)].join('\n');

describe('FeedFanout', () => {
  it('an instance on the whole-batch and topic channels hands each event once, in id order, one object per event', () => {
    const received = { calls: 0, events: 0 };
    const fanout = new FeedFanout(0, {
      onReceived: (_bytes, events) => {
        received.calls++;
        received.events += events;
      },
    });
    const everything: FeedEvent[] = [];
    const ab: FeedEvent[] = [];
    fanout.add({ onEvent: (e) => everything.push(e) });
    fanout.add({ topics: new Set(['A', 'B']), onEvent: (e) => ab.push(e) });

    // Batch 1 grouped by topic (A, A, B, C), whole batch first, then the A and B channels.
    fanout.dispatch(
      message('e1', [
        ['1-0', 'A'],
        ['1-1', 'A'],
        ['1-2', 'B'],
        ['1-3', 'C'],
      ]),
    );
    fanout.dispatch(
      message('e1', [
        ['1-0', 'A'],
        ['1-1', 'A'],
      ]),
    );
    fanout.dispatch(message('e1', [['1-2', 'B']]));
    // Batch 2 published before this instance held the whole-batch channel: topic channels only.
    fanout.dispatch(message('e1', [['2-0', 'B']]));

    expect(everything.map((e) => e.id)).toEqual(['1-0', '1-1', '1-2', '1-3', '2-0']);
    expect(ab.map((e) => e.id)).toEqual(['1-0', '1-1', '1-2', '2-0']);
    expect(ab[0]).toBe(everything[0]); // serialized once per instance
    expect(received).toEqual({ calls: 4, events: 5 });
  });

  it('a new epoch (Redis lost the log) starts the ids over', () => {
    const fanout = new FeedFanout(0);
    const got: string[] = [];
    fanout.add({ topics: new Set(['A']), onEvent: (e) => got.push(e.position) });
    fanout.dispatch(message('e1', [['9-0', 'A']]));
    fanout.dispatch(message('e2', [['1-0', 'A']]));
    expect(got).toEqual(['e1:9-0', 'e2:1-0']);
  });

  it('gap() tells everything-listeners only', () => {
    const fanout = new FeedFanout(0);
    const told: string[] = [];
    fanout.add({ onEvent: () => undefined, onGap: () => told.push('all') });
    fanout.add({ topics: new Set(['A']), onEvent: () => undefined, onGap: () => told.push('A') });
    fanout.gap();
    expect(told).toEqual(['all']);
  });
});
