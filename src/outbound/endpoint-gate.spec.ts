import { EndpointGate } from './endpoint-gate.js';

describe('EndpointGate', () => {
  it('never limits an endpoint that answers fast, whatever its volume', () => {
    const gate = new EndpointGate(500, 2);
    expect(gate.share('fast')).toBe(Infinity); // unknown yet
    for (let i = 0; i < 50; i++) gate.observe('fast', 20);
    expect(gate.isSlow('fast')).toBe(false);
    expect(gate.share('fast')).toBe(Infinity);
  });

  it('gives a slow endpoint only its share in flight, and no other endpoint is affected', () => {
    const gate = new EndpointGate(500, 2);
    gate.observe('slow', 1_000); // learned: answers in 1 s
    expect(gate.isSlow('slow')).toBe(true);
    expect(gate.share('slow')).toBe(2);
    expect(gate.share('other')).toBe(Infinity);
  });

  it('follows an endpoint that gets fast again (moving average)', () => {
    const gate = new EndpointGate(500, 1);
    gate.observe('e', 2_000);
    expect(gate.share('e')).toBe(1);
    gate.observe('e', 10); // one fast answer does not undo a slow history: 2000 + 0.3 × (10 − 2000)
    expect(gate.isSlow('e')).toBe(true);
    for (let i = 0; i < 10; i++) gate.observe('e', 10);
    expect(gate.isSlow('e')).toBe(false);
    expect(gate.share('e')).toBe(Infinity);
  });

  it('forgets endpoints not heard of for a minute once it tracks too many', () => {
    const gate = new EndpointGate(500, 1);
    gate.observe('old', 2_000, 0);
    for (let i = 0; i < 9_999; i++) gate.observe(`e${i}`, 10, 0);
    gate.observe('new', 10, 61_000); // the 10,001st: the idle ones go
    expect(gate.isSlow('old')).toBe(false);
    expect(gate.share('old')).toBe(Infinity);
  });
});
