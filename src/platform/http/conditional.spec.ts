import { ifNoneMatchHits } from './conditional.js';

describe('ifNoneMatchHits (RFC 9110 weak comparison over the list)', () => {
  const etag = '"abc"';

  it.each([
    ['"abc"', 'the exact tag'],
    ['W/"abc"', 'the weak form of the tag'],
    ['"zzz", "abc"', 'a list holding it'],
    ['"zzz",W/"abc" , "yyy"', 'a list without spaces, weak member'],
    [' , "abc",,', 'empty list members'],
    ['*', 'any current representation'],
    ['  *  ', '* with whitespace'],
  ])('%s matches (%s)', (header, _why) => {
    expect(ifNoneMatchHits(header, etag)).toBe(true);
  });

  it.each([
    [undefined, 'no header'],
    ['', 'an empty header'],
    ['"abd"', 'another tag'],
    ['abc', 'an unquoted value'],
    ['w/"abc"', 'a lowercase w/ is not the weak prefix'],
    ['"zzz", "ab', 'a broken list'],
    ['"abc", "ab', 'a broken list, even if a member before the break matches'],
    ['"abc" "zzz"', 'members without a comma'],
    ['"a", *', '* is only valid alone'],
  ])('%s does not match (%s)', (header, _why) => {
    expect(ifNoneMatchHits(header, etag)).toBe(false);
  });

  it('weak comparison works whichever side is weak, and over several header lines', () => {
    expect(ifNoneMatchHits('"abc"', 'W/"abc"')).toBe(true);
    expect(ifNoneMatchHits(['"x"', 'W/"abc"'], etag)).toBe(true);
    expect(ifNoneMatchHits(['"x"', '"y"'], etag)).toBe(false);
  });

  it('a tag holding a comma matches as a whole', () => {
    expect(ifNoneMatchHits('"x", "ab,c"', '"ab,c"')).toBe(true);
  });
});
