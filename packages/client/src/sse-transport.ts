/**
 * SSE read with fetch (so it runs in Node and browsers and can send headers): the token as
 * `Authorization`, the cursor as `Last-Event-ID`; open once a 200 `text/event-stream` answers.
 * The end of the body, or an error reading it, ends the connection.
 */
import { SseParser } from './sse-parser.js';
import { type Connection, type TransportContext, TransportError, feedUrl } from './transport.js';
import { FEED_ROUTES, type FeedEvent } from './wire.js';
import { bearer } from './http.js';

export async function openSse(context: TransportContext): Promise<Connection> {
  const route = FEED_ROUTES[context.feed];
  const url = feedUrl(context.baseUrl, route.stream);
  if (context.topics) url.searchParams.set(route.topicsParam, context.topics.join(','));
  const cursor = context.cursor();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), context.connectTimeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'text/event-stream',
        ...bearer(context.token),
        ...(cursor ? { 'last-event-id': cursor } : {}),
      },
      signal: abort.signal,
    });
  } catch (error) {
    throw new TransportError('sse', abort.signal.aborted ? 'connect timed out' : (error as Error).message);
  } finally {
    clearTimeout(timer);
  }
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !type.startsWith('text/event-stream') || !response.body) {
    abort.abort();
    throw new TransportError('sse', `HTTP ${response.status} ${type}`, response.status);
  }

  let stopped = false;
  const parser = new SseParser((message) => {
    if (stopped) return;
    const event = { feed: context.feed, type: message.event, data: JSON.parse(message.data) as unknown };
    context.deliver((message.id ? { ...event, id: message.id } : event) as FeedEvent);
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped) return 'ended';
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      return error;
    } finally {
      stopped = true;
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
