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
 * the run. Writes bench/results/scale.json (BENCH_OUT) and prints a markdown table.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../ticker/targets.js';
import { type ChatPlan, ChatLoad, type Seeded, seedChat } from './chat-load.js';
import { type Cluster, type PrivateRedis, dropPrefix, killAll, startCluster, startRedis } from './cluster.js';
import { type Snapshot, commandDelta, commandStats, delta, pubsubChannels, scrape } from './metrics.js';
import { TickerLoad, createInstruments } from './ticker-load.js';

const QUICK = process.env.BENCH_QUICK === '1';
const KS = (process.env.BENCH_KS ?? '1,2,4').split(',').map(Number);
const CHAT: ChatPlan = QUICK
  ? { users: 100, groupSize: 5, messages: 500, ratePerSec: 400 }
  : { users: 200, groupSize: 5, messages: 2_000, ratePerSec: 400 };
const TICKER = { symbols: 1_000, perSubscription: 10, batches: QUICK ? 3 : 10, batchesPerSec: QUICK ? 3 : 2 };
const IDLE_MS = QUICK ? 1_000 : 3_000;
const SETTLE_MS = QUICK ? 1_000 : 1_500;
const HARD_LIMIT_MS = (QUICK ? 1.5 : 4) * 60_000;
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

async function chatPhase(cluster: Cluster, redis: PrivateRedis, k: number, seeded: Seeded) {
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
    const sendMs = await load.send(CHAT);
    const expected = load.expectedDeliveries(CHAT);
    await load.drain(expected, 20_000, 300);
    const after = await scrapeAll(cluster);
    const commands = commandDelta(cmd0, await commandStats(redis));
    const phaseMs = Date.now() - t0;

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
    return {
      messages: CHAT.messages,
      sendMs,
      phaseMs,
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
    };
  } finally {
    load.close();
  }
}

async function tickerPhase(cluster: Cluster, redis: PrivateRedis) {
  const urls = cluster.instances.map((instance) => instance.url);
  const load = new TickerLoad(urls, TICKER.symbols, TICKER.perSubscription);
  try {
    await load.connect();
    await sleep(500);
    const channels = await pubsubChannels(redis, cluster.prefix);
    const before: Snapshot[] = await scrapeAll(cluster);
    const cmd0 = await commandStats(redis);
    const published = await load.publish(TICKER.batches, TICKER.batchesPerSec);
    const expected = TICKER.batches * TICKER.symbols;
    await load.drain(expected, 15_000);
    await sleep(300); // any frame beyond the expected ones shows in the counters too
    const after = await scrapeAll(cluster);
    const commands = commandDelta(cmd0, await commandStats(redis));
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
    return {
      symbols: TICKER.symbols,
      subscribers: load.subscribers.length,
      batches: TICKER.batches,
      eventsPublished: published.accepted,
      publishMs: published.ms,
      tickFramesAtClients: received,
      ok: failures.length === 0,
      failures,
      pubsub: channels,
      redis: {
        commands: commands.total,
        commandsPerBatch: round(commands.total / TICKER.batches, 1),
        byCommand: Object.fromEntries(Object.entries(commands.byCommand).slice(0, 8)),
      },
      instances,
    };
  } finally {
    load.close();
  }
}

async function runK(root: string, redis: PrivateRedis, runId: string, k: number) {
  const name = `livefeed_bench_scale_${runId}_k${k}`;
  const prefix = `bench:scale:${runId}:k${k}:`;
  const started = Date.now();
  let seeded: Seeded | undefined;
  // Instruments and chat users are made while the other instances boot: none of it is measured.
  const cluster = await startCluster(root, k, name, prefix, redis.env, async (first) => {
    [seeded] = await Promise.all([seedChat(first.databaseUrl, CHAT), createInstruments(first.url, TICKER.symbols)]);
  });
  try {
    log(
      `K=${k}: ${k} instance(s) ready, ${TICKER.symbols} instruments and ${CHAT.users} users made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const chat = await chatPhase(cluster, redis, k, seeded!);
    log(
      `K=${k} chat: delivered ${chat.delivered}/${chat.expectedDeliveries}, receipts ${chat.receipts}, ` +
        `${chat.redis.netCommandsPerMessage} Redis cmds/msg (net of idle), fan-out received ${chat.instances.map((i) => i.fanoutReceived).join(' / ')}` +
        `${chat.ok ? '' : ` FAILED: ${chat.failures.join('; ')}`}`,
    );
    await sleep(SETTLE_MS); // presence of the closed sockets settles outside the ticker window
    const ticker = await tickerPhase(cluster, redis);
    log(
      `K=${k} ticker: ${ticker.tickFramesAtClients}/${ticker.eventsPublished} tick frames, feed events received ` +
        `${ticker.instances.map((i) => i.feedEventsReceived ?? '?').join(' / ')}${ticker.ok ? '' : ` FAILED: ${ticker.failures.join('; ')}`}`,
    );
    return { k, durationS: Math.round((Date.now() - started) / 1000), chat, ticker };
  } finally {
    await cluster.stop();
    await dropPrefix(redis, prefix).catch(() => undefined);
  }
}

type KResult = Awaited<ReturnType<typeof runK>>;

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
    `${QUICK ? 'QUICK ' : ''}run ${runId}: K = ${KS.join(', ')}; ${CHAT.users} chat users, ${CHAT.messages} messages at ${CHAT.ratePerSec}/s; ` +
      `${TICKER.symbols} symbols, ${TICKER.batches} batches; Redis ${redis.private ? `private (${redis.url})` : `shared (${redis.url})`}`,
  );
  const runs: KResult[] = [];
  try {
    for (const k of KS) runs.push(await runK(root, redis, runId, k));
  } finally {
    await redis.stop();
  }
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
  };
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'results', 'scale.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  printTable(runs);
  console.log(`\ngoals: ${JSON.stringify(result.goals)}`);
  log(`wrote ${out} (${result.durationS} s)`);
  if (!result.goals.correctness.met) {
    console.error('bench:scale FAILED: a recipient or subscriber missed something (see "failures" in the JSON)');
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
