/**
 * The chat's server → client events, named once: the wire contract (the client SDK's
 * `ChatServerEvents`, ARCHITECTURE "Chat") as socket.io's event map. Every emit to a client socket
 * goes through `DeliveryService`, typed by this map, and what instances route to each other names
 * its events by these keys.
 */
import type { ChatServerEvent, ChatServerEvents } from '@livefeed/client/wire';
import type { Socket } from 'socket.io';

/** Every event of the SDK's, with its payload; `message:new` takes an ack (delivered). */
export type ServerToClientEvents = {
  [E in ChatServerEvent]: E extends 'message:new'
    ? (payload: ChatServerEvents[E], ack: () => void) => void
    : (payload: ChatServerEvents[E]) => void;
};

/** Events without an ack, which any instance may route to any user. */
export type SignalEvent = Exclude<keyof ServerToClientEvents, 'message:new'>;
export type SignalPayload<E extends SignalEvent> = Parameters<ServerToClientEvents[E]>[0];

/** One signal for some users: `{ e: 'typing', d: { conversationId, userId }, to: [...] }`. */
export type RoutedSignal = { [E in SignalEvent]: { e: E; d: SignalPayload<E>; to: string[] } }[SignalEvent];

/** Each socket joins its user's room (socket.io's own cross-instance addressing, through the adapter). */
export const userRoom = (userId: string) => `user:${userId}`;

export type ChatSocket = Socket<Record<string, never>, ServerToClientEvents>;
