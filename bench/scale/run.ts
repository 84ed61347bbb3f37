/**
 * Scale-out benchmark (`npm run bench:scale`, `BENCH_QUICK=1 npm run bench:scale`).
 *
 * The same load spread over K = 1, 2 and 4 app instances (each K: fresh database, fresh key prefix,
 * one private redis-server for the run), in two phases measured apart:
 *   chat: users in direct pairs and groups of five, user i's socket on instance i mod K, a fixed
 *     number of messages at a steady rate;
 *   ticker: SSE subscribers over 1,000 symbols, instance i's subscribers holding the symbols
 *     s mod K = i, and tick batches covering every symbol, POSTed to instance 0.
 * Per instance, /metrics before and after each phase: chat fan-out received from Redis (items and
 * bytes) against that instance's share of the traffic, feed events received against the events of
 * the topics its subscribers hold, frames and messages written to its sockets; per K, Redis commands
 * (INFO commandstats) per chat message, less the cluster's idle rate. These are work counts: on a
 * two-core machine shared with other jobs, timings would say nothing about per-instance capacity.
 * Checks that every recipient got every message once and every subscriber every tick; a miss fails
 * the run.
 *
 * Then the Redis modes (BENCH_REDIS_MODES=single,cluster, the default; `none` skips them): the same
 * load with K = 2 on the private redis-server and on a private 3-master Redis Cluster
 * (redis-cluster.ts; sharded pub/sub), one after the other in this run, each also driven closed-loop
 * to saturation: chat messages acked/s, send → message:new p50/p99 at the fixed rate, ticker events/s
 * delivered, publish → frame p50/p99 at the fixed rate, Redis commands per chat message (summed over
 * the masters), and cluster ÷ single for each.
 * Writes bench/results/scale.json (BENCH_OUT; QUICK: bench/results/tmp/scale.json; the modes under
 * `redisModes`) and prints markdown tables.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../ticker/targets.js';
import { type ChatPlan, ChatLoad, type Seeded, seedChat } from './chat-load.js';
import { type Cluster, type PrivateRedis, dropPrefix, killAll, startCluster, startRedis } from './cluster.js';
import { type Snapshot, commandDelta, commandStats, delta, percentiles, pubsubChannels, scrape } from './metrics.js';
import { clusterUnavailable, startRedisCluster } from './redis-cluster.js';
import { TickerLoad, createInstruments } from './ticker-load.js';

const QUICK = process.env.BENCH_QUICK === '1';
const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '' && item !== 'none');
const KS = list(process.env.BENCH_KS ?? '1,2,4').map(Number);
if (KS.some((k) => !Number.isInteger(k) || k < 1))
  throw new Error(`BENCH_KS: whole numbers ≥ 1, not ${process.env.BENCH_KS}`);
type RedisMode = 'single' | 'cluster';
const MODES = list(process.env.BENCH_REDIS_MODES ?? 'single,cluster') as RedisMode[];
if (MODES.some((mode) => mode !== 'single' && mode !== 'cluster'))
  throw new Error(`BENCH_REDIS_MODES: single and/or cluster (or none), not ${process.env.BENCH_REDIS_MODES}`);
/** Instances in the Redis-mode comparison. */
const MODE_K = 2;
const CHAT: ChatPlan = QUICK
  ? { users: 100, groupSize: 5, messages: 500, ratePerSec: 400 }
  : { users: 200, groupSize: 5, messages: 2_000, ratePerSec: 400 };
const TICKER = { symbols: 1_000, perSubscription: 10, batches: QUICK ? 3 : 10, batchesPerSec: QUICK ? 3 : 2 };
/**
 * The Redis modes' saturated phases: every chat user keeps `perUser` sends in flight for `ms`; the
 * ticker publisher keeps `inFlight` POSTs of one tick per symbol in flight for `ms`, round-robin over
 * the instances.
 */
const SATURATE = {
  chat: { ms: QUICK ? 2_000 : 5_000, perUser: 1 },
  ticker: { ms: QUICK ? 2_000 : 5_000, inFlight: 4 },
};
const IDLE_MS = QUICK ? 1_000 : 3_000;
const SETTLE_MS = QUICK ? 1_000 : 1_500;
/** 4 minutes for the K runs (1.5 in QUICK), 2 more per Redis mode (1.25 in QUICK). */
const HARD_LIMIT_MS = ((QUICK ? 1.5 : 4) + MODES.length * (QUICK ? 1.25 : 2)) * 60_000;
const RATIO_GOAL = 1.25;

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits = 2) => Number(n.toFixed(digits));
const ratioOf = (a: number | undefined, b: number) => (a === undefined || b === 0 ? null : round(a / b));

