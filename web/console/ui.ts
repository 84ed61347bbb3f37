/**
 * What every console page is built from: the page context (its timers stop when the operator
 * leaves the page; its errors show in the page's alert), tables, forms and number formats.
 */
import { type Child, h, replace } from '../dom.js';

export interface PageContext {
  /** Where the page draws. */
  root: HTMLElement;
  /** The hash route's parts after the page name (`#/webhooks-out/<id>` → [id]). */
  params: string[];
  /** Runs `task` now and every `ms` until the page is left; a failure is shown, the timer goes on. */
  every(ms: number, task: () => Promise<void>): void;
  /** Shows an error (or clears the alert with null). */
  report(error: unknown): void;
  /** False once the operator has left the page (late answers are dropped). */
  readonly active: boolean;
}

export type Page = (context: PageContext) => void | Promise<void>;

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function table(headers: string[], rows: Child[][], options: { caption?: string; empty?: string } = {}) {
  if (rows.length === 0) return h('p', { className: 'empty', text: options.empty ?? 'None' });
  return h(
    'div',
    { className: 'table-scroll' },
    h(
      'table',
      {},
      options.caption ? h('caption', { text: options.caption }) : null,
      h('thead', {}, h('tr', {}, ...headers.map((name) => h('th', { attrs: { scope: 'col' }, text: name })))),
      h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
    ),
  );
}

/** A titled block whose body a page redraws in place. */
export function panel(title: string, ...children: Child[]): { element: HTMLElement; body: HTMLElement } {
  const body = h('div', { className: 'panel-body' }, ...children);
  const element = h('section', { className: 'panel', attrs: { 'aria-label': title } }, h('h2', { text: title }), body);
  return { element, body };
}

/**
 * A list with a search form above it: `fields` (label → control) are filters, and any change
 * calls `onChange`. The page draws the list into `results`.
 */
export function searchPanel(
  title: string,
  fields: Record<string, HTMLElement>,
  onChange: () => void,
): { element: HTMLElement; results: HTMLElement } {
  const form = h(
    'form',
    { className: 'inline-form filters', attrs: { 'aria-label': `Search ${title.toLowerCase()}` } },
    ...Object.entries(fields).map(([label, control]) => field(label, control)),
  );
  form.addEventListener('input', onChange);
  form.addEventListener('submit', (event) => event.preventDefault());
  const results = h('div');
  return { element: panel(title, form, results).element, results };
}

/** A labelled input (or select) for a form. */
export function field(label: string, control: HTMLElement): HTMLElement {
  return h('label', { className: 'field' }, h('span', { text: label }), control);
}

export function input(name: string, attrs: Record<string, string | boolean | undefined> = {}): HTMLInputElement {
  return h('input', { attrs: { name, autocomplete: 'off', ...attrs } });
}

export function select(name: string, options: string[], value = ''): HTMLSelectElement {
  const element = h(
    'select',
    { attrs: { name } },
    ...options.map((option) => h('option', { attrs: { value: option }, text: option || 'any' })),
  );
  element.value = value;
  return element;
}

/**
 * A button that runs `action` once per click (disabled meanwhile); its failure goes to `report`,
 * its success message to the optional `status` element.
 */
export function actionButton(
  label: string,
  action: () => Promise<string | void>,
  report: (error: unknown) => void,
  status?: HTMLElement,
): HTMLButtonElement {
  const button = h('button', { attrs: { type: 'button' }, text: label });
  button.addEventListener('click', () => {
    button.disabled = true;
    action()
      .then((done) => {
        report(null);
        if (status && done) replace(status, done);
      })
      .catch(report)
      .finally(() => (button.disabled = false));
  });
  return button;
}

export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined) return '–';
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatDate(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString([], { hour12: false }) : '–';
}

export function badge(text: string): HTMLElement {
  return h('span', { className: `badge status-${text}`, text });
}

/** A link inside the console (`#/…`). */
export function link(route: string, text: string): HTMLAnchorElement {
  return h('a', { attrs: { href: `#/${route}` }, text });
}
