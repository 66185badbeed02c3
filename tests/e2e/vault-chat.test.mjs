// The demo page's vault and chat, and the seed usage of API.md through the built package, in
// headless Chromium against the stand-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './harness.mjs';

const DEMO_KEY = 'sk-proj-standinVALIDkey0000000000000000000000';
let h;
before(async () => { h = await startHarness(); });
after(async () => { await h?.close(); });

test('create a vault, add the stand-in key, stream a chat, lock, reload, unlock', async () => {
  const page = await h.page();
  assert.equal(await page.textContent('#vault-status'), 'empty');
  await page.fill('#vault-pass', 'demo passphrase 1');
  await page.click('#vault-open');
  await page.waitForFunction(() => document.querySelector('#vault-status').textContent === 'unlocked');

  await page.click('#add-submit');
  await page.waitForFunction(() => document.querySelector('#add-result').textContent.startsWith('✓'));
  // The list is re-read from the vault after the result is shown.
  await page.waitForSelector('#key-list li');
  assert.match(await page.textContent('#key-list'), /demo · openai · sk-pr••••••••0000/);
  assert.equal(await page.locator('#key-list li').count(), 1, 'one key, listed once');

  await page.selectOption('#chat-model', 'gpt-4o');
  await page.fill('#chat-prompt', 'Bonjour, ça va ? 🌍');
  await page.click('#chat-send');
  await page.waitForFunction(() => document.querySelector('#chat-meta').textContent.includes('stop'));
  assert.match(await page.textContent('#chat-output'), /Bonjour, ça va \? 🌍/);
  assert.match(await page.textContent('#chat-meta'), /\d+ in · \d+ out · \$[\d.]+ · stop/);

  await page.click('#vault-lock');
  assert.equal(await page.textContent('#vault-status'), 'locked');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.textContent('#vault-status'), 'locked');
  await page.fill('#vault-pass', 'wrong passphrase');
  await page.click('#vault-open');
  await page.waitForFunction(() => document.querySelector('#vault-error').textContent !== '');
  assert.match(await page.textContent('#vault-error'), /^WRONG_PASSPHRASE/);
  await page.fill('#vault-pass', 'demo passphrase 1');
  await page.click('#vault-open');
  await page.waitForFunction(() => document.querySelector('#vault-status').textContent === 'unlocked');

  // Nothing in any IndexedDB database, localStorage or sessionStorage holds the key.
  const dump = await page.evaluate(async () => {
    const out = [];
    for (const { name, version } of await indexedDB.databases()) {
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open(name, version);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      for (const store of db.objectStoreNames) {
        const all = await new Promise((ok) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => ok(r.result);
        });
        out.push(JSON.stringify(all));
      }
      db.close();
    }
    out.push(JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage }));
    return out.join('\n');
  });
  assert.ok(dump.includes('sealed'), 'the records were read');
  assert.ok(!dump.includes('standinVALIDkey'), 'a key is stored in plain text');
  assert.ok(!dump.includes('demo passphrase'), 'the passphrase is stored');
  assert.ok(!h.console.some((l) => l.includes('standinVALIDkey')), 'a key reached the console');
});

test('the seed usage of API.md works as written', async () => {
  const page = await h.page();
  const base = `${h.standin.url.replace(/\/$/, '')}/openai/v1`;
  const result = await page.evaluate(async ({ key, base }) => {
    const byok = await import('./pkg/byok.js');
    await byok.default();
    const added = await byok.addKey('openai', key, { baseUrl: base });
    const v = await byok.validateKey('openai', key, { baseUrl: base });
    const chunks = [];
    const request = { provider: 'openai', model: 'gpt-4o', messages: [{ role: 'user', content: 'seed' }] };
    for await (const chunk of byok.streamChat(request)) chunks.push(chunk);
    const collected = await byok.collectStream(request, () => {});
    const sent = await byok.sendChat(request);
    let error;
    try {
      await byok.sendChat({ ...request, model: 'no-such-model' });
    } catch (e) {
      error = { isByok: e instanceof byok.BYOKError, isError: e instanceof Error, code: e.code };
    }
    return { added, v, chunks, collected, sent, error };
  }, { key: DEMO_KEY, base });
  assert.equal(result.added.valid, true);
  assert.ok(result.added.models.includes('gpt-4o'));
  assert.equal(result.v.valid, true);
  const last = result.chunks.at(-1);
  assert.equal(last.type, 'done');
  assert.equal(typeof last.cost, 'number');
  assert.ok(result.chunks.some((c) => c.type === 'content'));
  assert.match(result.collected.content, /seed/);
  assert.match(result.sent.content, /seed/);
  assert.deepEqual(result.error, { isByok: true, isError: true, code: 'MODEL_NOT_FOUND' });
});

test('an absent local server is reported with its address, not as a bad key', async () => {
  const page = await h.page();
  const r = await page.evaluate(async () => {
    const byok = await import('./pkg/byok.js');
    await byok.default();
    return byok.validateKey('lmstudio', '', { baseUrl: 'http://127.0.0.1:9/v1' });
  });
  assert.equal(r.valid, false);
  assert.equal(r.code, 'NETWORK_ERROR');
  assert.match(r.error, /127\.0\.0\.1:9.*running/);
});
