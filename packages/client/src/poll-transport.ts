/**
 * The long poll (`…/poll?cursor=&timeoutMs=`): open once a first poll (not waiting) answers. With no
 * cursor, or after a `reset`, it reads a snapshot first (snapshots.ts), since the poll carries none.
 * A failed poll ends the connection.
 */
import { bearer, getJson } from './http.js';
import { readSnapshot } from './snapshots.js';
import { type Connection, type TransportContext, TransportError, feedUrl } from './transport.js';
import { FEED_ROUTES, type FeedEvent, type PollResponse } from './wire.js';

export async function openPoll(context: TransportContext): Promise<Connection> {
  const route = FEED_ROUTES[context.feed];
  const headers = bearer(context.token);
  let stopped = false;
  let abort = new AbortController();

  const snapshot = async () => {
    const event = await readSnapshot(context.baseUrl, context.feed, context.topics, headers, abort.signal);
    if (!stopped) context.deliver(event);
  };
  const pollOnce = async (timeoutMs: number) => {
    const url = feedUrl(context.baseUrl, route.poll);
    if (context.topics) url.searchParams.set(route.topicsParam, context.topics.join(','));
    url.searchParams.set('cursor', context.cursor()!);
    url.searchParams.set('timeoutMs', String(timeoutMs));
    const result = await getJson<PollResponse>(url, { headers, signal: abort.signal });
    if (stopped) return;
    for (const event of result.events) {
      context.deliver({ feed: context.feed, ...event } as FeedEvent);
      // The cursor could not be resumed from: the state again, then events after it.
      if (event.type === 'reset') return snapshot();
    }
    context.setCursor(result.cursor);
  };

  const timer = setTimeout(() => abort.abort(), context.connectTimeoutMs);
  try {
    if (context.cursor() === undefined) await snapshot();
    await pollOnce(0);
  } catch (error) {
    const status = (error as { status?: number }).status;
    throw new TransportError('poll', abort.signal.aborted ? 'connect timed out' : (error as Error).message, status);
  } finally {
    clearTimeout(timer);
  }
  abort = new AbortController();

  const ended = (async () => {
    try {
      while (!stopped) await pollOnce(context.pollTimeoutMs);
      return 'closed';
    } catch (error) {
      return error;
    }
  })();
  return {
    ended,
    close: () => {
      stopped = true;
      abort.abort();
    },
  };
}
