/**
 * The feed WebSocket (`/feeds/ws`, `livefeed.v1`) with the platform's own WebSocket: one socket per
 * subscription, the token as `?token=`, one `subscribe` with the cursor; open once it is `subscribed`.
 * Any close after that (4000: resume, a drop, a shutdown) ends the connection; the subscription
 * resumes from its cursor.
 */
import { type Connection, type TransportContext, TransportError, feedUrl } from './transport.js';
import { type FeedEvent, WS_PROTOCOL, WS_UNAUTHORIZED, type WsServerFrame } from './wire.js';

const SUBSCRIBE_REF = 'sdk-subscribe';

export function openWs(context: TransportContext): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const url = feedUrl(context.baseUrl, '/feeds/ws');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (context.token) url.searchParams.set('token', context.token);
    let ws: WebSocket;
    try {
      ws = new WebSocket(url.href, WS_PROTOCOL);
    } catch (error) {
      reject(new TransportError('ws', (error as Error).message));
      return;
    }
    let opened = false;
    let stopped = false;
    let end: (reason: unknown) => void = () => undefined;
    const ended = new Promise<unknown>((done) => (end = done));
    const connection: Connection = {
      ended,
      close: () => {
        stopped = true;
        ws.close(1000);
        end('closed');
      },
    };
    const fail = (error: TransportError) => {
      clearTimeout(timer);
      stopped = true;
      ws.close();
      reject(error);
    };
    const timer = setTimeout(() => fail(new TransportError('ws', 'connect timed out')), context.connectTimeoutMs);

    ws.onopen = () => {
      const cursor = context.cursor();
      const op = { op: 'subscribe', feed: context.feed, topics: context.topics, cursor, ref: SUBSCRIBE_REF }; // no topics: the whole feed
      ws.send(JSON.stringify(op));
    };
    ws.onmessage = (message) => {
      if (stopped) return;
      const frame = JSON.parse(String(message.data)) as WsServerFrame;
      if ('op' in frame) {
        if (opened || frame.ref !== SUBSCRIBE_REF) return;
        if (frame.op === 'subscribed') {
          opened = true;
          clearTimeout(timer);
          resolve(connection);
        } else if (frame.op === 'error') {
          const status = frame.code === 'unauthorized' ? 401 : frame.code === 'forbidden' ? 403 : undefined;
          fail(new TransportError('ws', `${frame.code}: ${frame.message}`, status));
        }
        return;
      }
      if (frame.feed === context.feed) context.deliver(frame as FeedEvent);
    };
    ws.onerror = () => undefined; // a close follows
    ws.onclose = (event) => {
      if (!opened) {
        if (!stopped)
          fail(new TransportError('ws', `closed ${event.code}`, event.code === WS_UNAUTHORIZED ? 401 : undefined));
        return;
      }
      stopped = true;
      end(`closed ${event.code}`);
    };
  });
}
