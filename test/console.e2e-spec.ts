/**
 * The operator console (`/console`) in Chromium against the real app: sign-in with the admin key
 * (a wrong one is refused and nothing is stored; a 401 later signs out), the Webhooks-out page
 * driving a local receiver (create, test event, live delivery log and attempts, failures and retry,
 * pause, resume, replay), and the Feeds page showing a stalled SSE client among the slowest
 * connections. Screenshots go to test-results/console-*.png (git-ignored; `npm run screenshot`
 * copies one to docs/console.png).
 */
import { jest } from '@jest/globals';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CONSOLE_SCREENSHOT_PATH, SpecBrowser, type WatchedPage, openPage } from './helpers/browser.js';
import { ROOT } from './helpers/processes.js';
import {
  TEST_ADMIN_KEY,
  type TestApp,
  type TestEnv,
  api,
  createTestEnv,
  sleep,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';
import { send as sendSigned, signStripe, stripeEvent } from './helpers/inbound-signing.js';
import { connectChat } from './helpers/socket-chat.js';
import { WebhookReceiver } from './helpers/webhook-receiver.js';

const STRIPE_SECRET = 'whsec_console_test_0123456789';

// A browser, the app and its workers on a shared 2-core machine: slow when others run too.
jest.setTimeout(180_000);

/** Chromium logs every non-2xx fetch as a console error; the page shows those itself. */
const realErrors = (errors: string[]) => errors.filter((error) => !error.includes('Failed to load resource'));

describe('operator console in Chromium (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;
  let browser: SpecBrowser;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    env = await createTestEnv({
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '1,1',
      OUTBOUND_CONNECT_TIMEOUT_MS: '1000',
      OUTBOUND_REQUEST_TIMEOUT_MS: '3000',
      INSTANCE_HEARTBEAT_MS: '250',
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
    });
    app = await startTestApp(env);
    browser = await SpecBrowser.launch();
  });
  afterEach(() => browser.closeContexts());
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await receiver?.close();
    await env?.cleanup();
  });

  const open = async (): Promise<WatchedPage> =>
    openPage(await browser.newContext({ viewport: { width: 1400, height: 1000 } }), `${app.url}/console`);

  const signIn = async (page: Page, key = TEST_ADMIN_KEY) => {
    await page.getByLabel('Admin key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  const storedKey = (page: Page) => page.evaluate(() => sessionStorage.getItem('console.adminKey'));

  it('serves the page and its bundle from the app, outside the API docs', async () => {
    const page = await fetch(`${app.url}/console`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('src="/assets/dist/console.js"');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect((await fetch(`${app.url}/assets/dist/console.js`)).status).toBe(200);
    expect((await fetch(`${app.url}/assets/console.css`)).status).toBe(200);
    const docs = await api(app.url, 'GET', '/docs-json');
    expect(Object.keys(docs.body.paths)).not.toContain('/console');
  });

  it('signs in with the admin key; a wrong key is refused and nothing is stored; a 401 later signs out', async () => {
    const { page, errors } = await open();
    await signIn(page, 'not-the-admin-key');
    await page.getByRole('alert').filter({ hasText: 'The admin key was refused' }).waitFor({ timeout: 10_000 });
    expect(await storedKey(page)).toBeNull();
    expect(await page.locator('#nav').isHidden()).toBe(true);

    await signIn(page);
    await page.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: 10_000 });
    expect(await storedKey(page)).toBe(TEST_ADMIN_KEY);
    expect(page.url()).not.toContain(TEST_ADMIN_KEY);
    expect(await page.getByLabel('Admin key').isHidden()).toBe(true);

    // A reload keeps the session (the tab's sessionStorage).
    await page.reload();
    await page.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: 10_000 });

    // The key stops working (here: replaced in storage): the next call's 401 signs out with a message.
    await page.evaluate(() => sessionStorage.setItem('console.adminKey', 'revoked-key'));
    await page.goto(`${app.url}/console#/users`);
    await page.getByRole('alert').filter({ hasText: 'Signed out: the server refused the admin key' }).waitFor({
      timeout: 10_000,
    });
    expect(await storedKey(page)).toBeNull();
    expect(await page.getByLabel('Admin key').isVisible()).toBe(true);
    expect(realErrors(errors)).toEqual([]);
  });

  it('Webhooks out: create, test event, live delivery and attempts, failures and retry, pause, resume, replay, log filters, secret, edit', async () => {
    const { page, errors } = await open();
    await signIn(page);
    await page.getByRole('link', { name: 'Webhooks out' }).click();
    let failing = false;
    const url = receiver.route('/console-hook', {
      reply: () => (failing ? { status: 500, body: 'receiver down' } : { status: 200, body: 'thanks' }),
    });

    // Create: the secret is shown once, the endpoint is listed.
    const form = page.locator('form.endpoint-form');
    await form.getByLabel('URL').fill(url);
    await form.getByLabel('Event types').fill('webhook.test');
    await form.getByLabel('Description').fill('console test');
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    const secret = (await page.locator('code.secret').textContent({ timeout: 10_000 }))!;
    expect(secret).toMatch(/^whsec_/);
    receiver.route('/console-hook', { secrets: [secret] });
    await page.getByRole('link', { name: url }).first().click();
    await page.getByRole('heading', { name: url }).waitFor({ timeout: 10_000 });
    await page.evaluate('window.__sameDocument = true');
    const endpointId = new URL(page.url()).hash.split('/').pop()!;

    // A test event: its delivery and its attempt appear without a reload.
    const rows = page.locator('section[aria-label="Deliveries"] tbody tr');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await rows.filter({ hasText: 'succeeded' }).first().waitFor({ timeout: 15_000 });
    expect(receiver.succeeded('/console-hook')).toHaveLength(1);
    expect(receiver.received('/console-hook')[0].verifiedWith).toEqual([secret]);
    await rows.first().getByRole('button', { name: 'Attempts' }).click();
    const attempts = page.locator('section[aria-label="Delivery"] tbody tr');
    await attempts.filter({ hasText: '200' }).filter({ hasText: 'thanks' }).waitFor({ timeout: 10_000 });

    // The receiver fails: the new delivery's failed attempts show (live), and a retry succeeds.
    failing = true;
    await page.getByRole('button', { name: 'Send test event' }).click();
    const failed = rows.filter({ hasText: 'failed' }).first();
    await failed.waitFor({ timeout: 30_000 });
    await failed.getByRole('button', { name: 'Attempts' }).click();
    await page.locator('.delivery-head[data-status="failed"]').waitFor({ timeout: 10_000 });
    await waitFor(async () => (await attempts.filter({ hasText: 'receiver down' }).count()) === 3, 10_000);
    expect(await attempts.filter({ hasText: '500' }).count()).toBe(3);
    await page.screenshot({ path: join(ROOT, 'test-results/console-failed-delivery.png'), fullPage: true });
    failing = false;
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.locator('.delivery-head[data-status="succeeded"]').waitFor({ timeout: 15_000 });
    await attempts.filter({ hasText: 'thanks' }).waitFor({ timeout: 10_000 });
    expect(await attempts.count()).toBe(4);
    expect(receiver.succeeded('/console-hook')).toHaveLength(2);

    // Pause: a test event is held (pending, nothing sent); resume sends it.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('.endpoint-head [data-status="paused"]').waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Send test event' }).click();
    await rows.filter({ hasText: 'pending' }).first().waitFor({ timeout: 10_000 });
    await sleep(1_500);
    expect(receiver.received('/console-hook')).toHaveLength(5);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.endpoint-head [data-status="active"]').waitFor({ timeout: 10_000 });
    await waitFor(() => receiver.succeeded('/console-hook').length === 3, 15_000);
    await waitFor(async () => (await rows.filter({ hasText: 'pending' }).count()) === 0, 10_000);

    // Replay since before the first event: all three messages are delivered again, same webhook-ids.
    const before = receiver.received('/console-hook').length;
    await page.getByLabel('Replay since').fill(localInput(Date.now() - 3_600_000));
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Replayed 3 message(s)' }).waitFor({ timeout: 10_000 });
    await waitFor(() => receiver.received('/console-hook').length === before + 3, 15_000);
    const ids = (from: number, to: number) =>
      new Set(
        receiver
          .received('/console-hook')
          .slice(from, to)
          .map((request) => request.webhookId),
      );
    expect(ids(before, before + 3)).toEqual(ids(0, before));

    // The log's status filter: nothing has failed for good; all three succeeded.
    const status = page.locator('form.filters').getByLabel('Status');
    await status.selectOption('failed');
    await page.getByText('No deliveries match').waitFor({ timeout: 10_000 });
    await status.selectOption('succeeded');
    await waitFor(async () => (await rows.filter({ hasText: 'succeeded' }).count()) === 3, 10_000);
    expect(await rows.count()).toBe(3);
    // By event type, and by time (created before an hour ago: none).
    const filters = page.locator('form.filters');
    await filters.getByLabel('Event type').fill('score.updated');
    await page.getByText('No deliveries match').waitFor({ timeout: 10_000 });
    await filters.getByLabel('Event type').fill('webhook.test');
    await waitFor(async () => (await rows.count()) === 3, 10_000);
    await filters.getByLabel('Until').fill(localInput(Date.now() - 3_600_000));
    await page.getByText('No deliveries match').waitFor({ timeout: 10_000 });
    await filters.getByLabel('Until').fill('');
    await waitFor(async () => (await rows.count()) === 3, 10_000);

    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await page.evaluate('document.activeElement.blur()');
    await page.screenshot({ path: CONSOLE_SCREENSHOT_PATH, fullPage: false });

    // Reveal the secret: only on the click.
    expect(await page.getByText(secret).count()).toBe(0);
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Secret: ${secret}` })
      .waitFor({ timeout: 10_000 });
    // Rotate: the new one is shown, and revealed from now on.
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = page.getByRole('status').filter({ hasText: 'New secret: whsec_' });
    await rotated.waitFor({ timeout: 10_000 });
    const newSecret = (await rotated.textContent())!.replace('New secret: ', '').trim();
    expect(newSecret).not.toBe(secret);
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Secret: ${newSecret}` })
      .waitFor({ timeout: 10_000 });
    expect((await api(app.url, 'GET', `/admin/webhooks/endpoints/${endpointId}/secret`)).body.secret).toBe(newSecret);

    // Edit: the description and a rate limit change.
    await page.getByRole('button', { name: 'Edit' }).click();
    const edit = page.locator('section[aria-label="Edit"] form');
    await edit.getByLabel('Description').fill('edited in the console');
    await edit.getByLabel('Sends per second').fill('5');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.locator('.endpoint-head', { hasText: 'edited in the console' }).waitFor({ timeout: 10_000 });
    const saved = await api(app.url, 'GET', `/admin/webhooks/endpoints/${endpointId}`);
    expect(saved.body).toMatchObject({ description: 'edited in the console', rateLimitPerSecond: 5 });

    expect(realErrors(errors)).toEqual([]);
  });

  it('every page shows what the admin API reports: instances, outbox, chat, inbound events and rejections, users and plans', async () => {
    const user = await api(app.url, 'POST', '/admin/users', { name: 'Console Carol', plan: 'pro' });
    expect(user.status).toBe(201);
    const token = await api(app.url, 'POST', `/admin/users/${user.body.id}/tokens`, {});
    const chat = await connectChat(app.url, token.body.token);
    try {
      const event = stripeEvent('customer.created', { id: 'cus_console' });
      expect((await sendSigned(app.url, signStripe(JSON.stringify(event), STRIPE_SECRET))).status).toBe(200);
      const forged = signStripe(JSON.stringify(stripeEvent('customer.created', { id: 'cus_forged' })), 'whsec_wrong');
      expect((await sendSigned(app.url, forged)).status).toBe(400);

      const { page, errors } = await open();
      await signIn(page);
      const pageError = page.locator('#page-error');

      // Overview: this instance, its chat connection, the outbox, the charts.
      const instance = page.locator('section[aria-label="Instances"] tbody tr', { hasText: app.config.app.instanceId });
      await instance.waitFor({ timeout: 15_000 });
      await page.locator('section[aria-label="Outbox"]').getByText('Pending', { exact: true }).waitFor();
      await page.locator('figure', { hasText: 'Feed events' }).locator('svg').waitFor({ timeout: 15_000 });
      expect(await pageError.textContent()).toBe('');

      // Chat: one user online.
      await page.getByRole('link', { name: 'Chat' }).click();
      await page.locator('.online-users', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });

      // Webhooks in: the stored event with its payload; the forged one in the rejections chart.
      await page.getByRole('link', { name: 'Webhooks in' }).click();
      await page.locator('section[aria-label="Last 24 hours"] tbody tr', { hasText: 'customer.created' }).waitFor({
        timeout: 15_000,
      });
      const row = page.locator('section[aria-label="Events"] tbody tr', { hasText: 'customer.created' });
      await row.getByRole('button', { name: 'Payload' }).click();
      await page.locator('pre.payload', { hasText: 'cus_console' }).waitFor({ timeout: 10_000 });
      await page.locator('section[aria-label="Signature rejections"] .legend li').first().waitFor({ timeout: 15_000 });
      await page.locator('form.filters').getByLabel('Provider').fill('github');
      await page.getByText('No events match').waitFor({ timeout: 10_000 });
      expect(await pageError.textContent()).toBe('');

      // Users and plans.
      await page.getByRole('link', { name: 'Users and plans' }).click();
      await page
        .locator('section[aria-label="Users"] tbody tr', { hasText: 'Console Carol' })
        .getByText('pro')
        .waitFor();
      await page.locator('section[aria-label="Plans and entitlements"] tbody tr', { hasText: 'free' }).waitFor();
      await page.locator('form.inline-form').getByLabel('Name').fill('Console Dave');
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.locator('section[aria-label="Users"] tbody tr', { hasText: 'Console Dave' }).waitFor();
      expect(await pageError.textContent()).toBe('');
      expect(realErrors(errors)).toEqual([]);
    } finally {
      chat.close();
    }
  });

  it('Feeds: a stalled SSE client (never reads) is among the slowest connections', async () => {
    expect((await api(app.url, 'POST', '/admin/ticker/instruments', { symbol: 'SLOW', name: 'Slow' })).status).toBe(
      201,
    );
    const { page, errors } = await open();
    await signIn(page);
    await page.getByRole('link', { name: 'Feeds' }).click();

    // The live tail of one topic: ticks posted after it started appear.
    await page.getByLabel('Topic').fill('SLOW');
    await page.getByRole('button', { name: 'Tail' }).click();
    const tailed = page.locator('ol.tail li', { hasText: '"price":777.25' });
    await waitFor(
      async () => {
        await api(app.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'SLOW', price: 777.25 }] });
        return (await tailed.count()) > 0;
      },
      15_000,
      500,
    );

    const stalled = await stalledStream(app.url, '/ticker/stream?symbols=SLOW');
    try {
      const slowest = page.locator('section[aria-label="Slowest connections"] tbody tr');
      const price = { n: 1 };
      // Ticks until the kernel's socket buffers are full and the server's own buffer holds bytes.
      await waitFor(
        async () => {
          const ticks = Array.from({ length: 1000 }, () => ({ symbol: 'SLOW', price: price.n++, size: 1 }));
          expect((await api(app.url, 'POST', '/admin/ticker/ticks', { ticks })).status).toBe(202);
          const text =
            (await slowest
              .first()
              .textContent()
              .catch(() => '')) ?? '';
          return /\d(\.\d)? KiB/.test(text) && text.includes('sse') && text.includes('ticker');
        },
        120_000,
        0,
      );
      await page.screenshot({ path: join(ROOT, 'test-results/console-feeds.png'), fullPage: true });
    } finally {
      stalled.destroy();
    }
    expect(realErrors(errors)).toEqual([]);
  });
});

/** An SSE request on a raw TCP socket that is never read from: its bytes pile up. */
async function stalledStream(base: string, path: string): Promise<Socket> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  socket.pause();
  return socket;
}

/** A time as a datetime-local input's value (local time, seconds). */
function localInput(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}
