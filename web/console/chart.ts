/**
 * A small SVG line chart: a few polylines over time with a y-axis maximum, the time span and a
 * legend. Hand-written rather than a chart library: the console draws only lines of a few hundred
 * points, redrawn every second, which is a few dozen lines of SVG and no dependency to keep.
 */
import { h } from '../dom.js';

export interface Series {
  name: string;
  /** [epoch ms, value]; null values leave a gap. */
  points: [number, number | null][];
}

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 480;
const HEIGHT = 140;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function formatValue(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(2);
}

const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });

/**
 * A figure with the chart and its legend; `unit` follows the maximum (`/s`, `ms`, `%`). The time
 * axis spans the points, or `span` ([from, to] epoch ms) when given.
 */
export function lineChart(title: string, series: Series[], unit = '', span?: [number, number]): HTMLElement {
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y).filter((y): y is number => Number.isFinite(y));
  const [minX, maxX] = span ?? [Math.min(...xs), Math.max(...xs)];
  const maxY = Math.max(1e-9, ...ys);
  const x = (value: number) => PAD.left + ((value - minX) / Math.max(1, maxX - minX)) * (WIDTH - PAD.left - PAD.right);
  const y = (value: number) => HEIGHT - PAD.bottom - (value / maxY) * (HEIGHT - PAD.top - PAD.bottom);

  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart' });
  chart.append(
    svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: 'axis' }),
    svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(maxY), y2: y(maxY), class: 'grid' }),
    svg('text', { x: PAD.left - 4, y: y(maxY) + 4, class: 'label end' }, `${formatValue(ys.length ? maxY : 0)}${unit}`),
    svg('text', { x: PAD.left - 4, y: y(0), class: 'label end' }, `0${unit}`),
  );
  if (xs.length > 0) {
    chart.append(
      svg('text', { x: PAD.left, y: HEIGHT - 4, class: 'label' }, clock(minX)),
      svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 4, class: 'label end' }, clock(maxX)),
    );
  }
  series.forEach((s, index) => {
    // One polyline per run of non-null points.
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) {
        // A lone point (a sparse timeline) would be an invisible line: a dot instead.
        const [cx, cy] = run[0].split(',');
        chart.append(svg('circle', { cx, cy, r: 2.5, class: `dot s${index}` }));
      } else if (run.length > 1) {
        chart.append(svg('polyline', { points: run.join(' '), class: `line s${index}` }));
      }
      run = [];
    };
    for (const [px, py] of s.points) {
      if (py === null || !Number.isFinite(py)) flush();
      else run.push(`${x(px).toFixed(1)},${y(py).toFixed(1)}`);
    }
    flush();
  });

  const legend = h(
    'ul',
    { className: 'legend' },
    ...series.map((s, index) => {
      const last = [...s.points].reverse().find(([, value]) => value !== null)?.[1];
      return h(
        'li',
        { className: `s${index}` },
        `${s.name}: ${last === undefined || last === null ? '–' : formatValue(last)}${unit}`,
      );
    }),
  );
  return h(
    'figure',
    { className: 'chart-box' },
    h('figcaption', { text: title }),
    xs.length === 0 ? h('p', { className: 'empty', text: 'No data yet' }) : chart,
    legend,
  );
}
