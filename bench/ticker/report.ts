/**
 * Result shapes of the ticker bench, the ratios and goal checks, and the markdown table. Ratios:
 * ours, better-sse and ours-ws against bare; ours against better-sse; ours-ws (the feed WebSocket)
 * against ours (SSE), at the same N. Goals (from the issues): ours' frames/s ≥ 0.7× bare and above
 * better-sse, p99 ≤ 50 ms at the largest N, ≤ 16 KB idle RSS per connection; WebSocket frames/s
 * ≥ 1.0× our SSE's; idle RSS per connection ≤ 1.3× bare's, for ours (SSE) and ours-ws alike.
 */

export interface Step {
  ticksPerSec: number;
  expectedFrames: number;
  /** Frames of the window's ticks that arrived by the window's end + grace. */
  deliveredFrames: number;
  /** Frames of the window's ticks that arrived later (counted for latency only). */
  lateFrames: number;
  deliveredRatio: number;
  framesPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  firstHalfP50Ms: number | null;
  secondHalfP50Ms: number | null;
  /** CPU of each party in % of one core; `other` is everything else on the machine. */
  cpuPct: { server: number; client: number; driver: number; redisPg: number; other: number };
  dropped: number;
  pass: boolean;
  why?: string;
  latency?: boolean;
}

export interface Scenario {
  target: string;
  /** How the client read it: SSE streams, or the feed WebSocket (ours-ws). */
  transport: 'sse' | 'ws';
  n: number;
  connected: number;
  /** Delivered frames/s at the highest passing ramp step (or the best step if none passed). */
  framesPerSec: number;
  sustained: boolean;
  /** The ramp stopped at the bench's own rate cap with the server still keeping up: a lower bound. */
  capped: boolean;
  sustainedTicksPerSec: number | null;
  peakFramesPerSec: number;
  /** Publish→receive at half the bare server's sustained rate. */
  p50Ms: number | null;
  p99Ms: number | null;
  latencyTicksPerSec: number;
  latencyBasis: string;
  latencyFramesPerSec: number;
  latencyDeliveredRatio: number;
  rssPerConnKb: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  /** Highest CPU use (% of one core) of processes outside the bench during any step. */
  maxOtherCpuPct: number;
  steps: Step[];
}

type Entry = Scenario | { error: string };
const ok = (e: Entry | undefined): e is Scenario => !!e && !('error' in e);

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a == null || b == null || b === 0 ? null : Number((a / b).toFixed(2));

function versus(scenarios: Record<string, Entry>, ns: number[], a: string, b: string) {
  const out: Record<
    string,
    { framesPerSec: number | null; p50Ms: number | null; p99Ms: number | null; rssPerConnKb: number | null }
  > = {};
  for (const n of ns) {
    const x = scenarios[`${a}@${n}`];
    const y = scenarios[`${b}@${n}`];
    if (!ok(x) || !ok(y)) continue;
    out[String(n)] = {
      framesPerSec: ratio(x.framesPerSec, y.framesPerSec),
      p50Ms: ratio(x.p50Ms, y.p50Ms),
      p99Ms: ratio(x.p99Ms, y.p99Ms),
      rssPerConnKb: ratio(x.rssPerConnKb, y.rssPerConnKb),
    };
  }
  return out;
}

export function summarize(scenarios: Record<string, Entry>, ns: number[]) {
  const oursVsBare = versus(scenarios, ns, 'ours', 'bare');
  const oursVsBetterSse = versus(scenarios, ns, 'ours', 'better-sse');
  const oursWsVsOurs = versus(scenarios, ns, 'ours-ws', 'ours');
  const oursWsVsBare = versus(scenarios, ns, 'ours-ws', 'bare');
  const largest = Math.max(...ns);
  const oursLargest = scenarios[`ours@${largest}`];
  const ours = ns.map((n) => scenarios[`ours@${n}`]).filter(ok);
  const all = <T>(values: T[], test: (v: T) => boolean) => (values.length ? values.every(test) : null);
  const goals = {
    framesPerSecVsBare: {
      want: '>= 0.7 at every N',
      byN: Object.fromEntries(Object.entries(oursVsBare).map(([n, r]) => [n, r.framesPerSec])),
      met: all(Object.values(oursVsBare), (r) => (r.framesPerSec ?? 0) >= 0.7),
    },
    framesPerSecVsBetterSse: {
      want: '> 1 at every N',
      byN: Object.fromEntries(Object.entries(oursVsBetterSse).map(([n, r]) => [n, r.framesPerSec])),
      met: all(Object.values(oursVsBetterSse), (r) => (r.framesPerSec ?? 0) > 1),
    },
    p99AtLargestN: {
      want: `<= 50 ms at N = ${largest} (the goal is stated for 10,000), at half the bare sustained rate`,
      value: ok(oursLargest) ? oursLargest.p99Ms : null,
      met: ok(oursLargest) ? oursLargest.p99Ms !== null && oursLargest.p99Ms <= 50 : null,
    },
    rssPerIdleConnKb: {
      want: '<= 16 KB at every N',
      byN: Object.fromEntries(ours.map((s) => [String(s.n), s.rssPerConnKb])),
      met: all(ours, (s) => s.rssPerConnKb <= 16),
    },
    wsFramesPerSecVsSse: {
      want: 'ours-ws >= 1.0x ours at every N',
      byN: Object.fromEntries(Object.entries(oursWsVsOurs).map(([n, r]) => [n, r.framesPerSec])),
      met: all(Object.values(oursWsVsOurs), (r) => (r.framesPerSec ?? 0) >= 1),
    },
    rssPerIdleConnVsBare: {
      want: '<= 1.3x bare at every N, for ours (SSE) and ours-ws (WebSocket) alike',
      byN: Object.fromEntries(
        ns
          .filter((n) => oursVsBare[n] || oursWsVsBare[n])
          .map((n) => [
            String(n),
            {
              ...(oursVsBare[n] ? { ours: oursVsBare[n].rssPerConnKb } : {}),
              ...(oursWsVsBare[n] ? { 'ours-ws': oursWsVsBare[n].rssPerConnKb } : {}),
            },
          ]),
      ),
      met: all(
        [...Object.values(oursVsBare), ...Object.values(oursWsVsBare)],
        (r) => (r.rssPerConnKb ?? Infinity) <= 1.3,
      ),
    },
  };
  return { scenarios, ratios: { oursVsBare, oursVsBetterSse, oursWsVsOurs, oursWsVsBare }, goals };
}

