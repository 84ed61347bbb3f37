/**
 * The dashboard in a real browser (Chromium through playwright-core) against the real app in demo
 * mode: served at `/` with a strict CSP, prices and scores live through the client SDK (feed
 * WebSocket first), resume from the page's cursor after a drop, the long poll when the WebSocket
 * and SSE are blocked, and the signed-in user's plan with its "delayed" badge and the
 * demo plan switch through a signed Stripe webhook. The chat and the README's screenshot:
 * dashboard-chat.e2e-spec.ts.
 */
import { jest } from '@jest/globals';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { SpecBrowser, type WatchedPage, feedState, openPage, prices } from './helpers/browser.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

// A browser, the app and its feeds on a shared 2-core machine: slow when others run too.
jest.setTimeout(180_000);

describe('dashboard feeds in Chromium (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;
  let browser: SpecBrowser;

  beforeAll(async () => {
    env = await createTestEnv({ DEMO_MODE: 'true', DEMO_TICK_RATE: '30', DEMO_SCORE_STEP_MS: '600000' });
    app = await startTestApp(env);
    browser = await SpecBrowser.launch();
  });
  afterEach(() => browser.closeContexts());
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await env?.cleanup();
  });

  const page = async (): Promise<WatchedPage> => openPage(await browser.newContext(), app.url);

  it('serves the page, its bundle and styles from the app, under a CSP that allows only its own scripts', async () => {
    const index = await fetch(`${app.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await index.text();
    expect(html).toContain('src="/assets/dist/dashboard.js"');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(csp.match(/script-src[^;]*/)![0]).not.toMatch(/unsafe|https?:|\*/);

    const bundle = await fetch(`${app.url}/assets/dist/dashboard.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    const code = await bundle.text();
    expect(code).toContain('/socket.io/'); // the client is bundled, not fetched from a CDN
    expect(code).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
    expect((await fetch(`${app.url}/assets/styles.css`)).status).toBe(200);
    // The assets live under /assets/: an unknown route is still the API's JSON 404.
    const unknown = await api(app.url, 'GET', '/no/such/page');
    expect(unknown.status).toBe(404);
    expect(unknown.body.statusCode).toBe(404);
    expect((await fetch(`${app.url}/assets/../package.json`)).status).toBe(404);
  });

  it('loads with no uncaught errors, and the prices change on their own', async () => {
    const context = await browser.newContext();
    // Everything comes from the app itself (no CDN): the page works offline.
    const elsewhere: string[] = [];
    context.on('request', (request) => {
      if (!request.url().startsWith(`${app.url}/`)) elsewhere.push(request.url());
    });
    const { page: p, errors } = await openPage(context, app.url);
    await waitFor(async () => (await feedState(p, 'ticker')) === 'connected', 20_000);
    await waitFor(async () => Object.keys(await prices(p)).length >= 12, 10_000);
    const first = await prices(p);
    expect(first.AAPL).toMatch(/^\d[\d,]*\.\d+$/);
    // Every symbol that changes does so with no action from the test (demo ticks at 30/s).
    const changed = await waitFor(async () => {
      const now = await prices(p);
      const moved = Object.keys(first).filter((symbol) => now[symbol] !== first[symbol]);
      return moved.length >= 6 ? moved : undefined;
    }, 10_000);
    expect(changed!.length).toBeGreaterThanOrEqual(6);
    // A tick flashes its row green or red.
    await p.waitForSelector('#ticker-rows tr.flash-up, #ticker-rows tr.flash-down', { timeout: 5_000 });
    await waitFor(async () => (await feedState(p, 'scores')) === 'connected', 20_000);

    // Landmarks and labels: what assistive technology navigates by.
    for (const [role, name] of [
      ['banner', undefined],
      ['main', undefined],
      ['contentinfo', undefined],
      ['region', 'Prices'],
      ['region', 'Scores'],
      ['region', 'Chat'],
      ['table', undefined],
      ['textbox', 'Your name'],
      ['button', 'Sign in'],
      ['list', 'Connection status'],
    ] as const) {
      expect(await p.getByRole(role, name ? { name, exact: true } : {}).count()).toBe(1);
    }
    // The skip link is the first stop of the keyboard and leads to the chat.
    await p.keyboard.press('Tab');
    expect(await p.evaluate('document.activeElement.textContent')).toBe('Skip to chat');
    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('a match started and scored through the admin API appears within 2 s, without a reload', async () => {
    const { page: p, errors } = await page();
    await waitFor(async () => (await feedState(p, 'scores')) === 'connected', 20_000);
    await p.evaluate('window.__sameDocument = true');

    const created = await api(app.url, 'POST', '/admin/scores/matches', {
      sport: 'basketball',
      homeTeam: 'Zeta Owls',
      awayTeam: 'Omega Hawks',
      startsAt: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const card = p.locator(`#scores-live [data-match-id="${id}"]`);

    expect((await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' })).status).toBe(201);
    let started = Date.now();
    await card.locator('.score', { hasText: '0 – 0' }).waitFor({ timeout: 2_000 });
    const kickoffMs = Date.now() - started;
    await expect(card.locator('.home').textContent()).resolves.toBe('Zeta Owls');

    const scored = await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, {
      kind: 'score',
      team: 'away',
      points: 3,
    });
    expect(scored.status).toBe(201);
    started = Date.now();
    await card.locator('.score', { hasText: '0 – 3' }).waitFor({ timeout: 2_000 });
    const scoreMs = Date.now() - started;
    // The same render as the score; the generous timeouts below are not part of the 2 s promise.
    await card.locator('.timeline li', { hasText: 'Omega Hawks +3' }).waitFor({ timeout: 5_000 });
    await card.locator('.period', { hasText: 'Q1' }).waitFor({ timeout: 5_000 });

    expect((await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'final' })).status).toBe(201);
    await p
      .locator(`#scores-finished [data-match-id="${id}"] .period`, { hasText: 'final' })
      .waitFor({ timeout: 5_000 });
    expect(await p.evaluate('window.__sameDocument')).toBe(true);
    expect(errors).toEqual([]);
    console.log(`dashboard: kickoff shown after ${kickoffMs} ms, score after ${scoreMs} ms`);
  });

  it('after a dropped connection the page resumes from its own cursor, and an event from the gap arrives', async () => {
    const context = await browser.newContext({});
    // Every scores subscription the page sends on the feed WebSocket, in order, with its cursor.
    const subscribes: { cursor?: string }[] = [];
    context.on('page', (opened) =>
      opened.on('websocket', (socket) => {
        if (!socket.url().includes('/feeds/ws')) return; // socket.io's chat frames are not JSON
        socket.on('framesent', ({ payload }) => {
          const op = JSON.parse(String(payload));
          if (op.op === 'subscribe' && op.feed === 'scores') subscribes.push(op);
        });
      }),
    );
    const { page: p, errors } = await openPage(context, app.url);
    await waitFor(async () => (await feedState(p, 'scores')) === 'connected', 20_000);
    // The indicator's states from now on (a reconnect over the WebSocket takes milliseconds).
    await p.evaluate(`(() => {
      const item = document.querySelector('[data-feed="scores"]');
      window.__states = [];
      new MutationObserver(() => window.__states.push(item.dataset.state)).observe(item, { attributes: true });
    })()`);
    const created = await api(app.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'Resume United',
      awayTeam: 'Gap City',
      startsAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const id = created.body.id as string;
    await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' });
    const card = p.locator(`[data-match-id="${id}"]`);
    await card.locator('.score', { hasText: '0 – 0' }).waitFor({ timeout: 5_000 });

    // The instance's Redis subscriber reconnects: it ends every stream and socket (it may have
    // missed events), and the goal below is published around the page's reconnect.
    app.app.get(RedisService).subscriber.disconnect(true);
    expect(
      (await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'score', team: 'home' })).status,
    ).toBe(201);
    await card.locator('.score', { hasText: '1 – 0' }).waitFor({ timeout: 10_000 });
    await waitFor(async () => (await feedState(p, 'scores')) === 'connected', 20_000);
    const states = (await p.evaluate('window.__states')) as string[];
    expect(states.indexOf('reconnecting')).toBeGreaterThanOrEqual(0);
    expect(states.at(-1)).toBe('connected');
    expect(subscribes[0].cursor).toBeUndefined();
    expect(subscribes.length).toBeGreaterThanOrEqual(2);
    expect(subscribes.at(-1)!.cursor).toMatch(/^.+:\d+-\d+$/); // the cursor of the last event the page had
    expect(await card.locator('.timeline li').allTextContents()).toEqual([
      expect.stringContaining('Resume United +1 (1–0)'),
      expect.stringContaining('kickoff'),
    ]);
    expect(errors).toEqual([]);
  });

  it('with the feed WebSocket and the SSE endpoints blocked, the page falls back to the long poll and prices and scores still update', async () => {
    const context = await browser.newContext();
    const blocked: string[] = [];
    // A proxy that does not pass upgrades: the socket is closed before it is subscribed.
    await context.routeWebSocket('**/feeds/ws**', (socket) => {
      blocked.push(socket.url());
      void socket.close({ code: 1011, reason: 'blocked' });
    });
    for (const pattern of ['**/ticker/stream**', '**/scores/stream**']) {
      await context.route(pattern, (route) => {
        blocked.push(route.request().url());
        return route.abort();
      });
    }
    const { page: p, errors } = await openPage(context, app.url);
    await waitFor(async () => (await feedState(p, 'ticker')) === 'fallback', 20_000);
    await waitFor(async () => (await feedState(p, 'scores')) === 'fallback', 20_000);
    expect(blocked.some((url) => url.includes('/feeds/ws'))).toBe(true);
    expect(blocked.some((url) => url.includes('/ticker/stream'))).toBe(true);
    expect(blocked.some((url) => url.includes('/scores/stream'))).toBe(true);
    await p.locator('[data-feed="ticker"] .state', { hasText: 'fallback' }).waitFor();

    await waitFor(async () => Object.keys(await prices(p)).length >= 12, 10_000);
    const first = await prices(p);
    await waitFor(async () => {
      const now = await prices(p);
      return Object.keys(first).filter((symbol) => now[symbol] !== first[symbol]).length >= 6;
    }, 10_000);

    // Scores through the long poll too.
    const created = await api(app.url, 'POST', '/admin/scores/matches', {
      sport: 'hockey',
      homeTeam: 'Poll Bears',
      awayTeam: 'Poll Wolves',
      startsAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const id = created.body.id as string;
    await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'kickoff' });
    await api(app.url, 'POST', `/admin/scores/matches/${id}/events`, { kind: 'score', team: 'home' });
    await p.locator(`[data-match-id="${id}"] .score`, { hasText: '1 – 0' }).waitFor({ timeout: 5_000 });
    expect(await feedState(p, 'ticker')).toBe('fallback');
    // The only errors are Chromium's reports of the blocked socket and stream requests.
    expect(errors.filter((error) => !/net::ERR_FAILED|stream|WebSocket/.test(error))).toEqual([]);
  });

  it('shows the plan and a "delayed 15 min" badge; the demo plan switch goes through the signed Stripe webhook to the open stream', async () => {
    const free = (ticker: object) => ({ ticker, scores: { mode: 'realtime' }, maxStreams: 5 });
    const put = await api(
      app.url,
      'PUT',
      '/admin/entitlements/free',
      free({ mode: 'delayed', delaySeconds: 900, tiers: ['basic', 'premium'] }),
    );
    expect(put.status).toBe(200);
    const context = await browser.newContext();
    // The URL of every feed WebSocket that subscribed the ticker, and the Stripe signatures sent.
    const tickerStreams: string[] = [];
    const webhooks: string[] = [];
    context.on('page', (opened) =>
      opened.on('websocket', (socket) => {
        if (!socket.url().includes('/feeds/ws')) return; // socket.io's chat frames are not JSON
        socket.on('framesent', ({ payload }) => {
          const op = JSON.parse(String(payload));
          if (op.op === 'subscribe' && op.feed === 'ticker') tickerStreams.push(socket.url());
        });
      }),
    );
    context.on('request', (request) => {
      if (request.url().endsWith('/webhooks/stripe')) webhooks.push(request.headers()['stripe-signature'] ?? '');
    });
    const { page: p, errors } = await openPage(context, app.url);
    const field = p.getByLabel('Your name');
    await field.fill('Plan Switcher');
    await field.press('Enter');
    await p.locator('#plan-name', { hasText: 'free' }).waitFor({ timeout: 20_000 });
    await p.locator('#ticker-badge', { hasText: 'delayed 15 min' }).waitFor();
    expect(await p.locator('#scores-badge').isHidden()).toBe(true);
    // The feeds read as the user now: a feed token on the socket's URL, never the user's own JWT.
    await waitFor(
      async () => (await feedState(p, 'ticker')) === 'connected' && tickerStreams.some((u) => u.includes('token=')),
      20_000,
    );
    const streamsBefore = tickerStreams.length;
    const userToken = (await p.evaluate('JSON.parse(sessionStorage.getItem("livefeed.session")).token')) as string;
    expect(tickerStreams.some((url) => url.includes(userToken))).toBe(false);
    // Delayed from where the anonymous stream was: nothing moves for 15 minutes, though the demo ticks at 30/s.
    const held = await prices(p);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await prices(p)).toEqual(held);

    await p.getByLabel('Switch plan (demo, via a signed Stripe webhook)').selectOption('pro');
    await p.getByRole('button', { name: 'Switch', exact: true }).click();
    await p.locator('#plan-name', { hasText: 'pro' }).waitFor({ timeout: 15_000 });
    expect(await p.locator('#ticker-badge').isHidden()).toBe(true);
    // The open stream went realtime by itself: prices move again, on the same connection.
    await waitFor(async () => {
      const now = await prices(p);
      return Object.keys(now).filter((symbol) => now[symbol] !== held[symbol]).length >= 6;
    }, 10_000);
    expect(tickerStreams.length).toBe(streamsBefore);
    // Through the real inbound route: a Stripe-signed request, stored and processed.
    expect(webhooks).toHaveLength(1);
    expect(webhooks[0]).toMatch(/^t=\d+,v1=[0-9a-f]{64}/);
    const me = await api(app.url, 'GET', '/auth/me', undefined, { authorization: `Bearer ${userToken}` });
    expect(me.body.plan).toBe('pro');
    const inbound = await api(
      app.url,
      'GET',
      '/admin/webhooks/inbound?provider=stripe&type=customer.subscription.updated',
    );
    expect(inbound.body.items).toEqual([expect.objectContaining({ status: 'processed' })]);
    // The signing route: the caller's own user, a known plan, signed in (outside demo mode: a 404, feed-access spec).
    const sign = (body: object, token?: string) =>
      api(app.url, 'POST', '/demo/stripe/subscription', body, {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      });
    const signed = await sign({ plan: 'team' }, userToken);
    expect(signed.status).toBe(200);
    expect(JSON.parse(signed.body.payload).data.object.metadata).toEqual({ userId: me.body.id, plan: 'team' });
    expect((await sign({ plan: 'gold' }, userToken)).status).toBe(400);
    expect((await sign({ plan: 'team' })).status).toBe(401);
    expect(errors).toEqual([]);
    expect(
      (await api(app.url, 'PUT', '/admin/entitlements/free', free({ mode: 'realtime', tiers: ['basic'] }))).status,
    ).toBe(200);
  });
});
