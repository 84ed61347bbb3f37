/** Chat: users online now (`GET /admin/chat/stats`), messages/s and rate-limited sends over the last minutes. */
import { h, replace } from '../dom.js';
import { admin } from './api.js';
import { lineChart } from './chart.js';
import { history, seriesOf } from './instances.js';
import { type PageContext, formatRate, panel } from './ui.js';

export function chatPage(context: PageContext): void {
  const numbers = panel('Now');
  const charts = panel('Last 5 minutes');
  replace(context.root, numbers.element, charts.element);

  context.every(2_000, async () => {
    const [stats, { points }] = await Promise.all([admin<{ onlineUsers: number }>('/admin/chat/stats'), history(5)]);
    if (!context.active) return;
    const last = points.at(-1);
    replace(
      numbers.body,
      h(
        'dl',
        { className: 'numbers' },
        h('dt', { text: 'Online users' }),
        h('dd', { className: 'online-users', text: String(stats.onlineUsers) }),
        h('dt', { text: 'Chat connections' }),
        h('dd', { text: String(last?.connections.chat ?? 0) }),
        h('dt', { text: 'Messages/s' }),
        h('dd', { text: formatRate(last?.rates.chatMessages) }),
        h('dt', { text: 'Rate-limited sends/s' }),
        h('dd', { text: formatRate(last?.rates.chatRateLimited) }),
      ),
    );
    replace(
      charts.body,
      h(
        'div',
        { className: 'charts' },
        lineChart(
          'Chat messages',
          seriesOf(points, { sent: (p) => p.rates.chatMessages, 'rate-limited': (p) => p.rates.chatRateLimited }),
          '/s',
        ),
        lineChart('Chat connections', seriesOf(points, { connections: (p) => p.connections.chat })),
      ),
    );
  });
}
