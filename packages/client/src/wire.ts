/**
 * The wire of the live-feed backend, as the server sends and takes it: the feeds and their topics,
 * the events of every transport (WebSocket `livefeed.v1`, SSE, long poll), their payloads, and the
 * ops of the feed WebSocket; the chat's socket.io events, acks and REST shapes. Ids are opaque
 * cursors, the same on every transport.
 */

export type FeedName = 'ticker' | 'scores';
export const FEEDS: readonly FeedName[] = ['ticker', 'scores'];

/** The WebSocket subprotocol of `/feeds/ws`. */
export const WS_PROTOCOL = 'livefeed.v1';
/** Close code of the feed WebSocket asking the client to reconnect and resume from its cursors. */
export const WS_RESUME = 4000;
/** Close code of a failed `auth` op. */
export const WS_UNAUTHORIZED = 4401;

export interface Tick {
  symbol: string;
  price: number;
  size: number;
  /** Epoch milliseconds. */
  ts: number;
}

export type MatchStatus = 'scheduled' | 'live' | 'finished';
export type MatchEventKind = 'kickoff' | 'score' | 'period' | 'final';

export interface MatchView {
  id: string;
  sport: string;
  homeTeam: string;
  awayTeam: string;
  startsAt: string;
  status: MatchStatus;
  home: number;
  away: number;
  period: number;
  /** Seq of the last timeline event: a `score` with `event.seq` at or below it is already counted. */
  seq: number;
}

export interface MatchEventView {
  id: string;
  seq: number;
  kind: MatchEventKind;
  team: 'home' | 'away' | null;
  points: number | null;
  period: number;
  home: number;
  away: number;
  at: string;
}

/** `score`: one accepted match event and the match's state after it. */
export interface Score {
  matchId: string;
  home: number;
  away: number;
  status: MatchStatus;
  event: MatchEventView;
}

export interface TickerSnapshot {
  quotes: Tick[];
}

export interface ScoresSnapshot {
  matches: MatchView[];
}

/** `reset`: the cursor could not be resumed from; a snapshot follows. */
export interface Reset {
  reason: string;
}

/** `revoked`: these topics stop (a plan change); the others go on. */
export interface Revoked {
  topics: string[];
  reason: string;
}

/** `refresh`: the token expires at `expiresAt`; reconnect with a new one before then. */
export interface Refresh {
  expiresAt: string;
}

/** What each feed's data events and snapshot carry. */
export interface FeedPayloads {
  ticker: { snapshot: TickerSnapshot; tick: Tick };
  scores: { snapshot: ScoresSnapshot; score: Score };
}

type DataEvent<F extends FeedName> = {
  [T in keyof FeedPayloads[F]]: { feed: F; type: T; id?: string; data: FeedPayloads[F][T] };
}[keyof FeedPayloads[F]];

type ControlEvent<F extends FeedName> =
  | { feed: F; type: 'reset'; id?: string; data: Reset }
  | { feed: F; type: 'revoked'; id?: string; data: Revoked }
  | { feed: F; type: 'refresh'; id?: string; data: Refresh };

/** One event of a feed, on whichever transport: `{ feed, type, id?, data }`. */
export type FeedEvent<F extends FeedName = FeedName> = F extends FeedName ? DataEvent<F> | ControlEvent<F> : never;

export type FeedEventType = FeedEvent['type'];

/** What the long poll answers: events after the cursor, and the cursor to pass next. */
export interface PollResponse {
  events: { id: string; type: string; data: unknown }[];
  cursor: string;
}

/** Client → server frames of `/feeds/ws`. */
export type WsClientOp =
  | { op: 'auth'; token: string; ref?: string }
  /** No `topics`: every topic of the feed. */
  | { op: 'subscribe'; feed: FeedName; topics?: string[]; cursor?: string; ref?: string }
  | { op: 'unsubscribe'; feed: FeedName; topics?: string[]; ref?: string }
  | { op: 'ping'; ref?: string };

export type WsErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'unknown_topic'
  | 'too_many_streams'
  | 'not_subscribed'
  | 'unavailable'
  | 'internal';

/** Server → client replies of `/feeds/ws` (events are `FeedEvent`s). */
export type WsServerReply =
  | { op: 'authenticated'; ref?: string }
  | { op: 'subscribed'; feed: FeedName; topics?: string[]; ref?: string }
  | { op: 'unsubscribed'; feed: FeedName; topics?: string[]; ref?: string }
  | { op: 'pong'; ref?: string }
  | { op: 'error'; code: WsErrorCode; message: string; ref?: string };

export type WsServerFrame = WsServerReply | FeedEvent;

/** A chat message (`message:new`, acks, history). `senderId` is null for a system message. */
export interface ChatMessage {
  id: string;
  conversationId: string;
  /** Per conversation, from 1, no gaps. */
  seq: number;
  senderId: string | null;
  body: string;
  createdAt: string;
}

/** `message:receipt`: where a member's delivered and read cursors are. */
export interface Receipt {
  conversationId: string;
  userId: string;
  deliveredSeq: number;
  readSeq: number;
}

