/**
 * Mixed soak (`npm run soak`; `SOAK_MINUTES=1` for a short one). The whole product at once, for a
 * while, then a reconciliation of everything against Postgres and the receivers:
 *   - two app instances (`node dist/main.js`), one database, one Redis prefix;
 *   - ticker: SOAK_TICK_RATE ticks/s (1,000) over SOAK_SYMBOLS symbols (100), POSTed in batches to
 *     both instances; scores: SOAK_SCORE_RATE goals/s (5) over SOAK_MATCHES matches (20);
 *   - SOAK_SSE subscribers (5,000) over both instances (sse-clients.ts), SOAK_SCORES_SHARE (0.1) of
 *     them on scores, the rest on one ticker symbol each;
 *   - SOAK_CHAT_USERS socket.io users (500) in direct pairs spanning both instances, each sending
 *     every SOAK_CHAT_INTERVAL_MS (5,000) (chat-clients.ts);
 *   - SOAK_INBOUND_RATE signed Stripe events/s (100) to `/webhooks/stripe`; whatever gets no 2xx is
 *     sent again at the end, as Stripe would;
 *   - SOAK_ENDPOINTS outbound endpoints (20) on a local receiver (receiver.ts): every one takes
 *     score.* and match.*, the first SOAK_PAYMENT_ENDPOINTS (1) also payment.*; i % 5 = 4 are slow
 *     (200–1,000 ms), i % 5 = 2 fail 30 % of requests with 500.
 * Every SOAK_SAMPLE_S (10) s: RSS of each instance (/proc), event-loop lag p99 from its /metrics,
 * open streams, errors so far. After the run: a drain (at most SOAK_DRAIN_S, 300 s) until everything
 * is delivered, then the reconciliation, the RSS verdict (mean of the last third of the samples vs
 * the middle third: < 10 % growth) and bench/results/soak.json (SOAK_OUT).
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import Stripe from 'stripe';
import { nextEvent } from '../inbound/load.js';
import { httpJson } from '../ticker/publisher.js';
import { dropRedisPrefix, readRssBytes } from '../ticker/targets.js';
import { BENCH_RATE_LIMITS } from '../rate-limits.js';
import { appArgs, freePort } from '../processes.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const P = {
  minutes: num('SOAK_MINUTES', 10),
  tickRate: num('SOAK_TICK_RATE', 1_000),
  symbols: num('SOAK_SYMBOLS', 100),
  sse: num('SOAK_SSE', 5_000),
  scoresShare: num('SOAK_SCORES_SHARE', 0.1),
  scoreRate: num('SOAK_SCORE_RATE', 5),
  matches: num('SOAK_MATCHES', 20),
  chatUsers: num('SOAK_CHAT_USERS', 500),
  chatIntervalMs: num('SOAK_CHAT_INTERVAL_MS', 5_000),
  inboundRate: num('SOAK_INBOUND_RATE', 100),
  endpoints: num('SOAK_ENDPOINTS', 20),
  // Outbound offered = 5 goals/s × 20 endpoints + 100 payments/s × this. On the 2-core machine with
  // everything else of the soak running, dispatch sustained ~290 deliveries/s (4 payment endpoints,
  // ~480/s offered, fell behind by ~190/s), so the default keeps the offered load (~200/s) under it.
  paymentEndpoints: num('SOAK_PAYMENT_ENDPOINTS', 1),
  sampleS: num('SOAK_SAMPLE_S', 10),
  drainS: num('SOAK_DRAIN_S', 300),
};
const RSS_GROWTH_LIMIT = 0.1;
const ADMIN_API_KEY = 'soak-admin-key-0123456789';
const ADMIN = { Authorization: `Bearer ${ADMIN_API_KEY}` };
const STRIPE_SECRET = 'whsec_soak_0123456789abcdef';
const PG_URL = process.env.SOAK_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
const DATABASE = 'livefeed_soak';
const REDIS_PREFIX = `soak:${randomBytes(4).toString('hex')}:`;

const started = Date.now();
const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set<ChildProcess>();
const killAll = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL'));
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const r1 = (x: number) => Math.round(x * 10) / 10;

function root(): string {
  const cwd = process.cwd();
  if (JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')).name !== 'live-feed-backend') {
    throw new Error('run from the repository root (npm run soak)');
  }
  if (!existsSync(join(cwd, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  return cwd;
}

async function sql<T = any>(text: string, params: unknown[] = [], database = DATABASE): Promise<T[]> {
  const client = new pg.Client({ connectionString: `${PG_URL}/${database}` });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A forked helper process, one IPC command → one reply. */
