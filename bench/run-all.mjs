#!/usr/bin/env node
/**
 * `npm run bench`: every scenario's benchmark, one after the other, each beside its baseline in the
 * same run, then one summary.
 *
 *   1. builds the app if dist/ is missing (or BENCH_BUILD=1), compiles bench/ into dist/bench/;
 *   2. runs each scenario's driver (`dist/bench/<name>/run.js`, what `npm run bench:<name>` runs)
 *      with a time limit; a scenario without a `bench:<name>` script is skipped with a note. Each
 *      writes its own JSON: bench/results/<name>.json, or bench/results/tmp/<name>.json in QUICK;
 *      meanwhile the peak RSS of every app instance (`dist/main.js`) it started is sampled;
 *   3. writes bench/results/latest.json: { scenario: { ours, baseline, ratio, unit, p50, p99, rssMb } }
 *      plus machine, node, date, quick, and regenerates the README table between
 *      `<!-- bench:start -->` and `<!-- bench:end -->`.
 *
 * Env: BENCH_QUICK=1 (each scenario for a few seconds, smaller loads), BENCH_ONLY=ticker,scores,
 * BENCH_BUILD=1. `node bench/run-all.mjs --readme` only regenerates the table from latest.json.
 * Loopback only; every child is killed if this process is stopped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const QUICK = process.env.BENCH_QUICK === '1';
const root = process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (pkg.name !== 'live-feed-backend') {
  console.error('run from the repository root: npm run bench');
  process.exit(1);
}
const log = (line) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const r2 = (x) => (x == null || Number.isNaN(x) ? null : Math.round(x * 100) / 100);
const ratio = (a, b) => (a == null || !b ? null : r2(a / b));

/**
 * The scenarios, in run order. `quickEnv` trims the QUICK run to fit a few minutes in all;
 * `summary(json)` picks the headline numbers out of the scenario's own JSON.
 */
