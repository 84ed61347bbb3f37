/**
 * DOM building without HTML strings: every piece of text goes in through `textContent` or a text
 * node, so user data (a chat message, a team name) can never become markup. Nothing in web/ uses
 * innerHTML (eslint forbids it).
 */
export type Child = Node | string | number | null | undefined | false;

export interface Props {
  className?: string;
  /** Attributes (aria-*, role, type, …); values are set as attributes, never parsed as HTML. */
  attrs?: Record<string, string | number | boolean | undefined>;
  data?: Record<string, string | number | undefined>;
  text?: string;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, value] of Object.entries(props.data ?? {})) {
    if (value !== undefined) element.dataset[name] = String(value);
  }
  if (props.text !== undefined) element.textContent = props.text;
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

/** Restarts a CSS animation class (a flash on every tick, even two in a row). */
export function flash(element: HTMLElement, className: string, others: string[] = []): void {
  element.classList.remove(className, ...others);
  void element.offsetWidth;
  element.classList.add(className);
}

export function formatTime(iso: string | number): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}
