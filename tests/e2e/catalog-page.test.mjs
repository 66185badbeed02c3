// The demo page and the built package, in headless Chromium through Playwright.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './harness.mjs';

let h;
before(async () => { h = await startHarness(); });
after(async () => { await h?.close(); });

test('the page lists providers, models and prices from the catalog', async () => {
  const page = await h.page();
  const status = await page.textContent('#status');
  assert.match(status, /^\d+ providers, \d+ models, all offline\.$/);
  for (const id of ['openai', 'anthropic', 'google', 'ollama', 'openai-compatible']) {
    assert.equal(await page.locator(`details[data-provider="${id}"]`).count(), 1, id);
  }
  const row = page.locator('details[data-provider="openai"] tr[data-model="gpt-4o"]');
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(cells.slice(1), ['128K', '16.4K', '$0.0025', '$0.01']);
  const local = page.locator('details[data-provider="ollama"] tr[data-model="llama3.1:8b"] td');
  assert.equal((await local.allTextContents())[3], 'free');
  assert.match(await page.textContent("#standin"), /^http:\/\/127\.0\.0\.1:\d+\/?$/);
});

test('the filter narrows the table', async () => {
  const page = await h.page();
  await page.fill('#catalog-filter', 'haiku');
  const providers = await page.locator('#providers details').evaluateAll(
    (ds) => ds.map((d) => d.dataset.provider));
  assert.ok(providers.includes('anthropic'));
  assert.ok(!providers.includes('openai'));
});

test('a pasted key is checked as the user types, and shown masked', async () => {
  const page = await h.page();
  const secret = 'sk-proj-SECRETabcdefghijklmnop1234';
  await page.selectOption('#key-provider', 'openai');
  assert.equal(await page.getAttribute('#key-input', 'type'), 'password');
  await page.type('#key-input', secret.slice(0, 6));
  assert.match(await page.textContent('#key-verdict'), /too short/);
  await page.fill('#key-input', secret);
  assert.equal(await page.textContent('#key-masked'), 'sk-pr••••••••1234');
  assert.equal(await page.textContent('#key-verdict'), '✓ looks right');
  await page.selectOption('#key-provider', 'anthropic');
  assert.match(await page.textContent('#key-verdict'), /start with 'sk-ant-'/);
  // The key is in no visible text, and never in the console.
  const text = await page.evaluate(() => document.body.innerText);
  assert.ok(!text.includes('SECRET'));
  assert.ok(!h.console.some((l) => l.includes('SECRET')), h.console.join('\n'));
});

test('the package entry exports the API of shared/API.md', async () => {
  const page = await h.page();
  const result = await page.evaluate(async () => {
    const byok = await import('./pkg/byok.js');
    await byok.default();
    const out = {};
    out.cost = byok.calculateCost('openai', 'gpt-4o', 1000, 500);
    out.formatted = byok.formatCost(0.0075);
    out.masked = byok.formatKeyDisplay('sk-proj-abc123def456');
    out.valid = byok.validateKeyFormat('openai', 'nope');
    out.codes = byok.BYOK_ERROR_CODES;
    out.frozen = Object.isFrozen(byok.BYOK_ERROR_CODES);
    try {
      byok.calculateCost('openai', 'no-such-model', 1, 1);
      out.threw = false;
    } catch (e) {
      out.threw = true;
      out.isError = e instanceof Error;
      out.isByok = e instanceof byok.BYOKError;
      out.code = e.code;
      out.provider = e.provider;
      out.stack = typeof e.stack === 'string';
    }
    out.providers = byok.listProviders().map((p) => p.id);
    out.models = byok.getProviderModels('anthropic').map((m) => m.id);
    return out;
  });
  assert.equal(result.cost, 0.0075);
  assert.equal(result.formatted, '$0.0075');
  assert.equal(result.masked, 'sk-pr••••••••f456');
  assert.equal(result.valid.valid, false);
  assert.equal(typeof result.valid.error, 'string');
  assert.equal(result.codes.INVALID_API_KEY, 'INVALID_API_KEY');
  assert.equal(Object.keys(result.codes).length, 17);
  assert.ok(result.frozen);
  assert.deepEqual(
    [result.threw, result.isError, result.isByok, result.code, result.provider, result.stack],
    [true, true, true, 'MODEL_NOT_FOUND', 'openai', true]);
  assert.equal(result.providers.length >= 13, true);
  assert.ok(result.models.includes('claude-3-haiku-20240307'));
});

test('the page runs under its Content-Security-Policy with no errors', async () => {
  await h.page();
  const problems = h.console.filter((l) => /^(error|pageerror)/.test(l));
  assert.deepEqual(problems, []);
});
