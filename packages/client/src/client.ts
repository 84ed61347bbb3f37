/** `createClient`: the SDK's entry, its feeds and its chat over one base URL and one token source. */
import { type ChatOptions, ChatSession } from './chat.js';
import { FeedSubscription, type SubscribeOptions, type Subscription } from './subscription.js';
import { TokenSource } from './token.js';
import type { TransportKind } from './transport.js';
import type { FeedName } from './wire.js';

export interface ClientOptions {
  /** The backend's origin, e.g. `https://feeds.example.com`. */
  baseUrl: string;
  /** A feed token, user JWT or API key (none: the anonymous plan). */
  token?: string;
  /** Mints a token (e.g. `POST /feeds/tokens`): used when there is none, on `refresh` and on a 401. */
  getToken?: () => Promise<string>;
  /** Transports in order of preference (default ws, sse, poll). */
  transports?: TransportKind[];
  /** How often a subscription on a lower transport tries the better ones (default 10 s). */
  upgradeIntervalMs?: number;
  /** How long a transport may take to open before the next is tried (default 5 s). */
  connectTimeoutMs?: number;
  /** How long each long poll waits on the server (default 25 s). */
  pollTimeoutMs?: number;
  /** First wait before trying again when nothing opens (default 1 s, doubling up to 15 s). */
  retryDelayMs?: number;
}

export interface LiveFeedClient {
  feeds: {
    subscribe<F extends FeedName>(options: SubscribeOptions<F>): Subscription;
  };
  chat: {
    /** A chat session as the token's user (a user JWT): conversations, messages, receipts, presence, outbox. */
    connect(options?: ChatOptions): Promise<ChatSession>;
  };
}

export function createClient(options: ClientOptions): LiveFeedClient {
  const tokens = new TokenSource(options.token, options.getToken);
  const settings = {
    baseUrl: options.baseUrl,
    transports: options.transports ?? (['ws', 'sse', 'poll'] as TransportKind[]),
    upgradeIntervalMs: options.upgradeIntervalMs ?? 10_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    pollTimeoutMs: options.pollTimeoutMs ?? 25_000,
    retryDelayMs: options.retryDelayMs ?? 1_000,
  };
  if (settings.transports.length === 0) throw new Error('transports: at least one');
  return {
    feeds: {
      subscribe: (subscribe) => {
        if (subscribe.topics?.length === 0) throw new Error('topics: at least one, or none for the whole feed');
        return new FeedSubscription(subscribe, settings, tokens).start();
      },
    },
    chat: { connect: (chat) => ChatSession.connect(options.baseUrl, tokens, chat) },
  };
}
