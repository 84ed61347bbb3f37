/**
 * Users and plans: the users with their plan (create one), and what each plan may read from the
 * feeds (entitlements, `PUT /admin/entitlements/:plan` as JSON).
 */
import { h, replace } from '../dom.js';
import { admin, query, send } from './api.js';
import { type PageContext, field, formatDate, input, panel, select, table } from './ui.js';

interface User {
  id: string;
  name: string;
  plan: string;
  createdAt: string;
}

interface Entitlement {
  plan: string;
  ticker: { mode: string; tiers: string[]; delaySeconds?: number; maxPerSecond?: number };
  scores: { mode: string; delaySeconds?: number };
  maxStreams: number;
}

const PLANS = ['free', 'pro', 'team'];

export function usersPage(context: PageContext): void {
  const users = panel('Users');
  const plans = panel('Plans and entitlements');
  const name = input('name', { required: true, maxlength: '100' });
  const plan = select('plan', PLANS, 'free');
  const create = h(
    'form',
    { className: 'inline-form' },
    field('Name', name),
    field('Plan', plan),
    h('button', { attrs: { type: 'submit' }, text: 'Create user' }),
  );
  const list = h('div');
  let pageNumber = 1;
  const more = h('p', { className: 'pager' });
  users.body.append(create, list, more);
  replace(context.root, users.element, plans.element);

  const refreshUsers = async () => {
    const page = await admin<{ items: User[]; total: number; limit: number }>(
      `/admin/users${query({ page: pageNumber, limit: 50 })}`,
    );
    if (!context.active) return;
    replace(
      list,
      table(
        ['Name', 'Plan', 'Id', 'Created'],
        page.items.map((user) => [user.name, user.plan, h('code', { text: user.id }), formatDate(user.createdAt)]),
        { empty: 'No users', caption: `${page.total} user(s), page ${pageNumber}` },
      ),
    );
    const pages = Math.max(1, Math.ceil(page.total / page.limit));
    const go = (to: number, label: string) => {
      const button = h('button', { attrs: { type: 'button', disabled: to < 1 || to > pages }, text: label });
      button.addEventListener('click', () => {
        pageNumber = to;
        void refreshUsers().catch(context.report);
      });
      return button;
    };
    replace(more, go(pageNumber - 1, 'Newer'), ` page ${pageNumber} of ${pages} `, go(pageNumber + 1, 'Older'));
  };
  create.addEventListener('submit', (event) => {
    event.preventDefault();
    send('POST', '/admin/users', { name: name.value.trim(), plan: plan.value })
      .then(() => {
        create.reset();
        context.report(null);
        return refreshUsers();
      })
      .catch(context.report);
  });
  context.every(5_000, refreshUsers);

  const refreshPlans = async () => {
    const { items } = await admin<{ items: Entitlement[] }>('/admin/entitlements');
    if (!context.active) return;
    replace(
      plans.body,
      table(
        ['Plan', 'Ticker', 'Tiers', 'Scores', 'Streams', 'Edit (JSON)'],
        items.map((entitlement) => [
          entitlement.plan,
          mode(entitlement.ticker),
          entitlement.ticker.tiers.join(', '),
          mode(entitlement.scores),
          String(entitlement.maxStreams),
          editor(context, entitlement, refreshPlans),
        ]),
      ),
    );
  };
  void refreshPlans().catch(context.report);
}

function mode(feed: { mode: string; delaySeconds?: number; maxPerSecond?: number }): string {
  if (feed.mode === 'delayed') return `delayed ${feed.delaySeconds} s`;
  if (feed.mode === 'conflated') return `conflated ≤ ${feed.maxPerSecond}/s`;
  return feed.mode;
}

function editor(context: PageContext, entitlement: Entitlement, saved: () => Promise<void>): HTMLElement {
  const { plan, ...body } = entitlement;
  const text = h('textarea', { attrs: { rows: 3, cols: 50, 'aria-label': `Entitlement of ${plan}` } });
  text.value = JSON.stringify(body);
  const form = h('form', { className: 'entitlement' }, text, h('button', { attrs: { type: 'submit' }, text: 'Save' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.value);
    } catch {
      context.report(new Error(`The ${plan} entitlement is not valid JSON`));
      return;
    }
    send('PUT', `/admin/entitlements/${plan}`, parsed)
      .then(() => {
        context.report(null);
        return saved();
      })
      .catch(context.report);
  });
  return form;
}