export type ConversationType = 'direct' | 'group';
export type MemberRole = 'owner' | 'admin' | 'member';

export interface ConversationMember {
  userId: string;
  role: MemberRole;
  /** Not in the contract today; shown when a server sends it. */
  name?: string;
}

/** A conversation as `GET /chat/conversations[/:id]` and `POST /chat/conversations` answer it, for the caller. */
export interface ConversationView {
  id: string;
  type: ConversationType;
  title: string | null;
  createdAt: string;
  members: ConversationMember[];
  /** The caller's role in it. */
  role: MemberRole;
  lastSeq: number;
  lastMessage: ChatMessage | null;
  /** Messages after the caller's read cursor that others sent. */
  unreadCount: number;
  readSeq: number;
  deliveredSeq: number;
}

/** `GET /chat/conversations`: most recently active first. */
export interface ConversationPage {
  items: ConversationView[];
  page: number;
  limit: number;
  total: number;
}

/** `GET /chat/conversations/:id/messages`: oldest first; pass `nextBeforeSeq` as `beforeSeq` for the older page. */
export interface MessagePage {
  items: ChatMessage[];
  limit: number;
  nextBeforeSeq: number | null;
}

/** `GET /chat/presence?userIds=`. */
export interface PresenceResponse {
  presence: { userId: string; online: boolean }[];
}

export type ChatErrorCode =
  'unauthorized' | 'forbidden' | 'invalid' | 'rate_limited' | 'not_found' | 'conflict' | 'unavailable';

/** What every chat event with an ack answers: `{ ok: true, ...T }` or the refusal. */
export type ChatAck<T extends object = object> =
  ({ ok: true } & T) | { ok: false; error: { code: ChatErrorCode; message: string } };

/** Client → server events of `/chat`: the payload, and what an `ok` ack carries. */
export interface ChatClientEvents {
  /** Idempotent by `(sender, clientMsgId)`: a resend answers with the message stored the first time. */
  'message:send': {
    payload: { conversationId: string; body: string; clientMsgId: string };
    ack: { message: ChatMessage };
  };
  /** Messages after `afterSeq`, oldest first; `more`: ask again. */
  sync: { payload: { conversationId: string; afterSeq: number }; ack: { messages: ChatMessage[]; more: boolean } };
  'message:read': { payload: { conversationId: string; seq: number }; ack: { readSeq: number; deliveredSeq: number } };
  /** Relayed to the other members at most every few seconds (`relayed: false` when throttled). */
  typing: { payload: { conversationId: string }; ack: { relayed: boolean } };
}
export type ChatClientEvent = keyof ChatClientEvents;

/** Server → client events of `/chat` and their payloads; `message:new` wants an (empty) ack: delivered. */
export interface ChatServerEvents {
  'message:new': { message: ChatMessage };
  'message:receipt': Receipt;
  typing: { conversationId: string; userId: string };
  presence: { userId: string; online: boolean };
}
export type ChatServerEvent = keyof ChatServerEvents;

/** The HTTP routes of each feed and the query parameter that names its topics. */
export const FEED_ROUTES: Record<FeedName, { stream: string; poll: string; topicsParam: string }> = {
  ticker: { stream: '/ticker/stream', poll: '/ticker/poll', topicsParam: 'symbols' },
  scores: { stream: '/scores/stream', poll: '/scores/poll', topicsParam: 'matches' },
};

/** Every value of a union, as a list the compiler checks to be complete (a missing or extra one is an error). */
type Exactly<U, L extends readonly U[]> = [U] extends [L[number]] ? L : never;
const listOf =
  <U>() =>
  <const L extends readonly U[]>(list: Exactly<U, L>): L =>
    list;

/** The names above as values (the AsyncAPI document at `/docs/asyncapi.json` is checked against them). */
export const WS_CLIENT_OPS = listOf<WsClientOp['op']>()(['auth', 'subscribe', 'unsubscribe', 'ping']);
export const WS_SERVER_OPS = listOf<WsServerReply['op']>()([
  'authenticated',
  'subscribed',
  'unsubscribed',
  'pong',
  'error',
]);
export const WS_ERROR_CODES = listOf<WsErrorCode>()([
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'unknown_topic',
  'too_many_streams',
  'not_subscribed',
  'unavailable',
  'internal',
]);
export const FEED_EVENT_TYPES = {
  ticker: listOf<FeedEvent<'ticker'>['type']>()(['snapshot', 'tick', 'reset', 'revoked', 'refresh']),
  scores: listOf<FeedEvent<'scores'>['type']>()(['snapshot', 'score', 'reset', 'revoked', 'refresh']),
} as const;
export const CHAT_CLIENT_EVENTS = listOf<ChatClientEvent>()(['message:send', 'sync', 'message:read', 'typing']);
export const CHAT_SERVER_EVENTS = listOf<ChatServerEvent>()(['message:new', 'message:receipt', 'typing', 'presence']);
export const CHAT_ERROR_CODES = listOf<ChatErrorCode>()([
  'unauthorized',
  'forbidden',
  'invalid',
  'rate_limited',
  'not_found',
  'conflict',
  'unavailable',
]);