const SCENARIOS = [
  {
    name: 'ticker',
    title: 'Ticker fan-out',
    unit: 'delivered frames/s',
    method:
      'N SSE subscribers of `/ticker/stream` (10 symbols), ticks POSTed at rising rates; the highest rate delivered on time with p99 ≤ 100 ms, vs a bare `node:http` fan-out server; latency at half the bare server’s sustained rate.',
    baselineName: 'bare node:http SSE fan-out',
    quickEnv: { BENCH_N: '500', BENCH_TARGETS: 'bare,ours' },
    limitS: { quick: 150, full: 1200 },
    summary(json) {
      const ns = Object.keys(json.scenarios)
        .filter((key) => key.startsWith('ours@') && !json.scenarios[key].error)
        .map((key) => Number(key.slice(5)))
        .filter((n) => json.scenarios[`bare@${n}`] && !json.scenarios[`bare@${n}`].error);
      const n = Math.max(...ns);
      if (!Number.isFinite(n)) return undefined;
      const ours = json.scenarios[`ours@${n}`];
      const bare = json.scenarios[`bare@${n}`];
      const unsustained = [ours.sustained ? '' : 'ours', bare.sustained ? '' : 'bare'].filter(Boolean);
      return {
        notes: unsustained.map(
          (t) => `${t}@${n} passed no step: its figure is the peak on-time rate, not a sustained one`,
        ),
        ours: ours.framesPerSec,
        baseline: bare.framesPerSec,
        p50: ours.p50Ms,
        p99: ours.p99Ms,
        load: `N = ${n} subscribers`,
        extra: { subscribers: n, baselineP99: bare.p99Ms, rssPerConnKb: ours.rssPerConnKb },
      };
    },
  },
  {
    name: 'scores',
    title: 'Scores fan-out',
    unit: 'events/s (persisted, fanned out)',
    method:
      'M matches, N SSE subscribers of `/scores/stream`, events POSTed to `/admin/scores/matches/:id/events` in a closed loop (one statement: match, timeline and outbox; then relay + Redis feed), vs bare `node:http` + one Postgres INSERT per event + fan-out; latency POST → frame at half ours’ rate.',
    baselineName: 'node:http + pg INSERT + fan-out',
    quickEnv: { BENCH_SUBSCRIBERS: '500' },
    limitS: { quick: 150, full: 900 },
    summary(json) {
      const o = json.scenarios.ours;
      const b = json.scenarios.baseline;
      if (!o || o.error || !b || b.error) return undefined;
      return {
        ours: o.eventsPerSec,
        baseline: b.eventsPerSec,
        p50: o.p50Ms,
        p99: o.p99Ms,
        load: `N = ${o.subscribers} subscribers, ${o.matches} matches`,
        extra: { framesPerSec: o.framesPerSec, baselineFramesPerSec: b.framesPerSec, baselineP99: b.p99Ms },
      };
    },
  },
  {
    name: 'chat',
    title: 'Chat',
    unit: 'messages/s (persisted, delivered)',
    method:
      'Users in direct conversations over two instances (socket.io, Redis adapter), send rate ramped while every ack is ok and delivery keeps up, vs single-row INSERTs at the same pool size; latency send → receive at half the sustained rate.',
    baselineName: 'raw single-row INSERTs',
    quickEnv: { BENCH_USERS: '200', BENCH_TARGETS: 'ours' },
    limitS: { quick: 150, full: 900 },
    summary(json) {
      const o = json.scenarios?.ours;
      if (!o || o.error) return undefined;
      return {
        ours: o.sustainedMsgsPerSec,
        baseline: json.rawInsertsPerSec?.mean ?? null,
        p50: o.p50Ms,
        p99: o.p99Ms,
        load: `${o.users} users`,
        extra: { relayMsgsPerSec: json.scenarios.relay?.sustainedMsgsPerSec ?? null },
      };
    },
  },
  {
    name: 'inbound',
    title: 'Inbound webhooks',
    unit: 'events/s (verified, stored)',
    method:
      'Signed Stripe events POSTed to `/webhooks/stripe` in a closed loop (verify, store, queue; processed in the background), vs a bare Fastify route with the same HMAC check and INSERT; latency at half the bare rate.',
    baselineName: 'Fastify + HMAC + INSERT',
    quickEnv: {},
    limitS: { quick: 150, full: 900 },
    summary(json) {
      const o = json.targets?.ours;
      const b = json.targets?.bare;
      if (!o || !b) return undefined;
      return {
        ours: o.sustained.eventsPerSec,
        baseline: b.sustained.eventsPerSec,
        p50: o.latency.p50Ms,
        p99: o.latency.p99Ms,
        load: `${json.method?.connections ?? '?'} connections`,
        extra: { latencyEventsPerSec: o.latency.rate, baselineP99: b.latency.p99Ms },
      };
    },
  },
  {
    name: 'outbound',
    title: 'Outbound webhooks',
    unit: 'deliveries/s (signed, logged)',
    method:
      'A burst of domain events through the outbox to signed POSTs on a local sink (one BullMQ pump job per endpoint claiming deliveries from Postgres in batches, every attempt logged), vs a raw undici loop that signs and POSTs from memory; latency enqueue → receive at half ours’ rate.',
    baselineName: 'raw undici loop',
    quickEnv: { BENCH_ROUNDS: '1', BENCH_N: '1000' },
    limitS: { quick: 150, full: 900 },
    summary(json) {
      const o = json.scenarios?.ours;
      const b = json.scenarios?.raw;
      if (!o || o.error || !b) return undefined;
      return {
        ours: o.burst?.deliveriesPerSec ?? null,
        baseline: b.burst?.deliveriesPerSec ?? null,
        // The bench's own ratio: the median of per-round ratios (rounds run back to back).
        ratio: json.ratios?.oursVsRaw?.deliveriesPerSec ?? undefined,
        p50: o.latency?.p50Ms ?? null,
        p99: o.latency?.p99Ms ?? null,
        load: `${json.n ?? '?'} messages per burst, concurrency ${json.concurrency ?? '?'}`,
        extra: {
          baselineP99: b.latency?.p99Ms ?? null,
          bullmqDeliveriesPerSec: json.scenarios?.bullmq?.burst?.deliveriesPerSec ?? null,
        },
      };
    },
  },
];

