/**
 * The README is true: its links resolve inside the repository, and its configuration table lists every variable the app reads (src/config/app-config.ts),
 * each with the default the code really uses. Rows may group variables: `A`, `B` | `1`, `2`.
 */
import { existsSync, readFileSync } from 'node:fs';

const source = readFileSync(new URL('../src/config/app-config.ts', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Every variable read through the EnvReader (`r.int('NAME', …)`) or as a secret (`secret('NAME', …)`). */
function variablesInCode(): Map<string, { reader: string; fallback: string | undefined }> {
  const found = new Map<string, { reader: string; fallback: string | undefined }>();
  for (const [, reader, name, rest] of source.matchAll(/\b(?:r\.)?(\w+)\('([A-Z][A-Z0-9_]+)'(?:,\s*([^)]*))?\)/g)) {
    found.set(name, { reader, fallback: rest?.split(/,\s*(?![^[]*\])/)[reader === 'oneOf' ? 1 : 0]?.trim() });
  }
  return found;
}

/** The literal a fallback in the code stands for, as the README writes it; undefined if not a literal. */
function literal(reader: string, fallback: string | undefined): string | undefined {
  if (fallback === undefined) return undefined;
  if (reader === 'int') {
    if (!/^[\d_\s*]+$/.test(fallback)) return undefined;
    return String(fallback.split('*').reduce((product, factor) => product * Number(factor.replace(/[_\s]/g, '')), 1));
  }
  if (reader === 'bool') return fallback;
  const quoted = /^'([^']*)'$/.exec(fallback);
  return quoted ? quoted[1] : undefined;
}

/** `variable` → its default cell entry, from the README table headed `| variable | default | meaning |`. */
function readmeDefaults(): Map<string, string> {
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => /^\|\s*variable\s*\|\s*default\s*\|/.test(line));
  expect(start).toBeGreaterThanOrEqual(0);
  const defaults = new Map<string, string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [, names, values] = line.split(/(?<!\\)\|/).map((cell) => cell.trim());
    const variables = [...names.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]);
    const codes = [...values.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    variables.forEach((name, i) => {
      // One value per variable, or one value for the row; else the prose (`empty`, `generated …`).
      const value = codes.length === variables.length ? codes[i] : codes.length === 1 ? codes[0] : values;
      defaults.set(name, value);
    });
  }
  return defaults;
}

describe('README configuration table', () => {
  const code = variablesInCode();
  const table = readmeDefaults();

  it('finds the variables in the code (the parser is not vacuous)', () => {
    expect(code.size).toBeGreaterThan(60);
    expect(code.get('SSE_HEARTBEAT_MS')).toEqual({ reader: 'int', fallback: '15_000' });
  });

  it('lists every variable the app reads', () => {
    expect([...code.keys()].filter((name) => !table.has(name))).toEqual([]);
  });

  it('lists nothing the app does not read', () => {
    expect([...table.keys()].filter((name) => !code.has(name))).toEqual([]);
  });

  it('gives each variable its real default', () => {
    const wrong: string[] = [];
    for (const [name, { reader, fallback }] of code) {
      const expected = literal(reader, fallback);
      if (expected === undefined || !table.has(name)) continue;
      if (table.get(name) !== expected) wrong.push(`${name}: README ${table.get(name)}, code ${expected}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('README links', () => {
  it('points only at files in the repository (a clone has nothing outside it)', () => {
    const root = new URL('../', import.meta.url);
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((m) => m[1])
      .filter((target) => !/^[a-z]+:/.test(target));
    expect(targets).toEqual(expect.arrayContaining(['docs/ARCHITECTURE.md']));
    const broken = targets.filter((target) => {
      const url = new URL(target, root);
      return !url.href.startsWith(root.href) || !existsSync(url);
    });
    expect(broken).toEqual([]);
  });
});
