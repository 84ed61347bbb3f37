import { EndpointGate } from './endpoint-gate.js';

describe('EndpointGate', () => {
  it('never holds back an endpoint that answers fast, whatever its volume', () => {
    const gate = new EndpointGate(500, 2);
    gate.enter('fast');
    gate.leave('fast', 20);
    for (let i = 0; i < 50; i++) expect(gate.enter('fast', 1_000)).toBe(0);
    expect(gate.isSlow('fast')).toBe(false);
  });

  it('lets a slow endpoint have only its share in flight, and spaces the rest by its answer time', () => {
    const gate = new EndpointGate(500, 2);
    expect(gate.enter('slow', 0)).toBe(0);
    gate.leave('slow', 1_000); // learned: answers in 1 s
    expect(gate.isSlow('slow')).toBe(true);
    expect(gate.enter('slow', 10_000)).toBe(0);
    expect(gate.enter('slow', 10_000)).toBe(0);
    // Two in flight: the next ones wait 1 s / 2 apart, in turn.
    expect(gate.enter('slow', 10_000)).toBe(500);
    expect(gate.enter('slow', 10_000)).toBe(1_000);
    expect(gate.enter('slow', 10_100)).toBe(1_400);
    // Other endpoints are not affected.
    expect(gate.enter('other', 10_100)).toBe(0);
    // A slot frees up: the next one goes at once.
    gate.leave('slow', 1_000);
    expect(gate.enter('slow', 10_200)).toBe(0);
  });

  it('follows an endpoint that gets fast again, and ignores deliveries that sent nothing', () => {
    const gate = new EndpointGate(500, 1);
    gate.enter('e', 0);
    gate.leave('e', 2_000);
    expect(gate.isSlow('e')).toBe(true);
    gate.enter('e', 0);
    gate.leave('e'); // skipped, nothing sent: no change
    expect(gate.isSlow('e')).toBe(true);
    for (let i = 0; i < 10; i++) {
      expect(gate.enter('e', 0)).toBe(0);
      gate.leave('e', 10);
    }
    expect(gate.isSlow('e')).toBe(false);
  });
});
