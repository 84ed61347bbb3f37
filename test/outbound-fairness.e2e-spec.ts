/**
 * One slow receiver must not hold up every other endpoint (endpoint-gate.ts): with 4 delivery slots,
 * a receiver answering in 700 ms would otherwise hold all of them, and the fast endpoint's deliveries
 * would trickle out at the slow one's pace. Nothing of the slow endpoint's is lost; it just waits.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

const SLOW_MS = 700;

describe('outbound webhooks: a slow endpoint does not hold up the others (e2e)', () => {
  let env: TestEnv;
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    env = await createTestEnv({
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_CONCURRENCY: '4',
      OUTBOUND_SLOW_ENDPOINT_MS: '300',
      OUTBOUND_SLOW_ENDPOINT_IN_FLIGHT: '1',
      OUTBOX_POLL_INTERVAL_MS: '200',
    });
    t = await startTestApp(env);
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await env?.cleanup();
  });

  async function emit(seq: number) {
    const dataSource = t.app.get<DataSource>(getDataSourceToken());
    await dataSource.transaction((manager) =>
      t.app.get(OutboxService).record(manager, { type: 'score.updated', data: { seq } }),
    );
  }

  async function endpoint(path: string, delayMs = 0) {
    const url = receiver.route(path, { reply: () => ({ status: 200, delayMs }) });
    const res = await api(t.url, 'POST', '/admin/webhooks/endpoints', { url, eventTypes: ['score.*'] });
    expect(res.status).toBe(201);
    receiver.route(path, { secrets: [res.body.secret] });
  }

  it('delivers to the fast endpoint at once while the slow one gets its share, and the slow one gets everything', async () => {
    await endpoint('/slow', SLOW_MS);
    await endpoint('/fast');

    // The gate learns the slow endpoint's answer time from a first delivery.
    await emit(0);
    await waitFor(() => receiver.succeeded('/slow').length === 1 && receiver.succeeded('/fast').length === 1);

    for (let seq = 1; seq <= 12; seq++) await emit(seq);
    await waitFor(() => receiver.succeeded('/fast').length === 13, 20_000, 10);
    // Without the gate the slow endpoint would have had every slot: about 12 requests by now.
    expect(receiver.received('/slow').length).toBeLessThanOrEqual(4);

    // Held back, not dropped: every message reaches the slow endpoint, each once, all verified.
    await waitFor(() => receiver.succeeded('/slow').length === 13, 40_000);
    const slow = receiver.received('/slow');
    expect(new Set(slow.map((r) => r.webhookId)).size).toBe(13);
    expect(slow).toHaveLength(13);
    expect(slow.every((r) => r.verifiedWith.length === 1)).toBe(true);
    expect(new Set(slow.map((r) => r.payload?.data?.seq))).toEqual(new Set(Array.from({ length: 13 }, (_, i) => i)));

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^outbound_slow_endpoint_held_total [1-9]/m);
  }, 90_000);
});