/**
 * The checkout to measure: the working directory when it is ours (npm runs scripts there), else the
 * one above the compiled file. node_modules may be a symlink shared by several worktrees, so the
 * compiled file's own path can point into another checkout.
 */
function benchRoot(): string {
  try {
    if (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).name === 'live-feed-backend')
      return process.cwd();
  } catch {
    // not a checkout: fall through
  }
  return repoRoot();
}

const scrapeAll = (cluster: Cluster) => Promise.all(cluster.instances.map((instance) => scrape(instance.url)));

async function chatPhase(cluster: Cluster, redis: PrivateRedis, k: number, seeded: Seeded, saturate: boolean) {
  const urls = cluster.instances.map((instance) => instance.url);
  const load = new ChatLoad(seeded, k, urls);
  try {
    await load.connect();
    await sleep(SETTLE_MS); // presence signals of the connects are out of the window
    const idle0 = await commandStats(redis);
    await sleep(IDLE_MS);
    const idle = commandDelta(idle0, await commandStats(redis));
    const idlePerSec = idle.total / (IDLE_MS / 1000);

    const before = await scrapeAll(cluster);
    const cmd0 = await commandStats(redis);
    const t0 = Date.now();
    load.resetSamples();
    const sendMs = await load.send(CHAT);
    const expected = load.expectedDeliveries(CHAT);
    await load.drain(expected, 20_000, 300);
    const after = await scrapeAll(cluster);
    const commands = commandDelta(cmd0, await commandStats(redis));
    const phaseMs = Date.now() - t0;
    const latency = { delivery: percentiles(load.deliveryMs), ack: percentiles(load.ackMs) };

    const shares = load.shares(CHAT);
    const delivered = load.delivered();
    const traffic = CHAT.messages + load.receipts.size;
    const instances = cluster.instances.map((instance, i) => {
      const d = delta(before[i], after[i]);
      const received = d.fanoutReceived;
      return {
        id: instance.id,
        sockets: seeded.users.filter((u) => u.index % k === i).length,
        shareItems: shares[i].share,
        shareMessages: shares[i].messages,
        shareReceipts: shares[i].receipts,
        remoteItems: shares[i].remote,
        fanoutReceived: received ?? null,
        ratioToShare: ratioOf(received, shares[i].share),
        ratioToRemote: ratioOf(received, shares[i].remote),
        fractionOfAllTraffic: ratioOf(received, traffic),
        fanoutBytesReceived: d.fanoutBytes ?? null,
        bytesPerItem: ratioOf(d.fanoutBytes, received ?? 0),
        fanoutPublished: d.fanoutPublished ?? null,
        messagesDeliveredToSockets: d.chatDelivered ?? null,
      };
    });
    const idleInPhase = idlePerSec * (phaseMs / 1000);
    const failures: string[] = [];
    if (load.ackErrors > 0) failures.push(`${load.ackErrors} send errors (${load.firstError})`);
    if (load.acked !== CHAT.messages) failures.push(`acked ${load.acked}/${CHAT.messages}`);
    if (delivered !== expected) failures.push(`delivered ${delivered}/${expected}`);
    if (load.repeats > 0) failures.push(`${load.repeats} repeated deliveries`);
    const saturated = saturate && failures.length === 0 ? await chatSaturated(load, redis, idlePerSec) : undefined;
    if (saturated && !saturated.ok) failures.push(...saturated.failures.map((f) => `saturated: ${f}`));
    return {
      messages: CHAT.messages,
      ratePerSec: CHAT.ratePerSec,
      sendMs,
      phaseMs,
      /** send → message:new at each recipient and send → ack at the sender, at the plan's fixed rate. */
      latency,
      acked: load.acked,
      expectedDeliveries: expected,
      delivered,
      repeats: load.repeats,
      receipts: load.receipts.size,
      trafficItems: traffic,
      ok: failures.length === 0,
      failures,
      redis: {
        commands: commands.total,
        ...(redis.nodes.length > 1 ? { commandsByNode: commands.byNode } : {}),
        idleCommandsPerSec: round(idlePerSec, 1),
        commandsPerMessage: round(commands.total / CHAT.messages),
        netCommandsPerMessage: round((commands.total - idleInPhase) / CHAT.messages),
        // The router's own: PUBSUB NUMSUB (one per batch) and PUBLISH (one per conversation channel and batch).
        fanoutCommandsPerMessage: round(
          FANOUT_COMMANDS.reduce((sum, name) => sum + (commands.byCommand[name] ?? 0), 0) / CHAT.messages,
        ),
        byCommand: Object.fromEntries(Object.entries(commands.byCommand).slice(0, 10)),
        idleByCommand: Object.fromEntries(Object.entries(idle.byCommand).slice(0, 6)),
      },
      instances,
      ...(saturated ? { saturated } : {}),
    };
  } finally {
    load.close();
  }
}

