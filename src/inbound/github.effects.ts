/**
 * What GitHub events do here: `push`, `release`, `pull_request` and `issues` become `github.*`
 * domain events carrying the repository, a one-line summary and the chat conversations bound to
 * the repository (the chat module posts the summary there).
 */
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { GithubBindingsService } from './github-bindings.service.js';
import { type HandlerContext, type Ignored, InboundHandlers } from './inbound-handlers.js';

export const GITHUB_EVENTS = ['push', 'release', 'pull_request', 'issues'] as const;
type GithubEvent = (typeof GITHUB_EVENTS)[number];

/** The parts of a GitHub payload we read; everything is checked before use. */
interface Item {
  number?: unknown;
  title?: unknown;
  name?: unknown;
  tag_name?: unknown;
  html_url?: unknown;
  merged?: unknown;
}
export interface GithubPayload {
  action?: unknown;
  repository?: { full_name?: unknown };
  sender?: { login?: unknown };
  pusher?: { name?: unknown };
  ref?: unknown;
  deleted?: unknown;
  commits?: unknown;
  compare?: unknown;
  number?: unknown;
  release?: Item;
  pull_request?: Item;
  issue?: Item;
}

const clip = (text: unknown, max = 120): string => {
  const value = typeof text === 'string' ? text.replace(/\s+/g, ' ').trim() : '';
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
};
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const num = (value: unknown) => (typeof value === 'number' ? String(value) : '?');

const ACTION_VERBS: Record<string, string> = {
  synchronize: 'pushed to',
  ready_for_review: 'marked ready for review',
  review_requested: 'requested a review on',
  converted_to_draft: 'converted to draft',
};

/** "alice pushed 3 commits to main of acme/app", "bob merged pull request #12 "Fix" in acme/app", … */
export function githubSummary(event: GithubEvent, payload: GithubPayload, repository: string): string {
  const actor = clip(payload.sender?.login, 60) || clip(payload.pusher?.name, 60) || 'someone';
  const action = clip(payload.action, 40);
  switch (event) {
    case 'push': {
      const who = clip(payload.pusher?.name, 60) || actor;
      const ref = String(payload.ref ?? '');
      const name = clip(ref.replace(/^refs\/(heads|tags)\//, ''), 100);
      const kind = ref.startsWith('refs/tags/') ? 'tag' : 'branch';
      if (payload.deleted) return `${who} deleted ${kind} ${name} of ${repository}`;
      if (kind === 'tag') return `${who} pushed tag ${name} to ${repository}`;
      const commits = Array.isArray(payload.commits) ? payload.commits.length : 0;
      return `${who} pushed ${plural(commits, 'commit')} to ${name} of ${repository}`;
    }
    case 'release': {
      const release = payload.release ?? {};
      return `${actor} ${action || 'updated'} release ${clip(release.name) || clip(release.tag_name)} of ${repository}`;
    }
    case 'pull_request': {
      const pr = payload.pull_request ?? {};
      const verb = action === 'closed' && pr.merged ? 'merged' : (ACTION_VERBS[action] ?? (action || 'updated'));
      return `${actor} ${verb} pull request #${num(pr.number ?? payload.number)} "${clip(pr.title)}" in ${repository}`;
    }
    case 'issues': {
      const issue = payload.issue ?? {};
      return `${actor} ${action || 'updated'} issue #${num(issue.number)} "${clip(issue.title)}" in ${repository}`;
    }
  }
}

function link(event: GithubEvent, payload: GithubPayload): string | null {
  const url =
    event === 'push'
      ? payload.compare
      : event === 'release'
        ? payload.release?.html_url
        : event === 'pull_request'
          ? payload.pull_request?.html_url
          : payload.issue?.html_url;
  return typeof url === 'string' ? url : null;
}

@Injectable()
export class GithubEffects implements OnModuleInit {
  constructor(
    private readonly handlers: InboundHandlers,
    private readonly bindings: GithubBindingsService,
  ) {}

  onModuleInit(): void {
    this.handlers.register('github', GITHUB_EVENTS, (context) => this.toDomainEvent(context));
  }

  private async toDomainEvent({ manager, payload: body, event, record }: HandlerContext): Promise<Ignored | void> {
    const payload = body as GithubPayload;
    const repository = payload.repository?.full_name;
    if (typeof repository !== 'string') return { ignored: 'no repository.full_name' };
    const type = event.type as GithubEvent;
    record({
      type: `github.${type}`,
      key: `github:${repository.slice(0, 190)}`,
      data: {
        deliveryId: event.externalId,
        repository,
        action: typeof payload.action === 'string' ? payload.action : null,
        sender: typeof payload.sender?.login === 'string' ? payload.sender.login : null,
        summary: githubSummary(type, payload, repository),
        url: link(type, payload),
        conversationIds: await this.bindings.conversationsFor(manager, repository),
      },
    });
  }
}
