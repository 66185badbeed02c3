// Tests of the OpenAI-dialect family stand-ins (xAI, Mistral, LM Studio, vLLM, llama.cpp's
// server): run `node --test tests/standin/` from the repository root. They prove each behaves as
// README.md documents, and that the xAI and Mistral streams have the shapes of the recorded ones
// (tests/fixtures/xai-chat.*, mistral-chat.*).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startStandin } from './server.mjs';
import { parseSse, rawRequest, isBrokenUtf8 } from './lib/testkit.mjs';
import { ANSWER_PREFIX, THINKING_TEXT } from './providers/openai.mjs';
import { MODELS as XAI_MODELS, TEAM } from './providers/xai.mjs';
import { splitPieces } from './lib/text.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name) => readFileSync(here(`../fixtures/${name}`), 'utf8');
const jsonl = (name) => fixture(name).trim().split('\n').map((l) => JSON.parse(l));

const XAI_KEY = `xai-standinVALIDkey${'0'.repeat(65)}`;
const XAI_WHOLE = `xai-standinWHOLEkey${'0'.repeat(65)}`;
const MISTRAL_KEY = 'standinMISTRALvalidKEY0000000000';
const MISTRAL_WHOLE = 'standinMISTRALwholeKEY0000000000';
const VLLM_KEY = 'token-standinVLLMkey0000';
const LLAMA_KEY = 'sk-standinLLAMACPPkey0000';
const ORIGIN = 'http://page.test';

const WEATHER = [{
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}];

let standin;
let S; // http://127.0.0.1:N

before(async () => {
  standin = await startStandin();
  S = standin.url;
});
after(async () => {
  await standin.close();
});

function post(path, body, key = null, headers = {}) {
  return fetch(`${S}${path}`, {
    method: 'POST',
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const get = (path, key = null, headers = {}) => fetch(`${S}${path}`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
const preflight = (path, method, requestHeaders) =>
  fetch(`${S}${path}`, {
    method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': requestHeaders },
  });
const hello = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi there' }], ...extra });

async function jsonOf(responsePromise, status) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  return { body: JSON.parse(text), headers: r.headers };
}

/** The JSON chunks of a stream and whether it ended with [DONE]. */
async function streamOf(responsePromise) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const events = parseSse(text);
  const done = events.at(-1)?.data === '[DONE]';
  return { chunks: events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data)), done, headers: r.headers };
}

const contentOf = (chunks) => chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');

async function lastEntry(provider, filter = () => true) {
  const { entries } = await (await fetch(`${S}/__standin/log?provider=${provider}`)).json();
  return entries.filter(filter).at(-1);
}

// ---------------------------------------------------------------------------------------------
// xAI