/** Children of `pid`, recursively, from /proc. */
function descendants(pid) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift();
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Peak VmRSS (MB) of any one app instance started under `pid`, sampled until `stop()`. */
function sampleAppRss(pid) {
  const main = join(root, 'dist', 'main.js');
  let peak = 0;
  const timer = setInterval(() => {
    for (const child of descendants(pid)) {
      try {
        if (!readFileSync(`/proc/${child}/cmdline`, 'utf8').includes(main)) continue;
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kb / 1024);
      } catch {
        // exited meanwhile
      }
    }
  }, 500);
  return () => {
    clearInterval(timer);
    return peak ? Math.round(peak) : null;
  };
}

const running = new Set();
function run(command, args, env, limitS) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: root, env, stdio: 'inherit', detached: true });
    running.add(child);
    const stopRss = sampleAppRss(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${args.join(' ')}: time limit (${limitS} s) reached; stopping it`);
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone
      }
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }, 10_000).unref();
    }, limitS * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, timedOut, seconds: Math.round((Date.now() - started) / 1000), rssMb: stopRss() });
    });
  });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.exit(130);
  });
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    memMb: Math.round(os.totalmem() / 1_048_576),
    kernel: `${os.type()} ${os.release()}`,
  };
}

function table(latest) {
  const m = latest.machine;
  const lines = [
    `Measured ${latest.date.slice(0, 10)} on ${m.cpus} × ${m.cpuModel}, ${Math.round(m.memMb / 1024)} GB, Node ${latest.node}` +
      `${latest.commit ? `, commit ${latest.commit}` : ''}, with \`${latest.command}\` (${latest.durationS} s` +
      `${latest.quick ? '; QUICK: a few seconds per scenario, smaller loads, a smoke check more than a measurement' : ''}).` +
      ' Ours and its baseline run in the same run, on the same machine, over loopback.',
    '',
    '| scenario | unit | ours | baseline | × baseline | p50 ms | p99 ms | peak RSS MB | load |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const fmt = (x) => (x == null ? '–' : Number(x).toLocaleString('en'));
  for (const s of SCENARIOS) {
    const row = latest.scenarios[s.name];
    if (!row) continue;
    if (row.skipped || row.error) {
      lines.push(
        `| ${s.title} | ${s.unit} | ${row.skipped ? 'skipped' : 'failed'}: ${row.skipped ?? row.error} | | | | | | |`,
      );
      continue;
    }
    lines.push(
      `| ${s.title} | ${row.unit} | ${fmt(row.ours)} | ${fmt(row.baseline)} (${s.baselineName}) | ${row.ratio == null ? '–' : `${row.ratio}×`} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${fmt(row.rssMb)} | ${row.load ?? ''} |`,
    );
  }
  lines.push(
    '',
    `How each is measured (details in \`bench/README.md\`; each scenario's own JSON is in \`bench/results/${latest.quick ? 'tmp/` for a QUICK run, not committed' : '`'}):`,
    '',
  );
  for (const s of SCENARIOS) if (latest.scenarios[s.name]) lines.push(`- **${s.title}**: ${s.method}`);
  if (latest.notes.length) {
    lines.push('', 'Notes from this run:', '');
    for (const note of latest.notes) lines.push(`- ${note}`);
  }
  return lines.join('\n');
}

