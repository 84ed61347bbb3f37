/**
 * This instance's side of a feed's fan-out: its local listeners by topic, and the messages from
 * Redis turned into events for them. Each event becomes one FeedEvent per instance (its frame is
 * encoded once however many listeners get it), and reaches every listener in stream-id order.
 *
 * An instance holding both a topic's channel and the whole-batch channel gets some events twice.
 * The publish script sends the whole batch first, then each topic's lines, with the batch's events
 * grouped by topic so that ids still ascend across those messages; Redis delivers one connection's
 * messages in order. So the events this instance receives ascend by id except for repeats, and
 * skipping any id not above the last one dispatched drops exactly the repeats.
 */
import { FeedEvent, type FeedListener } from './feed-event.js';

export interface FanoutHooks {
  /** Once per message from Redis: its size and how many new (not repeated) events it carried. */
  onReceived?: (bytes: number, events: number) => void;
  /** After an event was handed to every local listener. */
  onFannedOut?: (event: FeedEvent) => void;
}

export class FeedFanout {
  private readonly byTopic = new Map<string, Set<FeedListener>>();
  private readonly everything = new Set<FeedListener>();
  /** The last event dispatched (ids restart with a new epoch). */
  private lastEpoch = '';
  private lastMs = -1;
  private lastSeq = -1;

  constructor(
    /** The log (shard) whose messages this dispatches. */
    private readonly shard: number,
    private readonly hooks: FanoutHooks = {},
  ) {}

  get listenerCount(): number {
    let count = this.everything.size;
    for (const set of this.byTopic.values()) count += set.size;
    return count;
  }

  add(listener: FeedListener): void {
    if (!listener.topics) this.everything.add(listener);
    else
      for (const topic of listener.topics) {
        let set = this.byTopic.get(topic);
        if (!set) this.byTopic.set(topic, (set = new Set()));
        set.add(listener);
      }
  }

  remove(listener: FeedListener): void {
    if (!listener.topics) this.everything.delete(listener);
    else
      for (const topic of listener.topics) {
        const set = this.byTopic.get(topic);
        set?.delete(listener);
        if (set?.size === 0) this.byTopic.delete(topic);
      }
  }

  /** Tells every everything-listener it may have missed events (see TopicChannels' announcement). */
  gap(): void {
    for (const listener of [...this.everything]) listener.onGap?.();
  }

  /**
   * A message from Redis: `epoch|publishedAt` then one `id|type|topic|data` line per event.
   * Returns the epoch it carried.
   */
  dispatch(message: string): string {
    const lines = message.split('\n');
    const [epoch, publishedAt] = lines[0].split('|');
    if (epoch !== this.lastEpoch) {
      this.lastEpoch = epoch;
      this.lastMs = this.lastSeq = -1;
    }
    const at = Number(publishedAt);
    let fresh = 0;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const a = line.indexOf('|');
      const id = line.slice(0, a);
      const dash = id.indexOf('-');
      const ms = Number(id.slice(0, dash));
      const seq = Number(id.slice(dash + 1));
      if (ms < this.lastMs || (ms === this.lastMs && seq <= this.lastSeq)) continue; // a repeat
      this.lastMs = ms;
      this.lastSeq = seq;
      fresh++;
      const b = line.indexOf('|', a + 1);
      const c = line.indexOf('|', b + 1);
      const topic = line.slice(b + 1, c);
      const event = new FeedEvent(this.shard, epoch, id, line.slice(a + 1, b), topic, line.slice(c + 1), at);
      for (const listener of this.everything) listener.onEvent(event);
      const set = this.byTopic.get(topic);
      if (set) for (const listener of set) listener.onEvent(event);
      this.hooks.onFannedOut?.(event);
    }
    this.hooks.onReceived?.(Buffer.byteLength(message), fresh);
    return epoch;
  }
}
