// The byok demo page. Every piece of data goes into the DOM through textContent, never as
// HTML, so nothing from the catalog or a provider can inject markup.
import init, * as byok from './pkg/byok.js';

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function price(usdPer1k, local) {
  return local && usdPer1k === 0 ? 'free' : byok.formatCost(usdPer1k);
}

function tokens(n) {
  if (!n) return '—';
  if (n >= 1_000_000) return `${+(n / 1_000_000).toFixed(2)}M`;
  if (n >= 1000) return `${+(n / 1000).toFixed(1)}K`;
  return String(n);
}

function renderProviders(providers, filter) {
  const q = filter.trim().toLowerCase();
  const root = $('providers');
  root.replaceChildren();
  for (const p of providers) {
    const models = p.models.filter((m) => !q || p.displayName.toLowerCase().includes(q) ||
      p.id.includes(q) || m.id.toLowerCase().includes(q) || m.name.toLowerCase().includes(q));
    if (models.length === 0) continue;
    const tags = el('span', { class: 'tags' });
    const f = p.features;
    for (const [on, label] of [[f.streaming, 'streaming'], [f.functionCalling, 'tools'],
      [f.vision, 'vision'], [f.embeddings, 'embeddings'], [p.local, 'local']]) {
      if (on) tags.append(el('span', {}, label));
    }
    const table = el('table', {},
      el('thead', {}, el('tr', {},
        el('th', {}, 'Model'), el('th', { class: 'num' }, 'Context'),
        el('th', { class: 'num' }, 'Max output'), el('th', { class: 'num' }, 'Input / 1K'),
        el('th', { class: 'num' }, 'Output / 1K'))),
      el('tbody', {}, ...models.map((m) => el('tr', { 'data-model': m.id },
        el('td', {}, el('span', {}, m.name), ' ', el('span', { class: 'hint mono' }, m.id)),
        el('td', { class: 'num' }, tokens(m.contextWindow)),
        el('td', { class: 'num' }, tokens(m.maxOutputTokens)),
        el('td', { class: 'num' }, price(m.inputCostPer1k, p.local)),
        el('td', { class: 'num' }, m.kind === 'embedding' ? '—' : price(m.outputCostPer1k, p.local))))));
    const details = el('details', { 'data-provider': p.id },
      el('summary', {}, p.displayName, ' ', el('span', { class: 'hint' }, `${p.models.length} models`), tags),
      el('p', { class: 'hint mono' }, p.baseUrl),
      table);
    if (q) details.open = true;
    root.append(details);
  }
}

function checkKey(providers) {
  const provider = $('key-provider').value;
  const key = $('key-input').value;
  const p = providers.find((x) => x.id === provider);
  $('key-example').textContent = p ? `Looks like: ${byok.formatKeyDisplay(p.keyFormat.example)}` : '';
  const verdict = $('key-verdict');
  if (!key.trim()) {
    $('key-masked').textContent = '';
    verdict.textContent = '';
    verdict.className = '';
    return;
  }
  $('key-masked').textContent = byok.formatKeyDisplay(key);
  const result = byok.validateKeyFormat(provider, key);
  verdict.textContent = result.valid ? '✓ looks right' : `✗ ${result.error}`;
  verdict.className = result.valid ? 'ok' : 'bad';
}

function showError(node, e) {
  node.textContent = e ? `${e.code ?? 'ERROR'}: ${e.message}` : '';
}

