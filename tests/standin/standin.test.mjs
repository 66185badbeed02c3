// Tests of the provider stand-in: run `node --test tests/standin/` from the repository root.
// They prove the stand-in behaves as README.md documents (and as the real OpenAI API does).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { PROVIDERS, startStandin } from './server.mjs';
import { planWrites, frameEvent } from './lib/sse.mjs';
import { maskKey } from './lib/keys.mjs';
import { ANSWER_PREFIX, REFUSAL_TEXT, MODELS } from './providers/openai.mjs';
import { parseSse, rawRequest, waitFor, isBrokenUtf8 } from './lib/testkit.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name) => readFileSync(here(`../fixtures/${name}`), 'utf8');

const VALID = 'sk-proj-standinVALIDkey0000000000000000000000';
const WHOLE = 'sk-proj-standinWHOLEkey0000000000000000000000';
const BYTEWISE = 'sk-proj-standinBYTEWISEkey0000000000000000000';

let standin;
let base; // http://127.0.0.1:N/openai/v1
let keyCounter = 0;

before(async () => {
  standin = await startStandin();
  base = `${standin.url}/openai/v1`;
});
after(async () => {
  await standin.close();
});

/** Registers a fresh key with a behaviour through the control API. */
async function registerKey(behaviour = {}) {
  const key = `sk-proj-test${++keyCounter}x${Date.now().toString(36)}0000000000`;
  const r = await fetch(`${standin.url}/__standin/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'openai', key, behaviour }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return key;
}

function post(path, body, key = WHOLE, headers = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      'content-type': 'application/json',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const chat = (body, key, headers) => post('/chat/completions', body, key, headers);
const hello = (extra = {}) => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi there' }], ...extra });

async function errorOf(responsePromise, status) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error), ['message', 'type', 'param', 'code']);
  return { body, error: body.error, headers: r.headers };
}

async function lastLogEntry(filter = () => true) {
  const r = await fetch(`${standin.url}/__standin/log?provider=openai`);
  const { entries } = await r.json();
  return entries.filter(filter).at(-1);
}

/** Every JSON chunk of a stream (the [DONE] terminator excluded) and whether it ended with [DONE]. */
function chunksOf(text) {
  const events = parseSse(text);
  const done = events.at(-1)?.data === '[DONE]';
  return { events, done, chunks: events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data)) };
}

// -------------------------------------------------------------------------------------------------

describe('server and control API', () => {
  it('refuses to listen anywhere but 127.0.0.1', async () => {
    await assert.rejects(startStandin({ host: '0.0.0.0' }), /127\.0\.0\.1/);
  });

  it('answers /__standin/health', async () => {
    const r = await fetch(`${standin.url}/__standin/health`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const body = await r.json();
    assert.equal(body.ok, true);
    // Every provider module is listed with its path prefix, OpenAI first.
    assert.deepEqual(body.providers[0], { id: 'openai', prefix: '/openai' });
    assert.deepEqual(body.providers.map((p) => p.prefix), PROVIDERS.map((p) => p.prefix));
  });

  it('answers control-API preflights for browser tests', async () => {
    const r = await fetch(`${standin.url}/__standin/keys`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-allow-headers'), /content-type/);
  });

  it('registers keys with a behaviour, and refuses bad registrations', async () => {
    const reg = (body) => fetch(`${standin.url}/__standin/keys`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal((await reg({ provider: 'nope', key: 'sk-x', behaviour: {} })).status, 400);
    assert.equal((await reg({ provider: 'openai', key: '', behaviour: {} })).status, 400);
    const badField = await reg({ provider: 'openai', key: 'sk-abc', behaviour: { chunkin: 'whole' } });
    assert.equal(badField.status, 400);
    assert.match((await badField.json()).error.message, /unknown behaviour field 'chunkin'/);
    assert.equal((await reg({ provider: 'openai', key: 'sk-abc', behaviour: { chunking: 'weird' } })).status, 400);

    const key = 'sk-proj-registeredKEY000000000000000009999';
    const ok = await reg({ provider: 'openai', key, behaviour: { chunking: 'whole', reply: 'Registered reply' } });
    assert.equal(ok.status, 201);
    const text = await ok.text();
    assert.ok(!text.includes(key), 'the control API never echoes a key');
    assert.equal(JSON.parse(text).key, maskKey(key));
    const answer = await (await chat(hello(), key)).json();
    assert.equal(answer.choices[0].message.content, 'Registered reply');
  });

  it('reports a gateway cost in usage.cost when a key asks for it (OpenRouter, LiteLLM)', async () => {
    const reg = (body) => fetch(`${standin.url}/__standin/keys`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal((await reg({ provider: 'openai', key: 'sk-abc', behaviour: { reportedCost: -1 } })).status, 400);
    const key = 'sk-proj-registeredCOST00000000000000008888';
    assert.equal((await reg({ provider: 'openai', key, behaviour: { reportedCost: 0.25 } })).status, 201);
    const answer = await (await chat(hello(), key)).json();
    assert.equal(answer.usage.cost, 0.25);
    const plain = await (await chat(hello(), 'sk-proj-standinVALIDkey0000000000000000000000')).json();
    assert.equal(plain.usage.cost, undefined);
  });

  it('serves the log by provider and sequence number, and reset clears keys and log', async () => {
    const key = await registerKey();
    const { last } = await (await fetch(`${standin.url}/__standin/log`)).json();
    await fetch(`${base}/models`, { headers: { authorization: `Bearer ${key}` } });
    await fetch(`${standin.url}/elsewhere`);
    const since = await (await fetch(`${standin.url}/__standin/log?since=${last}`)).json();
    assert.deepEqual(since.entries.map((e) => [e.provider, e.path]), [['openai', '/openai/v1/models'], [null, '/elsewhere']]);
    const onlyOpenai = await (await fetch(`${standin.url}/__standin/log?provider=openai&since=${last}`)).json();
    assert.equal(onlyOpenai.entries.length, 1);

    const reset = await fetch(`${standin.url}/__standin/reset`, { method: 'POST' });
    assert.equal(reset.status, 200);
    assert.equal((await (await fetch(`${standin.url}/__standin/log`)).json()).entries.length, 0);
    const after = await fetch(`${base}/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(after.status, 401, 'a registered key is forgotten by reset');
    const builtin = await fetch(`${base}/models`, { headers: { authorization: `Bearer ${VALID}` } });
    assert.equal(builtin.status, 200, 'built-in keys survive reset');
  });

  it('runs from the command line, prints its URL and never a key', async () => {
    const child = spawn(process.execPath, [here('./server.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const url = await waitFor(() => /byok stand-in listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out)?.[1], 5000, 'the banner');
    const r = await fetch(`${url}/openai/v1/models`, { headers: { authorization: `Bearer ${VALID}` } });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    await fetch(`${url}/openai/v1/models`, { headers: { authorization: 'Bearer sk-proj-unknownCLIkey00000000000042' } });
    await waitFor(() => out.split('\n').length >= 4, 2000, 'two request lines');
    const code = await new Promise((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
    assert.ok(!out.includes(VALID) && !out.includes('sk-proj-unknownCLIkey00000000000042'), out);
    assert.match(out, /GET \/openai\/v1\/models 200 key=sk-pr…0000/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI routes', () => {
  it('lists the documented models', async () => {
    const r = await fetch(`${base}/models`, { headers: { authorization: `Bearer ${VALID}` } });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id), [
      'gpt-4o', 'gpt-4o-mini', 'gpt-4-turbo', 'gpt-4', 'gpt-3.5-turbo', 'o1-preview', 'o1-mini', 'gpt-4.1-nano',
      'text-embedding-3-small', 'text-embedding-3-large',
    ]);
    for (const m of body.data) {
      assert.deepEqual(Object.keys(m), ['id', 'object', 'created', 'owned_by']);
      assert.equal(m.object, 'model');
      assert.ok(Number.isInteger(m.created));
    }
    assert.equal(body.data[0].owned_by, 'system');
  });

  it('retrieves one model, 404 model_not_found for others', async () => {
    const r = await fetch(`${base}/models/gpt-4o-mini`, { headers: { authorization: `Bearer ${VALID}` } });
    assert.deepEqual(await r.json(), { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' });
    const { error } = await errorOf(fetch(`${base}/models/gpt-5-turbo`, { headers: { authorization: `Bearer ${VALID}` } }), 404);
    assert.deepEqual(error, { message: "The model 'gpt-5-turbo' does not exist", type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  });

  it('answers unknown paths and methods with 404 Invalid URL', async () => {
    let { error } = await errorOf(fetch(`${base}/nope`), 404);
    assert.deepEqual(error, { message: 'Invalid URL (GET /v1/nope)', type: 'invalid_request_error', param: null, code: null });
    ({ error } = await errorOf(fetch(`${base}/chat/completions`, { headers: { authorization: `Bearer ${VALID}` } }), 404));
    assert.equal(error.message, 'Invalid URL (GET /v1/chat/completions)');
    ({ error } = await errorOf(fetch(`${standin.url}/v1/chat/completions`, { method: 'POST', body: '{}' }), 404));
    assert.equal(error.message, 'Invalid URL (POST /v1/chat/completions)');
  });

  it('sends OpenAI response headers, exposes none of them to browsers', async () => {
    const r = await chat(hello());
    await r.arrayBuffer();
    assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]{32}$/);
    assert.equal(r.headers.get('openai-version'), '2020-10-01');
    assert.match(r.headers.get('openai-processing-ms'), /^\d+$/);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '4999');
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-expose-headers'), null);
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
  });

  it('refuses bodies over 4 MB with 413', async () => {
    const big = JSON.stringify(hello({ messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] }));
    const { error } = await errorOf(chat(big), 413);
    assert.match(error.message, /too large/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI keys and account states', () => {
  it('401 without an API key', async () => {
    const { error } = await errorOf(chat(hello(), null), 401);
    assert.equal(error.message,
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), " +
      "or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. " +
      'You can obtain an API key from https://platform.openai.com/account/api-keys.');
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, null);
    const basic = await errorOf(chat(hello(), null, { authorization: 'Basic abc' }), 401);
    assert.match(basic.error.message, /^You didn't provide an API key/);
  });

  it('401 invalid_api_key for an unknown key, echoing it masked the way OpenAI does', async () => {
    const key = 'sk-proj-unknownKEY0000000000000000f456';
    const { error } = await errorOf(chat(hello(), key), 401);
    const masked = `sk-proj-${'*'.repeat(key.length - 12)}f456`;
    assert.deepEqual(error, {
      message: `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_api_key',
    });
    const entry = await lastLogEntry();
    assert.equal(entry.key, 'sk-pr…f456');
  });

  it('accepts every built-in key format', async () => {
    for (const key of [VALID, WHOLE, BYTEWISE, 'sk-standinLEGACYkey00000000000000000000000000000000', 'sk-svcacct-standinSERVICEkey00000000000000000000']) {
      const r = await fetch(`${base}/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(r.status, 200, key);
      await r.arrayBuffer();
    }
  });

  it('a key containing "revoked" is refused like an unknown key', async () => {
    const { error } = await errorOf(chat(hello(), 'sk-proj-revoked-0000000000000000'), 401);
    assert.equal(error.code, 'invalid_api_key');
  });

  it('a key containing "quota" gets 429 insufficient_quota', async () => {
    const { error, headers } = await errorOf(chat(hello(), 'sk-proj-quota-00000000000000000000'), 429);
    assert.deepEqual(error, {
      message: 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    });
    assert.equal(headers.get('retry-after'), null);
  });

  it('a key containing "ratelimit" gets 429 rate_limit_exceeded with retry-after and x-ratelimit-*', async () => {
    const { error, headers } = await errorOf(chat(hello({ model: 'gpt-4o-mini' }), 'sk-proj-ratelimit7-000000000000000'), 429);
    assert.equal(error.code, 'rate_limit_exceeded');
    assert.equal(error.type, 'requests');
    assert.match(error.message, /^Rate limit reached for gpt-4o-mini in organization org-standin on requests per min \(RPM\): Limit 3, Used 3, Requested 1\. Please try again in 7s\./);
    assert.equal(headers.get('retry-after'), '7');
    assert.equal(headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(headers.get('x-ratelimit-reset-requests'), '7s');
    assert.equal(headers.get('access-control-expose-headers'), null);
  });

  it('rateLimit: N answers N requests with 429, then succeeds', async () => {
    const key = await registerKey({ rateLimit: 2, retryAfter: 3 });
    for (let i = 0; i < 2; i++) {
      const { headers } = await errorOf(chat(hello(), key), 429);
      assert.equal(headers.get('retry-after'), '3');
    }
    assert.equal((await chat(hello(), key)).status, 200);
  });

  it('status5xx: N answers 500 then 503 before succeeding (a key containing "flaky" too)', async () => {
    const key = await registerKey({ status5xx: 3 });
    const first = await errorOf(chat(hello(), key), 500);
    assert.equal(first.error.type, 'server_error');
    assert.match(first.error.message, /^The server had an error processing your request\. Sorry about that!.*request ID req_[0-9a-f]{32}/);
    const second = await errorOf(chat(hello(), key), 503);
    assert.deepEqual(second.error, { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', param: null, code: null });
    await errorOf(chat(hello(), key), 500);
    assert.equal((await chat(hello(), key)).status, 200);

    const flaky = 'sk-proj-flaky1-000000000000000000';
    await errorOf(chat(hello(), flaky), 500);
    assert.equal((await chat(hello(), flaky)).status, 200);
  });

  it('exposeHeaders lets a test simulate a service that exposes response headers', async () => {
    const key = await registerKey({ exposeHeaders: ['x-request-id', 'retry-after'] });
    const r = await chat(hello(), key);
    assert.equal(r.headers.get('access-control-expose-headers'), 'x-request-id, retry-after');
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI chat completions: validation', () => {
  const invalid = [
    ['invalid JSON', '{"model": "gpt-4o",', 400, {
      message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
      type: 'invalid_request_error', param: null, code: null }],
    ['missing model', { messages: [{ role: 'user', content: 'x' }] }, 400,
      { message: 'you must provide a model parameter', type: 'invalid_request_error', param: null, code: null }],
    ['missing messages', { model: 'gpt-4o' }, 400,
      { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' }],
    ['unknown model', hello({ model: 'gpt-9' }), 404,
      { message: 'The model `gpt-9` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' }],
    ['embedding model', hello({ model: 'text-embedding-3-small' }), 404,
      { message: 'This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?', type: 'invalid_request_error', param: 'model', code: null }],
    ['unknown parameter', hello({ thinking: { type: 'enabled' } }), 400,
      { message: 'Unrecognized request argument supplied: thinking', type: 'invalid_request_error', param: null, code: null }],
    ['reasoning_effort on gpt-4o', hello({ reasoning_effort: 'low' }), 400,
      { message: 'Unrecognized request argument supplied: reasoning_effort', type: 'invalid_request_error', param: null, code: null }],
    ['bad role', { model: 'gpt-4o', messages: [{ role: 'robot', content: 'x' }] }, 400,
      { message: "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", type: 'invalid_request_error', param: 'messages[0].role', code: 'invalid_value' }],
    ['missing role', { model: 'gpt-4o', messages: [{ content: 'x' }] }, 400,
      { message: "Missing required parameter: 'messages[0].role'.", type: 'invalid_request_error', param: 'messages[0].role', code: 'missing_required_parameter' }],
    ['an app field left in a message', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x', timestamp: 1 }] }, 400,
      { message: "Unknown parameter: 'messages[0].timestamp'.", type: 'invalid_request_error', param: 'messages[0].timestamp', code: 'unknown_parameter' }],
    ['empty messages', { model: 'gpt-4o', messages: [] }, 400,
      { message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", type: 'invalid_request_error', param: 'messages', code: 'empty_array' }],
    ['messages not an array', { model: 'gpt-4o', messages: 'hi' }, 400,
      { message: "Invalid type for 'messages': expected an array, but got a string instead.", type: 'invalid_request_error', param: 'messages', code: 'invalid_type' }],
    ['stream_options without stream', hello({ stream_options: { include_usage: true } }), 400,
      { message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", type: 'invalid_request_error', param: 'stream_options', code: null }],
    ['temperature above 2', hello({ temperature: 3 }), 400,
      { message: "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.", type: 'invalid_request_error', param: 'temperature', code: 'decimal_above_max_value' }],
    ['max_tokens of 0', hello({ max_tokens: 0 }), 400,
      { message: "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.", type: 'invalid_request_error', param: 'max_tokens', code: 'integer_below_min_value' }],
    ['image on gpt-3.5-turbo', { model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }, 400,
      { message: 'Invalid content type. image_url is only supported by certain models.', type: 'invalid_request_error', param: 'messages.[0].content.[1].type', code: null }],
    ['image_url as a string', { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'https://x/y.png' }] }] }, 400,
      { message: "Invalid type for 'messages[0].content[0].image_url': expected an object, but got a string instead.", type: 'invalid_request_error', param: 'messages[0].content[0].image_url', code: 'invalid_type' }],
    ['o1 with max_tokens', { model: 'o1-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 10 }, 400,
      JSON.parse(fixture('openai-chat.error-legacy-param.json')).error],
    ['o1 with a system message', { model: 'o1-preview', messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content: 'x' }] }, 400,
      { message: "Unsupported value: 'messages[0].role' does not support 'system' with this model.", type: 'invalid_request_error', param: 'messages[0].role', code: 'unsupported_value' }],
    ['o1 with temperature', { model: 'o1-mini', messages: [{ role: 'user', content: 'x' }], temperature: 0.7 }, 400,
      { message: "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported.", type: 'invalid_request_error', param: 'temperature', code: 'unsupported_value' }],
    ['tool message without tool_calls before it', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'call_1', content: '42' }] }, 400,
      { message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", type: 'invalid_request_error', param: 'messages.[1].role', code: null }],
    ['tool_calls left unanswered', { model: 'gpt-4o', messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'user', content: 'and?' }] }, 400,
      { message: "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_a", type: 'invalid_request_error', param: 'messages.[1].role', code: null }],
    ['tool_choice without tools', hello({ tool_choice: 'auto' }), 400,
      { message: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", type: 'invalid_request_error', param: 'tool_choice', code: null }],
    ['bad tool name', hello({ tools: [{ type: 'function', function: { name: 'get weather' } }] }), 400,
      { message: "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", type: 'invalid_request_error', param: 'tools[0].function.name', code: 'invalid_value' }],
    ['json_object without the word json', hello({ response_format: { type: 'json_object' } }), 400,
      { message: "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", type: 'invalid_request_error', param: 'messages', code: null }],
  ];
  for (const [name, body, status, expected] of invalid) {
    it(`${status} for ${name}`, async () => {
      const { error } = await errorOf(chat(body), status);
      assert.deepEqual(error, expected);
    });
  }

  it('accepts null for optional parameters, as the real API does', async () => {
    const r = await chat(hello({ max_tokens: null, temperature: null, tools: null, stream: null, stream_options: null, user: null }));
    assert.equal(r.status, 200, await r.clone().text());
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI chat completions: answers', () => {
  it('answers deterministically, with usage counted by the documented rule', async () => {
    const r = await chat({ model: 'gpt-4o', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'ça va? 🌍' }] });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.deepEqual(Object.keys(body), ['id', 'object', 'created', 'model', 'choices', 'usage', 'service_tier', 'system_fingerprint']);
    assert.match(body.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'gpt-4o-2024-08-06');
    const text = `${ANSWER_PREFIX} You said: ça va? 🌍`;
    assert.deepEqual(body.choices, [{
      index: 0,
      message: { role: 'assistant', content: text, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    }]);
    // prompt: 3 + (3 + ceil(9/4)) + (3 + ceil(8/4)) = 3 + 6 + 5 (code points, not bytes);
    // completion: one token per word-ish piece.
    const pieces = text.match(/\s*\S+/g).length;
    assert.deepEqual(body.usage, {
      prompt_tokens: 14,
      completion_tokens: pieces,
      total_tokens: 14 + pieces,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });
  });

  it('max_tokens and max_completion_tokens truncate with finish_reason length', async () => {
    for (const limit of [{ max_tokens: 3 }, { max_completion_tokens: 3 }]) {
      const body = await (await chat(hello(limit))).json();
      assert.equal(body.choices[0].message.content, 'Hello from the');
      assert.equal(body.choices[0].finish_reason, 'length');
      assert.equal(body.usage.completion_tokens, 3);
    }
  });

  it('o1 models spend reasoning tokens inside max_completion_tokens', async () => {
    const full = await (await chat({ model: 'o1-mini', messages: [{ role: 'user', content: 'x' }] })).json();
    assert.equal(full.model, 'o1-mini-2024-09-12');
    assert.equal(full.usage.completion_tokens_details.reasoning_tokens, 32);
    const cut = await (await chat({ model: 'o1-mini', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 34 })).json();
    assert.equal(cut.choices[0].message.content, 'Hello from');
    assert.equal(cut.choices[0].finish_reason, 'length');
    assert.equal(cut.usage.completion_tokens, 34);
    const empty = await (await chat({ model: 'o1-mini', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 10 })).json();
    assert.equal(empty.choices[0].message.content, '');
    assert.equal(empty.choices[0].finish_reason, 'length');
    assert.equal(empty.usage.completion_tokens, 10);
    assert.equal(empty.usage.completion_tokens_details.reasoning_tokens, 10);
  });

  it('honours stop sequences, n and the refusal trigger', async () => {
    const stopped = await (await chat(hello({ stop: [' stand-in'] }))).json();
    assert.equal(stopped.choices[0].message.content, 'Hello from the byok');
    assert.equal(stopped.choices[0].finish_reason, 'stop');

    const two = await (await chat(hello({ n: 2 }))).json();
    assert.equal(two.choices.length, 2);
    assert.equal(two.choices[1].message.content, `(choice 1) ${two.choices[0].message.content}`);

    const refused = await (await chat(hello({ messages: [{ role: 'user', content: 'please #refuse' }] }))).json();
    assert.deepEqual(refused.choices[0].message, { role: 'assistant', content: null, refusal: REFUSAL_TEXT, annotations: [] });
  });

  it('accepts images on vision models and mentions them in the answer', async () => {
    const body = await (await chat({ model: 'gpt-4o', messages: [{ role: 'user', content: [
      { type: 'text', text: 'what is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] }] })).json();
    assert.equal(body.choices[0].message.content, `${ANSWER_PREFIX} You said: what is this? [1 image]`);
    assert.equal(body.usage.prompt_tokens, 3 + 3 + 4 + 85);
  });

  it('answers json_object and json_schema response formats with JSON', async () => {
    const obj = await (await chat(hello({ messages: [{ role: 'user', content: 'reply in json' }], response_format: { type: 'json_object' } }))).json();
    assert.deepEqual(JSON.parse(obj.choices[0].message.content), { answer: `${ANSWER_PREFIX} You said: reply in json` });
    const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { enum: ['c', 'f'] } }, required: ['city', 'days', 'unit'] };
    const structured = await (await chat(hello({ response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: true } } }))).json();
    assert.deepEqual(JSON.parse(structured.choices[0].message.content), { city: 'city value', days: 1, unit: 'c' });
  });

  const weatherTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' }, units: { type: 'string', enum: ['c', 'f'] }, note: { type: 'string' } }, required: ['city', 'units'] },
    },
  };

  it('calls the first (or the named) tool with arguments built from the schema', async () => {
    const body = await (await chat(hello({ tools: [weatherTool, { type: 'function', function: { name: 'noop' } }] }))).json();
    const [c] = body.choices;
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    assert.equal(c.message.tool_calls.length, 1);
    const [tc] = c.message.tool_calls;
    assert.match(tc.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(tc.type, 'function');
    assert.equal(tc.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(tc.function.arguments), { city: 'city value', units: 'c' });

    const named = await (await chat(hello({ tools: [weatherTool, { type: 'function', function: { name: 'noop' } }], tool_choice: { type: 'function', function: { name: 'noop' } } }))).json();
    assert.equal(named.choices[0].message.tool_calls[0].function.name, 'noop');
    assert.equal(named.choices[0].message.tool_calls[0].function.arguments, '{}');

    const none = await (await chat(hello({ tools: [weatherTool], tool_choice: 'none' }))).json();
    assert.equal(none.choices[0].finish_reason, 'stop');
  });

  it('answers a tool result with text, so tool loops end', async () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","units":"c"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '4 °C' },
    ];
    const body = await (await chat({ model: 'gpt-4o', messages, tools: [weatherTool] })).json();
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.equal(body.choices[0].message.content, `${ANSWER_PREFIX} The tool said: 4 °C`);
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI chat completions: streaming', () => {
  const shape = (o) => Object.keys(o).sort();

  it('streams chunks shaped like the recorded OpenAI stream, usage chunk and [DONE] included', async () => {
    const r = await chat(hello({ stream: true, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const text = await r.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    assert.ok(!text.includes('\r'), 'OpenAI frames with LF only');
    const { chunks, done } = chunksOf(text);
    assert.ok(done);

    const real = chunksOf(fixture('openai-chat.finish-length-usage.raw.sse.txt')).chunks;
    const realText = chunksOf(fixture('openai-chat.text.raw.sse.txt')).chunks;
    const body = chunks.slice(0, -1);
    for (const c of body) {
      assert.deepEqual(shape(c), shape(realText[0]));
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
      assert.match(c.id, /^chatcmpl-/);
      assert.equal(c.model, 'gpt-4o-2024-08-06');
      assert.equal(c.choices.length, 1);
      assert.deepEqual(shape(c.choices[0]), shape(realText[0].choices[0]));
    }
    assert.deepEqual(body[0].choices[0].delta, realText[0].choices[0].delta); // {role, content: "", refusal: null}
    assert.deepEqual(body.at(-1).choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    const content = body.slice(1, -1).map((c) => c.choices[0].delta.content).join('');
    assert.equal(content, `${ANSWER_PREFIX} You said: hi there`);

    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.deepEqual(shape(usage), shape(real.at(-1)));
    for (const k of Object.keys(real.at(-1).usage)) assert.ok(k in usage.usage, k);
    assert.equal(usage.usage.completion_tokens, body.length - 2);
  });

  it('sends no usage chunk without stream_options.include_usage', async () => {
    const { chunks, done } = chunksOf(await (await chat(hello({ stream: true }))).text());
    assert.ok(done);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(chunks.every((c) => !('usage' in c)));
  });

  it('streams tool calls like the recorded OpenAI tool-call stream', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const { chunks, done } = chunksOf(await (await chat(hello({ stream: true, tools, stream_options: { include_usage: true } }))).text());
    const real = chunksOf(fixture('openai-chat.tool-call.raw.sse.txt')).chunks;
    assert.ok(done);
    const first = chunks[0].choices[0].delta;
    assert.deepEqual(shape(first), shape(real[0].choices[0].delta));
    assert.deepEqual(shape(first.tool_calls[0]), shape(real[0].choices[0].delta.tool_calls[0]));
    assert.equal(first.tool_calls[0].function.arguments, '');
    assert.equal(first.tool_calls[0].function.name, 'get_weather');
    const fragments = chunks.slice(1, -2);
    assert.ok(fragments.length > 1);
    for (const c of fragments) assert.deepEqual(c.choices[0].delta, { tool_calls: [{ index: 0, function: { arguments: c.choices[0].delta.tool_calls[0].function.arguments } }] });
    const args = fragments.map((c) => c.choices[0].delta.tool_calls[0].function.arguments).join('');
    assert.deepEqual(JSON.parse(args), { city: 'city value' });
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'tool_calls');
    assert.equal(chunks.at(-1).usage.completion_tokens, 1 + fragments.length);
  });

  it('plans awkward writes: inside "data:", inside UTF-8 characters, between CR and LF, several events at once', () => {
    const events = ['{"a":"héllo"}', '{"b":1}', '{"c":2}', '{"d":"— 🌍"}', '[DONE]'].map((data) => frameEvent({ data }, 'crlf'));
    const { writes } = planWrites(events, 'awkward');
    assert.equal(Buffer.concat(writes).toString(), Buffer.concat(events).toString());
    assert.equal(writes[0].toString(), 'da');
    assert.ok(writes.some((w) => isBrokenUtf8(w)), 'a write ends inside a character');
    assert.ok(writes.some((w) => w.at(-1) === 0x0d), 'a write ends between CR and LF');
    assert.ok(writes.some((w) => w.toString().includes('{"b":1}') && w.toString().includes('{"c":2}')), 'two events in one write');
    assert.deepEqual(planWrites(events, 'whole').writes.map(String), events.map(String));
    assert.equal(planWrites(events, 'bytewise').writes.length, Buffer.concat(events).length);
  });

  it('awkward chunking (the default) really reaches the client in hostile pieces', async () => {
    const body = JSON.stringify(hello({ stream: true, messages: [{ role: 'user', content: 'ça va — 日本? 🎉' }] }));
    const res = await rawRequest(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VALID}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 200);
    const texts = res.chunks.map((c) => c.toString('latin1'));
    assert.ok(res.chunks.length > 10, `only ${res.chunks.length} reads`);
    assert.ok(res.chunks.some((c) => isBrokenUtf8(c)), 'some read ends inside a multi-byte character');
    assert.ok(texts.some((t, i) => t.endsWith('da') && texts[i + 1]?.startsWith('ta: ')), 'some read ends inside "data:"');
    assert.ok(texts.some((t) => (t.match(/\n\n/g) ?? []).length >= 2), 'some read holds two events');
    const { chunks, done } = chunksOf(res.body.toString('utf8'));
    assert.ok(done);
    assert.equal(chunks.slice(1, -1).map((c) => c.choices[0].delta.content).join(''), `${ANSWER_PREFIX} You said: ça va — 日本? 🎉`);
    const entry = await lastLogEntry();
    assert.equal(entry.events, chunks.length + 1);
    assert.ok(entry.writes > entry.events);
  });

  it('a "crlf" key frames with CRLF and splits between CR and LF', async () => {
    const res = await rawRequest(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-proj-crlf-00000000000000000000', 'content-type': 'application/json' },
      body: JSON.stringify(hello({ stream: true })),
    });
    const texts = res.chunks.map((c) => c.toString('latin1'));
    assert.ok(texts.some((t, i) => t.endsWith('\r') && texts[i + 1]?.startsWith('\n')));
    assert.ok(res.body.toString().endsWith('data: [DONE]\r\n\r\n'));
    assert.equal(chunksOf(res.body.toString()).chunks.length, 14); // role, 12 pieces, finish
  });

  it('bytewise chunking writes one byte at a time', async () => {
    const text = await (await chat(hello({ stream: true }), BYTEWISE)).text();
    assert.ok(chunksOf(text).done);
    const entry = await lastLogEntry();
    assert.equal(entry.writes, Buffer.byteLength(text));
  });

  it('truncateAfter stops without [DONE] (a key containing "truncate" too)', async () => {
    const text = await (await chat(hello({ stream: true }), 'sk-proj-truncate3-000000000000000')).text();
    const { events, done } = chunksOf(text);
    assert.equal(events.length, 3);
    assert.equal(done, false);
    const entry = await lastLogEntry();
    assert.equal(entry.truncated, true);
    assert.equal(entry.aborted, false);
    assert.equal(entry.events, 3);
  });

  it("truncateMode 'drop' cuts the connection mid-body", async () => {
    const key = await registerKey({ truncateAfter: 2, truncateMode: 'drop', chunking: 'whole' });
    const res = await rawRequest(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(hello({ stream: true })),
    });
    assert.equal(res.status, 200);
    assert.ok(res.error, 'the client sees a broken body');
    assert.equal(parseSse(res.body.toString()).length, 2);
    const entry = await waitFor(() => lastLogEntry((e) => e.key === maskKey(key) && e.done), 2000, 'log entry');
    assert.equal(entry.truncated, true);
    assert.equal(entry.aborted, false);
  });

  it('errorAfter sends an OpenAI error event inside the 200 stream (a key containing "streamerror" too)', async () => {
    const r = await chat(hello({ stream: true }), 'sk-proj-streamerror2-00000000000000');
    assert.equal(r.status, 200);
    const events = parseSse(await r.text());
    assert.equal(events.length, 3);
    assert.equal(JSON.parse(events[1].data).object, 'chat.completion.chunk');
    const { error } = JSON.parse(events[2].data);
    assert.equal(error.type, 'server_error');
    assert.deepEqual(Object.keys(error), ['message', 'type', 'param', 'code']);
    assert.match(error.message, /^The server had an error processing your request/);
  });

  it('headersDelayMs holds the status line back', async () => {
    const key = await registerKey({ headersDelayMs: 120 });
    const t0 = Date.now();
    const r = await chat(hello({ stream: true }), key);
    assert.ok(Date.now() - t0 >= 110, `headers after ${Date.now() - t0} ms`);
    assert.ok(chunksOf(await r.text()).done);
  });

  it('stallAfter goes silent, then closes without [DONE]', async () => {
    const key = await registerKey({ stallAfter: 1, stallMs: 150, chunking: 'whole' });
    const t0 = Date.now();
    const { events, done } = chunksOf(await (await chat(hello({ stream: true }), key)).text());
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(events.length, 1);
    assert.equal(done, false);
  });

  it('logs a client that goes away mid-stream as aborted (fetch abort and a dropped socket)', async () => {
    const key = await registerKey({ delayMs: 20, chunking: 'whole' });
    const mine = (e) => e.key === maskKey(key) && e.done;

    await (await chat(hello({ stream: true }), key)).text();
    const full = await lastLogEntry(mine);
    assert.equal(full.aborted, false);
    assert.equal(full.events, 15); // role, 12 pieces, finish, [DONE]

    const controller = new AbortController();
    const r2 = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(hello({ stream: true })),
      signal: controller.signal,
    });
    const reader = r2.body.getReader();
    await reader.read();
    controller.abort();
    await assert.rejects(reader.read());
    const aborted = await waitFor(() => lastLogEntry((e) => mine(e) && e.seq > full.seq), 2000, 'aborted entry');
    assert.equal(aborted.aborted, true);
    assert.equal(aborted.status, 200);
    assert.ok(aborted.events >= 1 && aborted.events < 15, `events ${aborted.events}`);

    const raw = await rawRequest(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(hello({ stream: true })),
      onChunk: (_chunk, req) => req.destroy(),
    });
    assert.ok(raw.error);
    const dropped = await waitFor(() => lastLogEntry((e) => mine(e) && e.seq > aborted.seq), 2000, 'dropped entry');
    assert.equal(dropped.aborted, true);
    assert.ok(dropped.events < 15);
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI embeddings', () => {
  const embed = (body, key = VALID) => post('/embeddings', body, key);

  it('returns deterministic unit vectors of 8 numbers, or `dimensions`', async () => {
    const a = await (await embed({ model: 'text-embedding-3-small', input: ['héllo', 'world'] })).json();
    assert.deepEqual(Object.keys(a), ['object', 'data', 'model', 'usage']);
    assert.equal(a.object, 'list');
    assert.equal(a.model, 'text-embedding-3-small');
    assert.deepEqual(a.usage, { prompt_tokens: 4, total_tokens: 4 });
    assert.deepEqual(a.data.map((d) => [d.object, d.index, d.embedding.length]), [['embedding', 0, 8], ['embedding', 1, 8]]);
    const norm = Math.hypot(...a.data[0].embedding);
    assert.ok(Math.abs(norm - 1) < 1e-5);
    const again = await (await embed({ model: 'text-embedding-3-small', input: 'héllo' })).json();
    assert.deepEqual(again.data[0].embedding, a.data[0].embedding);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    const wide = await (await embed({ model: 'text-embedding-3-large', input: 'x', dimensions: 256 })).json();
    assert.equal(wide.data[0].embedding.length, 256);
  });

  it('encodes base64 as little-endian float32', async () => {
    const f = await (await embed({ model: 'text-embedding-3-small', input: 'abc' })).json();
    const b = await (await embed({ model: 'text-embedding-3-small', input: 'abc', encoding_format: 'base64' })).json();
    const buf = Buffer.from(b.data[0].embedding, 'base64');
    const decoded = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    decoded.forEach((v, i) => assert.ok(Math.abs(v - f.data[0].embedding[i]) < 1e-6));
  });

  it('validates like the real endpoint', async () => {
    let { error } = await errorOf(embed({ model: 'text-embedding-3-small' }), 400);
    assert.equal(error.message, "Missing required parameter: 'input'.");
    ({ error } = await errorOf(embed({ model: 'text-embedding-3-small', input: '' }), 400));
    assert.equal(error.message, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.");
    ({ error } = await errorOf(embed({ model: 'gpt-4o', input: 'x' }), 400));
    assert.equal(error.message, 'You are not allowed to generate embeddings from this model');
    ({ error } = await errorOf(embed({ model: 'text-embedding-3-small', input: 'x', dimensions: 5000 }), 400));
    assert.equal(error.code, 'integer_above_max_value');
    ({ error } = await errorOf(embed({ model: 'text-embedding-3-small', input: 'x', format: 'float' }), 400));
    assert.equal(error.message, 'Unrecognized request argument supplied: format');
    await errorOf(embed({ model: 'text-embedding-3-small', input: 'x' }, null), 401);
  });
});

// -------------------------------------------------------------------------------------------------

describe('OpenAI CORS', () => {
  const preflight = (headers) =>
    fetch(`${base}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', ...headers },
    });

  it('allows any origin and the headers OpenAI clients send', async () => {
    const r = await preflight({ 'access-control-request-headers': 'authorization,content-type,x-stainless-os,x-stainless-retry-count,openai-organization' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    assert.match(r.headers.get('access-control-allow-methods'), /\bPOST\b/);
    assert.equal(r.headers.get('access-control-max-age'), '7200');
    const allowed = r.headers.get('access-control-allow-headers').split(/,\s*/);
    for (const h of ['authorization', 'content-type', 'x-stainless-os', 'x-stainless-retry-count', 'openai-organization']) assert.ok(allowed.includes(h), h);
    const entry = await lastLogEntry((e) => e.preflight);
    assert.equal(entry.method, 'OPTIONS');
    assert.equal(entry.cors.allowed, true);
    assert.deepEqual(entry.headers, { origin: 'https://app.example' });
  });

  it('does not allow unknown headers, so a browser blocks a client that sends them', async () => {
    const r = await preflight({ 'access-control-request-headers': 'authorization,content-type,x-byok-debug' });
    assert.equal(r.status, 200);
    const allowed = r.headers.get('access-control-allow-headers').split(/,\s*/);
    assert.ok(!allowed.includes('x-byok-debug'));
    assert.ok(!allowed.includes('*'));
    const entry = await lastLogEntry((e) => e.preflight);
    assert.equal(entry.cors.allowed, false);
    assert.deepEqual(entry.cors.disallowedHeaders, ['x-byok-debug']);
  });
});

// -------------------------------------------------------------------------------------------------

describe('request log', () => {
  it('records header names, the few useful values, the body and only a masked key', async () => {
    const key = await registerKey({ chunking: 'whole' });
    const body = hello({ messages: [{ role: 'user', content: `my key is ${key}` }], stream: true });
    const text = await (await chat(body, key, { origin: 'https://app.example', referer: 'https://app.example/chat', cookie: 'session=1', 'x-stainless-os': 'Linux' })).text();
    const entry = await lastLogEntry((e) => e.key === maskKey(key));
    assert.equal(entry.method, 'POST');
    assert.equal(entry.path, '/openai/v1/chat/completions');
    assert.equal(entry.provider, 'openai');
    assert.equal(entry.status, 200);
    assert.equal(entry.stream, true);
    assert.equal(entry.events, parseSse(text).length);
    assert.equal(entry.aborted, false);
    assert.equal(entry.done, true);
    assert.ok(entry.headerNames.includes('authorization'));
    assert.ok(entry.headerNames.includes('x-stainless-os'));
    assert.deepEqual(entry.headers, { origin: 'https://app.example', referer: 'https://app.example/chat', cookie: 'session=1', 'content-type': 'application/json' });
    assert.equal(entry.body.model, 'gpt-4o');
    assert.equal(entry.body.messages[0].content, `my key is ${maskKey(key)}`);
    assert.ok(!JSON.stringify(standin.log.entries).includes(key), 'the raw key is nowhere in the log');
  });

  it('keeps a body that is not JSON as text', async () => {
    await chat('not json at all', VALID);
    const entry = await lastLogEntry();
    assert.equal(entry.body, null);
    assert.equal(entry.bodyText, 'not json at all');
    assert.equal(entry.status, 400);
  });

  it('the documented models table matches the provider', () => {
    assert.equal(MODELS.length, 10);
  });
});
