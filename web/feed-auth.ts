/**
 * Who the page's feeds read as. Signed out: anonymous. Signed in: a feed token minted for the user
 * (`POST /feeds/tokens`), short-lived and limited to the plan, so the user's own JWT never goes
 * into a URL (EventSource cannot send headers, so the stream takes `?token=`). The token is
 * re-minted on the stream's `event: refresh` and before it expires; every change of identity or
 * token tells the feeds to reconnect from their cursor, which loses nothing.
 */
import { postJson } from '../packages/client/src/index.js';

const TOKEN_TTL_SECONDS = 3_600;
/** Re-mint this long before expiry even if no stream asked (the long poll gets no `refresh`). */
const RENEW_BEFORE_MS = 60_000;

export class FeedAuth {
  private userToken?: string;
  private feedToken?: string;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private readonly listeners = new Set<() => void>();
  /** Bumped on each change, so a slow mint for an earlier identity is dropped. */
  private generation = 0;

  /** The token the feeds send now (undefined: anonymous). */
  get token(): string | undefined {
    return this.feedToken;
  }

  /** The signed-in user's JWT, for the page's own API calls (undefined: signed out). */
  get user(): string | undefined {
    return this.userToken;
  }

  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Signs the feeds in as this user (a JWT), or out (undefined). */
  async signIn(userToken: string | undefined): Promise<void> {
    if (userToken === this.userToken) return; // the same reader (the page starts anonymous)
    this.userToken = userToken;
    await this.renew();
  }

  /** A new feed token for the same user (the stream's `refresh`). */
  async renew(): Promise<void> {
    const generation = ++this.generation;
    clearTimeout(this.renewTimer);
    let token: string | undefined;
    if (this.userToken) {
      try {
        const minted = await postJson<{ token: string; expiresAt: string }>(
          '/feeds/tokens',
          { ttlSeconds: TOKEN_TTL_SECONDS },
          { authorization: `Bearer ${this.userToken}` },
        );
        token = minted.token;
        const renewIn = Math.max(1_000, Date.parse(minted.expiresAt) - Date.now() - RENEW_BEFORE_MS);
        this.renewTimer = setTimeout(() => void this.renew(), renewIn);
      } catch {
        token = undefined; // the plan may read no feed: read as anonymous
      }
    }
    if (generation !== this.generation) return;
    this.feedToken = token;
    for (const listener of this.listeners) listener();
  }
}
