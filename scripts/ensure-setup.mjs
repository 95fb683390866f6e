#!/usr/bin/env node
// Runs before `npm start` and `npm test` (npm's pre-scripts), so that on a fresh clone those two
// commands are all a newcomer needs: it installs the npm dependencies when they are missing and
// makes sure Java 17+ is there for DynamoDB Local (installing it with apt-get where it can).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const run = (command, args) => execFileSync(command, args, { stdio: 'inherit' });

if (!existsSync(new URL('../node_modules/.package-lock.json', import.meta.url))) {
  console.log('Installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

function javaMajor() {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error) return undefined;
  const match = /version "(\d+)/.exec(`${result.stderr}${result.stdout}`);
  return match ? Number(match[1]) : undefined;
}

if ((javaMajor() ?? 0) < 17) {
  const canApt = process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
  if (!canApt) {
    console.error('DynamoDB Local needs Java 17 or newer. Install it (e.g. `sudo apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) and run this again.');
    process.exit(1);
  }
  console.log('Installing Java 17 for DynamoDB Local (apt-get)…');
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', 'openjdk-17-jre-headless']);
}
