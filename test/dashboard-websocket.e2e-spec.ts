/**
 * The feed WebSocket from Chromium's native `WebSocket`, on the dashboard page (under its CSP), two
 * instances: ticker and scores topics on one socket, a topic added and one removed live, a resume
 * with a cursor on the other instance with no gap, and `reset` for a foreign cursor.
 */
import { jest } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureDashboardBuilt, launchChromium, openPage } from './helpers/browser.js';
import {
  type TestApp,
  type TestEnv,
  TEST_ADMIN_KEY,
  api,
  createTestEnv,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';
import type { WsFrame } from './helpers/ws-feed.js';

jest.setTimeout(120_000);

/** Opens a native WebSocket in the page (frames collected in `window.feedFrames`); resolves with its protocol. */
const connect = (page: Page, url: string) =>
  page.evaluate((target: string) => {
    const w = globalThis as any;
    w.feedFrames = [];
    return new Promise<string>((resolve, reject) => {
      const ws = new w.WebSocket(target, 'livefeed.v1');
      w.feedSocket = ws;
      ws.onmessage = (event: any) => w.feedFrames.push(JSON.parse(event.data));
      ws.onopen = () => resolve(ws.protocol);
      ws.onerror = () => reject(new Error('WebSocket error'));
    });
  }, url);
const send = (page: Page, op: Record<string, unknown>) =>
  page.evaluate((frame: string) => (globalThis as any).feedSocket.send(frame), JSON.stringify(op));
const framesOf = (page: Page) => page.evaluate(() => (globalThis as any).feedFrames as WsFrame[]);
const pricesOf = (frames: WsFrame[], symbol: string) =>
  frames.filter((f) => f.feed === 'ticker' && f.type === 'tick' && f.data.symbol === symbol).map((f) => f.data.price);

describe('feed WebSocket in Chromium (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let browser: Browser;
  let match: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ensureDashboardBuilt();
    env = await createTestEnv();
    [a, b] = [await startTestApp(env), await startTestApp(env)];
    for (const symbol of ['CRA', 'CRB']) {
      expect((await api(a.url, 'POST', '/admin/ticker/instruments', { symbol, name: symbol })).status).toBe(201);
    }
    const created = await api(a.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'H',
      awayTeam: 'A',
      startsAt: new Date().toISOString(),
    });
    match = created.body.id;
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await Promise.all([a?.close(), b?.close()]);
    await env?.cleanup();
  });

  const pageOn = async (app: TestApp) => {
    const context = await browser.newContext();
    contexts.push(context);
    return (await openPage(context, app.url)).page;
  };
  const wsUrl = (app: TestApp) => `${app.url.replace(/^http/, 'ws')}/feeds/ws?token=${TEST_ADMIN_KEY}`;
  const tick = async (symbol: string, price: number) =>
    expect((await api(a.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol, price }] })).status).toBe(202);
  const until = (page: Page, check: (frames: WsFrame[]) => boolean) =>
    waitFor(async () => check(await framesOf(page)) || undefined, 15_000);

  it('subscribes to both feeds on one socket, adds and removes topics live, resumes on the other instance', async () => {
    const page = await pageOn(a);
    expect(await connect(page, wsUrl(a))).toBe('livefeed.v1');
    await send(page, { op: 'subscribe', feed: 'ticker', topics: ['CRA'], ref: 1 });
    await send(page, { op: 'subscribe', feed: 'scores', topics: [match], ref: 2 });
    await until(page, (f) => f.filter((x) => x.type === 'snapshot').length === 2);
    await tick('CRA', 1);
    expect((await api(a.url, 'POST', `/admin/scores/matches/${match}/events`, { kind: 'kickoff' })).status).toBe(201);
    await until(page, (f) => pricesOf(f, 'CRA').includes(1) && f.some((x) => x.type === 'score'));

    await send(page, { op: 'subscribe', feed: 'ticker', topics: ['CRB'], ref: 3 });
    await until(page, (f) => f.filter((x) => x.feed === 'ticker' && x.type === 'snapshot').length === 2);
    await send(page, { op: 'unsubscribe', feed: 'ticker', topics: ['CRA'], ref: 4 });
    await until(page, (f) => f.some((x) => x.op === 'unsubscribed'));
    await tick('CRA', 2);
    await tick('CRB', 3);
    await until(page, (f) => pricesOf(f, 'CRB').includes(3));
    const seen = await framesOf(page);
    expect(pricesOf(seen, 'CRA')).toEqual([1]);

    // Resume on B from the last tick's id: what was published meanwhile, nothing before it.
    const cursor = seen.filter((x) => x.feed === 'ticker' && x.type === 'tick').at(-1)!.id;
    await page.evaluate(() => (globalThis as any).feedSocket.close());
    await tick('CRB', 4);
    await tick('CRB', 5);
    const other = await pageOn(b);
    await connect(other, wsUrl(b));
    await send(other, { op: 'subscribe', feed: 'ticker', topics: ['CRB'], cursor });
    await until(other, (f) => pricesOf(f, 'CRB').includes(5));
    const resumed = await framesOf(other);
    expect(pricesOf(resumed, 'CRB')).toEqual([4, 5]);
    expect(resumed.some((x) => x.type === 'snapshot')).toBe(false);

    // A foreign cursor: reset, then a snapshot.
    await connect(other, wsUrl(b));
    await send(other, { op: 'subscribe', feed: 'ticker', topics: ['CRB'], cursor: 'deadbeef:1-0' });
    await until(other, (f) => f.some((x) => x.type === 'snapshot'));
    expect((await framesOf(other)).filter((x) => x.type).map((x) => x.type)).toEqual(['reset', 'snapshot']);
  });
});
