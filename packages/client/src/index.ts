/** @livefeed/client: the live-feed backend's feeds (WebSocket → SSE → long poll, resumed by cursor) and chat. */
export { createClient, type ClientOptions, type LiveFeedClient } from './client.js';
export type { SubscribeOptions, Subscription } from './subscription.js';
export { TransportError, type TransportKind } from './transport.js';
export { ChatSession, type ChatChange, type ChatOptions } from './chat.js';
export type { ChatApi } from './chat-api.js';
export type { ChatState } from './chat-connection.js';
export type { Conversation } from './conversation.js';
export { Outbox, memoryStorage, type OutboxStorage, type Outgoing } from './outbox.js';
export { SseParser, type SseMessage } from './sse-parser.js';
export { ApiError, getJson, postJson } from './http.js';
export * from './wire.js';
