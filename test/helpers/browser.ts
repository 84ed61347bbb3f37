/**
 * Browser tests: Debian's Chromium (`/usr/bin/chromium`, package `chromium`; .ci/run installs it)
 * driven by playwright-core. Never downloads a browser. Each launch gets a fresh temporary profile
 * (playwright's own user-data-dir, deleted on close) and each context its own storage.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type BrowserContextOptions, type Page, chromium } from 'playwright-core';
import { ROOT } from './processes.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** What web/build.mjs writes: the dashboard's and the console's bundles. */
const BUNDLES = ['dashboard', 'console'].map((name) => join(ROOT, `public/dist/${name}.js`));

/**
 * Where the dashboard test saves the README's screenshot: git-ignored, because tests never change
 * tracked files. `npm run screenshot` (scripts/screenshot.mjs) copies it to docs/screenshot.png.
 */
export const SCREENSHOT_PATH = join(ROOT, 'test-results/screenshot.png');

/** The console's, from test/console.e2e-spec.ts; `npm run screenshot` copies it to docs/console.png. */
export const CONSOLE_SCREENSHOT_PATH = join(ROOT, 'test-results/console-webhooks.png');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the pages' bundles (`npm run build:web`) if one is missing or older than a file in web/ or the SDK it bundles. */
export function ensureDashboardBuilt(): void {
  const newest = Math.max(newestMtime(join(ROOT, 'web')), newestMtime(join(ROOT, 'packages/client/src')));
  if (BUNDLES.every((bundle) => existsSync(bundle) && statSync(bundle).mtimeMs >= newest)) return;
  execFileSync(process.execPath, [join(ROOT, 'web/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * The browser of one spec file: launched once (bundles built first), a fresh context per use
 * (`newContext`, 1400 × 900 unless told), every context closed by `closeContexts` (call it in
 * afterEach) and the browser by `close` (afterAll).
 */
export class SpecBrowser {
  private readonly contexts: BrowserContext[] = [];

  private constructor(readonly browser: Browser) {}

  static async launch(): Promise<SpecBrowser> {
    ensureDashboardBuilt();
    return new SpecBrowser(await launchChromium());
  }

  async newContext(options: BrowserContextOptions = { viewport: { width: 1400, height: 900 } }) {
    const context = await this.browser.newContext(options);
    this.contexts.push(context);
    return context;
  }

  async closeContexts(): Promise<void> {
    for (const context of this.contexts.splice(0)) await context.close().catch(() => undefined);
  }

  close(): Promise<void> {
    return this.browser.close();
  }
}

export interface WatchedPage {
  page: Page;
  /** Uncaught exceptions and console errors, in order. */
  errors: string[];
  /** Messages of every dialog (alert, confirm, prompt) the page opened; each is dismissed. */
  dialogs: string[];
}

/** A new page in `context` that records errors and dialogs, at `url`. */
export async function openPage(context: BrowserContext, url: string): Promise<WatchedPage> {
  const page = await context.newPage();
  const watched: WatchedPage = { page, errors: [], dialogs: [] };
  page.on('pageerror', (error) => watched.errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') watched.errors.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    watched.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  await page.goto(url);
  return watched;
}

/** The text of every price cell of the ticker board, by symbol. */
export function prices(page: Page): Promise<Record<string, string>> {
  // Runs in the page (no DOM types in the test build).
  return page.$$eval('#ticker-rows tr', (rows: any[]) =>
    Object.fromEntries(rows.map((row) => [row.dataset.symbol, row.querySelector('.price')?.textContent ?? ''])),
  );
}

/** `data-state` of a feed's connection indicator (`ticker`, `scores`, `chat`). */
export function feedState(page: Page, feed: string): Promise<string | null> {
  return page.getAttribute(`[data-feed="${feed}"]`, 'data-state');
}
