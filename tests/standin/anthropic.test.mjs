// Tests of the Anthropic stand-in: run `node --test tests/standin/` from the repository root.
// They prove it behaves as README.md documents, and as the real Messages API does (the recorded
// streams in tests/fixtures/anthropic.* are the reference for the framing).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startStandin } from './server.mjs';
import {
  ANSWER_PREFIX,
  MODELS,
  BUILTIN_KEYS,
  ALLOWED_HEADERS,
  CREDIT_MESSAGE,
  CORS_MESSAGE,
  countInputTokens,
} from './providers/anthropic.mjs';
import { parseSse, rawRequest, isBrokenUtf8 } from './lib/testkit.mjs';
import { estimateTokens } from './lib/text.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name) => readFileSync(here(`../fixtures/${name}`), 'utf8');

const VALID = BUILTIN_KEYS[0].key;
const WHOLE = BUILTIN_KEYS[1].key;
const VERSION = '2023-06-01';
const MODEL = 'claude-3-haiku-20240307';

let standin;
let base; // http://127.0.0.1:N/anthropic/v1
let keyCounter = 0;

before(async () => {
  standin = await startStandin();
  base = `${standin.url}/anthropic/v1`;
});
after(async () => {
  await standin.close();
});

/** Registers a fresh key with a behaviour through the control API. */
async function registerKey(behaviour = {}) {
  const key = `sk-ant-api03-test${++keyCounter}x${Date.now().toString(36)}000000000000`;
  const r = await fetch(`${standin.url}/__standin/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'anthropic', key, behaviour }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return key;
}

function authHeaders(key = WHOLE, extra = {}) {
  return {
    ...(key ? { 'x-api-key': key } : {}),
    'anthropic-version': VERSION,
    'content-type': 'application/json',
    ...extra,
  };
}

function post(path, body, key = WHOLE, headers = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: authHeaders(key, headers),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const messages = (body, key, headers) => post('/messages', body, key, headers);
const hello = (extra = {}) => ({ model: MODEL, max_tokens: 200, messages: [{ role: 'user', content: 'hi there' }], ...extra });
const weatherTool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

async function errorOf(responsePromise, status) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  // Compact, one line, as the API sends it.
  assert.ok(!text.includes('\n'), text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['type', 'error', 'request_id']);
  assert.equal(body.type, 'error');
  assert.deepEqual(Object.keys(body.error), ['type', 'message']);
  assert.match(body.request_id, /^req_011C/);
  return { body, error: body.error, headers: r.headers };
}

async function lastLogEntry(filter = () => true) {
  const r = await fetch(`${standin.url}/__standin/log?provider=anthropic`);
  const { entries } = await r.json();
  return entries.filter(filter).at(-1);
}

/** Every event of a stream: `{ event, data }` with data parsed. */
function eventsOf(text) {
  return parseSse(text).map((e) => ({ event: e.event, data: JSON.parse(e.data) }));
}

/** The text, tool calls, usage and stop reason of a stream, folded as a client does. */
function fold(events) {
  let text = '';
  const calls = [];
  let usage = null;
  let stop = null;
  for (const { data } of events) {
    if (data.type === 'message_start') usage = { ...data.message.usage };
    if (data.type === 'content_block_start' && data.content_block.type === 'tool_use') {
      calls.push({ id: data.content_block.id, name: data.content_block.name, args: '' });
    }
    if (data.type === 'content_block_delta' && data.delta.type === 'text_delta') text += data.delta.text;
    if (data.type === 'content_block_delta' && data.delta.type === 'input_json_delta') calls.at(-1).args += data.delta.partial_json;
    if (data.type === 'message_delta') {
      Object.assign(usage, data.usage);
      stop = data.delta.stop_reason;
    }
  }
  return { text, calls, usage, stop };
}

describe('Anthropic routes', () => {
  it('lists the models as the API does, paged by limit and after_id', async () => {
    const r = await fetch(`${base}/models`, { headers: authHeaders() });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.deepEqual(Object.keys(body), ['data', 'has_more', 'first_id', 'last_id']);
    assert.deepEqual(body.data.map((m) => m.id), MODELS.map((m) => m.id));
    assert.deepEqual(Object.keys(body.data[0]), ['type', 'id', 'display_name', 'created_at']);
    assert.equal(body.has_more, false);
    assert.equal(body.first_id, MODELS[0].id);

    const page = await (await fetch(`${base}/models?limit=2`, { headers: authHeaders() })).json();
    assert.deepEqual(page.data.map((m) => m.id), MODELS.slice(0, 2).map((m) => m.id));
    assert.equal(page.has_more, true);
    const next = await (await fetch(`${base}/models?limit=2&after_id=${page.last_id}`, { headers: authHeaders() })).json();
    assert.deepEqual(next.data.map((m) => m.id), MODELS.slice(2, 4).map((m) => m.id));
    const all = await (await fetch(`${base}/models?limit=1000`, { headers: authHeaders() })).json();
    assert.equal(all.data.length, MODELS.length);
    await errorOf(fetch(`${base}/models?limit=0`, { headers: authHeaders() }), 400);
  });

  it('retrieves one model by id or alias, 404 not_found_error otherwise', async () => {
    const r = await fetch(`${base}/models/claude-3-5-haiku-latest`, { headers: authHeaders() });
    assert.equal((await r.json()).id, 'claude-3-5-haiku-20241022');
    const { error } = await errorOf(fetch(`${base}/models/claude-nope`, { headers: authHeaders() }), 404);
    assert.deepEqual(error, { type: 'not_found_error', message: 'model: claude-nope' });
  });

  it('answers unknown paths and methods with 404 Not Found in its own shape', async () => {
    for (const [method, path] of [['GET', '/v1/nope'], ['GET', '/v1/messages'], ['POST', '/v1/models']]) {
      const { error } = await errorOf(fetch(`${standin.url}/anthropic${path}`, { method, headers: authHeaders() }), 404);
      assert.deepEqual(error, { type: 'not_found_error', message: 'Not Found' });
    }
  });

  it('counts tokens without max_tokens', async () => {
    const body = { model: MODEL, messages: [{ role: 'user', content: 'count me please' }] };
    const r = await post('/messages/count_tokens', body);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { input_tokens: countInputTokens(body) });
  });
});

describe('Anthropic headers, keys and account states', () => {
  it('401 authentication_error without x-api-key or with an unknown one', async () => {
    let { error } = await errorOf(messages(hello(), null), 401);
    assert.deepEqual(error, { type: 'authentication_error', message: 'x-api-key header is required' });
    // A Bearer token is not an API key.
    ({ error } = await errorOf(messages(hello(), null, { authorization: `Bearer ${VALID}` }), 401));
    assert.equal(error.message, 'x-api-key header is required');
    ({ error } = await errorOf(messages(hello(), 'sk-ant-api03-unknown'), 401));
    assert.deepEqual(error, { type: 'authentication_error', message: 'invalid x-api-key' });
    // Not a behaviour key without the sk-ant- prefix.
    await errorOf(messages(hello(), 'sk-proj-quota-1'), 401);
  });

  it('400 without anthropic-version, or with one that does not exist', async () => {
    let r = await fetch(`${base}/messages`, {
      method: 'POST',
      headers: { 'x-api-key': WHOLE, 'content-type': 'application/json' },
      body: JSON.stringify(hello()),
    });
    let { error } = await errorOf(Promise.resolve(r), 400);
    assert.deepEqual(error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
    ({ error } = await errorOf(messages(hello(), WHOLE, { 'anthropic-version': '2024-01-01' }), 400));
    assert.equal(error.message, 'anthropic-version: "2024-01-01" is not a valid version');
    r = await messages(hello(), WHOLE, { 'anthropic-version': '2023-01-01' });
    assert.equal(r.status, 200);
  });

  it('accepts every built-in key', async () => {
    for (const { key } of BUILTIN_KEYS) {
      const r = await fetch(`${base}/models`, { headers: authHeaders(key) });
      assert.equal(r.status, 200, key.slice(0, 30));
    }
  });

  it('a "quota" key: 400 with the credit-balance message, as the API answers an empty account', async () => {
    const { error } = await errorOf(messages(hello(), 'sk-ant-api03-quota-1'), 400);
    assert.deepEqual(error, { type: 'invalid_request_error', message: CREDIT_MESSAGE });
  });

  it('an "overloaded" key: 529 overloaded_error on every request', async () => {
    for (let i = 0; i < 3; i++) {
      const { error } = await errorOf(messages(hello(), 'sk-ant-api03-overloaded-1'), 529);
      assert.deepEqual(error, { type: 'overloaded_error', message: 'Overloaded' });
    }
  });

  it('a "ratelimit" key: 429 rate_limit_error with retry-after and anthropic-ratelimit-* headers', async () => {
    const { error, headers } = await errorOf(messages(hello(), 'sk-ant-api03-ratelimit3-1'), 429);
    assert.equal(error.type, 'rate_limit_error');
    assert.match(error.message, /rate limit/);
    assert.equal(headers.get('retry-after'), '3');
    assert.equal(headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assert.match(headers.get('anthropic-ratelimit-requests-reset'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('"flaky": 529 overloaded, then 500 api_error, then success; "revoked": 401', async () => {
    const key = `sk-ant-api03-flaky2-${Date.now()}`;
    assert.equal((await errorOf(messages(hello(), key), 529)).error.type, 'overloaded_error');
    assert.deepEqual((await errorOf(messages(hello(), key), 500)).error, { type: 'api_error', message: 'Internal server error' });
    assert.equal((await messages(hello(), key)).status, 200);
    await errorOf(messages(hello(), 'sk-ant-api03-revoked-1'), 401);
  });

  it('registered behaviours work for Anthropic keys', async () => {
    const key = await registerKey({ overloaded: true });
    await errorOf(messages(hello(), key), 529);
    const again = await registerKey({ rateLimit: 1, retryAfter: 2 });
    assert.equal((await errorOf(messages(hello(), again), 429)).headers.get('retry-after'), '2');
    assert.equal((await messages(hello(), again)).status, 200);
  });

  it('sends Anthropic response headers', async () => {
    const r = await messages(hello());
    assert.match(r.headers.get('request-id'), /^req_011C/);
    assert.ok(r.headers.get('anthropic-organization-id'));
    assert.equal(r.headers.get('anthropic-ratelimit-requests-limit'), '50');
    assert.equal(r.headers.get('content-type'), 'application/json');
  });
});

describe('Anthropic CORS', () => {
  const origin = 'http://127.0.0.1:9999';
  const preflight = (requested) =>
    fetch(`${base}/messages`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requested },
    });

  it('allows a browser that asks for the opt-in header, with the Anthropic header set only', async () => {
    const r = await preflight('anthropic-dangerous-direct-browser-access,anthropic-version,content-type,x-api-key');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(r.headers.get('access-control-allow-headers').split(', '), ALLOWED_HEADERS);
    const entry = await lastLogEntry((e) => e.preflight);
    assert.equal(entry.cors.allowed, true);
    assert.deepEqual(entry.cors.disallowedHeaders, []);
  });

  it('refuses a browser without the opt-in header: no access-control-allow-origin', async () => {
    const r = await preflight('anthropic-version,content-type,x-api-key');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const entry = await lastLogEntry((e) => e.preflight);
    assert.equal(entry.cors.allowed, false);
    // And the next opted-in preflight is allowed again (the choice is per preflight).
    const ok = await preflight('anthropic-dangerous-direct-browser-access,x-api-key');
    assert.equal(ok.headers.get('access-control-allow-origin'), '*');
  });

  it('does not allow unknown headers', async () => {
    await preflight('anthropic-dangerous-direct-browser-access,x-api-key,x-byok-debug');
    const entry = await lastLogEntry((e) => e.preflight);
    assert.deepEqual(entry.cors.disallowedHeaders, ['x-byok-debug']);
    assert.equal(entry.cors.allowed, false);
  });

  it('an actual browser request without the opt-in header: 401 and no CORS header', async () => {
    const { error, headers } = await errorOf(messages(hello(), WHOLE, { origin }), 401);
    assert.deepEqual(error, { type: 'authentication_error', message: CORS_MESSAGE });
    assert.equal(headers.get('access-control-allow-origin'), null);
    const r = await messages(hello(), WHOLE, { origin, 'anthropic-dangerous-direct-browser-access': 'true' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-expose-headers'), '*');
  });
});

describe('Anthropic messages: validation', () => {
  const cases = [
    ['max_tokens missing', { model: MODEL, messages: [{ role: 'user', content: 'x' }] }, 400, 'max_tokens: Field required'],
    ['model missing', { max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 400, 'model: Field required'],
    ['messages missing', { model: MODEL, max_tokens: 5 }, 400, 'messages: Field required'],
    ['unknown parameter', hello({ frequency_penalty: 1 }), 400, 'frequency_penalty: Extra inputs are not permitted'],
    ['max_tokens not an integer', hello({ max_tokens: 1.5 }), 400, 'max_tokens: Input should be a valid integer'],
    ['temperature above 1', hello({ temperature: 1.5 }), 400, 'temperature: Input should be less than or equal to 1'],
    ['max_tokens above the model limit', hello({ max_tokens: 5000 }), 400,
      'max_tokens: 5000 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307'],
    ['unknown model', hello({ model: 'claude-nope' }), 404, 'model: claude-nope'],
    ['empty messages', hello({ messages: [] }), 400, 'messages: at least one message is required'],
    ['system role', hello({ messages: [{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }] }), 400,
      'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.'],
    ['bad role', hello({ messages: [{ role: 'tool', content: 'x' }] }), 400, "messages.0.role: Input should be 'user' or 'assistant'"],
    ['extra message field', hello({ messages: [{ role: 'user', content: 'x', name: 'bob' }] }), 400, 'messages.0.name: Extra inputs are not permitted'],
    ['empty text block', hello({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }), 400, 'messages: text content blocks must be non-empty'],
    ['empty content', hello({ messages: [{ role: 'user', content: '' }] }), 400,
      'messages.0: all messages must have non-empty content except for the optional final assistant message'],
    ['trailing white space in a prefill', hello({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y ' }] }), 400,
      'messages: final assistant content cannot end with trailing whitespace'],
    ['tool_use without tool_result', hello({ tools: [weatherTool], messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] },
      { role: 'user', content: 'y' },
    ] }), 400, 'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.'],
    ['tool_result without tool_use', hello({ messages: [
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'z' }] },
    ] }), 400, 'messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.'],
    ['tool_result after text', hello({ tools: [weatherTool], messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] },
      { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'tool_result', tool_use_id: 'toolu_1' }] },
    ] }), 400, 'messages.2: `tool_result` blocks must come before any other content in a user message'],
    ['tool_choice without tools', hello({ tool_choice: { type: 'any' } }), 400, 'tool_choice: tool_choice may only be specified while providing tools.'],
    ['tool without input_schema', hello({ tools: [{ name: 'f' }] }), 400, 'tools.0.custom.input_schema: Field required'],
    ['OpenAI-shaped tool', hello({ tools: [{ type: 'function', function: { name: 'f' } }] }), 400, 'tools.0.custom.function: Extra inputs are not permitted'],
    ['image with a bad media type', hello({ messages: [{ role: 'user', content: [
      { type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'AAAA' } },
    ] }] }), 400, "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"],
    ['OpenAI-shaped image', hello({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }), 400,
      "messages.0.content.0: Input tag 'image_url' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'tool_result'"],
  ];
  for (const [name, body, status, message] of cases) {
    it(`${name}: ${status}`, async () => {
      const { error } = await errorOf(messages(body), status);
      assert.equal(error.message, message);
      assert.equal(error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
    });
  }

  it('a body that is not JSON: 400', async () => {
    const { error } = await errorOf(messages('{"model": '), 400);
    assert.equal(error.type, 'invalid_request_error');
  });

  it('a body over 32 MB: 413 request_too_large', async () => {
    const { error } = await errorOf(messages('x'.repeat(33 * 1024 * 1024)), 413);
    assert.equal(error.type, 'request_too_large');
  });

  it('accepts consecutive turns of one role (the API combines them), null optionals and a system string or blocks', async () => {
    for (const system of ['Be brief.', [{ type: 'text', text: 'Be brief.' }], null]) {
      const r = await messages(hello({
        system,
        temperature: null,
        messages: [{ role: 'user', content: 'one' }, { role: 'user', content: [{ type: 'text', text: 'two' }] }],
      }));
      assert.equal(r.status, 200, await r.clone().text());
    }
  });
});

describe('Anthropic messages: answers', () => {
  it('answers deterministically, non-ASCII included, with usage counted by the documented rule', async () => {
    const body = hello({ system: 'Be brief.', messages: [{ role: 'user', content: 'héllo — 🌍' }] });
    const r = await messages(body);
    const text = await r.text();
    assert.ok(!text.includes('\n'));
    const msg = JSON.parse(text);
    assert.deepEqual(Object.keys(msg), ['model', 'id', 'type', 'role', 'content', 'stop_reason', 'stop_sequence', 'usage']);
    assert.match(msg.id, /^msg_01/);
    assert.equal(msg.model, MODEL);
    assert.deepEqual(msg.content, [{ type: 'text', text: `${ANSWER_PREFIX} You said: héllo — 🌍` }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    const input = 3 + estimateTokens('Be brief.') + 3 + estimateTokens('héllo — 🌍');
    assert.equal(msg.usage.input_tokens, input);
    assert.equal(msg.usage.output_tokens, `${ANSWER_PREFIX} You said: héllo — 🌍`.split(' ').length);
    assert.equal(msg.usage.cache_read_input_tokens, 0);
  });

  it('max_tokens cuts with stop_reason max_tokens; stop_sequences with stop_sequence', async () => {
    let msg = await (await messages(hello({ max_tokens: 3 }))).json();
    assert.equal(msg.content[0].text, 'Hello from the');
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.output_tokens, 3);
    msg = await (await messages(hello({ stop_sequences: ['stand-in', 'from'] }))).json();
    assert.equal(msg.content[0].text, 'Hello ');
    assert.equal(msg.stop_reason, 'stop_sequence');
    assert.equal(msg.stop_sequence, 'from');
  });

  it('refuses a prompt holding #refuse, as the recordings show: no content, stop_reason refusal', async () => {
    const msg = await (await messages(hello({ messages: [{ role: 'user', content: 'please #refuse' }] }))).json();
    assert.deepEqual(msg.content, []);
    assert.equal(msg.stop_reason, 'refusal');
    assert.equal(msg.stop_details.type, 'refusal');
  });

  it('mentions images in the answer and counts them', async () => {
    const body = hello({ messages: [{ role: 'user', content: [
      { type: 'text', text: 'what is this' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    ] }] });
    const msg = await (await messages(body)).json();
    assert.equal(msg.content[0].text, `${ANSWER_PREFIX} You said: what is this [2 images]`);
    assert.equal(msg.usage.input_tokens, countInputTokens(body));
  });

  it('calls the first tool (auto: after a short text), the named one, or none', async () => {
    let msg = await (await messages(hello({ tools: [weatherTool] }))).json();
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(msg.content[0], { type: 'text', text: "I'll use the get_weather tool." });
    assert.equal(msg.content[1].type, 'tool_use');
    assert.match(msg.content[1].id, /^toolu_01/);
    assert.equal(msg.content[1].name, 'get_weather');
    assert.deepEqual(msg.content[1].input, { city: 'city value' });

    const now = { name: 'now', input_schema: { type: 'object', properties: {} } };
    msg = await (await messages(hello({ tools: [weatherTool, now], tool_choice: { type: 'tool', name: 'now' } }))).json();
    assert.deepEqual(msg.content.map((b) => b.type), ['tool_use']);
    assert.deepEqual(msg.content[0].input, {});
    msg = await (await messages(hello({ tools: [weatherTool], tool_choice: { type: 'any' } }))).json();
    assert.deepEqual(msg.content.map((b) => b.type), ['tool_use']);
    msg = await (await messages(hello({ tools: [weatherTool], tool_choice: { type: 'none' } }))).json();
    assert.deepEqual(msg.content.map((b) => b.type), ['text']);
    assert.equal(msg.stop_reason, 'end_turn');
  });

  it('answers tool results with text, so tool loops end', async () => {
    const body = hello({ tools: [weatherTool], messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' }] },
    ] });
    const msg = await (await messages(body)).json();
    assert.deepEqual(msg.content, [{ type: 'text', text: `${ANSWER_PREFIX} The tool said: 18°C` }]);
    assert.equal(msg.stop_reason, 'end_turn');
  });
});

describe('Anthropic messages: streaming', () => {
  const recorded = eventsOf(`${fixture('anthropic.basic-response.raw.sse.txt')}\n\n`);

  it('streams named events like the recorded stream, pings included, usage cumulative', async () => {
    const r = await messages(hello({ stream: true }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const events = eventsOf(await r.text());
    // Every event is named after its payload's type.
    for (const e of events) assert.equal(e.event, e.data.type);
    const types = events.map((e) => e.data.type);
    assert.equal(types[0], 'message_start');
    assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
    assert.ok(types.filter((t) => t === 'ping').length >= 2);
    // The same shapes as the recording.
    const shape = (list) => [...new Set(list.map((e) => `${e.data.type}:${Object.keys(e.data).join(',')}`))].sort();
    assert.deepEqual(shape(events), shape(recorded));
    assert.deepEqual(Object.keys(events[0].data.message), ['model', 'id', 'type', 'role', 'content', 'stop_reason', 'stop_sequence', 'usage']);
    assert.equal(events[0].data.message.usage.output_tokens, 1);

    const whole = await (await messages(hello())).json();
    const folded = fold(events);
    assert.equal(folded.text, whole.content[0].text);
    assert.equal(folded.stop, 'end_turn');
    assert.equal(folded.usage.input_tokens, whole.usage.input_tokens);
    assert.equal(folded.usage.output_tokens, whole.usage.output_tokens);
  });

  it('streams tool_use with an empty first input_json_delta, then pieces of the JSON', async () => {
    const events = eventsOf(await (await messages(hello({ stream: true, tools: [weatherTool], tool_choice: { type: 'any' } }))).text());
    const start = events.find((e) => e.data.type === 'content_block_start');
    assert.equal(start.data.content_block.type, 'tool_use');
    assert.deepEqual(start.data.content_block.input, {});
    const pieces = events.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json);
    assert.equal(pieces[0], '');
    assert.ok(pieces.length > 2);
    const { calls, stop } = fold(events);
    assert.deepEqual(JSON.parse(calls[0].args), { city: 'city value' });
    assert.equal(stop, 'tool_use');

    // A tool without arguments streams one empty piece only, as the recording shows.
    const now = { name: 'now', input_schema: { type: 'object', properties: {} } };
    const noArgs = eventsOf(await (await messages(hello({ stream: true, tools: [now], tool_choice: { type: 'any' } }))).text());
    assert.deepEqual(noArgs.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json), ['']);
  });

  it('streams a refusal like the recording: no block, stop_reason refusal', async () => {
    const events = eventsOf(await (await messages(hello({ stream: true, messages: [{ role: 'user', content: '#refuse' }] }))).text());
    assert.deepEqual(events.map((e) => e.data.type), ['message_start', 'ping', 'message_delta', 'message_stop']);
    assert.equal(events[2].data.delta.stop_reason, 'refusal');
  });

  it('awkward chunking (the default key) cuts inside field names and UTF-8 characters', async () => {
    const r = await rawRequest(`${base}/messages`, {
      method: 'POST',
      headers: authHeaders(VALID),
      body: JSON.stringify(hello({ stream: true, messages: [{ role: 'user', content: 'héllo 🌍' }] })),
    });
    assert.equal(r.status, 200);
    assert.ok(r.chunks.length > 20);
    assert.ok(r.chunks.some((c) => isBrokenUtf8(c)));
    assert.ok(r.chunks.some((c) => c.toString('latin1').endsWith('ev')));
    assert.equal(fold(eventsOf(r.body.toString('utf8'))).text, `${ANSWER_PREFIX} You said: héllo 🌍`);
  });

  it('"truncate": the stream stops without message_stop; "streamerror": an error event after N events', async () => {
    let events = eventsOf(await (await messages(hello({ stream: true }), 'sk-ant-api03-truncate4-1')).text());
    assert.equal(events.length, 4);
    assert.ok(!events.some((e) => e.data.type === 'message_stop'));
    let entry = await lastLogEntry();
    assert.equal(entry.truncated, true);

    events = eventsOf(await (await messages(hello({ stream: true }), 'sk-ant-api03-streamerror5-1')).text());
    assert.equal(events.length, 6);
    assert.deepEqual(events.at(-1), {
      event: 'error',
      data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    entry = await lastLogEntry();
    assert.equal(entry.status, 200);
  });
});

describe('Anthropic request log', () => {
  it('records header names and only a masked key', async () => {
    await messages(hello({ stream: true }), WHOLE, { 'anthropic-dangerous-direct-browser-access': 'true' });
    const entry = await lastLogEntry();
    assert.equal(entry.provider, 'anthropic');
    assert.equal(entry.key, `${WHOLE.slice(0, 5)}…${WHOLE.slice(-4)}`);
    assert.ok(!JSON.stringify(entry).includes(WHOLE));
    for (const h of ['x-api-key', 'anthropic-version', 'anthropic-dangerous-direct-browser-access', 'content-type']) {
      assert.ok(entry.headerNames.includes(h), h);
    }
    assert.equal(entry.body.model, MODEL);
    assert.equal(entry.stream, true);
  });
});
