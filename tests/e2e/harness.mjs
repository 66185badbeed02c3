// Shared set-up of the Playwright tests: Debian's Chromium, the dev server serving www/ and the
// built pkg/, and the provider stand-in, all on 127.0.0.1.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '../../scripts/serve.mjs';
import { startStandin } from '../standin/server.mjs';

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-quic', '--no-first-run',
];

/** Starts everything; `close()` stops it. Console lines of every page are kept in `console`. */
export async function startHarness() {
  const standin = await startStandin();
  const server = await startDevServer({ standinUrl: standin.url });
  const profile = mkdtempSync(join(tmpdir(), 'byok-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const consoleLines = [];
  context.on('page', (page) => watch(page, consoleLines));
  for (const page of context.pages()) watch(page, consoleLines);
  return {
    standin, server, context, console: consoleLines,
    async page(path = '') {
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(server.url + path);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      return page;
    },
    async close() {
      await context.close();
      await server.close();
      await standin.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, lines) {
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
}
