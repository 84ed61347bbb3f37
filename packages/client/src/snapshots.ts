/**
 * A feed's snapshot over plain HTTP, for the long poll (the streams send their own): the state of
 * the topics and a cursor it is valid at. The cursor is read first, so events after it may already
 * be in the state: scores skip them by seq, a repeated tick is the same price again.
 */
import { getJson } from './http.js';
import { feedUrl } from './transport.js';
import type { FeedEvent, FeedName, MatchView, PollResponse, Tick } from './wire.js';

export async function readSnapshot(
  baseUrl: string,
  feed: FeedName,
  topics: string[] | undefined,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<FeedEvent> {
  if (feed === 'ticker') {
    const url = feedUrl(baseUrl, '/ticker/quotes');
    if (topics) url.searchParams.set('symbols', topics.join(','));
    const { quotes, cursor } = await getJson<{ quotes: Tick[]; cursor: string }>(url, { headers, signal });
    return { feed, type: 'snapshot', id: cursor, data: { quotes } };
  }
  const url = feedUrl(baseUrl, '/scores/poll');
  if (topics) url.searchParams.set('matches', topics.join(','));
  const { cursor } = await getJson<PollResponse>(url, { headers, signal });
  if (!topics)
    return { feed, type: 'snapshot', id: cursor, data: { matches: await currentMatches(baseUrl, headers, signal) } };
  const matches = await Promise.all(
    topics.map(async (id) => {
      const { timeline: _timeline, ...view } = await getJson<MatchView & { timeline: unknown }>(
        feedUrl(baseUrl, `/scores/matches/${encodeURIComponent(id)}`),
        { headers, signal },
      );
      return view;
    }),
  );
  return { feed, type: 'snapshot', id: cursor, data: { matches } };
}

/** Every match a whole-feed snapshot holds: the live and the scheduled ones (as the SSE snapshot, less recent finals). */
async function currentMatches(
  baseUrl: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<MatchView[]> {
  const lists = await Promise.all(
    (['live', 'scheduled'] as const).map((status) => {
      const url = feedUrl(baseUrl, '/scores/matches');
      url.searchParams.set('status', status);
      url.searchParams.set('limit', '100');
      return getJson<{ items: MatchView[] }>(url, { headers, signal });
    }),
  );
  return lists.flatMap((list) => list.items);
}
