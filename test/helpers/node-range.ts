/**
 * Just enough of npm's semver ranges to read `engines.node` fields (`>=22.12.0`, `^20.19.0 || >=24`,
 * `6.* || >= 10.x`, `1.2 - 3`, `>=16 || 14 >=14.17`), without depending on a package we do not
 * declare. Prerelease tags are ignored: engines name releases.
 */
export type Version = [number, number, number];
type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  op: Op;
  version: Version;
}
/** `||`-separated sets; a version satisfies the range if it satisfies every comparator of one set. */
export type Range = Comparator[][];

export function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function format(v: Version): string {
  return v.join('.');
}

/** `1.2.x` → numbers, with `undefined` for each wildcard or missing part. */
function partial(text: string): (number | undefined)[] {
  const parts = text
    .replace(/^[v=]+/, '')
    .replace(/[-+].*$/, '')
    .split('.');
  if (parts.length > 3 || parts.some((p) => !/^(\d+|[xX*])$/.test(p))) throw new Error(`not a version: "${text}"`);
  const numbers = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : undefined));
  // 1.x.3 means 1.x
  const first = numbers.indexOf(undefined);
  return first < 0 ? numbers : numbers.slice(0, first);
}

const floor = (p: (number | undefined)[]): Version => [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];
/** The first version above every version `p` matches (`1.2` → `1.3.0`). */
const ceiling = (p: (number | undefined)[]): Version =>
  p.length === 1 ? [p[0]! + 1, 0, 0] : p.length === 2 ? [p[0]!, p[1]! + 1, 0] : [p[0]!, p[1]!, p[2]! + 1];

function simple(token: string): Comparator[] {
  const match = /^(<=|>=|<|>|=|\^|~>?)?(.*)$/.exec(token)!;
  const op = match[1] ?? '';
  const p = partial(match[2]);
  const full = p.length === 3;
  if (p.length === 0) return op === '<' || op === '>' ? [{ op: '<', version: [0, 0, 0] }] : [];
  switch (op) {
    case '^': {
      const lo = floor(p);
      const hi: Version =
        lo[0] > 0 || p.length === 1
          ? [lo[0] + 1, 0, 0]
          : lo[1] > 0 || p.length === 2
            ? [0, lo[1] + 1, 0]
            : [0, 0, lo[2] + 1];
      return [
        { op: '>=', version: lo },
        { op: '<', version: hi },
      ];
    }
    case '~':
    case '~>':
      return [
        { op: '>=', version: floor(p) },
        { op: '<', version: p.length === 1 ? [p[0]! + 1, 0, 0] : [p[0]!, p[1]! + 1, 0] },
      ];
    case '>=':
      return [{ op: '>=', version: floor(p) }];
    case '>':
      return [full ? { op: '>', version: floor(p) } : { op: '>=', version: ceiling(p) }];
    case '<':
      return [{ op: '<', version: floor(p) }];
    case '<=':
      return [full ? { op: '<=', version: floor(p) } : { op: '<', version: ceiling(p) }];
    default:
      return full
        ? [{ op: '=', version: floor(p) }]
        : [
            { op: '>=', version: floor(p) },
            { op: '<', version: ceiling(p) },
          ];
  }
}

export function parseRange(text: string): Range {
  return text.split('||').map((set) => {
    const trimmed = set.trim().replace(/(<=|>=|<|>|=|\^|~>?)\s+/g, '$1');
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(trimmed);
    if (hyphen) {
      const hi = partial(hyphen[2]);
      return [
        { op: '>=' as const, version: floor(partial(hyphen[1])) },
        hi.length === 3 ? { op: '<=' as const, version: floor(hi) } : { op: '<' as const, version: ceiling(hi) },
      ];
    }
    return trimmed === '' ? [] : trimmed.split(/\s+/).flatMap(simple);
  });
}

export function parseVersion(text: string): Version {
  const p = partial(text);
  if (p.length !== 3) throw new Error(`not a full version: "${text}"`);
  return floor(p);
}

export function satisfies(version: Version, range: Range): boolean {
  return range.some((set) =>
    set.every(({ op, version: bound }) => {
      const c = compare(version, bound);
      return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : op === '>=' ? c >= 0 : c === 0;
    }),
  );
}

/**
 * Every version at which some range's answer can change, and 0.0.0. Written as `>=` and `<` bounds,
 * every comparator flips at one version, so `satisfies` gives the same answer for every version from
 * one of these up to the next: checking these is checking them all.
 */
export function boundaries(ranges: Range[]): Version[] {
  const found = new Map<string, Version>([['0.0.0', [0, 0, 0]]]);
  const add = (v: Version) => found.set(format(v), v);
  for (const { op, version } of ranges.flat(2)) {
    const next: Version = [version[0], version[1], version[2] + 1];
    if (op === '>=' || op === '<' || op === '=') add(version);
    if (op === '>' || op === '<=' || op === '=') add(next);
  }
  return [...found.values()].sort(compare);
}

/** The oldest version that satisfies every range, or undefined. */
export function oldestSatisfyingAll(ranges: Range[]): Version | undefined {
  return boundaries(ranges).find((candidate) => ranges.every((range) => satisfies(candidate, range)));
}
