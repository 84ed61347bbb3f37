/**
 * The AsyncAPI 3 document of the realtime wire, served at `GET /docs/asyncapi.json`: the feed
 * WebSocket (`/feeds/ws`, `livefeed.v1`), the SSE streams of the ticker and scores (whose events
 * are the same `{ type, id, data }` as the WebSocket's, the `feed` implied by the route), and the
 * socket.io chat (`/chat`). Written by hand: the payload schemas mirror the SDK's
 * `packages/client/src/wire.ts`, and `test/asyncapi.e2e-spec.ts` checks the two against each other
 * and validates real frames from the running app against these schemas.
 */

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const int = (extra: Schema = {}): Schema => ({ type: 'integer', ...extra });
const num = (extra: Schema = {}): Schema => ({ type: 'number', ...extra });
const obj = (properties: Record<string, Schema>, required = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const cursor = str({ description: 'An opaque cursor: resume after this event (any transport, same feed)' });

export const FEED_NAMES = ['ticker', 'scores'] as const;
export const WS_CLIENT_OPS = ['auth', 'subscribe', 'unsubscribe', 'ping'] as const;
export const WS_SERVER_OPS = ['authenticated', 'subscribed', 'unsubscribed', 'pong', 'error'] as const;
export const WS_ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'unknown_topic',
  'too_many_streams',
  'not_subscribed',
  'unavailable',
  'internal',
] as const;
/** Event types per feed: data events, then the control events every feed has. */
export const FEED_EVENT_TYPES = {
  ticker: ['snapshot', 'tick', 'reset', 'revoked', 'refresh'],
  scores: ['snapshot', 'score', 'reset', 'revoked', 'refresh'],
} as const;

const schemas: Record<string, Schema> = {
  Tick: obj({ symbol: str(), price: num(), size: num(), ts: int({ description: 'epoch milliseconds' }) }),
  MatchView: obj({
    id: str({ format: 'uuid' }),
    sport: str(),
    homeTeam: str(),
    awayTeam: str(),
    startsAt: str({ format: 'date-time' }),
    status: str({ enum: ['scheduled', 'live', 'finished'] }),
    home: int(),
    away: int(),
    period: int(),
    seq: int({ description: 'seq of the last timeline event it holds' }),
  }),
  MatchEventView: obj({
    id: str(),
    seq: int(),
    kind: str({ enum: ['kickoff', 'score', 'period', 'final'] }),
    team: { type: ['string', 'null'], enum: ['home', 'away', null] },
    points: { type: ['integer', 'null'] },
    period: int(),
    home: int(),
    away: int(),
    at: str({ format: 'date-time' }),
  }),
  Score: obj({
    matchId: str({ format: 'uuid' }),
    home: int(),
    away: int(),
    status: str({ enum: ['scheduled', 'live', 'finished'] }),
    event: ref('MatchEventView'),
  }),
  TickerSnapshot: obj({ quotes: { type: 'array', items: ref('Tick') } }),
  ScoresSnapshot: obj({ matches: { type: 'array', items: ref('MatchView') } }),
  Reset: obj({ reason: str() }),
  Revoked: obj({ topics: { type: 'array', items: str() }, reason: str() }),
  Refresh: obj({ expiresAt: str({ format: 'date-time' }) }),
  ChatMessage: obj({
    id: str(),
    conversationId: str({ format: 'uuid' }),
    seq: int(),
    senderId: { type: ['string', 'null'] },
    body: str(),
    createdAt: str({ format: 'date-time' }),
  }),
  Receipt: obj({ conversationId: str(), userId: str(), deliveredSeq: int(), readSeq: int() }),
};

/** A feed event on the WebSocket: `{ feed, type, id?, data }`. */
function feedEvent(feed: string, type: string, data: Schema, withId: boolean): Schema {
  return obj({ feed: { const: feed }, type: { const: type }, ...(withId ? { id: cursor } : {}), data }, [
    'feed',
    'type',
    'data',
    ...(withId ? ['id'] : []),
  ]);
}