describe('xAI', () => {
  it('lists the grok models as xAI does', async () => {
    const { body } = await jsonOf(get('/xai/v1/models', XAI_KEY), 200);
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id), XAI_MODELS.map((m) => m.id));
    assert.deepEqual(Object.keys(body.data[0]), ['id', 'created', 'object', 'owned_by']);
    assert.equal(body.data[0].owned_by, 'xai');
  });

  it('refuses a bad key with 400 and its masked echo, in xAI\'s body', async () => {
    const { body } = await jsonOf(get('/xai/v1/models', 'xai-notAKnownKey1234'), 400);
    assert.deepEqual(body, {
      code: 'Client specified an invalid argument',
      error: 'Incorrect API key provided: xa***34. You can obtain an API key from https://console.x.ai.',
    });
    const missing = await jsonOf(post('/xai/v1/chat/completions', hello('grok-3')), 400);
    assert.equal(missing.body.code, 'Client specified an invalid argument');
  });

  it('streams grok-3-mini as recorded: reasoning first, role on the first delta, usage beside', async () => {
    const { chunks, done } = await streamOf(post('/xai/v1/chat/completions', hello('grok-3-mini', { stream: true, stream_options: { include_usage: true } }), XAI_WHOLE));
    assert.ok(done);
    const recorded = jsonl('xai-chat.text-reasoning.payloads.jsonl');
    // Same keys, in the same order, as the recording: first chunk, a text chunk, finish, usage.
    assert.deepEqual(Object.keys(chunks[0]), Object.keys(recorded[0]));
    assert.deepEqual(Object.keys(chunks[0].choices[0].delta), ['reasoning_content', 'role']);
    assert.deepEqual(Object.keys(chunks[0].choices[0]), ['index', 'delta']);
    const finish = chunks.at(-2);
    assert.deepEqual(finish.choices[0], { index: 0, delta: {}, finish_reason: 'stop' });
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(Object.keys(usageChunk), Object.keys(recorded.at(-1)));
    assert.deepEqual(Object.keys(usageChunk.usage), Object.keys(recorded.at(-1).usage));
    const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
    assert.equal(reasoning, THINKING_TEXT);
    assert.ok(contentOf(chunks).startsWith(ANSWER_PREFIX));
    // Reasoning counted beside the answer: total = prompt + completion + reasoning; billed at the output price.
    const u = usageChunk.usage;
    const thinking = splitPieces(THINKING_TEXT).length;
    assert.equal(u.completion_tokens_details.reasoning_tokens, thinking);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens + thinking);
    assert.equal(u.cost_in_usd_ticks, u.prompt_tokens * 3000 + (u.completion_tokens + thinking) * 5000);
  });

  it('sends usage only with stream_options.include_usage', async () => {
    const { chunks } = await streamOf(post('/xai/v1/chat/completions', hello('grok-3', { stream: true }), XAI_WHOLE));
    assert.ok(!chunks.some((c) => c.usage));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  it('streams a tool call whole in one chunk, as recorded', async () => {
    const { chunks } = await streamOf(post('/xai/v1/chat/completions', hello('grok-4', { stream: true, tools: WEATHER }), XAI_WHOLE));
    const recorded = jsonl('xai-chat.tool-call.payloads.jsonl');
    const recordedCall = recorded.find((c) => c.choices[0]?.delta?.tool_calls).choices[0].delta.tool_calls[0];
    const calls = chunks.filter((c) => c.choices[0]?.delta?.tool_calls);
    assert.equal(calls.length, 1);
    const call = calls[0].choices[0].delta.tool_calls[0];
    assert.deepEqual(Object.keys(call), Object.keys(recordedCall));
    assert.match(call.id, /^call_\d{8}$/);
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'city value' });
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    // An alias answers with the model's own id.
    assert.equal(chunks[0].model, 'grok-4-0709');
  });

  it('words unknown models, paths and an empty balance as xAI does', async () => {
    const unknown = await jsonOf(post('/xai/v1/chat/completions', hello('grok-9'), XAI_KEY), 404);
    assert.equal(unknown.body.code, 'Some requested entity was not found');
    assert.match(unknown.body.error, new RegExp(`^The model grok-9 does not exist or your team ${TEAM} does not have access to it`));
    const route = await jsonOf(get('/xai/v1/nope', XAI_KEY), 404);
    assert.match(route.body.error, /^No handler found on route/);
    const quota = await jsonOf(post('/xai/v1/chat/completions', hello('grok-3'), `xai-standinquotaKEY${'0'.repeat(65)}`), 403);
    assert.equal(quota.body.code, 'The caller does not have permission to execute the specified operation');
    assert.match(quota.body.error, /used all available credits/);
    // A parameter check in xAI's shape.
    const bad = await jsonOf(post('/xai/v1/chat/completions', hello('grok-3', { temperature: 9 }), XAI_KEY), 400);
    assert.deepEqual(Object.keys(bad.body), ['code', 'error']);
  });

  it('cuts the stream awkwardly by default and keeps the same events', async () => {
    const r = await rawRequest(`${S}/xai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${XAI_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(hello('grok-3', { stream: true })),
    });
    assert.ok(r.chunks.length > 10);
    assert.ok(r.chunks.some((c) => isBrokenUtf8(c)), 'a write ends inside a UTF-8 character');
    const chunks = parseSse(r.body.toString('utf8')).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    assert.ok(contentOf(chunks).includes('hi there'));
  });
});

// ---------------------------------------------------------------------------------------------
// Mistral

describe('Mistral', () => {
  it('refuses a bad key with 401 {"detail":"Unauthorized"}', async () => {
    const { body } = await jsonOf(get('/mistral/v1/models', 'standinNOTKNOWNkey00000000000000'), 401);
    assert.deepEqual(body, { detail: 'Unauthorized' });
    assert.deepEqual((await jsonOf(get('/mistral/v1/models'), 401)).body, { detail: 'Unauthorized' });
  });

  it('refuses stream_options (and any field it lacks) with 422 extra_forbidden', async () => {
    const { body } = await jsonOf(post('/mistral/v1/chat/completions',
      hello('mistral-small-latest', { stream: true, stream_options: { include_usage: true }, store: false }), MISTRAL_KEY), 422);
    assert.equal(body.object, 'error');
    assert.equal(body.type, 'invalid_request_error');
    assert.deepEqual(body.message.detail.map((d) => [d.type, d.loc, d.msg]), [
      ['extra_forbidden', ['body', 'stream_options', 'include_usage'], 'Extra inputs are not permitted'],
      ['extra_forbidden', ['body', 'store'], 'Extra inputs are not permitted'],
    ]);
    const message = await jsonOf(post('/mistral/v1/chat/completions',
      { model: 'mistral-small-latest', messages: [{ role: 'user', content: 'x', name: 'bob' }] }, MISTRAL_KEY), 422);
    assert.deepEqual(message.body.message.detail[0].loc, ['body', 'messages', 0, 'user', 'name']);
  });

  it('streams usage on the last chunk unasked, as recorded', async () => {
    const { chunks, done } = await streamOf(post('/mistral/v1/chat/completions', hello('mistral-small-latest', { stream: true }), MISTRAL_WHOLE));
    assert.ok(done);
    const recorded = jsonl('mistral-chat.text.payloads.jsonl');
    assert.deepEqual(chunks[0].choices[0], recorded[0].choices[0]);
    assert.deepEqual(Object.keys(chunks[0]), Object.keys(recorded[0]));
    const last = chunks.at(-1);
    assert.deepEqual(Object.keys(last), Object.keys(recorded.at(-1)));
    assert.deepEqual(last.choices[0], { index: 0, delta: { content: '' }, finish_reason: 'stop', logprobs: null });
    assert.deepEqual(Object.keys(last.usage), Object.keys(recorded.at(-1).usage));
    assert.equal(chunks.filter((c) => c.usage).length, 1);
    assert.equal(last.model, 'mistral-small-latest');
    assert.ok(contentOf(chunks).endsWith('You said: hi there'));
  });

  it('streams a tool call whole, with its finish and usage, and 9-character ids', async () => {
    const { chunks } = await streamOf(post('/mistral/v1/chat/completions', hello('mistral-large-latest', { stream: true, tools: WEATHER, tool_choice: 'any' }), MISTRAL_WHOLE));
    const recorded = jsonl('mistral-chat.tool-call.payloads.jsonl');
    assert.equal(chunks.length, recorded.length);
    const last = chunks.at(-1);
    assert.deepEqual(Object.keys(last.choices[0].delta), Object.keys(recorded.at(-1).choices[0].delta));
    assert.deepEqual(Object.keys(last.choices[0].delta.tool_calls[0]), Object.keys(recorded.at(-1).choices[0].delta.tool_calls[0]));
    assert.match(last.choices[0].delta.tool_calls[0].id, /^[a-zA-Z0-9]{9}$/);
    assert.equal(last.choices[0].finish_reason, 'tool_calls');
    assert.ok(last.usage.total_tokens > 0);
  });

  it('refuses tool call ids that are not its own, and unknown models', async () => {
    const history = {
      model: 'mistral-large-latest',
      tools: WEATHER,
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc123xyz', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_abc123xyz', content: 'sunny' },
      ],
    };
    const { body } = await jsonOf(post('/mistral/v1/chat/completions', history, MISTRAL_KEY), 400);
    assert.deepEqual(body, {
      object: 'error',
      message: 'Tool call id was call_abc123xyz but must be a-z, A-Z, 0-9, with a length of 9.',
      type: 'invalid_function_call',
      param: null,
      code: '3280',
    });
    const model = await jsonOf(post('/mistral/v1/chat/completions', hello('gpt-4o'), MISTRAL_KEY), 400);
    assert.deepEqual(model.body, { object: 'error', message: 'Invalid model: gpt-4o', type: 'invalid_model', param: null, code: '1500' });
  });

  it('embeds with mistral-embed', async () => {
    const { body } = await jsonOf(post('/mistral/v1/embeddings', { model: 'mistral-embed', input: ['one', 'two'], encoding_format: 'float' }, MISTRAL_KEY), 200);
    assert.equal(body.data.length, 2);
    assert.equal(body.model, 'mistral-embed');
    const extra = await jsonOf(post('/mistral/v1/embeddings', { model: 'mistral-embed', input: 'x', dimensions: 8 }, MISTRAL_KEY), 422);
    assert.deepEqual(extra.body.message.detail[0].loc, ['body', 'dimensions']);
  });

  it('takes keys registered through the control API, with their behaviour', async () => {
    const key = 'standinREGISTEREDkeyAAAAAAAAAAAA';
    const r = await fetch(`${S}/__standin/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'mistral', key, behaviour: { rateLimit: 1 } }),
    });
    assert.equal(r.status, 201);
    const limited = await jsonOf(post('/mistral/v1/chat/completions', hello('mistral-small-latest'), key), 429);
    assert.equal(limited.body.type, 'rate_limited');
    await jsonOf(post('/mistral/v1/chat/completions', hello('mistral-small-latest'), key), 200);
  });

  it('lists its models with their capabilities', async () => {
    const { body } = await jsonOf(get('/mistral/v1/models', MISTRAL_KEY), 200);
    const embed = body.data.find((m) => m.id === 'mistral-embed');
    assert.equal(embed.owned_by, 'mistralai');
    assert.equal(embed.capabilities.completion_chat, false);
  });

  it('allows authorization and content-type in a preflight, not an SDK\'s x-stainless-timeout', async () => {
    const r = await preflight('/mistral/v1/chat/completions', 'POST', 'authorization,content-type');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    let entry = await lastEntry('mistral', (e) => e.preflight);
    assert.equal(entry.cors.allowed, true);
    await preflight('/mistral/v1/chat/completions', 'POST', 'authorization,content-type,x-stainless-timeout');
    entry = await lastEntry('mistral', (e) => e.preflight);
    assert.deepEqual(entry.cors.disallowedHeaders, ['x-stainless-timeout']);
  });
});

