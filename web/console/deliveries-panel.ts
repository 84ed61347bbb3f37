/**
 * An endpoint's delivery log (live, newest first), searchable by event type, status and time, and
 * the selected delivery's every attempt (status, latency, response excerpt) with a retry button.
 */
import { h, replace } from '../dom.js';
import { admin, query, send } from './api.js';
import { type PageContext, actionButton, badge, formatDate, input, panel, searchPanel, select, table } from './ui.js';

interface Attempt {
  number: number;
  attemptedAt: string;
  outcome: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

interface Delivery {
  id: string;
  eventType: string;
  status: string;
  webhookId: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  attempts: Attempt[];
}

/** A datetime-local value as RFC 3339 (the API's format), or undefined when empty. */
const rfc3339 = (value: string) => (value ? new Date(value).toISOString() : undefined);

export function deliveriesPanel(context: PageContext, endpointId: string): HTMLElement {
  const eventType = input('eventType', { placeholder: 'webhook.test' });
  const status = select('status', ['', 'pending', 'succeeded', 'failed']);
  const since = input('since', { type: 'datetime-local', step: '1' });
  const until = input('until', { type: 'datetime-local', step: '1' });
  const log = searchPanel(
    'Deliveries',
    { 'Event type': eventType, Status: status, Since: since, Until: until },
    () => void refresh().catch(context.report),
  );
  const detail = panel('Delivery');
  detail.element.hidden = true;
  let selected: string | null = null;

  const attemptsOf = (delivery: Delivery) =>
    table(
      ['#', 'Time', 'Outcome', 'Status', 'Latency', 'Error', 'Response'],
      delivery.attempts.map((attempt) => [
        String(attempt.number),
        formatDate(attempt.attemptedAt),
        badge(attempt.outcome),
        attempt.statusCode === null ? '–' : String(attempt.statusCode),
        `${attempt.latencyMs} ms`,
        attempt.error ?? '',
        h('code', { className: 'excerpt', text: attempt.responseExcerpt ?? '' }),
      ]),
      { empty: 'No attempt yet' },
    );

  const showDetail = async () => {
    if (!selected) return;
    const delivery = await admin<Delivery>(`/admin/webhooks/deliveries/${selected}`);
    if (!context.active || delivery.id !== selected) return;
    detail.element.hidden = false;
    const retried = h('span', { attrs: { role: 'status' } });
    replace(
      detail.body,
      h(
        'p',
        { className: 'delivery-head', data: { deliveryId: delivery.id, status: delivery.status } },
        h('strong', { text: delivery.eventType }),
        ' ',
        badge(delivery.status),
        ` webhook-id ${delivery.webhookId}, created ${formatDate(delivery.createdAt)}`,
        delivery.nextAttemptAt ? `, next attempt ${formatDate(delivery.nextAttemptAt)}` : '',
        ' ',
        actionButton(
          'Retry now',
          async () => {
            await send('POST', `/admin/webhooks/deliveries/${delivery.id}/retry`);
            await showDetail();
            return 'Retry queued';
          },
          context.report,
          retried,
        ),
        ' ',
        retried,
      ),
      attemptsOf(delivery),
    );
  };

  const refresh = async () => {
    const path = `/admin/webhooks/endpoints/${endpointId}/deliveries${query({
      limit: 50,
      eventType: eventType.value.trim(),
      status: status.value,
      since: rfc3339(since.value),
      until: rfc3339(until.value),
    })}`;
    const page = await admin<{ items: Delivery[]; total: number }>(path);
    if (!context.active) return;
    replace(
      log.results,
      table(
        ['Created', 'Event type', 'Status', 'Attempts', 'Last status', 'Last error', ''],
        page.items.map((delivery) => {
          const open = h('button', { attrs: { type: 'button' }, data: { deliveryId: delivery.id }, text: 'Attempts' });
          open.addEventListener('click', () => {
            selected = delivery.id;
            void showDetail().catch(context.report);
          });
          return [
            formatDate(delivery.createdAt),
            delivery.eventType,
            badge(delivery.status),
            String(delivery.attempts.length),
            delivery.lastStatusCode === null ? '–' : String(delivery.lastStatusCode),
            delivery.lastError ?? '',
            open,
          ];
        }),
        { empty: 'No deliveries match', caption: `${page.total} deliveries` },
      ),
    );
    await showDetail();
  };
  context.every(1_000, refresh);
  return h('div', {}, log.element, detail.element);
}