const DATA: Record<string, Schema> = {
  'ticker.snapshot': ref('TickerSnapshot'),
  'ticker.tick': ref('Tick'),
  'scores.snapshot': ref('ScoresSnapshot'),
  'scores.score': ref('Score'),
  reset: ref('Reset'),
  revoked: ref('Revoked'),
  refresh: ref('Refresh'),
};

const dataOf = (feed: string, type: string) => DATA[`${feed}.${type}`] ?? DATA[type];

function feedMessages(): Record<string, Schema> {
  const messages: Record<string, Schema> = {};
  for (const feed of FEED_NAMES) {
    for (const type of FEED_EVENT_TYPES[feed]) {
      const withId = type === 'snapshot' || type === 'tick' || type === 'score';
      messages[`${feed}.${type}`] = {
        name: `${feed}.${type}`,
        summary: `${feed} \`${type}\``,
        payload: feedEvent(feed, type, dataOf(feed, type), withId),
      };
    }
  }
  return messages;
}

const WS_OPS: Record<string, Schema> = {
  auth: obj({ op: { const: 'auth' }, token: str(), ref: {} }, ['op', 'token']),
  subscribe: obj(
    {
      op: { const: 'subscribe' },
      feed: str({ enum: [...FEED_NAMES] }),
      topics: { type: 'array', items: str(), minItems: 1, description: 'none: every topic of the feed' },
      cursor,
      ref: {},
    },
    ['op', 'feed'],
  ),
  unsubscribe: obj(
    {
      op: { const: 'unsubscribe' },
      feed: str({ enum: [...FEED_NAMES] }),
      topics: { type: 'array', items: str() },
      ref: {},
    },
    ['op', 'feed'],
  ),
  ping: obj({ op: { const: 'ping' }, ref: {} }, ['op']),
  authenticated: obj({ op: { const: 'authenticated' }, ref: {} }, ['op']),
  subscribed: obj(
    {
      op: { const: 'subscribed' },
      feed: str({ enum: [...FEED_NAMES] }),
      topics: { type: 'array', items: str() },
      ref: {},
    },
    ['op', 'feed'],
  ),
  unsubscribed: obj(
    {
      op: { const: 'unsubscribed' },
      feed: str({ enum: [...FEED_NAMES] }),
      topics: { type: 'array', items: str() },
      ref: {},
    },
    ['op', 'feed'],
  ),
  pong: obj({ op: { const: 'pong' }, ref: {} }, ['op']),
  error: obj({ op: { const: 'error' }, code: str({ enum: [...WS_ERROR_CODES] }), message: str(), ref: {} }, [
    'op',
    'code',
    'message',
  ]),
};

/** An SSE event of a feed's stream route: the `event:` name, `id:` and `data:` (the WebSocket event's `data`). */
function sseMessages(feed: (typeof FEED_NAMES)[number]): Record<string, Schema> {
  return Object.fromEntries(
    FEED_EVENT_TYPES[feed].map((type) => [
      `${feed}.sse.${type}`,
      { name: type, summary: `SSE \`event: ${type}\``, payload: dataOf(feed, type) },
    ]),
  );
}

const CHAT_MESSAGES: Record<string, Schema> = {
  'chat.message:send': {
    name: 'message:send',
    summary: 'Send a message (acked `{ ok, message }` or `{ ok: false, error: { code, message } }`)',
    payload: obj({ conversationId: str({ format: 'uuid' }), body: str(), clientMsgId: str() }),
  },
  'chat.sync': {
    name: 'sync',
    summary: 'Messages after a seq (acked `{ ok, messages }`)',
    payload: obj({ conversationId: str({ format: 'uuid' }), afterSeq: int() }),
  },
  'chat.message:read': {
    name: 'message:read',
    summary: 'Mark read up to a seq (receipts go to the other members)',
    payload: obj({ conversationId: str({ format: 'uuid' }), seq: int() }),
  },
  'chat.typing': { name: 'typing', summary: 'I am typing', payload: obj({ conversationId: str({ format: 'uuid' }) }) },
  'chat.message:new': {
    name: 'message:new',
    summary: 'A message for me (ack it: delivered)',
    payload: obj({ message: ref('ChatMessage') }),
  },
  'chat.message:receipt': { name: 'message:receipt', summary: "A member's cursors", payload: ref('Receipt') },
  'chat.typing:server': {
    name: 'typing',
    summary: 'Someone is typing',
    payload: obj({ conversationId: str(), userId: str() }),
  },
  'chat.presence': {
    name: 'presence',
    summary: 'Online or not',
    payload: obj({ userId: str(), online: { type: 'boolean' } }),
  },
};

