/**
 * Feeds: per feed and instance, subscribers, frames/s, conflated frames/s and slow-consumer
 * closes/s; the slowest connections over all instances (most bytes buffered first); and a live
 * tail of one topic (`GET /admin/feeds/:feed/tail`, polled every second from its cursor).
 */
import { h, replace } from '../dom.js';
import { admin, query } from './api.js';
import { FEEDS, type SlowConnection, instances } from './instances.js';
import { type PageContext, field, formatBytes, formatRate, input, panel, select, table } from './ui.js';

interface Tail {
  events: { id: string; type: string; topic: string; data: unknown }[];
  cursor: string;
}

const TAIL_LINES = 50;

export function feedsPage(context: PageContext): void {
  const perInstance = panel('Per feed and instance');
  const slowest = panel('Slowest connections');
  const tail = panel('Live tail');
  replace(context.root, perInstance.element, slowest.element, tail.element);

  context.every(1_000, async () => {
    const { instances: items } = await instances();
    if (!context.active) return;
    replace(
      perInstance.body,
      table(
        ['Feed', 'Instance', 'Subscribers', 'Events/s', 'Frames/s', 'Conflated/s', 'Slow-consumer closes/s'],
        FEEDS.flatMap((feed) =>
          items.map((instance) => [
            feed,
            instance.id,
            String(instance.subscribers[feed] ?? 0),
            formatRate(instance.rates.feedEvents[feed]),
            formatRate(instance.rates.framesWritten[feed]),
            formatRate(instance.rates.framesConflated[feed]),
            formatRate(instance.rates.slowConsumerCloses[feed]),
          ]),
        ),
        { empty: 'No instance has reported yet' },
      ),
    );
    const slow: (SlowConnection & { instance: string })[] = items
      .flatMap((instance) => instance.slowest.map((connection) => ({ ...connection, instance: instance.id })))
      .sort((a, b) => b.bufferedBytes - a.bufferedBytes)
      .slice(0, 10);
    replace(
      slowest.body,
      table(
        ['Buffered', 'Age', 'Transport', 'Feeds', 'Topics', 'Instance'],
        slow.map((connection) => [
          h('span', { className: 'buffered', text: formatBytes(connection.bufferedBytes) }),
          `${Math.round(connection.ageSeconds)} s`,
          connection.transport,
          connection.feeds.join(', '),
          connection.topics === null ? 'all' : String(connection.topics),
          connection.instance,
        ]),
        { empty: 'No open streaming connection' },
      ),
    );
  });

  const feed = select('feed', [...FEEDS], 'ticker');
  const topic = input('topic', { placeholder: 'AAPL or a match id', required: true });
  const start = h('button', { attrs: { type: 'submit' }, text: 'Tail' });
  const form = h('form', { className: 'inline-form' }, field('Feed', feed), field('Topic', topic), start);
  const lines = h('ol', { className: 'tail', attrs: { 'aria-label': 'Tailed events', 'aria-live': 'off' } });
  replace(tail.body, form, lines);

  // One tail at a time: a new submit bumps the generation, and the old loop's answers are dropped.
  let generation = 0;
  let cursor: string | undefined;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    generation += 1;
    cursor = undefined;
    replace(lines);
  });
  context.every(1_000, async () => {
    if (generation === 0) return;
    const mine = generation;
    const path = `/admin/feeds/${feed.value}/tail${query({ topic: topic.value.trim(), cursor })}`;
    const answer = await admin<Tail>(path);
    if (!context.active || mine !== generation) return;
    cursor = answer.cursor;
    for (const event of answer.events) {
      lines.prepend(h('li', {}, h('code', { text: `${event.id} ${event.type} ${JSON.stringify(event.data)}` })));
    }
    while (lines.children.length > TAIL_LINES) lines.lastElementChild!.remove();
  });
}
