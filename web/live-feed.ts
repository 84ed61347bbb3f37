/**
 * One live feed of the page (ticker or scores, every topic) through the client SDK
 * (`packages/client`): the feed WebSocket, else SSE, else the long poll, resumed from the last
 * cursor on every switch and every drop, so nothing is lost or shown twice. It reads as the page's
 * FeedAuth says; when that changes (sign-in, a token re-minted after `event: refresh`) the
 * subscription opens again from its cursor.
 *
 * States: `connecting` (first attempt), `connected` (WebSocket or SSE open), `reconnecting` (a
 * drop, or nothing opens yet), `fallback` (the long poll).
 */
import { type FeedEvent, type FeedName, type Subscription, createClient } from '../packages/client/src/index.js';
import type { FeedAuth } from './feed-auth.js';

export type FeedState = 'connecting' | 'connected' | 'reconnecting' | 'fallback';

export function followFeed<F extends FeedName>(
  auth: FeedAuth,
  feed: F,
  onEvent: (event: FeedEvent<F>) => void,
  onState: (state: FeedState) => void,
): void {
  let subscription: Subscription | undefined;
  const open = (cursor?: string) => {
    const client = createClient({ baseUrl: location.origin, token: auth.token });
    subscription = client.feeds.subscribe({
      feed,
      cursor,
      onEvent: (event) => {
        // FeedAuth re-mints the token; its change reopens the subscription from the cursor.
        if (event.type === 'refresh') void auth.renew();
        onEvent(event);
      },
      onState: (state, transport) =>
        onState(state === 'reconnecting' ? 'reconnecting' : transport === 'poll' ? 'fallback' : 'connected'),
    });
  };
  onState('connecting');
  auth.onChange(() => {
    const cursor = subscription?.cursor;
    subscription?.close();
    open(cursor);
  });
  open();
}