// ---------------------------------------------------------------------------------------------
// LM Studio

describe('LM Studio', () => {
  it('needs no key and lists the loaded models', async () => {
    const { body } = await jsonOf(get('/lmstudio/v1/models'), 200);
    assert.ok(body.data.some((m) => m.id === 'meta-llama-3.1-8b-instruct'));
    assert.deepEqual(Object.keys(body.data[0]), ['id', 'object', 'owned_by']);
    await jsonOf(get('/lmstudio/v1/models', 'lm-studio'), 200);
  });

  it('streams with the role on the first piece, and usage when asked', async () => {
    const { chunks, done } = await streamOf(post('/lmstudio/v1/chat/completions',
      hello('meta-llama-3.1-8b-instruct', { stream: true, stream_options: { include_usage: true } }), 'whole'));
    assert.ok(done);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: 'Hello' });
    assert.equal(chunks[0].system_fingerprint, 'meta-llama-3.1-8b-instruct');
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.ok(chunks.at(-1).usage.total_tokens > 0);
    assert.ok(contentOf(chunks).endsWith('You said: hi there'));
  });

  it('takes behaviour words from any key', async () => {
    const { chunks, done } = await streamOf(post('/lmstudio/v1/chat/completions', hello('meta-llama-3.1-8b-instruct', { stream: true }), 'truncate3'));
    assert.equal(done, false);
    assert.equal(chunks.length, 3);
  });

  it('answers unknown models with 400 model_not_found and unknown paths with 200 and an error', async () => {
    const { body } = await jsonOf(post('/lmstudio/v1/chat/completions', hello('gpt-4o')), 400);
    assert.equal(body.error.code, 'model_not_found');
    assert.match(body.error.message, /^Invalid model identifier "gpt-4o"\. Please specify a valid downloaded model/);
    const nope = await jsonOf(post('/lmstudio/chat/completions', hello('x')), 200);
    assert.deepEqual(nope.body, { error: 'Unexpected endpoint or method. (POST /chat/completions)' });
  });

  it('sends CORS headers only when started with CORS on', async () => {
    const on = await get('/lmstudio/v1/models', null, { origin: ORIGIN });
    assert.equal(on.headers.get('access-control-allow-origin'), '*');
    const off = await get('/lmstudio/_cors-off/v1/models', null, { origin: ORIGIN });
    assert.equal(off.status, 200);
    assert.equal(off.headers.get('access-control-allow-origin'), null);
    // The preflight is an unexpected method to Express: 200, an error body, no CORS header.
    const p = await preflight('/lmstudio/_cors-off/v1/chat/completions', 'POST', 'content-type');
    assert.equal(p.status, 200);
    assert.equal(p.headers.get('access-control-allow-origin'), null);
    assert.deepEqual(await p.json(), { error: 'Unexpected endpoint or method. (OPTIONS /v1/chat/completions)' });
    const entry = await lastEntry('lmstudio', (e) => e.preflight);
    assert.equal(entry.cors.allowed, false);
    const pOn = await preflight('/lmstudio/v1/chat/completions', 'POST', 'authorization,content-type');
    assert.equal(pOn.headers.get('access-control-allow-headers'), 'authorization,content-type');
  });

  it('embeds with its loaded embedding model', async () => {
    const { body } = await jsonOf(post('/lmstudio/v1/embeddings', { model: 'text-embedding-nomic-embed-text-v1.5', input: 'a' }), 200);
    assert.equal(body.data.length, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// vLLM

describe('vLLM', () => {
  it('lists its one served model with owned_by vllm and max_model_len', async () => {
    const { body } = await jsonOf(get('/vllm/v1/models'), 200);
    assert.equal(body.data.length, 1);
    assert.equal(body.data[0].owned_by, 'vllm');
    assert.equal(body.data[0].max_model_len, 131072);
    assert.equal(body.data[0].root, body.data[0].id);
  });

  it('takes any key or none without --api-key; with it, 401 {"error":"Unauthorized"}', async () => {
    await jsonOf(get('/vllm/v1/models', 'whatever'), 200);
    assert.deepEqual((await jsonOf(get('/vllm/_api-key/v1/models'), 401)).body, { error: 'Unauthorized' });
    assert.deepEqual((await jsonOf(get('/vllm/_api-key/v1/models', 'token-wrong'), 401)).body, { error: 'Unauthorized' });
    await jsonOf(get('/vllm/_api-key/v1/models', VLLM_KEY), 200);
  });

  it('answers preflights without a key and echoes the requested headers', async () => {
    const r = await preflight('/vllm/_api-key/v1/chat/completions', 'POST', 'authorization,content-type');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'OK');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-headers'), 'authorization,content-type');
  });

  it('streams with usage when asked, tool calls in fragments', async () => {
    const { chunks } = await streamOf(post('/vllm/_api-key/v1/chat/completions',
      hello('meta-llama/Llama-3.1-8B-Instruct', { stream: true, stream_options: { include_usage: true }, tools: WEATHER }), `${VLLM_KEY}`));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const header = chunks[1].choices[0].delta.tool_calls[0];
    assert.match(header.id, /^chatcmpl-tool-[0-9a-f]{16}$/);
    assert.equal(header.function.arguments, '');
    const args = chunks.map((c) => c.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '').join('');
    assert.deepEqual(JSON.parse(args), { city: 'city value' });
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(chunks.at(-1).choices, []);
  });

  it('words its errors with the status as code', async () => {
    const { body } = await jsonOf(post('/vllm/v1/chat/completions', hello('gpt-4o')), 404);
    assert.deepEqual(body, { error: { message: 'The model `gpt-4o` does not exist.', type: 'NotFoundError', param: null, code: 404 } });
    const opts = await jsonOf(post('/vllm/v1/chat/completions', hello('meta-llama/Llama-3.1-8B-Instruct', { stream_options: { include_usage: true } })), 400);
    assert.equal(opts.body.error.message, 'Stream options can only be defined when `stream=True`.');
    assert.deepEqual((await jsonOf(get('/vllm/v1/nope'), 404)).body, { detail: 'Not Found' });
  });
});

// ---------------------------------------------------------------------------------------------
// llama.cpp's server

describe('llama.cpp server', () => {
  it('serves any model name, answers naming it, with sorted keys and timings', async () => {
    const { chunks, done } = await streamOf(post('/llamacpp/v1/chat/completions', hello('my-model', { stream: true }), null, { origin: ORIGIN }));
    assert.ok(done);
    assert.equal(chunks[0].model, 'my-model');
    for (const c of chunks) assert.deepEqual(Object.keys(c), [...Object.keys(c)].sort());
    assert.deepEqual(chunks[0].choices[0].delta, { content: null, role: 'assistant' });
    // Without include_usage: no usage, timings on the finish chunk.
    assert.ok(!chunks.some((c) => c.usage));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(chunks.at(-1).timings.predicted_n > 0);
  });

  it('sends usage in a last chunk of its own when asked, timings with it', async () => {
    const { chunks } = await streamOf(post('/llamacpp/v1/chat/completions', hello('m', { stream: true, stream_options: { include_usage: true } })));
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(Object.keys(last.usage), ['completion_tokens', 'prompt_tokens', 'prompt_tokens_details', 'total_tokens']);
    assert.equal(last.timings.predicted_n, last.usage.completion_tokens);
    assert.ok(!chunks.at(-2).timings);
  });

  it('with --api-key: 401 Invalid API Key, except on the public /v1/models', async () => {
    await jsonOf(get('/llamacpp/_api-key/v1/models'), 200);
    await jsonOf(get('/llamacpp/_api-key/v1/models', 'wrong'), 200);
    const { body } = await jsonOf(post('/llamacpp/_api-key/v1/chat/completions', hello('m'), 'wrong'), 401);
    assert.deepEqual(body, { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } });
    await jsonOf(post('/llamacpp/_api-key/v1/chat/completions', hello('m'), LLAMA_KEY), 200);
  });

  it('echoes the Origin; its preflight allows `*`, which never covers authorization', async () => {
    const r = await get('/llamacpp/v1/models', null, { origin: ORIGIN });
    assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
    const p = await preflight('/llamacpp/_api-key/v1/chat/completions', 'POST', 'authorization,content-type');
    assert.equal(p.status, 200);
    assert.equal(p.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(p.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(p.headers.get('access-control-allow-headers'), '*');
    let entry = await lastEntry('llamacpp', (e) => e.preflight);
    assert.deepEqual(entry.cors.disallowedHeaders, ['authorization']);
    // Keyless calls ask only for content-type, which `*` covers; a CORS proxy in front allows the key.
    await preflight('/llamacpp/v1/chat/completions', 'POST', 'content-type');
    entry = await lastEntry('llamacpp', (e) => e.preflight);
    assert.equal(entry.cors.allowed, true);
    await preflight('/llamacpp/_cors-proxy/_api-key/v1/chat/completions', 'POST', 'authorization,content-type');
    entry = await lastEntry('llamacpp', (e) => e.preflight);
    assert.equal(entry.cors.allowed, true);
  });

  it('answers unknown paths and embeddings (not started with --embeddings) in its error shape', async () => {
    assert.deepEqual((await jsonOf(get('/llamacpp/v1/nope'), 404)).body, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
    const { body } = await jsonOf(post('/llamacpp/v1/embeddings', { model: 'm', input: 'x' }), 501);
    assert.equal(body.error.type, 'not_supported_error');
  });
});
