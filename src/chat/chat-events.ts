/**
 * The chat's server → client events, named once: the wire contract (ARCHITECTURE "Chat") as a
 * type. Every emit to a client socket goes through `DeliveryService`, typed by this map, and what
 * instances route to each other names its events by these keys.
 */
import type { Socket } from 'socket.io';
import type { ChatMessage, Receipt } from './chat-message.js';

export interface ServerToClientEvents {
  'message:new': (payload: { message: ChatMessage }, ack: () => void) => void;
  'message:receipt': (receipt: Receipt) => void;
  typing: (payload: { conversationId: string; userId: string }) => void;
  presence: (payload: { userId: string; online: boolean }) => void;
}

/** Events without an ack, which any instance may route to any user. */
export type SignalEvent = Exclude<keyof ServerToClientEvents, 'message:new'>;
export type SignalPayload<E extends SignalEvent> = Parameters<ServerToClientEvents[E]>[0];

/** One signal for some users: `{ e: 'typing', d: { conversationId, userId }, to: [...] }`. */
export type RoutedSignal = { [E in SignalEvent]: { e: E; d: SignalPayload<E>; to: string[] } }[SignalEvent];

/** Each socket joins its user's room (socket.io's own cross-instance addressing, through the adapter). */
export const userRoom = (userId: string) => `user:${userId}`;

export type ChatSocket = Socket<Record<string, never>, ServerToClientEvents>;
