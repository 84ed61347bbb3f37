/** @livefeed/client: the live-feed backend's feeds (WebSocket → SSE → long poll, resumed by cursor) and chat. */
export { createClient, type ClientOptions, type LiveFeedClient } from './client.js';
export type { SubscribeOptions, Subscription } from './subscription.js';
export { TransportError, type TransportKind } from './transport.js';
export type { ChatOptions, ChatSession } from './chat.js';
export { Outbox, memoryStorage, type Ack, type ChatMessage, type OutboxStorage, type Outgoing } from './outbox.js';
export { SseParser, type SseMessage } from './sse-parser.js';
export { ApiError } from './http.js';
export * from './wire.js';