/**
 * After the fixed-rate phase, on the same sockets: every user sends again as soon as its send is
 * acked (SATURATE.chat.perUser in flight each), for SATURATE.chat.ms. Throughput = acks that came
 * in during the window ÷ the window; then it drains and checks every message reached every other
 * member once.
 */
async function chatSaturated(load: ChatLoad, redis: PrivateRedis, idlePerSec: number) {
  const sent0 = load.sent;
  const delivered0 = load.delivered();
  const cmd0 = await commandStats(redis);
  const t0 = Date.now();
  load.resetSamples();
  const window = await load.sendClosedLoop(SATURATE.chat.ms, SATURATE.chat.perUser);
  const deliveredInWindow = load.delivered() - delivered0;
  const latency = { delivery: percentiles(load.deliveryMs), ack: percentiles(load.ackMs) };
  await load.drain(load.expectedFromSent, 20_000, 300);
  const commands = commandDelta(cmd0, await commandStats(redis));
  const phaseMs = Date.now() - t0;
  const sent = load.sent - sent0;
  const failures: string[] = [];
  if (load.ackErrors > 0) failures.push(`${load.ackErrors} send errors (${load.firstError})`);
  if (load.acked !== load.sent) failures.push(`acked ${load.acked}/${load.sent} over the phases`);
  if (load.delivered() !== load.expectedFromSent)
    failures.push(`delivered ${load.delivered()}/${load.expectedFromSent} over the phases`);
  if (load.repeats > 0) failures.push(`${load.repeats} repeated deliveries`);
  return {
    perUser: SATURATE.chat.perUser,
    inFlight: SATURATE.chat.perUser * load.connected,
    windowMs: Math.round(window.ms),
    sent,
    ackedInWindow: window.ackedInWindow,
    ackedPerSec: round(window.ackedInWindow / (window.ms / 1000), 0),
    deliveredInWindow,
    deliveredPerSec: round(deliveredInWindow / (window.ms / 1000), 0),
    /** Under saturation: a closed loop's queueing, not the latency at a given rate. */
    latency,
    phaseMs,
    redis: {
      commands: commands.total,
      ...(redis.nodes.length > 1 ? { commandsByNode: commands.byNode } : {}),
      commandsPerMessage: round(commands.total / Math.max(1, sent)),
      netCommandsPerMessage: round((commands.total - idlePerSec * (phaseMs / 1000)) / Math.max(1, sent)),
      byCommand: Object.fromEntries(Object.entries(commands.byCommand).slice(0, 10)),
    },
    ok: failures.length === 0,
    failures,
  };
}

async function tickerPhase(cluster: Cluster, redis: PrivateRedis, saturate: boolean) {
  const urls = cluster.instances.map((instance) => instance.url);
  const load = new TickerLoad(urls, TICKER.symbols, TICKER.perSubscription);
  try {
    await load.connect();
    await sleep(500);
    const channels = await pubsubChannels(redis, cluster.prefix);
    const before: Snapshot[] = await scrapeAll(cluster);
    const cmd0 = await commandStats(redis);
    load.resetSamples();
    const published = await load.publish(TICKER.batches, TICKER.batchesPerSec);
    const expected = TICKER.batches * TICKER.symbols;
    await load.drain(expected, 15_000);
    await sleep(300); // any frame beyond the expected ones shows in the counters too
    const after = await scrapeAll(cluster);
    const commands = commandDelta(cmd0, await commandStats(redis));
    const latency = percentiles(load.latencyMs);
    const instances = cluster.instances.map((instance, i) => {
      const d = delta(before[i], after[i]);
      const held = load.heldBy(i);
      const heldEvents = held * TICKER.batches;
      return {
        id: instance.id,
        subscribers: load.subscribers.filter((s) => s.instance === i).length,
        symbolsHeld: held,
        heldEvents,
        feedEventsReceived: d.feedEventsReceived ?? null,
        ratioToHeld: ratioOf(d.feedEventsReceived, heldEvents),
        fractionOfAllEvents: ratioOf(d.feedEventsReceived, expected),
        feedBytesReceived: d.feedBytesReceived ?? null,
        sseFramesWritten: d.sseFramesWritten ?? null,
        sseFramesConflated: d.sseFramesConflated ?? null,
        tickFramesAtClients: load.receivedBy(i),
      };
    });
    const received = load.received();
    const failures: string[] = [];
    if (published.accepted !== expected) failures.push(`accepted ${published.accepted}/${expected} ticks`);
    if (received !== expected) failures.push(`subscribers got ${received}/${expected} tick frames`);
    if (load.dropped > 0) failures.push(`${load.dropped} streams dropped`);
    const saturated =
      saturate && failures.length === 0 ? await tickerSaturated(cluster, load, redis, expected) : undefined;
    if (saturated && !saturated.ok) failures.push(...saturated.failures.map((f) => `saturated: ${f}`));
    return {
      symbols: TICKER.symbols,
      subscribers: load.subscribers.length,
      batches: TICKER.batches,
      batchesPerSec: TICKER.batchesPerSec,
      eventsPublished: published.accepted,
      publishMs: published.ms,
      tickFramesAtClients: received,
      /** The tick's ts (set as its POST leaves the driver) → its frame at the subscriber, at the fixed rate. */
      latency,
      ok: failures.length === 0,
      failures,
      pubsub: channels,
      redis: {
        commands: commands.total,
        ...(redis.nodes.length > 1 ? { commandsByNode: commands.byNode } : {}),
        commandsPerBatch: round(commands.total / TICKER.batches, 1),
        byCommand: Object.fromEntries(Object.entries(commands.byCommand).slice(0, 8)),
      },
      instances,
      ...(saturated ? { saturated } : {}),
    };
  } finally {
    load.close();
  }
}

