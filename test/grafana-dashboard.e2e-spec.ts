/**
 * The Grafana dashboard (deploy/grafana/dashboards/livefeed.json) queries what the app exports: every
 * metric a panel's PromQL names is in the real app's `/metrics` (a renamed metric fails here, not as
 * an empty panel), and it shows the console's sections.
 */
import { readFileSync } from 'node:fs';
import { type TestApp, type TestEnv, createTestEnv, startTestApp } from './helpers/test-app.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(
  readFileSync(new URL('../deploy/grafana/dashboards/livefeed.json', import.meta.url), 'utf8'),
) as { uid: string; panels: Panel[] };

/** Series Prometheus makes itself, not the app. */
const PROMETHEUS_OWN = new Set(['up']);

/** Metric names in PromQL: a name right before its `{…}` selector or `[…]` range (the dashboard writes every selector so). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)].map((m) => m[1]);
}

/** Names the exposition declares (`# TYPE`), with a histogram's `_bucket`, `_sum` and `_count`. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

describe('Grafana dashboard (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;

  beforeAll(async () => {
    env = await createTestEnv();
    app = await startTestApp(env);
  });
  afterAll(async () => {
    await app?.close();
    await env?.cleanup();
  });

  it('queries only metrics the app exports', async () => {
    const names = exported(await fetch(`${app.url}/metrics`).then((r) => r.text()));
    const queried = dashboard.panels.flatMap((panel) => (panel.targets ?? []).flatMap((t) => metricNames(t.expr)));
    expect(queried.length).toBeGreaterThan(30);
    const missing = [...new Set(queried)].filter((name) => !names.has(name) && !PROMETHEUS_OWN.has(name));
    expect(missing).toEqual([]);
  });

  it('has the console sections, unique panel ids, and a query in every panel', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Overview', 'Feeds', 'Webhooks out', 'Webhooks in', 'Chat', 'HTTP and Redis']);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
      for (const target of panel.targets!) expect(metricNames(target.expr).length).toBeGreaterThan(0);
    }
  });
});
