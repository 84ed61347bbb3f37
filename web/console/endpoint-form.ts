/**
 * The outbound endpoint form, for create (POST) and edit (PATCH): URL, event type patterns,
 * description, ordered delivery and a send-rate limit, turned into the API's body.
 */
import { h } from '../dom.js';
import { field, input } from './ui.js';

export interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  ordered: boolean;
  rateLimitPerSecond: number | null;
  status: 'active' | 'paused' | 'disabled';
  disabledReason: string | null;
  failingSince: string | null;
  createdAt: string;
}

export function endpointForm(
  submitLabel: string,
  onSubmit: (body: Record<string, unknown>) => Promise<void>,
  current?: Endpoint,
): HTMLFormElement {
  const url = input('url', { required: true, type: 'url', placeholder: 'https://example.com/webhooks' });
  const eventTypes = input('eventTypes', { required: true, placeholder: 'score.*, match.*' });
  const description = input('description');
  const rate = input('rateLimitPerSecond', { type: 'number', min: '1', placeholder: 'none' });
  const ordered = input('ordered', { type: 'checkbox' });
  if (current) {
    url.value = current.url;
    eventTypes.value = current.eventTypes.join(', ');
    description.value = current.description ?? '';
    rate.value = current.rateLimitPerSecond === null ? '' : String(current.rateLimitPerSecond);
    ordered.checked = current.ordered;
  }
  const form = h(
    'form',
    { className: 'inline-form endpoint-form' },
    field('URL', url),
    field('Event types (comma-separated)', eventTypes),
    field('Description', description),
    field('Sends per second', rate),
    field('Ordered', ordered),
    h('button', { attrs: { type: 'submit' }, text: submitLabel }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = {
      url: url.value.trim(),
      eventTypes: eventTypes.value
        .split(',')
        .map((type) => type.trim())
        .filter(Boolean),
      ordered: ordered.checked,
    };
    // Empty clears on edit (null) and is left out on create.
    const text = description.value.trim();
    if (text || current) body.description = text || null;
    if (rate.value || current) body.rateLimitPerSecond = rate.value ? Number(rate.value) : null;
    const button = form.querySelector('button')!;
    button.disabled = true;
    void onSubmit(body).finally(() => (button.disabled = false));
  });
  return form;
}