/**
 * After the fixed-rate phase, on the same streams: SATURATE.ticker.inFlight POSTs of one tick per
 * symbol in flight for SATURATE.ticker.ms, round-robin over the instances. Delivered events/s = tick
 * frames that reached the subscribers during the window ÷ the window (each tick has exactly one
 * subscriber); then it drains and checks every accepted tick arrived (or was conflated by the server
 * for a slow stream, which its policy allows).
 */
async function tickerSaturated(cluster: Cluster, load: TickerLoad, redis: PrivateRedis, before: number) {
  const metrics0 = await scrapeAll(cluster);
  const cmd0 = await commandStats(redis);
  load.resetSamples();
  const window = await load.publishClosedLoop(SATURATE.ticker.ms, SATURATE.ticker.inFlight);
  const latency = percentiles(load.latencyMs);
  const expected = before + window.accepted;
  await load.drain(expected, 15_000);
  await sleep(300);
  const metrics1 = await scrapeAll(cluster);
  const commands = commandDelta(cmd0, await commandStats(redis));
  const conflated = metrics0.reduce((sum, m, i) => sum + (delta(m, metrics1[i]).sseFramesConflated ?? 0), 0);
  const received = load.received();
  const failures: string[] = [];
  if (window.accepted !== window.batches * TICKER.symbols)
    failures.push(`accepted ${window.accepted}/${window.batches * TICKER.symbols} ticks`);
  if (received + conflated < expected)
    failures.push(`subscribers got ${received} (+ ${conflated} conflated)/${expected} tick frames`);
  if (load.dropped > 0) failures.push(`${load.dropped} streams dropped`);
  return {
    inFlight: SATURATE.ticker.inFlight,
    windowMs: window.ms,
    batches: window.batches,
    eventsAccepted: window.accepted,
    acceptedPerSec: round(window.accepted / (window.ms / 1000), 0),
    framesInWindow: window.framesInWindow,
    eventsPerSec: round(window.framesInWindow / (window.ms / 1000), 0),
    framesConflated: conflated,
    /** Under saturation: includes the queue in front of a closed loop. */
    latency,
    redis: {
      commands: commands.total,
      ...(redis.nodes.length > 1 ? { commandsByNode: commands.byNode } : {}),
      commandsPerBatch: round(commands.total / Math.max(1, window.batches), 1),
      byCommand: Object.fromEntries(Object.entries(commands.byCommand).slice(0, 8)),
    },
    ok: failures.length === 0,
    failures,
  };
}

/**
 * K instances on `redis` with a fresh database and key prefix, the chat phase then the ticker phase;
 * `saturate` adds the closed-loop phases of the Redis-mode comparison; `label` names the run.
 */
