/**
 * One outbound endpoint (`#/endpoint/<id>`): pause/resume, send a test event, rotate and reveal
 * the secret (on an explicit click), replay since a time, edit; its success rate and latency over
 * the last hour; and its delivery log (deliveries-panel.ts).
 */
import { h, replace } from '../dom.js';
import { admin, send } from './api.js';
import { lineChart } from './chart.js';
import { deliveriesPanel } from './deliveries-panel.js';
import { type Endpoint, endpointForm } from './endpoint-form.js';
import { type PageContext, actionButton, badge, field, formatDate, input, link, panel } from './ui.js';

interface Stats {
  attempts: number;
  successRate: number | null;
  p95LatencyMs: number | null;
  lastSuccessAt: string | null;
  deliveries: { pending: number; succeeded: number; failed: number };
}

interface Timeline {
  points: { at: string; attempts: number; succeeded: number; failed: number; p95LatencyMs: number | null }[];
}

export async function endpointPage(context: PageContext): Promise<void> {
  const [id] = context.params;
  const base = `/admin/webhooks/endpoints/${encodeURIComponent(id ?? '')}`;
  const head = h('div', { className: 'endpoint-head' });
  const status = h('p', { className: 'notice', attrs: { role: 'status' } });
  const stats = panel('Last 24 hours');
  const charts = panel('Last hour');
  const edit = panel('Edit');
  edit.element.hidden = true;
  const since = input('since', { type: 'datetime-local', step: '1', 'aria-label': 'Replay since' });
  since.value = localInputValue(Date.now() - 3_600_000);

  const act = (label: string, method: string, path: string, done: (body: never) => string) =>
    actionButton(
      label,
      async () => {
        const body = await send<never>(method, `${base}${path}`);
        await refresh();
        return done(body);
      },
      context.report,
      status,
    );

  const actions = h(
    'div',
    { className: 'actions' },
    h('span', { className: 'pause-resume' }),
    act('Send test event', 'POST', '/test', (body: { eventId: string }) => `Test event ${body.eventId} recorded`),
    act('Rotate secret', 'POST', '/rotate-secret', (body: { secret: string }) => `New secret: ${body.secret}`),
    actionButton(
      'Reveal secret',
      async () => `Secret: ${(await admin<{ secret: string }>(`${base}/secret`)).secret}`,
      context.report,
      status,
    ),
    actionButton('Edit', async () => void (edit.element.hidden = !edit.element.hidden), context.report),
    h(
      'span',
      { className: 'replay' },
      field('Replay since', since),
      actionButton(
        'Replay',
        async () => {
          const body = { since: new Date(since.value).toISOString() };
          const result = await send<{ replayed: number }>('POST', `${base}/replay`, body);
          return `Replayed ${result.replayed} message(s)`;
        },
        context.report,
        status,
      ),
    ),
  );

  replace(
    context.root,
    h('p', {}, link('webhooks-out', '← Endpoints')),
    head,
    actions,
    status,
    edit.element,
    h('div', { className: 'columns' }, stats.element, charts.element),
    deliveriesPanel(context, id ?? ''),
  );

  let formFor = '';
  let shownPaused: boolean | undefined;
  const refresh = async () => {
    const endpoint = await admin<Endpoint>(base);
    if (!context.active) return;
    replace(
      head,
      h('h2', { text: endpoint.url }),
      h(
        'p',
        { data: { status: endpoint.status } },
        badge(endpoint.status),
        ` ${endpoint.eventTypes.join(', ')}`,
        endpoint.description ? ` · ${endpoint.description}` : '',
        endpoint.ordered ? ' · ordered' : '',
        endpoint.rateLimitPerSecond ? ` · at most ${endpoint.rateLimitPerSecond}/s` : '',
        endpoint.disabledReason ? ` · disabled: ${endpoint.disabledReason}` : '',
        endpoint.failingSince ? ` · failing since ${formatDate(endpoint.failingSince)}` : '',
      ),
    );
    const paused = endpoint.status !== 'active';
    if (paused !== shownPaused) {
      shownPaused = paused;
      replace(
        actions.querySelector('.pause-resume')!,
        act(paused ? 'Resume' : 'Pause', 'POST', paused ? '/resume' : '/pause', () =>
          paused ? 'Resumed' : 'Paused (deliveries are held)',
        ),
      );
    }
    // The form is rebuilt only when the endpoint changed, so a half-typed edit survives the refresh.
    const version = JSON.stringify(endpoint);
    if (version !== formFor) {
      formFor = version;
      replace(
        edit.body,
        endpointForm(
          'Save',
          async (body) => {
            try {
              await send('PATCH', base, body);
              edit.element.hidden = true;
              replace(status, 'Saved');
              await refresh();
            } catch (error) {
              context.report(error);
            }
          },
          endpoint,
        ),
      );
    }
  };

  const refreshStats = async () => {
    const numbers = await admin<Stats>(`${base}/stats`);
    if (!context.active) return;
    const rate = numbers.successRate === null ? '–' : `${(numbers.successRate * 100).toFixed(1)} %`;
    replace(
      stats.body,
      h(
        'dl',
        { className: 'numbers' },
        ...[
          ['Attempts', String(numbers.attempts)],
          ['Success rate', rate],
          ['p95 latency', numbers.p95LatencyMs === null ? '–' : `${numbers.p95LatencyMs} ms`],
          ['Last success', formatDate(numbers.lastSuccessAt)],
          ['Pending', String(numbers.deliveries.pending)],
          ['Succeeded', String(numbers.deliveries.succeeded)],
          ['Failed', String(numbers.deliveries.failed)],
        ].flatMap(([term, value]) => [h('dt', { text: term }), h('dd', { text: value })]),
      ),
    );
  };

  const refreshCharts = async () => {
    const timeline = await admin<Timeline>(`${base}/timeline?hours=1`);
    if (!context.active) return;
    const at = (point: { at: string }) => Date.parse(point.at);
    // The whole hour, so that a quiet endpoint's few buckets sit where they happened.
    const span: [number, number] = [Date.now() - 3_600_000, Date.now()];
    replace(
      charts.body,
      h(
        'div',
        { className: 'charts' },
        lineChart(
          'Success rate',
          [
            {
              name: 'succeeded',
              points: timeline.points.map((p) => [at(p), p.attempts ? (100 * p.succeeded) / p.attempts : null]),
            },
          ],
          '%',
          span,
        ),
        lineChart(
          'p95 latency',
          [{ name: 'p95', points: timeline.points.map((p) => [at(p), p.p95LatencyMs]) }],
          ' ms',
          span,
        ),
      ),
    );
  };

  context.every(1_000, refresh);
  context.every(2_000, refreshStats);
  context.every(2_000, refreshCharts);
}

/** A time as a datetime-local input's value (local time, seconds). */
function localInputValue(ms: number): string {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 19);
}
