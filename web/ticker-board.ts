/**
 * The ticker board: one row per symbol with its price, the change since the first quote this page
 * saw, the last trade's size and time, and a brief green/red flash on each tick.
 */
import { byId, flash, formatTime, h } from './dom.js';
import type { FeedAuth } from './feed-auth.js';
import type { Tick } from '../packages/client/src/wire.js';
import { type FeedState, followFeed } from './live-feed.js';
import { getJson } from '../packages/client/src/index.js';

export type Quote = Tick;

interface Row {
  first: number;
  last: number;
  element: HTMLTableRowElement;
  price: HTMLTableCellElement;
  change: HTMLTableCellElement;
  size: HTMLTableCellElement;
  time: HTMLTableCellElement;
}

export class TickerBoard {
  private readonly rows = new Map<string, Row>();
  private readonly names = new Map<string, string>();
  private readonly body = byId<HTMLTableSectionElement>('ticker-rows');

  constructor(
    private readonly auth: FeedAuth,
    private readonly onState: (state: FeedState) => void,
  ) {}

  async start(): Promise<void> {
    try {
      const instruments = await getJson<{ symbol: string; name: string }[]>('/ticker/instruments');
      for (const instrument of instruments) this.names.set(instrument.symbol, instrument.name);
    } catch {
      // names are a nicety: the symbols still show
    }
    followFeed(
      this.auth,
      'ticker',
      (event) => {
        if (event.type === 'snapshot') for (const quote of event.data.quotes) this.update(quote, false);
        else if (event.type === 'tick') this.update(event.data, true);
      },
      this.onState,
    );
  }

  private update(quote: Quote, animate: boolean): void {
    const row = this.rows.get(quote.symbol) ?? this.addRow(quote);
    const direction = quote.price > row.last ? 'up' : quote.price < row.last ? 'down' : undefined;
    row.last = quote.price;
    row.price.textContent = formatPrice(quote.price);
    const change = quote.price - row.first;
    const percent = row.first > 0 ? (change / row.first) * 100 : 0;
    row.change.textContent = `${sign(change)}${Math.abs(change).toFixed(2)} (${sign(percent)}${Math.abs(percent).toFixed(2)}%)`;
    row.change.className = `num change ${change > 0 ? 'pos' : change < 0 ? 'neg' : ''}`;
    row.size.textContent = String(quote.size);
    row.time.textContent = formatTime(quote.ts);
    row.element.dataset.updates = String(Number(row.element.dataset.updates ?? '0') + 1);
    if (animate && direction) flash(row.element, `flash-${direction}`, ['flash-up', 'flash-down']);
  }

  private addRow(quote: Quote): Row {
    const cells = {
      price: h('td', { className: 'num price' }),
      change: h('td', { className: 'num change' }),
      size: h('td', { className: 'num size' }),
      time: h('td', { className: 'num time' }),
    };
    const element = h(
      'tr',
      { data: { symbol: quote.symbol } },
      h(
        'th',
        { attrs: { scope: 'row' } },
        h('span', { className: 'symbol', text: quote.symbol }),
        ' ',
        h('span', { className: 'name', text: this.names.get(quote.symbol) ?? '' }),
      ),
      cells.price,
      cells.change,
      cells.size,
      cells.time,
    );
    const row: Row = { first: quote.price, last: quote.price, element, ...cells };
    this.rows.set(quote.symbol, row);
    const sorted = [...this.rows.keys()].sort();
    const next = sorted[sorted.indexOf(quote.symbol) + 1];
    this.body.insertBefore(element, next ? this.rows.get(next)!.element : null);
    byId('ticker-empty').hidden = true;
    return row;
  }
}

function formatPrice(price: number): string {
  return price.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: price < 10 ? 4 : 2 });
}

// Rounds to zero like the two decimals shown, so "−0.00" never appears.
const sign = (value: number) => (value <= -0.005 ? '−' : '+');