const refs = (names: string[]) => Object.fromEntries(names.map((n) => [n, { $ref: `#/components/messages/${n}` }]));
const opRefs = (channel: string, names: string[]) =>
  names.map((n) => ({ $ref: `#/channels/${channel}/messages/${n}` }));

export function asyncApiDocument(version: string): Record<string, unknown> {
  const feed = feedMessages();
  const wsOps = Object.fromEntries(Object.entries(WS_OPS).map(([op, payload]) => [`ws.${op}`, { name: op, payload }]));
  const sse = { ...sseMessages('ticker'), ...sseMessages('scores') };
  const clientOps = WS_CLIENT_OPS.map((op) => `ws.${op}`);
  const serverOps = WS_SERVER_OPS.map((op) => `ws.${op}`);
  const sseOf = (f: (typeof FEED_NAMES)[number]) => FEED_EVENT_TYPES[f].map((type) => `${f}.sse.${type}`);
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Live-feed backend: realtime',
      version,
      description:
        'The feed WebSocket, the SSE streams and the chat socket. Cursors (`id`) are the same on every feed transport; the HTTP routes are in the OpenAPI document (`/docs-json`).',
    },
    defaultContentType: 'application/json',
    channels: {
      feedSocket: {
        address: '/feeds/ws',
        title: 'Feed WebSocket (subprotocol livefeed.v1)',
        description:
          'Credentials as `?token=`, `Authorization: Bearer`, or an `auth` op as the first frame. Close code 4000: reconnect and subscribe with your cursors; 4401: the auth op failed.',
        messages: refs([...clientOps, ...serverOps, ...Object.keys(feed)]),
        bindings: { ws: { method: 'GET', query: obj({ token: str() }, []) } },
      },
      tickerStream: {
        address: '/ticker/stream',
        title: 'Ticker SSE stream (or NDJSON with Accept: application/x-ndjson)',
        messages: refs(sseOf('ticker')),
      },
      scoresStream: {
        address: '/scores/stream',
        title: 'Scores SSE stream (or NDJSON)',
        messages: refs(sseOf('scores')),
      },
      chat: {
        address: '/chat',
        title: 'Chat (socket.io namespace; `auth: { token }`)',
        messages: refs(Object.keys(CHAT_MESSAGES)),
      },
    },
    operations: {
      receiveFeedOps: {
        action: 'receive',
        channel: { $ref: '#/channels/feedSocket' },
        messages: opRefs('feedSocket', clientOps),
      },
      sendFeedReplies: {
        action: 'send',
        channel: { $ref: '#/channels/feedSocket' },
        messages: opRefs('feedSocket', serverOps),
      },
      sendFeedEvents: {
        action: 'send',
        channel: { $ref: '#/channels/feedSocket' },
        messages: opRefs('feedSocket', Object.keys(feed)),
      },
      sendTickerStream: {
        action: 'send',
        channel: { $ref: '#/channels/tickerStream' },
        messages: opRefs('tickerStream', sseOf('ticker')),
      },
      sendScoresStream: {
        action: 'send',
        channel: { $ref: '#/channels/scoresStream' },
        messages: opRefs('scoresStream', sseOf('scores')),
      },
      receiveChat: {
        action: 'receive',
        channel: { $ref: '#/channels/chat' },
        messages: opRefs('chat', ['chat.message:send', 'chat.sync', 'chat.message:read', 'chat.typing']),
      },
      sendChat: {
        action: 'send',
        channel: { $ref: '#/channels/chat' },
        messages: opRefs('chat', ['chat.message:new', 'chat.message:receipt', 'chat.typing:server', 'chat.presence']),
      },
    },
    components: { schemas, messages: { ...wsOps, ...feed, ...sse, ...CHAT_MESSAGES } },
  };
}