function updateReadme(latest) {
  const file = join(root, 'README.md');
  const text = readFileSync(file, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) {
    log('README.md has no bench markers; table not written');
    return;
  }
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${table(latest)}\n${text.slice(b)}`);
  log('README.md table regenerated');
}

/** Every .ts file under bench/, with the path of its compiled twin. */
function benchSources(dir = join(root, 'bench'), rel = '') {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name !== 'results')
      out.push(...benchSources(join(dir, entry.name), join(rel, entry.name)));
    else if (entry.isFile() && entry.name.endsWith('.ts'))
      out.push({
        src: join(dir, entry.name),
        out: join(root, 'dist', 'bench', rel, entry.name.replace(/\.ts$/, '.js')),
      });
  }
  return out;
}

/** dist/bench/ has every bench file, newer than its source (a second run skips the ~20 s compile). */
function benchIsCompiled() {
  return benchSources().every(({ src, out }) => existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs);
}

function compileBench() {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'bench/tsconfig.json', '--outDir', 'dist/bench'], {
    cwd: root,
    stdio: 'inherit',
  });
}

async function main() {
  if (process.argv.includes('--readme')) {
    // Only the table, from the committed latest.json (after editing the scenario texts, say).
    updateReadme(JSON.parse(readFileSync(join(root, 'bench', 'results', 'latest.json'), 'utf8')));
    return;
  }
  const started = Date.now();
  const only = process.env.BENCH_ONLY?.split(',');
  if (process.env.BENCH_BUILD === '1' || !existsSync(join(root, 'dist', 'main.js'))) {
    log('building the app (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  if (benchIsCompiled()) log('dist/bench/ is up to date');
  else {
    log('compiling bench/ into dist/bench/');
    compileBench();
  }
  const outDir = join(root, 'bench', 'results', QUICK ? 'tmp' : '');
  mkdirSync(outDir, { recursive: true });
  const latest = {
    machine: machine(),
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    command: `${QUICK ? 'BENCH_QUICK=1 ' : ''}npm run bench`,
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
      } catch {
        return undefined;
      }
    })(),
    durationS: 0,
    notes: [],
    scenarios: {},
  };

  for (const s of SCENARIOS) {
    if (only && !only.includes(s.name)) continue;
    const script = `bench:${s.name}`;
    const driver = join(root, 'dist', 'bench', s.name, 'run.js');
    if (!pkg.scripts?.[script] || !existsSync(driver)) {
      latest.scenarios[s.name] = { skipped: `no \`${script}\` script in this checkout` };
      latest.notes.push(`${s.title}: skipped, no \`npm run ${script}\` here`);
      log(`${s.name}: skipped (no ${script})`);
      continue;
    }
    const out = join(outDir, `${s.name}.json`);
    const env = { ...process.env, BENCH_OUT: out, ...(QUICK ? s.quickEnv : {}) };
    log(`${s.name}: node dist/bench/${s.name}/run.js${QUICK ? ` (QUICK ${JSON.stringify(s.quickEnv)})` : ''}`);
    const result = await run(process.execPath, [driver], env, QUICK ? s.limitS.quick : s.limitS.full);
    let json;
    try {
      json = JSON.parse(readFileSync(out, 'utf8'));
      if (Date.parse(json.date) < started) json = undefined; // an older run's file
    } catch {
      json = undefined;
    }
    const picked = json ? s.summary(json) : undefined;
    if (result.code !== 0 || !picked) {
      const why = result.timedOut
        ? `stopped at its time limit (${result.seconds} s)`
        : result.code !== 0
          ? `exited with ${result.code ?? result.signal}`
          : 'no result in its JSON';
      latest.scenarios[s.name] = { error: why, seconds: result.seconds };
      latest.notes.push(`${s.title}: ${why}`);
      log(`${s.name}: FAILED (${why})`);
      continue;
    }
    latest.scenarios[s.name] = {
      ours: picked.ours,
      baseline: picked.baseline,
      ratio: picked.ratio ?? ratio(picked.ours, picked.baseline),
      unit: s.unit,
      p50: picked.p50,
      p99: picked.p99,
      rssMb: result.rssMb,
      baselineName: s.baselineName,
      load: picked.load,
      seconds: result.seconds,
      source: out.slice(root.length + 1),
      ...picked.extra,
    };
    for (const note of [...(picked.notes ?? []), ...(json.notes ?? [])]) latest.notes.push(`${s.title}: ${note}`);
    log(
      `${s.name}: ours ${picked.ours} vs ${picked.baseline} ${s.unit} (${ratio(picked.ours, picked.baseline)}×), p99 ${picked.p99} ms, ${result.seconds} s`,
    );
  }

  latest.durationS = Math.round((Date.now() - started) / 1000);
  const file = join(root, 'bench', 'results', 'latest.json');
  writeFileSync(file, `${JSON.stringify(latest, null, 2)}\n`);
  log(`wrote bench/results/latest.json (${latest.durationS} s)`);
  console.log(`\n${table(latest)}\n`);
  if (!only) updateReadme(latest);
  else log('BENCH_ONLY: README.md left as it is');
}

main().catch((error) => {
  console.error(error);
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  process.exit(1);
});
