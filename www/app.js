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

  try {
    const config = await (await fetch('./config.json', { cache: 'no-store' })).json();
    if (config.standinUrl) $('standin').textContent = config.standinUrl;
  } catch {
    // A static deployment has no dev config: the stand-in line keeps saying "none".
  }
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  $('status').textContent = `byok failed to start: ${e.message}`;
  $('status').className = 'bad';
});
