import { githubSummary } from './github.effects.js';

describe('githubSummary', () => {
  const repository = { full_name: 'acme/app' };
  it('push: commits to a branch, a tag, a deleted branch', () => {
    expect(
      githubSummary(
        'push',
        { ref: 'refs/heads/main', commits: [{}], pusher: { name: 'alice' }, repository },
        'acme/app',
      ),
    ).toBe('alice pushed 1 commit to main of acme/app');
    expect(githubSummary('push', { ref: 'refs/tags/v2', pusher: { name: 'alice' }, repository }, 'acme/app')).toBe(
      'alice pushed tag v2 to acme/app',
    );
    expect(
      githubSummary('push', { ref: 'refs/heads/old', deleted: true, sender: { login: 'bob' }, repository }, 'acme/app'),
    ).toBe('bob deleted branch old of acme/app');
  });

  it('pull requests and issues: verb from the action, long titles clipped to one line', () => {
    const title = `A ${'very '.repeat(40)}long\ntitle`;
    const summary = githubSummary(
      'pull_request',
      { action: 'synchronize', pull_request: { number: 3, title }, sender: { login: 'c' }, repository },
      'acme/app',
    );
    expect(summary).toMatch(/^c pushed to pull request #3 "A very .*…" in acme\/app$/);
    expect(summary).not.toContain('\n');
    expect(
      githubSummary('issues', { action: 'closed', issue: { number: 9, title: 'Bug' }, sender: { login: 'd' } }, 'a/b'),
    ).toBe('d closed issue #9 "Bug" in a/b');
  });
});
