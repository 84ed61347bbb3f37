// The registry mirror this project installs from serves only the linux-x64 builds of packages that
// ship per-platform binaries (@swc/core, msgpackr-extract, unrs-resolver, ...). npm then leaves the
// other platforms' optional packages out of package-lock.json, and `npm ci` refuses the lock as out
// of sync. This adds a lock entry for each missing optional package, with the os/cpu its name
// states, so `npm ci` sees them and skips them on this platform. Run after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'wasi', 'openharmony'];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el', 'wasm32', 'universal'];
const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let added = 0;
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location ? `${location}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[base] || lock.packages[`node_modules/${name}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((part) => OS.includes(part)) ?? (name.includes('wasm') ? undefined : undefined);
    const cpu = parts.find((part) => CPU.includes(part)) ?? (parts.includes('universal') ? 'universal' : undefined);
    const item = { version: version.replace(/^[\^~]/, ''), optional: true };
    if (entry.dev) item.dev = true;
    if (cpu) item.cpu = [cpu === 'universal' ? 'arm64' : cpu];
    if (os) item.os = [os];
    if (parts.includes('musl')) item.libc = ['musl'];
    if (parts.includes('gnu') || parts.includes('gnueabihf')) item.libc = ['glibc'];
    lock.packages[`node_modules/${name}`] = item;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entries`);
