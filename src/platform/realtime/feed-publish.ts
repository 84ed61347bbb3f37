/**
 * The publish half of a feed: one script call that XADDs a batch to the feed's log, keeps the
 * latest event per topic if asked, and PUBLISHes the batch per topic channel (and whole, while an
 * instance announced an everything-listener; topic-channels.ts).
 */
import { randomBytes } from 'node:crypto';
import type { RedisService } from '#src/platform/redis/redis.service.js';
import type { FeedDefinition } from './feed-event.js';
import { allListenersKey, feedChannel } from './topic-channels.js';

/**
 * KEYS: stream, epoch, latest, all-listeners, then the once-markers of the events that have one (an
 * event published before under the same marker is not published again).
 * ARGV: maxlen, new epoch, keepLatest, now (also publishedAt), whole-batch channel, the publish
 * command (PUBLISH, or SPUBLISH on a cluster: every channel shares the keys' hash tag), then per
 * topic: its channel, the topic, n, and n × (type, data, its once-marker's KEYS index or 0). Events are grouped by topic (the caller keeps
 * the first-seen order of topics and each topic's own order), so ids ascend across the messages
 * of one batch; the whole batch goes first (feed-fanout.ts relies on both).
 */
const PUBLISH_SCRIPT = `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
end
local header = epoch .. '|' .. ARGV[4]
local all = {}
local ids = {}
local perTopic = {}
local i = 7
while i <= #ARGV do
  local channel, topic, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local lines = {}
  for _ = 1, n do
    local kind, data, once = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    i = i + 3
    if once == 0 or redis.call('SET', KEYS[once], '1', 'NX', 'PX', 86400000) then
      local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', kind, 'k', topic, 'd', data, 'p', ARGV[4])
      if ARGV[3] == '1' then redis.call('HSET', KEYS[3], topic, id .. '|' .. data) end
      local line = id .. '|' .. kind .. '|' .. topic .. '|' .. data
      lines[#lines + 1] = line
      all[#all + 1] = line
      ids[#ids + 1] = id
    end
  end
  if #lines > 0 then
    perTopic[#perTopic + 1] = channel
    perTopic[#perTopic + 1] = header .. '\\n' .. table.concat(lines, '\\n')
  end
end
if #all > 0 and redis.call('ZCOUNT', KEYS[4], ARGV[4], '+inf') > 0 then
  redis.call(ARGV[6], ARGV[5], header .. '\\n' .. table.concat(all, '\\n'))
end
for m = 1, #perTopic, 2 do redis.call(ARGV[6], perTopic[m], perTopic[m + 1]) end
return {epoch, ids}
`;

export interface NewFeedEvent {
  type: string;
  /** The topic field (a symbol, a match id); must not contain `|` or a newline. */
  topic: string;
  data: unknown;
  /**
   * A marker naming this event (e.g. its outbox event): published at most once per day under it, so
   * a retry of a publish that ran after all (a timeout, then the reconnect) is not published twice.
   */
  once?: string;
}

export interface FeedKeys {
  base: string;
  stream: string;
  epoch: string;
  latest: string;
}

export function feedKeys(base: string): FeedKeys {
  return { base, stream: `${base}:log`, epoch: `${base}:epoch`, latest: `${base}:latest` };
}

/** Publishes `events` (non-empty, all of one log) in one round trip; returns the log's epoch. */
export async function publishBatch(
  redis: Pick<RedisService, 'publisher' | 'publishCommand'>,
  keys: FeedKeys,
  definition: FeedDefinition,
  events: NewFeedEvent[],
): Promise<string> {
  // Grouped by topic in first-seen order (see PUBLISH_SCRIPT).
  const groups = new Map<string, number[]>();
  events.forEach((event, i) => {
    const group = groups.get(event.topic);
    if (group) group.push(i);
    else groups.set(event.topic, [i]);
  });
  const args: string[] = [
    String(definition.maxLength),
    randomBytes(8).toString('hex'),
    definition.keepLatest ? '1' : '0',
    String(Date.now()),
    feedChannel(keys.base),
    redis.publishCommand,
  ];
  const onceKeys: string[] = [];
  for (const [topic, indexes] of groups) {
    args.push(feedChannel(keys.base, topic), topic, String(indexes.length));
    for (const i of indexes) {
      const { type, data, once } = events[i];
      if (once !== undefined) onceKeys.push(`${keys.base}:once:${once}`);
      args.push(type, JSON.stringify(data), once === undefined ? '0' : String(4 + onceKeys.length));
    }
  }
  const [epoch] = (await redis.publisher.eval(
    PUBLISH_SCRIPT,
    4 + onceKeys.length,
    keys.stream,
    keys.epoch,
    keys.latest,
    allListenersKey(keys.base),
    ...onceKeys,
    ...args,
  )) as [string, string[]];
  return epoch;
}
