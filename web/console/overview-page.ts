/**
 * Overview: every instance (heartbeat registry) with its connections per transport, the outbox
 * backlog, and live charts of the last five minutes (feeds, chat, outbound, inbound).
 */
import { h, replace } from '../dom.js';
import { admin } from './api.js';
import { lineChart } from './chart.js';
import { history, instances, seriesOf } from './instances.js';
import { type PageContext, formatDate, formatRate, panel, table } from './ui.js';

interface OutboxStats {
  pending: number;
  oldestPendingSeconds: number | null;
  deadLettered: number;
}

export function overviewPage(context: PageContext): void {
  const registry = panel('Instances');
  const outbox = panel('Outbox');
  const charts = panel('Last 5 minutes');
  replace(context.root, registry.element, outbox.element, charts.element);

  context.every(2_000, async () => {
    const { instances: items } = await instances();
    if (!context.active) return;
    replace(
      registry.body,
      table(
        [
          'Instance',
          'Host / pid',
          'Version',
          'Started',
          'Last seen',
          'SSE',
          'NDJSON',
          'WebSocket',
          'Long poll',
          'Chat',
        ],
        items.map((instance) => [
          instance.id,
          `${instance.host} / ${instance.pid}`,
          instance.node,
          formatDate(instance.startedAt),
          formatDate(instance.lastSeenAt),
          String(instance.connections.sse),
          String(instance.connections.ndjson),
          String(instance.connections.ws),
          String(instance.connections.longPoll),
          String(instance.connections.chat),
        ]),
        { empty: 'No instance has reported yet' },
      ),
    );
  });

  context.every(2_000, async () => {
    const stats = await admin<OutboxStats>('/admin/outbox/stats');
    if (!context.active) return;
    replace(
      outbox.body,
      h(
        'dl',
        { className: 'numbers' },
        h('dt', { text: 'Pending' }),
        h('dd', { text: String(stats.pending) }),
        h('dt', { text: 'Oldest pending' }),
        h('dd', { text: stats.oldestPendingSeconds === null ? '–' : `${stats.oldestPendingSeconds} s` }),
        h('dt', { text: 'Dead-lettered' }),
        h('dd', { text: String(stats.deadLettered) }),
      ),
    );
  });

  context.every(2_000, async () => {
    const { points } = await history(5);
    if (!context.active) return;
    replace(
      charts.body,
      h(
        'div',
        { className: 'charts' },
        lineChart(
          'Feed events',
          seriesOf(points, { ticker: (p) => p.rates.feedEvents.ticker, scores: (p) => p.rates.feedEvents.scores }),
          '/s',
        ),
        lineChart(
          'Connections',
          seriesOf(points, {
            sse: (p) => p.connections.sse,
            ws: (p) => p.connections.ws,
            ndjson: (p) => p.connections.ndjson,
            'long poll': (p) => p.connections.longPoll,
            chat: (p) => p.connections.chat,
          }),
        ),
        lineChart('Chat messages', seriesOf(points, { messages: (p) => p.rates.chatMessages }), '/s'),
        lineChart(
          'Outbound deliveries',
          seriesOf(points, { succeeded: (p) => p.rates.outboundSucceeded, failed: (p) => p.rates.outboundFailed }),
          '/s',
        ),
        lineChart(
          'Inbound events',
          seriesOf(points, { received: (p) => p.rates.inboundReceived, rejected: (p) => p.rates.inboundRejected }),
          '/s',
        ),
      ),
      h('p', { className: 'hint', text: `Now: ${formatRate(points.at(-1)?.rates.chatMessages)} chat messages/s` }),
    );
  });
}
