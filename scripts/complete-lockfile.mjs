#!/usr/bin/env node
// The npm registry this project's machines reach lacks some other-platform builds of native
// packages (e.g. @swc/core-darwin-arm64). `npm install` then leaves their optional entries out of
// package-lock.json, and `npm ci` refuses the lock as out of sync. This adds the missing optional
// entries (version, os and cpu taken from the package's name) so `npm ci` accepts the lock and
// skips them on this platform. Run it after changing dependencies: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const OS = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'openharmony', 'openbsd', 'netbsd', 'sunos', 'aix'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el', 'wasm32'];

let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (lock.packages[target] || lock.packages[`${path}/${target}`]) continue;
    const parts = name.split(/[-/]/);
    const os = OS.find((o) => parts.includes(o) || (o === 'win32' && parts.includes('win32')));
    const cpu = CPU.find((c) => parts.includes(c) || (c === 'arm' && parts.includes('arm')));
    lock.packages[target] = {
      version: range.replace(/^[\^~=]/, ''),
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
    };
    added += 1;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} optional platform entries to package-lock.json`);
