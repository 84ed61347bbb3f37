/**
 * The signed-in user's plan (`GET /feeds/access`) in the header, a "delayed 15 min" badge on each
 * feed its plan serves late, and, in demo mode, a plan switch: the page asks the server to sign a
 * Stripe-shaped subscription update with the demo secret (`POST /demo/stripe/subscription`) and
 * POSTs it to `/webhooks/stripe` itself, so the whole loop shows: webhook → plan → the open streams
 * change delivery without a reconnect.
 */
import { byId } from './dom.js';
import type { FeedAuth } from './feed-auth.js';
import { ApiError, getJson, postJson } from '../packages/client/src/index.js';

interface FeedMode {
  mode: 'realtime' | 'delayed' | 'conflated' | 'none';
  delaySeconds?: number;
  maxPerSecond?: number;
}
interface Access {
  plan: string;
  ticker: FeedMode;
  scores: FeedMode;
}

/** How often the plan is read again (a change made elsewhere, by Stripe or an operator). */
const REFRESH_MS = 10_000;
const SWITCH_WAIT_MS = 15_000;

export function delayLabel(seconds: number): string {
  if (seconds % 3_600 === 0) return `delayed ${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `delayed ${seconds / 60} min`;
  return `delayed ${seconds} s`;
}

function badgeText(mode: FeedMode): string | undefined {
  if (mode.mode === 'delayed') return delayLabel(mode.delaySeconds ?? 0);
  if (mode.mode === 'conflated') return `at most ${mode.maxPerSecond}/s`;
  if (mode.mode === 'none') return 'not on your plan';
  return undefined;
}

export class PlanPanel {
  private readonly item = byId('plan');
  private readonly form = byId<HTMLFormElement>('plan-switch');
  private readonly status = byId('plan-switch-status');
  private access?: Access;
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly auth: FeedAuth) {}

  start(): void {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.switchTo(byId<HTMLSelectElement>('plan-select').value);
    });
  }

  /** After sign-in or sign-out. */
  async signedIn(userToken: string | undefined): Promise<void> {
    clearInterval(this.timer);
    this.access = undefined;
    this.status.textContent = '';
    if (!userToken) {
      this.show(undefined);
      return;
    }
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  /**
   * Reads the plan again. Open streams follow a plan change by themselves (no reconnect); only a
   * feed opening or closing for the plan re-mints the feed token, whose grants name the feeds.
   */
  private async refresh(): Promise<Access | undefined> {
    const token = this.auth.user;
    if (!token) return undefined;
    try {
      const access = await getJson<Access>('/feeds/access', { headers: { authorization: `Bearer ${token}` } });
      if (token !== this.auth.user) return undefined;
      const before = this.access;
      this.show(access);
      const feedsOf = (a: Access) => [a.ticker.mode === 'none', a.scores.mode === 'none'].join();
      if (before && feedsOf(before) !== feedsOf(access)) void this.auth.renew();
      return access;
    } catch {
      return undefined; // shown as it was; the next refresh tries again
    }
  }

  private show(access: Access | undefined): void {
    this.access = access;
    this.item.hidden = !access;
    this.form.hidden = !access;
    byId('plan-name').textContent = access?.plan ?? '';
    if (access) byId<HTMLSelectElement>('plan-select').value = access.plan;
    for (const feed of ['ticker', 'scores'] as const) {
      const badge = byId(`${feed}-badge`);
      const text = access ? badgeText(access[feed]) : undefined;
      badge.hidden = text === undefined;
      badge.textContent = text ?? '';
    }
  }

  private async switchTo(plan: string): Promise<void> {
    const token = this.auth.user;
    if (!token || plan === this.access?.plan) return;
    this.status.textContent = `switching to ${plan}…`;
    try {
      const signed = await postJson<{ url: string; payload: string; signature: string }>(
        '/demo/stripe/subscription',
        { plan },
        { authorization: `Bearer ${token}` },
      );
      // The very request Stripe would send: these bytes, this signature, the public route.
      const response = await fetch(signed.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signed.signature },
        body: signed.payload,
      });
      if (!response.ok) throw new ApiError(response.status, `the webhook was refused (HTTP ${response.status})`);
      const deadline = Date.now() + SWITCH_WAIT_MS;
      while (Date.now() < deadline) {
        if ((await this.refresh())?.plan === plan) {
          this.status.textContent = `now on ${plan}`;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      this.status.textContent = `the webhook was accepted; the plan has not changed yet`;
    } catch (error) {
      this.status.textContent =
        error instanceof ApiError && error.status === 404
          ? 'plan switch is for demo mode only'
          : (error as Error).message;
    }
  }
}