async function runK(root: string, redis: PrivateRedis, runId: string, k: number, label = `K=${k}`, saturate = false) {
  const tag = label.toLowerCase().replace(/[^a-z0-9]+/g, '');
  const name = `livefeed_bench_scale_${runId}_${tag}`;
  const prefix = `bench:scale:${runId}:${tag}:`;
  const started = Date.now();
  let seeded: Seeded | undefined;
  // Instruments and chat users are made while the other instances boot: none of it is measured.
  const cluster = await startCluster(root, k, name, prefix, redis.env, async (first) => {
    [seeded] = await Promise.all([seedChat(first.databaseUrl, CHAT), createInstruments(first.url, TICKER.symbols)]);
  });
  const logs: Record<string, string> = {};
  const logged: Record<string, Record<string, number>> = {};
  try {
    log(
      `${label}: ${k} instance(s) ready, ${TICKER.symbols} instruments and ${CHAT.users} users made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const chat = await chatPhase(cluster, redis, k, seeded!, saturate);
    log(
      `${label} chat: delivered ${chat.delivered}/${chat.expectedDeliveries}, receipts ${chat.receipts}, ` +
        `${chat.redis.netCommandsPerMessage} Redis cmds/msg (net of idle), fan-out received ${chat.instances.map((i) => i.fanoutReceived).join(' / ')}, ` +
        `p50/p99 ${chat.latency.delivery.p50Ms}/${chat.latency.delivery.p99Ms} ms` +
        `${chat.saturated ? `; saturated ${chat.saturated.ackedPerSec} acks/s` : ''}` +
        `${chat.ok ? '' : ` FAILED: ${chat.failures.join('; ')}`}`,
    );
    await sleep(SETTLE_MS); // presence of the closed sockets settles outside the ticker window
    const ticker = await tickerPhase(cluster, redis, saturate);
    log(
      `${label} ticker: ${ticker.tickFramesAtClients}/${ticker.eventsPublished} tick frames, feed events received ` +
        `${ticker.instances.map((i) => i.feedEventsReceived ?? '?').join(' / ')}, p50/p99 ${ticker.latency.p50Ms}/${ticker.latency.p99Ms} ms` +
        `${ticker.saturated ? `; saturated ${ticker.saturated.eventsPerSec} events/s delivered` : ''}` +
        `${ticker.ok ? '' : ` FAILED: ${ticker.failures.join('; ')}`}`,
    );
    return { k, durationS: Math.round((Date.now() - started) / 1000), chat, ticker, logs, logged };
  } catch (error) {
    // The caller reports what the instances logged beside the error (filled in below, before it sees it).
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), { logs, logged });
  } finally {
    // What the instances logged (LOG_LEVEL=warn: warnings and errors only), for the JSON.
    for (const instance of cluster.instances) {
      const tail = instance.tail().trim();
      if (tail !== '') logs[instance.id] = tail;
      const counts = instance.logged();
      if (Object.keys(counts).length > 0) logged[instance.id] = counts;
    }
    for (const [id, counts] of Object.entries(logged))
      log(
        `${label}: ${id} logged ${Object.values(counts).reduce((a, b) => a + b, 0)} line(s): ${JSON.stringify(counts).slice(0, 300)}`,
      );
    await cluster.stop();
    await dropPrefix(redis, prefix).catch(() => undefined);
  }
}

type KResult = Awaited<ReturnType<typeof runK>>;

interface ModeResult {
  mode: RedisMode;
  redis?: { url: string; nodes: number; private: boolean };
  /** The run, when it went through (its checks may still have failed: chat.ok, ticker.ok). */
  run?: KResult;
  /** Why it did not run (a missing binary) or what stopped it, with the instances' log tails. */
  skipped?: string;
  error?: string;
  logs?: Record<string, string>;
  logged?: Record<string, Record<string, number>>;
  /**
   * What makes the comparison not hold for this mode: failed checks, and any line an instance logged
   * (at LOG_LEVEL=warn a clean run logs none; a warning such as a rate limiter letting sends through
   * changes the work done per message).
   */
  problems: string[];
}

/** K = MODE_K on each Redis mode in turn, each with the saturated phases; the cluster is started here and stopped after. */
async function runModes(root: string, single: PrivateRedis, runId: string): Promise<ModeResult[]> {
  const results: ModeResult[] = [];
  for (const mode of MODES) {
    const result: ModeResult = { mode, problems: [] };
    results.push(result);
    if (mode === 'cluster' && clusterUnavailable()) {
      result.skipped = clusterUnavailable();
      log(`Redis mode cluster skipped: ${result.skipped}`);
      continue;
    }
    let own: PrivateRedis | undefined;
    try {
      if (mode === 'cluster') {
        const t0 = Date.now();
        own = await startRedisCluster(3);
        log(`Redis mode cluster: 3 masters (${own.url}) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      const redis = own ?? single;
      result.redis = { url: redis.url, nodes: redis.nodes.length, private: redis.private };
      result.run = await runK(root, redis, runId, MODE_K, `${mode} K=${MODE_K}`, true);
      result.logged = result.run.logged;
      result.problems.push(...result.run.chat.failures.map((f) => `chat: ${f}`));
      result.problems.push(...result.run.ticker.failures.map((f) => `ticker: ${f}`));
    } catch (error) {
      result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
      result.logs = (error as { logs?: Record<string, string> }).logs;
      result.logged = (error as { logged?: Record<string, Record<string, number>> }).logged;
      result.problems.push(
        `did not complete: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      );
      log(`Redis mode ${mode} FAILED: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await own?.stop();
    }
  }
  for (const result of results) {
    for (const [id, counts] of Object.entries(result.logged ?? {})) {
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const [top, n] = Object.entries(counts)[0];
      result.problems.push(`${id} logged ${total} line(s), ${n} of them: ${top}`);
    }
  }
  return results;
}

/** The comparison's figures of one mode's run (null where it has none). */
function modeFigures(run: KResult | undefined) {
  return {
    chatAckedPerSec: run?.chat.saturated?.ackedPerSec ?? null,
    chatDeliveryP50Ms: run?.chat.latency.delivery.p50Ms ?? null,
    chatDeliveryP99Ms: run?.chat.latency.delivery.p99Ms ?? null,
    chatAckP99Ms: run?.chat.latency.ack.p99Ms ?? null,
    redisCommandsPerChatMessage: run?.chat.redis.netCommandsPerMessage ?? null,
    redisCommandsPerChatMessageSaturated: run?.chat.saturated?.redis.netCommandsPerMessage ?? null,
    tickerEventsPerSec: run?.ticker.saturated?.eventsPerSec ?? null,
    tickLatencyP50Ms: run?.ticker.latency.p50Ms ?? null,
    tickLatencyP99Ms: run?.ticker.latency.p99Ms ?? null,
    redisCommandsPerTickBatch: run?.ticker.redis.commandsPerBatch ?? null,
  };
}
type Figure = keyof ReturnType<typeof modeFigures>;

const FIGURES: [Figure, string][] = [
  ['chatAckedPerSec', 'chat: messages acked/s, saturated (closed loop)'],
  ['chatDeliveryP50Ms', `chat: send → message:new p50 ms, at ${CHAT.ratePerSec} msg/s`],
  ['chatDeliveryP99Ms', `chat: send → message:new p99 ms, at ${CHAT.ratePerSec} msg/s`],
  ['chatAckP99Ms', `chat: send → ack p99 ms, at ${CHAT.ratePerSec} msg/s`],
  [
    'redisCommandsPerChatMessage',
    `Redis commands / chat message (all nodes, net of idle), at ${CHAT.ratePerSec} msg/s`,
  ],
  ['redisCommandsPerChatMessageSaturated', 'Redis commands / chat message (all nodes, net of idle), saturated'],
  ['tickerEventsPerSec', 'ticker: events/s delivered, saturated (closed loop)'],
  ['tickLatencyP50Ms', `ticker: publish → frame p50 ms, at ${TICKER.batchesPerSec * TICKER.symbols} ticks/s`],
  ['tickLatencyP99Ms', `ticker: publish → frame p99 ms, at ${TICKER.batchesPerSec * TICKER.symbols} ticks/s`],
  ['redisCommandsPerTickBatch', `Redis commands / tick batch (${TICKER.symbols} ticks)`],
];

function modesReport(results: ModeResult[]) {
  const by = (mode: RedisMode) => results.find((r) => r.mode === mode);
  const single = modeFigures(by('single')?.run);
  const cluster = modeFigures(by('cluster')?.run);
  const summary = Object.fromEntries(
    FIGURES.map(([key]) => [
      key,
      {
        single: single[key],
        cluster: cluster[key],
        clusterVsSingle: ratioOf(cluster[key] ?? undefined, single[key] ?? 0),
      },
    ]),
  );
  const ok = results.every((r) => r.skipped !== undefined || r.problems.length === 0);
  return {
    k: MODE_K,
    order: MODES,
    method: {
      setup: `K = ${MODE_K} instances, fresh database and key prefix per mode, the same loads as the K runs; single: the run's private redis-server; cluster: a private Redis Cluster of 3 masters, no replicas (redis-server --cluster-enabled yes, redis-cli --cluster create), REDIS_CLUSTER_NODES = the 3 masters, FEED_SHARDS = 3, sharded pub/sub; the modes run one after the other in this order: ${MODES.join(', ')}`,
      chatThroughput: `after the fixed-rate phase, on the same sockets: every user keeps ${SATURATE.chat.perUser} message:send in flight, sending again as soon as it is acked, for ${SATURATE.chat.ms} ms; messages acked/s = acks (all ok) received during the window / the window; then drained and checked (every message to every other member once)`,
      chatLatency: `send → message:new at each recipient (and send → ack at the sender), over the fixed-rate phase (${CHAT.messages} messages at ${CHAT.ratePerSec}/s); the clients run in the driver process, one clock`,
      tickerThroughput: `after the fixed-rate phase, on the same streams: ${SATURATE.ticker.inFlight} POSTs of one tick per symbol (${TICKER.symbols}) in flight for ${SATURATE.ticker.ms} ms, round-robin over the instances; events/s delivered = tick frames that reached the subscribers during the window / the window (every tick has one subscriber)`,
      tickerLatency: `each tick's ts is the driver's Date.now() as its POST leaves; latency = arrival of its SSE frame − ts, over the fixed-rate phase (${TICKER.batches} batches of ${TICKER.symbols} ticks at ${TICKER.batchesPerSec}/s to instance 0)`,
      redisCommands: `INFO commandstats deltas summed over every node (the 3 masters on the cluster) over the chat phase (send + drain) / messages, less the idle rate measured for ${IDLE_MS} ms before with every socket connected`,
      ratio: 'clusterVsSingle = cluster / single, for each figure (latency and commands: below 1 is better)',
      caveat:
        'every instance, the load clients, Postgres and the Redis nodes share this machine: throughput is that of the whole machine; the ratio is what the cluster mode costs on it',
    },
    summary,
    ok,
    modes: Object.fromEntries(results.map((r) => [r.mode, r])),
  };
}

function printModes(report: ReturnType<typeof modesReport>): void {
  const show = (v: number | null) => (v === null ? '–' : v.toLocaleString('en-US'));
  console.log(`\n| Redis mode, K = ${report.k} | single redis-server | 3-master cluster | cluster ÷ single |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const [key, label] of FIGURES) {
    const row = report.summary[key];
    console.log(
      `| ${label} | ${show(row.single)} | ${show(row.cluster)} | ${row.clusterVsSingle === null ? '–' : `${row.clusterVsSingle}×`} |`,
    );
  }
  for (const mode of Object.values(report.modes)) {
    if (mode.skipped) console.log(`\n${mode.mode}: skipped (${mode.skipped})`);
    if (mode.problems.length > 0)
      console.log(`\n${mode.mode}: NOT COMPARABLE:\n${mode.problems.map((p) => `  - ${p}`).join('\n')}`);
    for (const [id, counts] of Object.entries(mode.logged ?? {}))
      console.log(`${mode.mode}: ${id} logged, by message: ${JSON.stringify(counts)}`);
    for (const [id, tail] of Object.entries(mode.logs ?? mode.run?.logs ?? {}))
      console.log(`${mode.mode}: ${id}, last lines:\n${tail.split('\n').slice(-6).join('\n')}`);
  }
}

/** The chat router's commands in INFO commandstats (sharded ones on a cluster). */
const FANOUT_COMMANDS = ['publish', 'pubsub|numsub', 'spublish', 'pubsub|shardnumsub'];

function goals(runs: KResult[]) {
  const scaled = runs.filter((r) => r.k > 1);
  const maxOf = (values: (number | null)[]) => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === values.length && known.length > 0 ? Math.max(...known) : null;
  };
  const chatRatio = maxOf(scaled.flatMap((r) => r.chat.instances.map((i) => i.ratioToShare)));
  const feedRatio = maxOf(scaled.flatMap((r) => r.ticker.instances.map((i) => i.ratioToHeld)));
  // K = 1 publishes nothing (no other instance); constancy is asked of the scaled-out runs.
  const perMessage = scaled.map((r) => r.chat.redis.netCommandsPerMessage);
  const spread =
    perMessage.length > 0 ? round(Math.max(...perMessage) / Math.max(0.01, Math.min(...perMessage))) : null;
  return {
    chatFanoutVsShare: {
      goal: `<= ${RATIO_GOAL} (K > 1, every instance)`,
      max: chatRatio,
      met: chatRatio !== null && chatRatio <= RATIO_GOAL,
    },
    feedEventsVsHeld: {
      goal: `<= ${RATIO_GOAL} (K > 1, every instance)`,
      max: feedRatio,
      met: feedRatio === null ? null : feedRatio <= RATIO_GOAL,
      ...(feedRatio === null
        ? { note: 'feed_events_received_total{feed="ticker"} not exported by this build: unknown' }
        : {}),
    },
    redisCommandsPerMessageConstant: {
      goal: `max/min over K > 1 of net commands per message <= ${RATIO_GOAL}`,
      perK: Object.fromEntries(runs.map((r) => [r.k, r.chat.redis.netCommandsPerMessage])),
      fanoutPerK: Object.fromEntries(runs.map((r) => [r.k, r.chat.redis.fanoutCommandsPerMessage])),
      spread,
      met: spread !== null && spread <= RATIO_GOAL,
    },
    correctness: { met: runs.every((r) => r.chat.ok && r.ticker.ok) },
  };
}

function printTable(runs: KResult[]): void {
  const show = (v: number | null | undefined) => (v === null || v === undefined ? '?' : String(v));
  console.log(
    '\n| K | instance | chat share (items) | fan-out received | ratio | bytes from Redis | msgs delivered to sockets | ticker events held | feed events received | ratio | SSE frames written |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of runs) {
    run.chat.instances.forEach((c, i) => {
      const t = run.ticker.instances[i];
      console.log(
        `| ${run.k} | ${i} | ${c.shareItems} | ${show(c.fanoutReceived)} | ${show(c.ratioToShare)} | ${show(c.fanoutBytesReceived)} | ${show(c.messagesDeliveredToSockets)} | ${t.heldEvents} | ${show(t.feedEventsReceived)} | ${show(t.ratioToHeld)} | ${show(t.sseFramesWritten)} |`,
      );
    });
  }
  console.log(
    '\n| K | chat msgs | delivered / expected | receipts | Redis cmds/msg | net of idle | of which fan-out | ticker frames / published | Redis cmds/batch | pub/sub channels (subscriptions) |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of runs) {
    console.log(
      `| ${run.k} | ${run.chat.messages} | ${run.chat.delivered} / ${run.chat.expectedDeliveries} | ${run.chat.receipts} | ${run.chat.redis.commandsPerMessage} | ${run.chat.redis.netCommandsPerMessage} | ${run.chat.redis.fanoutCommandsPerMessage} | ${run.ticker.tickFramesAtClients} / ${run.ticker.eventsPublished} | ${run.ticker.redis.commandsPerBatch} | ${run.ticker.pubsub.channels} (${run.ticker.pubsub.subscriptions}) |`,
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = benchRoot();
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const runId = randomBytes(3).toString('hex');
  const redis = await startRedis();
  log(
    `${QUICK ? 'QUICK ' : ''}run ${runId}: K = ${KS.join(', ') || 'none'}; Redis modes at K = ${MODE_K}: ${MODES.join(', ') || 'none'}; ${CHAT.users} chat users, ${CHAT.messages} messages at ${CHAT.ratePerSec}/s; ` +
      `${TICKER.symbols} symbols, ${TICKER.batches} batches; Redis ${redis.private ? `private (${redis.url})` : `shared (${redis.url})`}`,
  );
  const runs: KResult[] = [];
  let modes: ModeResult[] = [];
  try {
    for (const k of KS) runs.push(await runK(root, redis, runId, k));
    if (MODES.length > 0) modes = await runModes(root, redis, runId);
  } finally {
    await redis.stop();
  }
  const redisModes = MODES.length > 0 ? modesReport(modes) : undefined;
  const result = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memMb: Math.round(os.totalmem() / 1048576) },
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    durationS: Math.round((Date.now() - started) / 1000),
    method: {
      chat: `${CHAT.users} users: half in direct pairs, half in groups of ${CHAT.groupSize}; user i on instance i mod K; ${CHAT.messages} messages (message j from user j mod ${CHAT.users}) at ${CHAT.ratePerSec}/s; clients ack every message:new (which makes delivered receipts)`,
      chatShare:
        "an instance's share: messages and receipts with at least one recipient socket there (remoteItems: of those, the ones that started on another instance, the least any fan-out must carry); ratio = chat_fanout_received_total delta / share",
      ticker: `${TICKER.symbols} instruments; ${TICKER.symbols / TICKER.perSubscription} SSE subscribers of ${TICKER.perSubscription} symbols each, instance i's holding the symbols s mod K = i; ${TICKER.batches} batches of one tick per symbol at ${TICKER.batchesPerSec}/s POSTed to instance 0; ratio = feed_events_received_total{feed="ticker"} delta / events of the symbols held`,
      redis: `${redis.private ? 'a private redis-server for the run' : 'the shared Redis (counts include other clients)'}; INFO commandstats delta over the chat phase (send + drain) / messages; net = less the cluster's idle rate (measured for ${IDLE_MS} ms before, sockets connected) × phase duration`,
      caveat: 'two cores shared with other jobs: these are work counts per instance, not throughput',
    },
    runs,
    goals: goals(runs),
    ...(redisModes ? { redisModes } : {}),
  };
  // A QUICK run is a smoke test: it writes beside the committed results (git-ignored), not over them.
  const out =
    process.env.BENCH_OUT ?? join(root, 'bench', 'results', ...(QUICK ? ['tmp', 'scale.json'] : ['scale.json']));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  if (runs.length > 0) {
    printTable(runs);
    console.log(`\ngoals: ${JSON.stringify(result.goals)}`);
  }
  if (redisModes) printModes(redisModes);
  log(`wrote ${out} (${result.durationS} s)`);
  if (!result.goals.correctness.met) {
    console.error('bench:scale FAILED: a recipient or subscriber missed something (see "failures" in the JSON)');
    process.exitCode = 1;
  }
  if (redisModes && !redisModes.ok) {
    console.error('bench:scale FAILED: a Redis mode did not run or its checks failed (see "redisModes" in the JSON)');
    process.exitCode = 1;
  }
}

const watchdog = setTimeout(() => {
  console.error(`bench:scale: hard time limit (${HARD_LIMIT_MS / 60_000} min) reached; stopping`);
  killAll();
  process.exit(2);
}, HARD_LIMIT_MS);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}
main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    killAll();
    process.exit(1);
  },
);
