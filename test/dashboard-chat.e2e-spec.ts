/**
 * The dashboard's chat panel in Chromium, two people in two browser contexts against the real app:
 * chat both ways with typing, presence and receipts; a message sent while one was away; markup
 * shown as text; messages typed while the socket is down sent once on reconnect; history paging.
 * Ends with the README's screenshot, written to test-results/screenshot.png (git-ignored: tests never
 * change tracked files); `npm run screenshot` runs that test alone and copies it to docs/screenshot.png.
 */
import { jest } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BrowserContext, WebSocketRoute } from 'playwright-core';
import { SCREENSHOT_PATH, type WatchedPage, SpecBrowser, feedState, openPage } from './helpers/browser.js';
import { connectChat } from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';

interface Person extends WatchedPage {
  context: BrowserContext;
  name: string;
}

// A browser, the app and its feeds on a shared 2-core machine: slow when others run too.
jest.setTimeout(180_000);

describe('dashboard chat in Chromium (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;
  let browser: SpecBrowser;

  beforeAll(async () => {
    env = await createTestEnv({ DEMO_MODE: 'true', DEMO_TICK_RATE: '10', DEMO_SCORE_STEP_MS: '1000' });
    app = await startTestApp(env);
    browser = await SpecBrowser.launch();
  });
  afterEach(() => browser.closeContexts());
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await env?.cleanup();
  });

  /** A fresh browser context, the page, demo sign-in by name (keyboard only), chat connected. */
  async function signIn(name: string, context?: BrowserContext): Promise<Person> {
    context ??= await browser.newContext();
    const watched = await openPage(context, app.url);
    const field = watched.page.getByLabel('Your name');
    await field.fill(name);
    await field.press('Enter');
    await waitFor(async () => (await feedState(watched.page, 'chat')) === 'connected', 20_000);
    await watched.page.locator('#me-name', { hasText: name }).waitFor();
    return { ...watched, context, name };
  }

  /** "Chat with" a name or a user id; the open conversation's title shows `title`. */
  async function startChat(person: Person, withName: string, title = withName): Promise<string> {
    const { page } = person;
    await page.getByLabel('Chat with (name or user id)').fill(withName);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.locator('#conversation-title', { hasText: title }).waitFor();
    return (await page
      .locator('#conversations li button[aria-current="true"]')
      .evaluate((el: any) => el.parentElement.getAttribute('data-conversation-id'))) as string;
  }

  async function send(person: Person, text: string): Promise<void> {
    const input = person.page.getByLabel('Message', { exact: true });
    await input.fill(text);
    await input.press('Enter');
  }

  const bodies = (person: Person) => person.page.locator('#messages .message .body').allTextContents();
  const mine = (person: Person, text: string) =>
    person.page.locator('#messages .message.mine', { has: person.page.locator('.body', { hasText: text }) });

  it('two people chat both ways (typing, presence, receipts); a message sent while one was away shows when they return', async () => {
    const alice = await signIn('Alice');
    const bob = await signIn('Bob');
    const conversationId = await startChat(alice, 'Bob');
    await alice.page.locator('#conversation-title .presence.online').waitFor({ timeout: 5_000 });

    await send(alice, 'Hello Bob');
    await mine(alice, 'Hello Bob')
      .locator('.receipt', { hasText: /^(sent|delivered|read)$/ })
      .waitFor();
    // Bob's page learns of the conversation from the message itself, with an unread count.
    const item = bob.page.locator(`#conversations li[data-conversation-id="${conversationId}"]`);
    await item.locator('.unread', { hasText: '1' }).waitFor({ timeout: 5_000 });
    await item.locator('.preview', { hasText: 'Hello Bob' }).waitFor();
    // Bob's browser acknowledged it: Alice sees "delivered".
    await mine(alice, 'Hello Bob').locator('.receipt', { hasText: 'delivered' }).waitFor({ timeout: 5_000 });

    // Bob opens it with the keyboard; reading it clears his count and tells Alice.
    await item.locator('button').focus();
    await bob.page.keyboard.press('Enter');
    await bob.page.locator('#messages .message.theirs .body', { hasText: 'Hello Bob' }).waitFor();
    await item.locator('.unread').waitFor({ state: 'detached' });
    await mine(alice, 'Hello Bob').locator('.receipt', { hasText: 'read' }).waitFor({ timeout: 5_000 });

    // Bob types: Alice sees it; Bob sends: Alice gets it.
    await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Hi Ali', { delay: 20 });
    await alice.page.locator('#typing', { hasText: 'Bob is typing…' }).waitFor({ timeout: 5_000 });
    await bob.page.getByLabel('Message', { exact: true }).pressSequentially('ce!');
    await bob.page.getByLabel('Message', { exact: true }).press('Enter');
    await alice.page.locator('#messages .message.theirs .body', { hasText: 'Hi Alice!' }).waitFor({ timeout: 5_000 });
    await alice.page
      .locator('#typing', { hasText: 'typing' })
      .waitFor({ state: 'hidden', timeout: 1_000 })
      .catch(() => undefined);
    expect(await alice.page.locator('#typing').textContent()).toBe('');
    expect(await bodies(alice)).toEqual(['Hello Bob', 'Hi Alice!']);
    expect(await bodies(bob)).toEqual(['Hello Bob', 'Hi Alice!']);

    // Bob closes his browser: Alice sees him offline, then writes to him.
    await bob.context.close();
    await alice.page.locator('#conversation-title .presence.offline').waitFor({ timeout: 5_000 });
    await send(alice, 'While you were away');
    await mine(alice, 'While you were away').locator('.receipt', { hasText: 'sent' }).waitFor({ timeout: 5_000 });

    // Bob comes back in a new browser context: it is there, unread, and opens to the message.
    const bobAgain = await signIn('Bob');
    const again = bobAgain.page.locator(`#conversations li[data-conversation-id="${conversationId}"]`);
    await again.locator('.unread', { hasText: '1' }).waitFor({ timeout: 5_000 });
    await again.locator('.preview', { hasText: 'While you were away' }).waitFor();
    await again.locator('button').click();
    await bobAgain.page.locator('#messages .message.theirs .body', { hasText: 'While you were away' }).waitFor();
    expect(await bodies(bobAgain)).toEqual(['Hello Bob', 'Hi Alice!', 'While you were away']);
    await mine(alice, 'While you were away').locator('.receipt', { hasText: 'read' }).waitFor({ timeout: 5_000 });

    for (const person of [alice, bob, bobAgain]) expect(person.errors).toEqual([]);
  });

  it('a message with markup is shown as text and runs nothing', async () => {
    const carol = await signIn('Carol');
    const dave = await signIn('Dave');
    // By id this time: Carol's page has never seen Dave's name, so it shows the start of his id.
    const daveId = (await api(app.url, 'POST', '/auth/demo', { name: 'Dave' })).body.user.id as string;
    const conversationId = await startChat(carol, daveId, `user ${daveId.slice(0, 8)}`);
    const attacks = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '<b>bold?</b> & &amp;'];
    for (const text of attacks) await send(carol, text);
    await dave.page.locator(`#conversations li[data-conversation-id="${conversationId}"] button`).click();
    await waitFor(async () => (await bodies(dave)).length === attacks.length, 10_000);
    expect(await bodies(dave)).toEqual(attacks);
    expect(await bodies(carol)).toEqual(attacks);
    for (const person of [carol, dave]) {
      expect(await person.page.locator('#messages img, #messages script, #messages b').count()).toBe(0);
      expect(await person.page.locator('#conversations .preview').first().textContent()).toBe(attacks[2]);
    }
    // Give an injected handler time to fire if it were ever parsed (the image would error at once).
    await dave.page.waitForTimeout(500);
    expect(carol.dialogs).toEqual([]);
    expect(dave.dialogs).toEqual([]);
    expect([...carol.errors, ...dave.errors]).toEqual([]);
  });

  it('messages typed while the socket is down are queued, then sent once each on reconnect', async () => {
    const context = await browser.newContext();
    // Socket.io's two transports can be cut at will: long polling (HTTP) and the WebSocket.
    let down = false;
    const sockets: WebSocketRoute[] = [];
    await context.route('**/socket.io/**', (route) => (down ? route.abort() : route.continue()));
    await context.routeWebSocket('**/socket.io/**', (ws) => {
      if (down) return void ws.close();
      sockets.push(ws);
      ws.connectToServer();
    });
    const erin = await signIn('Erin', context);
    const frank = await signIn('Frank');
    const conversationId = await startChat(erin, 'Frank');
    await send(erin, 'before the drop');
    await mine(erin, 'before the drop')
      .locator('.receipt', { hasText: /sent|delivered/ })
      .waitFor();

    down = true;
    for (const ws of sockets.splice(0)) await ws.close();
    await waitFor(async () => (await feedState(erin.page, 'chat')) === 'reconnecting', 10_000);
    await send(erin, 'typed offline 1');
    await send(erin, 'typed offline 2');
    const queued = erin.page.locator('#messages .message.pending .receipt', { hasText: 'queued' });
    await waitFor(async () => (await queued.count()) === 2, 5_000);
    expect(await frank.page.locator('#conversations .preview', { hasText: 'typed offline' }).count()).toBe(0);

    down = false;
    await waitFor(async () => (await feedState(erin.page, 'chat')) === 'connected', 15_000);
    await waitFor(async () => (await erin.page.locator('#messages .message.pending').count()) === 0, 20_000).catch(
      async (error: Error) => {
        throw new Error(`${error.message}; Erin's page shows: ${await erin.page.locator('#messages').innerText()}`);
      },
    );
    await frank.page.locator(`#conversations li[data-conversation-id="${conversationId}"] button`).click();
    await waitFor(async () => (await bodies(frank)).length === 3, 10_000);
    expect(await bodies(frank)).toEqual(['before the drop', 'typed offline 1', 'typed offline 2']);

    // Stored once each, in the order typed.
    const login = await api(app.url, 'POST', '/auth/demo', { name: 'Frank' });
    const history = await api(app.url, 'GET', `/chat/conversations/${conversationId}/messages`, undefined, {
      authorization: `Bearer ${login.body.token}`,
    });
    expect(history.body.items.map((m: any) => m.body)).toEqual([
      'before the drop',
      'typed offline 1',
      'typed offline 2',
    ]);
    expect(frank.errors).toEqual([]);
  });

  it('history pages back with "Load older messages"', async () => {
    const grace = await api(app.url, 'POST', '/auth/demo', { name: 'Grace' });
    // Heidi's first visit takes every message as it comes (the server pushes what is undelivered) …
    const first = await signIn('Heidi');
    const heidiId = (await api(app.url, 'POST', '/auth/demo', { name: 'Heidi' })).body.user.id;
    const created = await api(
      app.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: heidiId },
      { authorization: `Bearer ${grace.body.token}`, 'content-type': 'application/json' },
    );
    expect(created.status).toBe(201);
    const client = await connectChat(app.url, grace.body.token);
    try {
      for (let i = 1; i <= 45; i++) expect((await client.send(created.body.id, `old message ${i}`)).ok).toBe(true);
    } finally {
      client.close();
    }
    const firstItem = first.page.locator(`#conversations li[data-conversation-id="${created.body.id}"]`);
    await firstItem.locator('.unread', { hasText: '45' }).waitFor({ timeout: 10_000 });
    await first.context.close();

    // … so on the next visit nothing is pushed: the page reads the newest page, then older ones on request.
    const heidi = await signIn('Heidi');
    const item = heidi.page.locator(`#conversations li[data-conversation-id="${created.body.id}"]`);
    await item.locator('.unread', { hasText: '45' }).waitFor({ timeout: 10_000 });
    await item.locator('button').click();
    await heidi.page.locator('#messages .message .body', { hasText: 'old message 45' }).waitFor();
    await waitFor(async () => (await bodies(heidi)).length === 30, 5_000);
    expect((await bodies(heidi))[0]).toBe('old message 16');

    const older = heidi.page.getByRole('button', { name: 'Load older messages' });
    await older.focus();
    await heidi.page.keyboard.press('Enter');
    await waitFor(async () => (await bodies(heidi)).length === 45, 5_000);
    expect(await bodies(heidi)).toEqual(Array.from({ length: 45 }, (_, i) => `old message ${i + 1}`));
    await older.waitFor({ state: 'hidden' });
    expect([...first.errors, ...heidi.errors]).toEqual([]);
  });

  it('saves a screenshot of the page for the README (test-results/screenshot.png)', async () => {
    for (const [sport, home, away, events] of [
      ['football', 'Arsenal', 'Porto', [['home'], ['away'], ['home']]],
      [
        'basketball',
        'Celtics',
        'Lakers',
        [
          ['home', 3],
          ['away', 2],
          ['home', 2],
        ],
      ],
    ] as const) {
      const match = await api(app.url, 'POST', '/admin/scores/matches', {
        sport,
        homeTeam: home,
        awayTeam: away,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
      });
      await api(app.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, { kind: 'kickoff' });
      for (const [team, points] of events) {
        await api(app.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, { kind: 'score', team, points });
      }
    }
    const ivan = await signIn('Ivan');
    const judy = await signIn('Judy');
    await startChat(ivan, 'Judy');
    await send(ivan, 'Did you see the Celtics run?');
    await judy.page.locator('#conversations li button').first().click();
    await send(judy, 'Yes! 7–2 in two minutes.');
    await ivan.page.locator('#messages .message.theirs .body', { hasText: '7–2' }).waitFor({ timeout: 5_000 });
    await mine(ivan, 'Celtics').locator('.receipt', { hasText: 'read' }).waitFor({ timeout: 5_000 });
    // Typing is relayed at most every 2 s per person and conversation: type for longer than that.
    await judy.page.getByLabel('Message', { exact: true }).pressSequentially('And the Lakers?', { delay: 200 });
    await ivan.page.locator('#typing', { hasText: 'typing' }).waitFor({ timeout: 5_000 });
    await ivan.page.locator('#scores-live .match .timeline li').first().waitFor({ timeout: 10_000 });

    mkdirSync(dirname(SCREENSHOT_PATH), { recursive: true });
    await ivan.page.screenshot({ path: SCREENSHOT_PATH, fullPage: false });
    expect(ivan.errors).toEqual([]);
  });
});
