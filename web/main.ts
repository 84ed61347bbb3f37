/**
 * The dashboard page: ticker board, scoreboard and chat, each with its connection state in the
 * header, and the signed-in user's plan. Built by esbuild into public/dist/dashboard.js
 * (`npm run build`); served at `/`. The feeds read as the signed-in user (FeedAuth).
 */
import { ChatPanel } from './chat/chat-panel.js';
import { FeedAuth } from './feed-auth.js';
import type { FeedState } from './live-feed.js';
import { PlanPanel } from './plan-panel.js';
import { Scoreboard } from './scoreboard.js';
import { TickerBoard } from './ticker-board.js';

const FEED_LABEL: Record<FeedState, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  fallback: 'fallback (long poll)',
};

function showState(feed: string, state: string, label: string): void {
  const item = document.querySelector<HTMLElement>(`[data-feed="${feed}"]`);
  if (!item) return;
  item.dataset.state = state;
  item.querySelector('.state')!.textContent = label;
}

const feedState = (feed: string) => (state: FeedState) => showState(feed, state, FEED_LABEL[state]);

const auth = new FeedAuth();
const plan = new PlanPanel(auth);
plan.start();
void new ChatPanel(
  (state, label) => showState('chat', state, label),
  (session) => {
    // Feeds first (they reconnect as the user), then the plan it reads.
    void auth.signIn(session?.token).then(() => plan.signedIn(session?.token));
  },
).start();
void new TickerBoard(auth, feedState('ticker')).start();
new Scoreboard(auth, feedState('scores')).start();