class Helper {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<any>;

  constructor(file: string) {
    this.child = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.child);
    let onReady: (v: any) => void;
    this.ready = new Promise((resolve) => (onReady = resolve));
    this.child.on('message', (msg: any) => {
      if (msg.ready) return onReady(msg);
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    });
    this.child.once('exit', (code) => {
      children.delete(this.child);
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${file} exited (${code})`));
    });
  }

  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd} timed out`)), timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  async exit(): Promise<void> {
    await this.call('exit', {}, 5_000).catch(() => undefined);
    await sleep(200);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

interface Instance {
  port: number;
  pid: number;
  child: ChildProcess;
  errorLines: number;
  lastErrors: string[];
}

async function startInstance(repo: string, i: number): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, appArgs(repo), {
    cwd: repo,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      // Feed clients read without credentials (feed access by plan: the anonymous plan reads everything).
      FEED_ANONYMOUS_ACCESS: 'all',
      PORT: String(port),
      HOST: '127.0.0.1',
      INSTANCE_ID: `soak-${i}`,
      DATABASE_URL: `${PG_URL}/${DATABASE}`,
      DATABASE_POOL_SIZE: '20',
      REDIS_KEY_PREFIX: REDIS_PREFIX,
      ADMIN_API_KEY,
      JWT_SECRET: 'soak-jwt-secret-0123456789-0123456789',
      LOG_LEVEL: 'warn',
      ...BENCH_RATE_LIMITS,
      DEMO_MODE: 'false',
      MAX_SSE_CONNECTIONS: '50000',
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
      CHAT_MESSAGES_PER_MINUTE: '100000',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      OUTBOUND_RETRY_SCHEDULE: '1,2,5,10,10,10,10,10,10,10,10,10',
      OUTBOUND_REQUEST_TIMEOUT_MS: '5000',
      OUTBOUND_RECONCILE_INTERVAL_MS: '10000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const instance: Instance = { port, pid: child.pid!, child, errorLines: 0, lastErrors: [] };
  let tail = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    for (const line of text.split('\n')) {
      if (/"level":(50|60)|\bERROR\b|\bFATAL\b/.test(line)) {
        instance.errorLines++;
        instance.lastErrors = [...instance.lastErrors, line.slice(0, 300)].slice(-5);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance ${i} exited (${child.exitCode}):\n${tail}`);
    const ready = await httpJson('GET', port, '/health/ready').catch(() => undefined);
    if (ready?.status === 200) return instance;
    if (Date.now() > deadline) throw new Error(`instance ${i} not ready in 90 s:\n${tail}`);
    await sleep(250);
  }
}

/** Runs `fn` over `items` with `concurrency` at once. */
async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i], i);
    }),
  );
  return out;
}

async function must(port: number, method: string, path: string, body?: unknown, headers = ADMIN) {
  const res = await httpJson(method, port, path, body, headers);
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** POST of exact bytes (a signed webhook must arrive as it was signed). */
function postRaw(port: number, path: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Metrics the soak reads from an instance's /metrics. */
async function scrape(port: number): Promise<{ lagP99Ms: number | null; sseOpen: number | null }> {
  try {
    const res = await httpJson('GET', port, '/metrics', undefined, {}, agent, 5_000);
    const text = String(res.body);
    const lag = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
    let open = 0;
    for (const m of text.matchAll(/^sse_connections_open\{[^}]*\} (\S+)$/gm)) open += Number(m[1]);
    return { lagP99Ms: lag ? r1(Number(lag[1]) * 1000) : null, sseOpen: open };
  } catch {
    return { lagP99Ms: null, sseOpen: null };
  }
}

/** Calls `tick` every `everyMs` until stopped; awaits nothing (each call handles its own errors). */
function every(everyMs: number, tick: () => void): () => void {
  const timer = setInterval(tick, everyMs);
  return () => clearInterval(timer);
}

async function main(): Promise<void> {
  const repo = root();
  log(`params ${JSON.stringify(P)}`);
  await sql(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`, [], 'postgres');

  const receiver = new Helper('./receiver.js');
  const { port: receiverPort } = await receiver.ready;
  const instances = [await startInstance(repo, 0)];
  instances.push(await startInstance(repo, 1));
  const ports = instances.map((i) => i.port);
  log(`instances on ${ports.join(', ')} (pids ${instances.map((i) => i.pid).join(', ')}), receiver on ${receiverPort}`);

  // --- setup through the public API -------------------------------------------------------------
  const symbols = Array.from({ length: P.symbols }, (_, i) => `S${String(i).padStart(3, '0')}`);
  await pool(symbols, 10, (symbol) => must(ports[0], 'POST', '/admin/ticker/instruments', { symbol, name: symbol }));
  const routes = await pool(Array.from({ length: P.endpoints }), 5, async (_, i) => {
    const path = `/ep-${i}`;
    const eventTypes = i < P.paymentEndpoints ? ['score.*', 'match.*', 'payment.*'] : ['score.*', 'match.*'];
    // Slow receivers (200–1,000 ms) take the score feed only: one on the payment firehose (100/s)
    // would need ~60 requests in flight by itself, the whole default dispatch concurrency of both
    // instances (see the README's sizing note). A failing one (i = 2) does take payments.
    const behaviour = i % 5 === 4 ? 'slow' : i % 5 === 2 ? 'failing' : 'ok';
    const ep = await must(ports[0], 'POST', '/admin/webhooks/endpoints', {
      url: `http://127.0.0.1:${receiverPort}${path}`,
      eventTypes,
      description: `soak ${behaviour}`,
    });
    return { path, secret: ep.secret as string, behaviour, id: ep.id as string, eventTypes };
  });
  await receiver.call('routes', { routes });
  // After the endpoints: the kickoffs are domain events they subscribe to.
  const matchIds = await pool(Array.from({ length: P.matches }), 5, async (_, i) => {
    const m = await must(ports[0], 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: `Soak Home ${i}`,
      awayTeam: `Soak Away ${i}`,
      startsAt: new Date().toISOString(),
    });
    await must(ports[1], 'POST', `/admin/scores/matches/${m.id}/events`, { kind: 'kickoff' });
    return m.id as string;
  });
  const users = await pool(Array.from({ length: P.chatUsers - (P.chatUsers % 2) }), 10, async (_, i) => {
    const user = await must(ports[i % 2], 'POST', '/admin/users', { name: `soak-${i}` });
    const { token } = await must(ports[i % 2], 'POST', `/admin/users/${user.id}/tokens`, {});
    return { id: user.id as string, token: token as string, conversationId: '', partner: i % 2 ? i - 1 : i + 1 };
  });
  await pool(
    users.filter((_, i) => i % 2 === 0),
    10,
    async (user) => {
      const partner = users[user.partner];
      const conversation = await must(
        ports[0],
        'POST',
        '/chat/conversations',
        { type: 'direct', userId: partner.id },
        { Authorization: `Bearer ${user.token}` },
      );
      user.conversationId = partner.conversationId = conversation.id;
    },
  );
  log(
    `setup: ${symbols.length} symbols, ${matchIds.length} matches, ${routes.length} endpoints, ${users.length} users`,
  );

  // --- clients ------------------------------------------------------------------------------------
  const sse = new Helper('./sse-clients.js');
  const scoresSubs = Math.round(P.sse * P.scoresShare);
  const tickerSubs = P.sse - scoresSubs;
  const conn = await sse.call('connect', {
    ports,
    ticker: Array.from({ length: tickerSubs }, (_, i) => symbols[i % symbols.length]),
    scores: Array.from({ length: scoresSubs }, (_, i) => matchIds[i % matchIds.length]),
  });
  log(`sse: ${conn.opened}/${P.sse} subscribers in ${conn.ms} ms`);
  const chat = new Helper('./chat-clients.js');
  const chatConn = await chat.call('connect', { urls: ports.map((p) => `http://127.0.0.1:${p}`), users });
  log(`chat: ${chatConn.connected}/${users.length} users connected in ${chatConn.ms} ms`);

  // --- load -----------------------------------------------------------------------------------------
  const counts = {
    ticks: { acked: 0, refused: 0, firstError: '' },
    scores: { acked: 0, refused: 0, firstError: '' },
    inbound: { acked: 0, refused: 0, firstError: '' },
  };
  /** Highest acknowledged price per symbol (prices only grow). */
  const lastPrice = new Map<string, number>();
  /**
   * The feed's own latest price per symbol (`GET /ticker/quotes`, kept in Redis by the publish
   * script). A ticker subscriber is behind if its last price is not that one. (The highest
   * acknowledged price is not the reference: batches are POSTed to both instances, and two in flight
   * at once for the same symbol are published in the order they reach Redis.)
   */
  const feedLatest = async () => {
    const res = await httpJson('GET', ports[0], '/ticker/quotes', undefined, {}, agent);
    return new Map<string, number>(
      (res.body as { quotes: { symbol: string; price: number }[] }).quotes.map((q) => [q.symbol, q.price]),
    );
  };
  const behindOf = (latest: Map<string, number>) => (symbol: string, price: number) =>
    latest.has(symbol) && price !== latest.get(symbol);
  const scoreEvents: { matchId: string; id: string; seq: number }[] = [];
  const inboundAcked = new Set<string>();
  const inboundPending = new Map<string, string>(); // id → body, not acknowledged yet
  const fail = (what: keyof typeof counts, why: string) => {
    counts[what].refused++;
    counts[what].firstError ||= why;
  };

  let tickSeq = 0;
  let turn = 0;
  const tickEveryMs = 20;
  let owedTicks = 0;
  let ticksFrom = Date.now();
  const stopTicks = every(tickEveryMs, () => {
    // By elapsed time, so a late timer (a busy machine) does not lower the rate.
    const now = Date.now();
    owedTicks += (P.tickRate * (now - ticksFrom)) / 1000;
    ticksFrom = now;
    const n = Math.min(1_000, Math.floor(owedTicks)); // MAX_TICKS_PER_BATCH
    if (n <= 0) return;
    owedTicks -= n;
    const ts = Date.now();
    const ticks = Array.from({ length: n }, () => {
      const price = ++tickSeq;
      return { symbol: symbols[price % symbols.length], price, ts };
    });
    httpJson('POST', ports[turn++ % 2], '/admin/ticker/ticks', { ticks }, ADMIN, agent).then(
      (res) => {
        if (res.status !== 202) return fail('ticks', `${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        counts.ticks.acked += n;
        for (const t of ticks) if ((lastPrice.get(t.symbol) ?? 0) < t.price) lastPrice.set(t.symbol, t.price);
      },
      (error: Error) => fail('ticks', error.message),
    );
  });

  let goal = 0;
  let owedGoals = 0;
  let goalsFrom = Date.now();
  const postGoal = () => {
    const n = goal++;
    const matchId = matchIds[n % matchIds.length];
    httpJson(
      'POST',
      ports[n % 2],
      `/admin/scores/matches/${matchId}/events`,
      { kind: 'score', team: n % 3 ? 'home' : 'away' },
      ADMIN,
      agent,
    ).then(
      (res) => {
        if (res.status !== 201) return fail('scores', `${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        counts.scores.acked++;
        scoreEvents.push({ matchId, id: res.body.event.id, seq: res.body.event.seq });
      },
      (error: Error) => fail('scores', error.message),
    );
  };
  const stopScores = every(50, () => {
    const now = Date.now();
    owedGoals += (P.scoreRate * (now - goalsFrom)) / 1000;
    goalsFrom = now;
    for (; owedGoals >= 1; owedGoals--) postGoal();
  });

  const sendInbound = async (body: string, port: number) => {
    const id = (JSON.parse(body) as { id: string }).id;
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_SECRET });
    try {
      const status = await postRaw(port, '/webhooks/stripe', body, {
        'content-type': 'application/json',
        'stripe-signature': signature,
      });
      if (status >= 200 && status < 300) {
        inboundAcked.add(id);
        inboundPending.delete(id);
        counts.inbound.acked++;
      } else {
        inboundPending.set(id, body);
        fail('inbound', `HTTP ${status}`);
      }
    } catch (error) {
      inboundPending.set(id, body);
      fail('inbound', (error as Error).message);
    }
  };
  let owedInbound = 0;
  let inboundTurn = 0;
  let inboundFrom = Date.now();
  const stopInbound = every(10, () => {
    const now = Date.now();
    owedInbound += (P.inboundRate * (now - inboundFrom)) / 1000;
    inboundFrom = now;
    for (; owedInbound >= 1; owedInbound--) void sendInbound(nextEvent(), ports[inboundTurn++ % 2]);
  });

  await chat.call('start', { intervalMs: P.chatIntervalMs });

  // --- samples ------------------------------------------------------------------------------------
  const samples: any[] = [];
  const sample = async () => {
    const t = Math.round((Date.now() - loadStarted) / 1000);
    const perInstance = await Promise.all(
      instances.map(async (inst) => {
        let rssMb: number | null = null;
        try {
          rssMb = r1(readRssBytes(inst.pid) / 1_048_576);
        } catch {
          // exited
        }
        return {
          rssMb,
          ...(await scrape(inst.port)),
          errorLines: inst.errorLines,
          alive: inst.child.exitCode === null,
        };
      }),
    );
    const [s, c] = await Promise.all([sse.call('report'), chat.call('report')]);
    const row = {
      t,
      instances: perInstance,
      sse: { open: s.open, reconnects: s.reconnects, resets: s.resets, tickP50Ms: s.tickP50Ms, tickP99Ms: s.tickP99Ms },
      chat: {
        connected: c.connected,
        acked: c.acked,
        undelivered: c.undelivered,
        sendErrors: c.sendErrors,
        disconnects: c.disconnects,
      },
      posted: { ticks: counts.ticks.acked, scores: counts.scores.acked, inbound: counts.inbound.acked },
      refused: { ticks: counts.ticks.refused, scores: counts.scores.refused, inbound: counts.inbound.refused },
    };
    samples.push(row);
    log(
      `t=${t}s rss ${perInstance.map((p) => p.rssMb).join('/')} MB, lag p99 ${perInstance.map((p) => p.lagP99Ms).join('/')} ms, ` +
        `streams ${s.open}/${P.sse} (reconnects ${s.reconnects}), chat ${c.connected} users ${c.acked} msgs (undelivered ${c.undelivered}), ` +
        `ticks ${counts.ticks.acked}, goals ${counts.scores.acked}, inbound ${counts.inbound.acked}, refused ${counts.ticks.refused}/${counts.scores.refused}/${counts.inbound.refused}`,
    );
  };
  const loadStarted = Date.now();
  const durationMs = P.minutes * 60_000;
  log(`load running for ${P.minutes} min`);
  while (Date.now() - loadStarted < durationMs) {
    await sleep(Math.min(P.sampleS * 1000, durationMs - (Date.now() - loadStarted)));
    await sample();
  }
  stopTicks();
  stopScores();
  stopInbound();
  const chatStop = await chat.call('stop');
  log(`load stopped${chatStop.pendingAcks ? ` (${chatStop.pendingAcks} chat acks still pending)` : ''}; draining`);

  // --- drain: retries by the "provider", then wait for every delivery -------------------------------
  await sleep(1_000);
  const drainDeadline = Date.now() + P.drainS * 1000;
  for (let round = 0; inboundPending.size > 0 && round < 5; round++) {
    await pool([...inboundPending.values()], 16, (body, i) => sendInbound(body, ports[i % 2]));
    if (inboundPending.size > 0) await sleep(2_000);
  }
  const lastGoal = new Map<string, number>();
  for (const e of scoreEvents) lastGoal.set(e.matchId, Math.max(lastGoal.get(e.matchId) ?? 0, e.seq));
  let state: Record<string, unknown>;
  for (;;) {
    const [inbound] = await sql<{ processed: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'processed')::int AS processed, count(*)::int AS total FROM inbound_events`,
    );
    const [outbox] = await sql<{ pending: number }>(
      `SELECT count(*)::int AS pending FROM outbox_events WHERE processed_at IS NULL`,
    );
    const [deliveries] = await sql<{ pending: number }>(
      `SELECT count(*)::int AS pending FROM webhook_deliveries WHERE status <> 'succeeded'`,
    );
    const c = await chat.call('report');
    const s = await sse.call('report', { final: true });
    const scoresBehind = s.scores.filter((x: any) => (x.max ?? 0) < (lastGoal.get(x.match) ?? 0)).length;
    const behind = behindOf(await feedLatest());
    const tickerBehind = s.tickerLast.filter(([symbol, price]: [string, number]) => behind(symbol, price)).length;
    state = {
      inboundUnprocessed: inbound.total - inbound.processed,
      outboxPending: outbox.pending,
      deliveriesPending: deliveries.pending,
      chatUndelivered: c.undelivered,
      scoresSubscribersBehind: scoresBehind,
      tickerSubscribersBehind: tickerBehind,
    };
    if (Object.values(state).every((v) => v === 0) || Date.now() > drainDeadline) break;
    await sleep(2_000);
  }
  const drainS = Math.round((Date.now() - (drainDeadline - P.drainS * 1000)) / 1000);
  log(`drain: ${drainS} s, ${JSON.stringify(state)}`);

  // --- reconciliation ------------------------------------------------------------------------------
  const sseFinal = await sse.call('report', { final: true });
  const chatFinal = await chat.call('report', { final: true });
  const receiverFinal = await receiver.call('report', { ids: true });

  // Scores: every acknowledged goal is in Postgres once; each match's timeline has no hole; every
  // subscriber of a match has every seq from its first to the last, none twice.
  const stored = await sql<{ id: string; match_id: string; seq: number }>(
    `SELECT id, match_id, seq FROM match_events WHERE kind = 'score'`,
  );
  const storedIds = new Set(stored.map((r) => r.id));
  const scoresRec = {
    acked: scoreEvents.length,
    stored: stored.length,
    missing: scoreEvents.filter((e) => !storedIds.has(e.id)).length,
    unacknowledgedButStored: stored.length - scoreEvents.filter((e) => storedIds.has(e.id)).length,
    timelineHoles: (
      await sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT match_id FROM match_events GROUP BY match_id HAVING count(*) <> max(seq)) t`,
      )
    )[0].n,
    subscribers: sseFinal.scores.length,
    subscribersMissingEvents: 0,
    subscriberRepeats: 0,
  };
  const maxSeq = new Map<string, number>();
  for (const r of await sql<{ match_id: string; max: number }>(
    `SELECT match_id, max(seq)::int AS max FROM match_events GROUP BY match_id`,
  ))
    maxSeq.set(r.match_id, r.max);
  // Subscribers connected after the kickoffs (seq 1) and before the first goal: they must have 2..max.
  for (const sub of sseFinal.scores as { match: string; seqs: number[]; repeats: number; min: number | null }[]) {
    const goals = sub.seqs.filter((seq) => seq >= 2); // seq 1, the kickoff, may come before or in the snapshot
    const want = Math.max(0, (maxSeq.get(sub.match) ?? 1) - 1);
    if (goals.length !== want || (want > 0 && goals[0] !== 2)) scoresRec.subscribersMissingEvents++;
    scoresRec.subscriberRepeats += sub.repeats;
  }

  // Chat: every acknowledged message is in Postgres once (by its client id) and reached its recipient.
  const messageRows = await sql<{ id: string; client_msg_id: string }>(
    `SELECT id, client_msg_id FROM messages WHERE client_msg_id LIKE 'soak-%'`,
  );
  const byClientId = new Map<string, number>();
  for (const r of messageRows) byClientId.set(r.client_msg_id, (byClientId.get(r.client_msg_id) ?? 0) + 1);
  const messageIds = new Set(messageRows.map((r) => r.id));
  const chatRec = {
    acked: chatFinal.messages.length,
    stored: messageRows.length,
    missing: chatFinal.messages.filter(([, id]: string[]) => !messageIds.has(id)).length,
    storedTwice: [...byClientId.values()].filter((n) => n > 1).length,
    undelivered: chatFinal.undelivered,
    repeatsAtClients: chatFinal.repeats,
    sendErrors: chatFinal.sendErrors,
    ackP50Ms: chatFinal.ackP50Ms,
    ackP99Ms: chatFinal.ackP99Ms,
  };

  // Inbound: every acknowledged event is stored once, processed, and its domain event recorded once.
  const inboundRows = await sql<{ external_id: string; status: string; domain_events: number }>(
    // One pass over each table (a correlated subquery per event ran for minutes at 60,000 events).
    `SELECT e.external_id, e.status, coalesce(o.n, 0)::int AS domain_events
     FROM inbound_events e
     LEFT JOIN (SELECT data->>'stripeEventId' AS id, count(*) AS n FROM outbox_events
                WHERE type = 'payment.succeeded' GROUP BY 1) o ON o.id = e.external_id
     WHERE e.provider = 'stripe'`,
  );
  const inboundById = new Map(inboundRows.map((r) => [r.external_id, r]));
  const inboundRec = {
    acked: inboundAcked.size,
    neverAcked: inboundPending.size,
    stored: inboundRows.length,
    missing: [...inboundAcked].filter((id) => !inboundById.has(id)).length,
    notProcessed: inboundRows.filter((r) => r.status !== 'processed').length,
    domainEventsNotOnce: inboundRows.filter((r) => r.domain_events !== 1).length,
  };

  // Outbound: every domain event of a subscribed type became one message; each message was delivered
  // to every subscribed endpoint, and each endpoint's receiver processed each webhook-id once.
  // The facts' types only: operational events (endpoint.recovered after a failing endpoint's first
  // success, …) are messages too, of types no soak endpoint subscribes to.
  const FACTS = `(type LIKE 'score.%' OR type LIKE 'match.%' OR type LIKE 'payment.%')`;
  const [{ events }] = await sql<{ events: number }>(
    `SELECT count(*)::int AS events FROM outbox_events WHERE ${FACTS}`,
  );
  const messages = await sql<{ webhook_id: string; type: string }>(
    `SELECT webhook_id, type FROM webhook_messages WHERE ${FACTS}`,
  );
  const deliveries = await sql<{ endpoint_id: string; webhook_id: string; status: string }>(
    `SELECT d.endpoint_id, m.webhook_id, d.status FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id`,
  );
  const outboundRec = {
    domainEvents: events,
    messages: messages.length,
    expectedDeliveries: 0,
    deliveries: deliveries.length,
    succeeded: deliveries.filter((d) => d.status === 'succeeded').length,
    missingAtReceiver: 0,
    extraAtReceiver: 0,
    repeatsAbsorbed: 0,
    sameFactTwice: 0,
    failedOnPurpose: 0,
    badSignatures: 0,
  };
  for (const route of routes) {
    const subscribed = messages.filter((m) => route.eventTypes.some((t) => m.type.startsWith(t.slice(0, -1))));
    outboundRec.expectedDeliveries += subscribed.length;
    const got = receiverFinal.routes[route.path];
    const processed = new Set<string>(got.processedIds);
    outboundRec.missingAtReceiver += subscribed.filter((m) => !processed.has(m.webhook_id)).length;
    const wanted = new Set(subscribed.map((m) => m.webhook_id));
    outboundRec.extraAtReceiver += [...processed].filter((id) => !wanted.has(id)).length;
    outboundRec.repeatsAbsorbed += got.repeats;
    outboundRec.sameFactTwice += got.factTwice;
    outboundRec.failedOnPurpose += got.failedOnPurpose;
    outboundRec.badSignatures += got.badSignatures;
  }

  // Ticker: only the latest matters; every subscriber ends on its symbol's latest price in the feed,
  // and that price is one the driver sent.
  const latestFinal = await feedLatest();
  const behind = behindOf(latestFinal);
  const tickerRec = {
    symbolsLatestNotSent: [...latestFinal].filter(([s, price]) => !(price <= (lastPrice.get(s) ?? 0))).length,
    symbolsLatestBelowHighestAcked: [...latestFinal].filter(([s, price]) => price < (lastPrice.get(s) ?? 0)).length,
    acked: counts.ticks.acked,
    subscribers: sseFinal.tickerLast.length,
    notOnLatest: sseFinal.tickerLast.filter(([symbol, price]: [string, number]) => behind(symbol, price)).length,
    frames: sseFinal.tickFrames,
    p50Ms: sseFinal.tickP50Ms,
    p99Ms: sseFinal.tickP99Ms,
  };

  // --- RSS and lag ----------------------------------------------------------------------------------
  const third = Math.max(1, Math.floor(samples.length / 3));
  const rss = instances.map((_, i) => {
    const series = samples.map((s) => s.instances[i].rssMb).filter((x: number | null): x is number => x !== null);
    const middle = mean(series.slice(third, 2 * third));
    const last = mean(series.slice(series.length - third));
    const growth = (last - middle) / middle;
    return {
      series,
      middleThirdMeanMb: r1(middle),
      lastThirdMeanMb: r1(last),
      growthPct: r1(growth * 100),
      levelsOff: Number.isFinite(growth) && growth < RSS_GROWTH_LIMIT,
    };
  });
  const lag = instances.map((_, i) => {
    const series = samples.map((s) => s.instances[i].lagP99Ms).filter((x: number | null): x is number => x !== null);
    return { maxMs: series.length ? Math.max(...series) : null, meanMs: series.length ? r1(mean(series)) : null };
  });
  const errors = {
    appErrorLogLines: instances.map((i) => i.errorLines),
    lastAppErrors: instances.flatMap((i) => i.lastErrors),
    instancesDied: instances.filter((i) => i.child.exitCode !== null).length,
    refused: { ticks: counts.ticks.refused, scores: counts.scores.refused, inbound: counts.inbound.refused },
    firstRefusals: {
      ticks: counts.ticks.firstError,
      scores: counts.scores.firstError,
      inbound: counts.inbound.firstError,
    },
    chatSendErrors: chatFinal.sendErrors,
    sseReconnects: sseFinal.reconnects,
    sseConnectErrors: sseFinal.connectErrors,
    chatDisconnects: chatFinal.disconnects,
  };

  const failures: string[] = [];
  const zero = (what: string, value: number) => value !== 0 && failures.push(`${what}: ${value}`);
  zero('score events missing from Postgres', scoresRec.missing);
  zero('score timelines with holes', scoresRec.timelineHoles);
  zero('score subscribers missing events', scoresRec.subscribersMissingEvents);
  zero('chat messages missing from Postgres', chatRec.missing);
  zero('chat messages stored twice', chatRec.storedTwice);
  zero('chat messages not delivered to their recipient', chatRec.undelivered);
  zero('inbound events acknowledged but not stored', inboundRec.missing);
  zero('inbound events never acknowledged (after retries)', inboundRec.neverAcked);
  zero('inbound events not processed', inboundRec.notProcessed);
  zero('inbound events whose domain event is not recorded exactly once', inboundRec.domainEventsNotOnce);
  zero('domain events without an outbound message', outboundRec.domainEvents - outboundRec.messages);
  zero('outbound deliveries not made', outboundRec.expectedDeliveries - outboundRec.succeeded);
  zero('outbound messages missing at an endpoint', outboundRec.missingAtReceiver);
  zero('unexpected outbound messages at an endpoint', outboundRec.extraAtReceiver);
  zero('one fact under two webhook-ids', outboundRec.sameFactTwice);
  zero('ticker subscribers not on the latest price', tickerRec.notOnLatest);
  zero('ticker symbols whose latest price was never sent', tickerRec.symbolsLatestNotSent);
  zero('instances that died', errors.instancesDied);
  rss.forEach(
    (r, i) => !r.levelsOff && failures.push(`instance ${i} RSS grew ${r.growthPct} % (last third vs middle third)`),
  );

  const result = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memMb: Math.round(os.totalmem() / 1_048_576),
      kernel: `${os.type()} ${os.release()}`,
    },
    node: process.version,
    date: new Date().toISOString(),
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo }).toString().trim();
      } catch {
        return undefined;
      }
    })(),
    durationS: Math.round((Date.now() - started) / 1000),
    params: P,
    rates: {
      ticksPerSec: Math.round(counts.ticks.acked / (durationMs / 1000)),
      goalsPerSec: r1(counts.scores.acked / (durationMs / 1000)),
      chatMsgsPerSec: r1(chatFinal.acked / (durationMs / 1000)),
      inboundPerSec: r1(counts.inbound.acked / (durationMs / 1000)),
      outboundDeliveriesPerSec: r1(outboundRec.succeeded / (durationMs / 1000)),
    },
    verdict: { pass: failures.length === 0, failures, rssGrowthLimitPct: RSS_GROWTH_LIMIT * 100 },
    rss,
    eventLoopLagP99: lag,
    errors,
    drain: { seconds: drainS, state },
    reconciliation: { scores: scoresRec, chat: chatRec, inbound: inboundRec, outbound: outboundRec, ticker: tickerRec },
    samples,
  };
  const out = process.env.SOAK_OUT ?? join(repo, 'bench', 'results', 'soak.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

  await sse.exit();
  await chat.exit();
  await receiver.exit();
  for (const inst of instances) {
    inst.child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => inst.child.once('exit', resolve)), sleep(12_000)]);
  }
  await dropRedisPrefix(REDIS_PREFIX).catch(() => undefined);

  console.log('');
  console.log(`Soak: ${P.minutes} min, 2 instances; ${JSON.stringify(result.rates)}`);
  console.log(
    `RSS per instance (middle third → last third): ${rss.map((r) => `${r.middleThirdMeanMb} → ${r.lastThirdMeanMb} MB (${r.growthPct} %)`).join('; ')}`,
  );
  console.log(`Event-loop lag p99 (max of samples): ${lag.map((l) => `${l.maxMs} ms`).join(', ')}`);
  console.log(`Reconciliation: ${JSON.stringify(result.reconciliation)}`);
  console.log(`Errors: ${JSON.stringify({ ...errors, lastAppErrors: errors.lastAppErrors.length })}`);
  console.log(
    result.verdict.pass
      ? 'VERDICT: PASS (nothing lost, nothing twice, RSS levels off)'
      : `VERDICT: FAIL\n- ${failures.join('\n- ')}`,
  );
  console.log(`wrote ${out}`);
  process.exitCode = result.verdict.pass ? 0 : 1;
}

const watchdog = setTimeout(
  () => {
    console.error('soak: hard time limit reached; stopping');
    killAll();
    process.exit(2);
  },
  (P.minutes * 60 + P.drainS + 600) * 1000,
);
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
