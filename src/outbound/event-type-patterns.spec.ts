import { matchesAny, matchesPattern, patternProblems } from './event-type-patterns.js';

describe('event type patterns', () => {
  const catalog = ['score.updated', 'match.started', 'github.pull_request', 'github.push'];

  it('`*` matches any run of characters; `.` and `_` are literal', () => {
    expect(matchesPattern('score.updated', 'score.*')).toBe(true);
    expect(matchesPattern('score.updated', 'score.updated')).toBe(true);
    expect(matchesPattern('scoreXupdated', 'score.updated')).toBe(false);
    expect(matchesPattern('github.pull_request', 'github.pull_*')).toBe(true);
    expect(matchesPattern('github.pullXrequest', 'github.pull_request')).toBe(false);
    expect(matchesPattern('match.started', '*')).toBe(true);
    expect(matchesAny('payment.succeeded', ['score.*', 'match.*'])).toBe(false);
  });

  it('names each pattern that is malformed or matches nothing in the catalog', () => {
    expect(patternProblems(['score.*', '*.push'], catalog)).toEqual([]);
    expect(patternProblems(['scor.*', 'Score', 'github.*'], catalog)).toEqual([
      'eventTypes[0]: "scor.*" matches no event type (see GET /webhooks/event-types)',
      'eventTypes[1] must be an event type or a pattern of a-z, 0-9, "_", "." and "*"',
    ]);
  });
});
