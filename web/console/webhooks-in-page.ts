/**
 * Webhooks in: counts by provider, status and type (last 24 h), the events (filtered), one
 * event's headers and payload with replay, and a chart of signature rejections by reason.
 */
import { h, replace } from '../dom.js';
import { admin, query, send } from './api.js';
import { lineChart } from './chart.js';
import { history, seriesOf } from './instances.js';
import { type PageContext, actionButton, badge, formatDate, input, panel, searchPanel, select, table } from './ui.js';

interface InboundEvent {
  id: string;
  provider: string;
  externalId: string;
  type: string;
  headers: Record<string, string>;
  receivedAt: string;
  status: string;
  attempts: number;
  replays: number;
  lastError: string | null;
  payload?: unknown;
}

interface Group {
  provider: string;
  status: string;
  type: string;
  count: number;
}

export function webhooksInPage(context: PageContext): void {
  const groups = panel('Last 24 hours');
  const rejections = panel('Signature rejections');
  const provider = input('provider', { placeholder: 'stripe' });
  const status = select('status', ['', 'received', 'processed', 'ignored', 'failed']);
  const type = input('type', { placeholder: 'payment_intent.succeeded' });
  const events = searchPanel(
    'Events',
    { Provider: provider, Status: status, Type: type },
    () => void refresh().catch(context.report),
  );
  const detail = panel('Event');
  detail.element.hidden = true;
  replace(context.root, groups.element, rejections.element, events.element, detail.element);

  const show = async (id: string) => {
    const event = await admin<InboundEvent>(`/admin/webhooks/inbound/${id}`);
    if (!context.active) return;
    detail.element.hidden = false;
    const done = h('span', { attrs: { role: 'status' } });
    replace(
      detail.body,
      h(
        'p',
        {},
        `${event.provider} ${event.type} (${event.externalId}) `,
        badge(event.status),
        ` attempts ${event.attempts}, replays ${event.replays} `,
        actionButton(
          'Replay',
          async () => {
            await send('POST', `/admin/webhooks/inbound/${id}/replay`);
            await show(id);
            return 'Replay queued';
          },
          context.report,
          done,
        ),
        ' ',
        done,
      ),
      event.lastError ? h('p', { className: 'error', text: event.lastError }) : null,
      h('h3', { text: 'Headers' }),
      h('pre', { text: JSON.stringify(event.headers, null, 2) }),
      h('h3', { text: 'Payload' }),
      h('pre', { className: 'payload', text: JSON.stringify(event.payload, null, 2) }),
    );
  };

  const refresh = async () => {
    const page = await admin<{ items: InboundEvent[]; total: number }>(
      `/admin/webhooks/inbound${query({ limit: 50, provider: provider.value.trim(), status: status.value, type: type.value.trim() })}`,
    );
    if (!context.active) return;
    replace(
      events.results,
      table(
        ['Received', 'Provider', 'Type', 'Status', 'Attempts', 'Last error', ''],
        page.items.map((event) => {
          const open = h('button', { attrs: { type: 'button' }, text: 'Payload' });
          open.addEventListener('click', () => void show(event.id).catch(context.report));
          return [
            formatDate(event.receivedAt),
            event.provider,
            event.type,
            badge(event.status),
            String(event.attempts),
            event.lastError ?? '',
            open,
          ];
        }),
        { empty: 'No events match', caption: `${page.total} event(s)` },
      ),
    );
  };
  context.every(2_000, refresh);

  context.every(5_000, async () => {
    const stats = await admin<{ groups: Group[] }>('/admin/webhooks/inbound/stats?hours=24');
    if (!context.active) return;
    replace(
      groups.body,
      table(
        ['Provider', 'Status', 'Type', 'Count'],
        stats.groups.map((group) => [group.provider, badge(group.status), group.type, String(group.count)]),
        { empty: 'No inbound events in the last 24 hours' },
      ),
    );
  });

  context.every(2_000, async () => {
    const { points } = await history(5);
    if (!context.active) return;
    const reasons = [...new Set(points.flatMap((point) => Object.keys(point.rates.inboundRejectedByReason)))];
    const pick = Object.fromEntries(
      reasons.map((reason) => [
        reason,
        (point: (typeof points)[number]) => point.rates.inboundRejectedByReason[reason] ?? 0,
      ]),
    );
    replace(
      rejections.body,
      reasons.length === 0
        ? h('p', { className: 'empty', text: 'No rejections in the last 5 minutes' })
        : lineChart('Rejections by reason (last 5 minutes)', seriesOf(points, pick), '/s'),
    );
  });
}
