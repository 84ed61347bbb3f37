/**
 * The chat's REST routes (`/chat/…`, `/auth/me`) as the signed-in user. A 401 renews the token once
 * (when the client has `getToken`) and asks again.
 */
import { ApiError, bearer, getJson, postJson } from './http.js';
import type { TokenSource } from './token.js';
import type { ConversationPage, ConversationView, MessagePage, PresenceResponse } from './wire.js';

export class ChatApi {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
  ) {}

  /** The signed-in user. */
  me(): Promise<{ id: string; name: string }> {
    return this.get('/auth/me');
  }

  /** Mine, most recently active first. */
  conversations(limit = 100): Promise<ConversationPage> {
    return this.get(`/chat/conversations?limit=${limit}`);
  }

  conversation(id: string): Promise<ConversationView> {
    return this.get(`/chat/conversations/${encodeURIComponent(id)}`);
  }

  /** The direct conversation with this user (created, or the one that exists). */
  startDirect(userId: string): Promise<ConversationView> {
    return this.post('/chat/conversations', { type: 'direct', userId });
  }

  /** A group I own. */
  startGroup(title: string, memberIds: string[]): Promise<ConversationView> {
    return this.post('/chat/conversations', { type: 'group', title, memberIds });
  }

  /** One page of history, oldest first: the `limit` messages before `beforeSeq` (none: the newest). */
  history(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<MessagePage> {
    const query = new URLSearchParams({ limit: String(options.limit ?? 30) });
    if (options.beforeSeq !== undefined) query.set('beforeSeq', String(options.beforeSeq));
    return this.get(`/chat/conversations/${encodeURIComponent(conversationId)}/messages?${query}`);
  }

  presence(userIds: string[]): Promise<PresenceResponse> {
    return this.get(`/chat/presence?userIds=${encodeURIComponent(userIds.join(','))}`);
  }

  private get<T>(path: string): Promise<T> {
    return this.authed((headers) => getJson<T>(new URL(path, this.baseUrl), { headers }));
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.authed((headers) => postJson<T>(new URL(path, this.baseUrl), body, headers));
  }

  private async authed<T>(call: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    try {
      return await call(bearer(await this.tokens.get()));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401 && this.tokens.renewable)) throw error;
      return call(bearer(await this.tokens.renew()));
    }
  }
}
