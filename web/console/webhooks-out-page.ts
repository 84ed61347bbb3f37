/** Webhooks out: the outbound endpoints (live), and a form to create one (its secret is shown once). */
import { h, replace } from '../dom.js';
import { admin, send } from './api.js';
import { type Endpoint, endpointForm } from './endpoint-form.js';
import { type PageContext, badge, formatDate, link, panel, table } from './ui.js';

interface EndpointPage {
  items: Endpoint[];
  total: number;
}

export function webhooksOutPage(context: PageContext): void {
  const created = h('p', { className: 'notice', attrs: { role: 'status' } });
  const form = endpointForm('Create endpoint', async (body) => {
    try {
      const endpoint = await send<Endpoint & { secret: string }>('POST', '/admin/webhooks/endpoints', body);
      context.report(null);
      form.reset();
      replace(
        created,
        'Created ',
        link(`endpoint/${endpoint.id}`, endpoint.url),
        '. Its signing secret (shown now; later with "Reveal secret"): ',
        h('code', { className: 'secret', text: endpoint.secret }),
      );
      await refresh();
    } catch (error) {
      context.report(error);
    }
  });
  const create = panel('New endpoint', form, created);
  const list = panel('Endpoints');
  replace(context.root, list.element, create.element);

  const refresh = async () => {
    const page = await admin<EndpointPage>('/admin/webhooks/endpoints?limit=100');
    if (!context.active) return;
    replace(
      list.body,
      table(
        ['URL', 'Status', 'Event types', 'Description', 'Created'],
        page.items.map((endpoint) => [
          link(`endpoint/${endpoint.id}`, endpoint.url),
          badge(endpoint.status),
          endpoint.eventTypes.join(', '),
          endpoint.description ?? '',
          formatDate(endpoint.createdAt),
        ]),
        { empty: 'No endpoints yet', caption: `${page.total} endpoint(s)` },
      ),
    );
  };
  context.every(2_000, refresh);
}