/** The vault and chat panel. The key is read once from the form and never kept here. */
async function setupVault(providers, config) {
  const vault = await byok.Vault.open('byok-demo');
  let controller = null;

  const refresh = async () => {
    $('vault-status').textContent = vault.status();
    const unlocked = vault.status() === 'unlocked';
    $('add-submit').disabled = !unlocked;
    $('chat-send').disabled = !unlocked;
    $('vault-open').textContent = vault.status() === 'empty' ? 'Create vault' : 'Unlock';
    const list = $('key-list');
    if (!unlocked) {
      list.replaceChildren();
      return;
    }
    // Render in one step after the await: refreshes triggered together (a change event and a
    // button) must not interleave their items.
    const keys = await vault.listKeys();
    list.replaceChildren(...keys.map((k) => {
      const used = k.lastUsed ? new Date(k.lastUsed).toLocaleTimeString() : 'never';
      return el('li', { 'data-key-id': k.id },
        `${k.label} · ${k.provider} · ${k.keyPrefix} · used ${used}`);
    }));
    const provider = keys[0]?.provider;
    const models = $('chat-model');
    const current = models.value;
    models.replaceChildren();
    for (const m of providers.find((p) => p.id === provider)?.models ?? []) {
      if (m.kind === 'chat') models.append(el('option', { value: m.id }, m.name));
    }
    if (current) models.value = current;
    models.dataset.provider = provider ?? '';
  };
  vault.subscribe(() => { refresh().catch(() => {}); });

  $('vault-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError($('vault-error'), null);
    const pass = $('vault-pass').value;
    try {
      if (vault.status() === 'empty') await vault.create(pass);
      else await vault.unlock(pass);
      $('vault-pass').value = '';
    } catch (err) {
      showError($('vault-error'), err);
    }
    await refresh();
  });
  $('vault-lock').addEventListener('click', () => { vault.lock(); refresh(); });

  for (const p of providers) $('add-provider').append(el('option', { value: p.id }, p.displayName));
  if (config.standinUrl && config.demoKey) {
    $('add-provider').value = 'openai';
    $('add-key').value = config.demoKey;
    $('add-base').value = `${config.standinUrl.replace(/\/$/, '')}/openai/v1`;
  }
  $('add-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = $('add-result');
    out.textContent = 'Checking with the provider…';
    out.className = '';
    try {
      const r = await vault.addKey($('add-provider').value, $('add-key').value,
        { baseUrl: $('add-base').value || undefined, label: 'demo' });
      out.textContent = r.valid ? `✓ stored (${r.models?.length ?? 0} models)` : `✗ ${r.code}: ${r.error}`;
      out.className = r.valid ? 'ok' : 'bad';
      if (r.valid) $('add-key').value = '';
    } catch (err) {
      showError(out, err);
      out.className = 'bad';
    }
    await refresh();
  });

  $('chat-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const output = $('chat-output');
    output.textContent = '';
    $('chat-meta').textContent = '';
    controller = new AbortController();
    $('chat-stop').disabled = false;
    try {
      const request = {
        provider: $('chat-model').dataset.provider, model: $('chat-model').value,
        messages: [{ role: 'user', content: $('chat-prompt').value }],
        signal: controller.signal,
      };
      for await (const chunk of vault.streamChat(request)) {
        if (chunk.type === 'content') output.textContent += chunk.delta;
        // The rate limiter holds the call back: say so rather than stall silently.
        if (chunk.type === 'wait') {
          $('chat-meta').textContent = `waiting ${Math.ceil(chunk.waitMs / 1000)} s: ${chunk.message}`;
        }
        if (chunk.type === 'done') {
          const cost = chunk.cost === null ? 'no price' : byok.formatCost(chunk.cost);
          $('chat-meta').textContent =
            `${chunk.usage.inputTokens} in · ${chunk.usage.outputTokens} out · ${cost} · ${chunk.finishReason}`;
        }
      }
    } catch (err) {
      showError($('chat-meta'), err);
    } finally {
      $('chat-stop').disabled = true;
      controller = null;
      await refresh();
    }
  });
  $('chat-stop').addEventListener('click', () => controller?.abort());
  await refresh();
}

async function main() {
  await init();
  const providers = byok.listProviders();
  const models = providers.reduce((n, p) => n + p.models.length, 0);
  $('status').textContent = `${providers.length} providers, ${models} models, all offline.`;

  const select = $('key-provider');
  for (const p of providers) select.append(el('option', { value: p.id }, p.displayName));
  select.addEventListener('change', () => checkKey(providers));
  $('key-input').addEventListener('input', () => checkKey(providers));
  $('key-reveal').addEventListener('click', (e) => {
    const input = $('key-input');
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    e.currentTarget.textContent = show ? 'Hide' : 'Show';
    e.currentTarget.setAttribute('aria-pressed', String(show));
  });
  $('key-form').addEventListener('submit', (e) => e.preventDefault());
  checkKey(providers);

  renderProviders(providers, '');
  $('catalog-filter').addEventListener('input', (e) => renderProviders(providers, e.target.value));

  let config = {};
  try {
    config = await (await fetch('./config.json', { cache: 'no-store' })).json();
    if (config.standinUrl) $('standin').textContent = config.standinUrl;
  } catch {
    // A static deployment has no dev config: the stand-in line keeps saying "none".
  }
  await setupVault(providers, config);
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  $('status').textContent = `byok failed to start: ${e.message}`;
  $('status').className = 'bad';
});
