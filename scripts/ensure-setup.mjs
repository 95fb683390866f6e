#!/usr/bin/env node
// Runs before `npm start` and `npm test` (npm's pre-scripts), so that on a fresh clone those two
// commands are all a newcomer needs: it installs the npm dependencies when they are missing,
// makes sure Java 17+ is there for DynamoDB Local, and before the tests a Chromium for the browser
// tests (installing both with apt-get where it can; otherwise it stops and says how).
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

const canApt = () => process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
let aptUpdated = false;
function aptInstall(...packages) {
  if (!aptUpdated) run('apt-get', ['update', '-qq']);
  aptUpdated = true;
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

if ((javaMajor() ?? 0) < 17) {
  if (!canApt()) {
    console.error('DynamoDB Local needs Java 17 or newer. Install it (e.g. `sudo apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) and run this again.');
    process.exit(1);
  }
  console.log('Installing Java 17 for DynamoDB Local (apt-get)…');
  aptInstall('openjdk-17-jre-headless');
}

// The browser tests drive Debian's chromium through playwright-core; they fail, never skip, without it.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (process.env.npm_lifecycle_event === 'pretest' && !existsSync(chromium)) {
  if (!canApt()) {
    console.error(`The browser tests need Chromium at ${chromium}. Install it (e.g. \`sudo apt-get install chromium\`), or point CHROMIUM_PATH at one, and run this again.`);
    process.exit(1);
  }
  console.log('Installing Chromium for the browser tests (apt-get)…');
  aptInstall('chromium');
}