const fmt = (v: number | null | undefined, digits = 0) =>
  v == null ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const times = (v: number | null) => (v == null ? '–' : `${v.toFixed(2)}×`);

export function printTable(
  result: ReturnType<typeof summarize> & { machine: any; node: string },
  ns: number[],
  targets: string[],
): void {
  const lines = [
    '',
    `Ticker fan-out (SSE; ours-ws: the feed WebSocket): ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.node}. Ratios are against bare at the same N, same run.`,
    '',
    '| target | N | delivered frames/s | × bare | sustained ticks/s | latency load ticks/s | p50 ms | p99 ms | × bare p99 | idle RSS/conn KB | × bare |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of ns) {
    const bare = result.scenarios[`bare@${n}`];
    for (const target of targets) {
      const s = result.scenarios[`${target}@${n}`];
      if (!s) continue;
      if (!ok(s)) {
        lines.push(`| ${target} | ${n} | error: ${s.error.split('\n')[0].slice(0, 80)} | | | | | | | | |`);
        continue;
      }
      const b = ok(bare) ? bare : undefined;
      lines.push(
        `| ${target} | ${fmt(n)} | ${s.capped ? '≥ ' : ''}${fmt(s.framesPerSec)}${s.sustained ? '' : ' (none sustained)'} | ${times(ratio(s.framesPerSec, b?.framesPerSec))} | ` +
          `${fmt(s.sustainedTicksPerSec)} | ${fmt(s.latencyTicksPerSec)} | ${fmt(s.p50Ms)} | ${fmt(s.p99Ms)} | ${times(ratio(s.p99Ms, b?.p99Ms))} | ` +
          `${fmt(s.rssPerConnKb, 1)} | ${times(ratio(s.rssPerConnKb, b?.rssPerConnKb))} |`,
      );
    }
  }
  const g = result.goals;
  const mark = (met: boolean | null) => (met === null ? 'n/a' : met ? 'met' : 'NOT met');
  lines.push(
    '',
    `Goals (ours): frames/s ≥ 0.7× bare: ${mark(g.framesPerSecVsBare.met)} ${JSON.stringify(g.framesPerSecVsBare.byN)}; ` +
      `frames/s > better-sse: ${mark(g.framesPerSecVsBetterSse.met)} ${JSON.stringify(g.framesPerSecVsBetterSse.byN)}; ` +
      `p99 ≤ 50 ms at N=${Math.max(...ns)}: ${mark(g.p99AtLargestN.met)} (${g.p99AtLargestN.value ?? '–'} ms); ` +
      `idle RSS ≤ 16 KB/conn: ${mark(g.rssPerIdleConnKb.met)} ${JSON.stringify(g.rssPerIdleConnKb.byN)}`,
    `Goals (WebSocket): ours-ws frames/s ≥ 1.0× ours: ${mark(g.wsFramesPerSecVsSse.met)} ${JSON.stringify(g.wsFramesPerSecVsSse.byN)}; ` +
      `idle RSS/conn ≤ 1.3× bare (ours and ours-ws): ${mark(g.rssPerIdleConnVsBare.met)} ${JSON.stringify(g.rssPerIdleConnVsBare.byN)}`,
    '',
  );
  const wsNs = ns.filter((n) => result.ratios.oursWsVsOurs[String(n)]);
  if (wsNs.length > 0) {
    lines.push(
      'ours-ws (feed WebSocket) against ours (SSE), same N, same run:',
      '',
      '| N | frames/s × ours | p50 × ours | p99 × ours | idle RSS/conn × ours | idle RSS/conn × bare (ours / ours-ws) |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const n of wsNs) {
      const r = result.ratios.oursWsVsOurs[String(n)];
      const bare = result.goals.rssPerIdleConnVsBare.byN[String(n)] as
        { ours?: number | null; 'ours-ws'?: number | null } | undefined;
      lines.push(
        `| ${fmt(n)} | ${times(r.framesPerSec)} | ${times(r.p50Ms)} | ${times(r.p99Ms)} | ${times(r.rssPerConnKb)} | ` +
          `${times(bare?.ours ?? null)} / ${times(bare?.['ours-ws'] ?? null)} |`,
      );
    }
    lines.push('');
  }
  console.log(lines.join('\n'));
}
