import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's chromium, driven by playwright-core (Playwright's own browser download is not
 * reachable here). The flags keep it from reaching for the network at every start.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Where the browser tests save screenshots: the README's `docs/screenshots/` when
 * UPDATE_SCREENSHOTS=1 asks to refresh them, else the git-ignored `test-results/screenshots/`,
 * so a test run changes no tracked file.
 */
export function screenshotDirectory(): string {
  const directory = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots/' : '../../test-results/screenshots/', import.meta.url));
  mkdirSync(directory, { recursive: true });
  return directory;
}
