/**
 * One live feed (ticker or scores) in the browser: an EventSource on `…/stream`, which resumes by
 * itself with the browser's own `Last-Event-ID` after a drop, and the long poll `…/poll` when
 * EventSource cannot get through (a proxy that blocks or buffers `text/event-stream`). Both carry
 * the same cursor, so switching between them loses nothing; from the long poll, the stream is tried
 * again every minute.
 *
 * Both read as the page's FeedAuth says (anonymous, or a feed token: `?token=` on the stream, a
 * header on the polls); when it changes (sign-in, a re-minted token after `event: refresh`) the
 * feed reconnects from its cursor.
 *
 * States: `connecting` (first attempt), `connected` (SSE open), `reconnecting` (SSE or poll retrying),
 * `fallback` (long poll working).
 */
import type { FeedAuth } from './feed-auth.js';
import { getJson, sleep } from './http.js';

export type FeedState = 'connecting' | 'connected' | 'reconnecting' | 'fallback';

export interface FeedClientOptions<S> {
  stream: string;
  poll: string;
  /** Event types the stream carries besides `snapshot` and `reset` (`tick`, `score`). */
  eventTypes: string[];
  auth: FeedAuth;
  /** The state and the cursor it is valid at, for the long poll (the stream sends its own snapshot). */
  snapshot(headers: Record<string, string>): Promise<{ data: S; cursor: string }>;
  onSnapshot(data: S): void;
  onEvent(type: string, data: unknown): void;
  onState(state: FeedState): void;
}

interface PollResult {
  events: { id: string; type: string; data: unknown }[];
  cursor: string;
}

/** Failed reconnects in a row (after the stream had worked) before switching to the long poll. */
const MAX_STREAM_FAILURES = 3;
const STREAM_RETRY_FROM_POLL_MS = 60_000;
const POLL_TIMEOUT_MS = 25_000;
const POLL_MAX_BACKOFF_MS = 15_000;

export class FeedClient<S> {
  private source?: EventSource;
  private cursor?: string;
  private mode: 'stream' | 'poll' = 'stream';
  private streamEverOpened = false;
  private pollAbort?: AbortController;
  /** Bumped on every entry into the long poll, so a loop left earlier cannot run beside a new one. */
  private pollGeneration = 0;
  private probeTimer?: ReturnType<typeof setInterval>;
  private state?: FeedState;

  constructor(private readonly options: FeedClientOptions<S>) {}

  start(): void {
    this.setState('connecting');
    this.options.auth.onChange(() => this.reconnect());
    this.openStream();
  }

  /** Drops the stream or poll and opens the stream again from the cursor (new credentials). */
  private reconnect(): void {
    this.source?.close();
    this.source = undefined;
    clearInterval(this.probeTimer);
    this.mode = 'stream';
    this.pollGeneration++;
    this.pollAbort?.abort();
    this.openStream();
  }

  private headers(): Record<string, string> {
    const token = this.options.auth.token;
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  private setState(state: FeedState): void {
    if (state === this.state) return;
    this.state = state;
    this.options.onState(state);
  }

  /** `probe`: a try from the long poll; it takes over only once it opens. */
  private openStream(probe = false): void {
    const url = new URL(this.options.stream, location.href);
    if (this.cursor) url.searchParams.set('lastEventId', this.cursor);
    const token = this.options.auth.token;
    if (token) url.searchParams.set('token', token);
    const source = new EventSource(url);
    let failures = 0;
    let opened = false;
    if (!probe) this.source = source;

    source.onopen = () => {
      opened = true;
      failures = 0;
      this.streamEverOpened = true;
      if (probe) this.leavePolling(source);
      if (this.source === source) this.setState('connected');
    };
    const listen = (type: string, handle: (data: unknown) => void) =>
      source.addEventListener(type, (event) => {
        if (this.source !== source) return;
        const message = event as MessageEvent<string>;
        if (message.lastEventId) this.cursor = message.lastEventId;
        handle(JSON.parse(message.data));
      });
    listen('snapshot', (data) => this.options.onSnapshot(data as S));
    // `reset`: the feed could not resume from our id; a snapshot follows on the same stream.
    listen('reset', () => undefined);
    // `refresh`: the token expires soon; a new one reconnects from the cursor.
    listen('refresh', () => void this.options.auth.renew());
    // `revoked`: those topics stop (a plan change); the rest go on.
    listen('revoked', () => undefined);
    for (const type of this.options.eventTypes) listen(type, (data) => this.options.onEvent(type, data));

    source.onerror = () => {
      if (probe && !opened) {
        source.close(); // still blocked: stay on the long poll
        return;
      }
      if (this.source !== source) return source.close();
      failures++;
      // Never opened (blocked), closed for good (not an event stream), or failing again and again.
      if (!this.streamEverOpened || source.readyState === EventSource.CLOSED || failures >= MAX_STREAM_FAILURES) {
        source.close();
        this.source = undefined;
        void this.poll();
      } else {
        this.setState('reconnecting'); // the browser reconnects with Last-Event-ID by itself
      }
    };
  }

  private leavePolling(source: EventSource): void {
    this.mode = 'stream';
    this.source = source;
    clearInterval(this.probeTimer);
    this.pollAbort?.abort();
  }

  private async poll(): Promise<void> {
    if (this.mode === 'poll') return;
    this.mode = 'poll';
    const generation = ++this.pollGeneration;
    const polling = () => this.mode === 'poll' && this.pollGeneration === generation;
    this.setState('fallback');
    this.probeTimer = setInterval(() => {
      if (this.mode === 'poll') this.openStream(true);
    }, STREAM_RETRY_FROM_POLL_MS);
    let backoff = 1_000;
    while (polling()) {
      try {
        if (this.cursor === undefined) {
          const snapshot = await this.options.snapshot(this.headers());
          if (!polling()) return;
          this.cursor = snapshot.cursor;
          this.options.onSnapshot(snapshot.data);
        }
        const url = new URL(this.options.poll, location.href);
        url.searchParams.set('cursor', this.cursor);
        url.searchParams.set('timeoutMs', String(POLL_TIMEOUT_MS));
        this.pollAbort = new AbortController();
        const result = await getJson<PollResult>(url.href, {
          signal: this.pollAbort.signal,
          headers: this.headers(),
        });
        if (!polling()) return;
        let reset = false;
        for (const event of result.events) {
          if (event.type === 'reset') {
            reset = true; // the next turn fetches a fresh snapshot
            break;
          }
          this.options.onEvent(event.type, event.data);
        }
        this.cursor = reset ? undefined : result.cursor;
        this.setState('fallback');
        backoff = 1_000;
      } catch {
        if (!polling()) return;
        this.setState('reconnecting');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, POLL_MAX_BACKOFF_MS);
      }
    }
  }
}
