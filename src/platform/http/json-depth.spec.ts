import { jsonDepthExceeds } from './json-depth.js';

const nest = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth));

describe('jsonDepthExceeds', () => {
  it('accepts flat and moderately nested values', () => {
    expect(jsonDepthExceeds(null)).toBe(false);
    expect(jsonDepthExceeds('x')).toBe(false);
    expect(jsonDepthExceeds({ a: [1, { b: { c: [] } }] })).toBe(false);
    expect(jsonDepthExceeds(nest(64))).toBe(false);
    expect(jsonDepthExceeds(Buffer.alloc(1_000_000))).toBe(false);
  });

  it('refuses values nested past the limit, arrays or objects, without overflowing the stack', () => {
    expect(jsonDepthExceeds(nest(65))).toBe(true);
    expect(jsonDepthExceeds(nest(100_000))).toBe(true);
    expect(jsonDepthExceeds(JSON.parse('{"a":'.repeat(70) + '1' + '}'.repeat(70)))).toBe(true);
    expect(jsonDepthExceeds({ a: nest(3) }, 3)).toBe(true);
    expect(jsonDepthExceeds({ a: nest(2) }, 3)).toBe(false);
  });
});
