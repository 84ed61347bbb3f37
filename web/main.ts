/**
 * The dashboard page: ticker board, scoreboard and chat, each with its connection state in the
 * header. Built by esbuild into public/dist/dashboard.js (`npm run build`); served at `/`.
 */
import { ChatPanel } from './chat/chat-panel.js';
import type { FeedState } from './feed-client.js';
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

void new TickerBoard(feedState('ticker')).start();
new Scoreboard(feedState('scores')).start();
void new ChatPanel((state, label) => showState('chat', state, label)).start();
