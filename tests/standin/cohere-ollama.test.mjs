// Tests of the Cohere and Ollama stand-ins: run `node --test tests/standin/` from the repository
// root. They prove the stand-ins behave as README.md documents, and that the Cohere stream has
// the shape of the recorded one (tests/fixtures/cohere-v2.*).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startStandin } from './server.mjs';
import { parseSse, rawRequest, isBrokenUtf8 } from './lib/testkit.mjs';
import { ANSWER_PREFIX } from './providers/openai.mjs';
import { MODELS as COHERE_MODELS, TEMPLATE_TOKENS } from './providers/cohere.mjs';
import { MODELS as OLLAMA_MODELS, allowedOrigins, originAllowed, ALLOW_HEADERS } from './providers/ollama.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const fixture = (name) => readFileSync(here(`../fixtures/${name}`), 'utf8');

const COHERE_KEY = 'standinCOHEREvalidKEY0000000000000000000';
const COHERE_WHOLE = 'standinCOHEREwholeKEY0000000000000000000';

let standin;
let cohere; // http://127.0.0.1:N/cohere
let ollama; // http://127.0.0.1:N/ollama

before(async () => {
  standin = await startStandin();
  cohere = `${standin.url}/cohere`;
  ollama = `${standin.url}/ollama`;
});
after(async () => {
  await standin.close();
});

async function lastEntry(provider) {
  const r = await fetch(`${standin.url}/__standin/log?provider=${provider}`);
  const { entries } = await r.json();
  return entries.at(-1);
}

/** The structure of a JSON value: leaves replaced by their type, so shapes can be compared. */
function shape(v) {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k])]));
  return v === null ? 'null' : typeof v;
}

// ---------------------------------------------------------------------------------------------
// Cohere

function cohereChat(body, key = COHERE_WHOLE) {
  return fetch(`${cohere}/v2/chat`, {
    method: 'POST',
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const hello = (extra = {}) => ({ model: 'command-r', messages: [{ role: 'user', content: 'hi there' }], ...extra });

async function cohereError(responsePromise, status) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body).sort(), ['id', 'message']);
  assert.match(body.id, /^[0-9a-f-]{36}$/);
  return body.message;
}

/** The parsed events of a Cohere stream, each checked to carry its type in `event:` too. */
function cohereEvents(text) {
  return parseSse(text).map((e) => {
    const data = JSON.parse(e.data);
    assert.equal(e.event, data.type, e.data);
    return data;
  });
}

describe('Cohere stand-in', () => {
  it('lists its models on v1, in pages, for a valid key only', async () => {
    const auth = { authorization: `Bearer ${COHERE_KEY}` };
    let r = await fetch(`${cohere}/v1/models?page_size=1000`, { headers: auth });
    assert.equal(r.status, 200);
    const all = await r.json();
    assert.deepEqual(all.models.map((m) => m.name), COHERE_MODELS.map((m) => m.name));
    assert.equal(all.next_page_token, undefined);
    assert.deepEqual(Object.keys(all.models[0]).sort(),
      ['context_length', 'default_endpoints', 'endpoints', 'features', 'finetuned', 'name', 'tokenizer_url']);
    // Pages of 20 by default; here pages of 4 with a token.
    r = await fetch(`${cohere}/v1/models?page_size=4`, { headers: auth });
    const first = await r.json();
    assert.equal(first.models.length, 4);
    r = await fetch(`${cohere}/v1/models?page_size=4&page_token=${first.next_page_token}`, { headers: auth });
    assert.deepEqual((await r.json()).models.map((m) => m.name), COHERE_MODELS.slice(4, 8).map((m) => m.name));
    r = await fetch(`${cohere}/v1/models?endpoint=embed`, { headers: auth });
    assert.ok((await r.json()).models.every((m) => m.endpoints.includes('embed')));
    r = await fetch(`${cohere}/v1/models/command-r`, { headers: auth });
    assert.equal((await r.json()).name, 'command-r');
    assert.match(await cohereError(fetch(`${cohere}/v1/models/command-x`, { headers: auth }), 404), /^model 'command-x' not found/);

    assert.equal(await cohereError(fetch(`${cohere}/v1/models`), 401), 'no api key supplied');
    assert.equal(await cohereError(fetch(`${cohere}/v1/models`, { headers: { authorization: 'Bearer standinNOTAKEY000000000000000000000000000' } }), 401), 'invalid api token');
    assert.equal(await cohereError(fetch(`${cohere}/v1/models`, { headers: { authorization: 'Bearer standinINVALIDTOKENkey0000000000000000000' } }), 498), 'invalid api token');
    assert.equal(await cohereError(fetch(`${cohere}/v2/nope`, { headers: auth }), 404), 'Not Found');
    // The key is never in the log.
    const entry = await lastEntry('cohere');
    assert.ok(!JSON.stringify(entry).includes('COHEREvalid'));
  });

  it('answers a chat whole, with billed units and template tokens', async () => {
    const r = await cohereChat(hello());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const body = await r.json();
    assert.deepEqual(Object.keys(body).sort(), ['finish_reason', 'id', 'message', 'usage']);
    assert.equal(body.finish_reason, 'COMPLETE');
    assert.deepEqual(body.message, { role: 'assistant', content: [{ type: 'text', text: `${ANSWER_PREFIX} You said: hi there` }] });
    const { billed_units: billed, tokens } = body.usage;
    assert.ok(billed.input_tokens > 0 && billed.output_tokens > 0);
    assert.equal(tokens.input_tokens, billed.input_tokens + TEMPLATE_TOKENS);
    // The recorded answer has the same shape.
    assert.deepEqual(shape(body), shape(JSON.parse(fixture('cohere-v2.text.nonstream.json'))));
  });

  it('streams events shaped like the recorded stream, type in event: and data', async () => {
    for (const key of [COHERE_KEY, COHERE_WHOLE]) {
      const r = await cohereChat(hello({ stream: true }), key);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/event-stream/);
      const events = cohereEvents(await r.text());
      assert.deepEqual(
        events.map((e) => e.type),
        ['message-start', 'content-start', ...events.slice(2, -2).map(() => 'content-delta'), 'content-end', 'message-end'],
      );
      assert.equal(events.slice(2, -2).map((e) => e.delta.message.content.text).join(''), `${ANSWER_PREFIX} You said: hi there`);
      const recorded = fixture('cohere-v2.text.payloads.jsonl').split('\n').map((l) => JSON.parse(l));
      for (const type of ['message-start', 'content-start', 'content-delta', 'content-end', 'message-end']) {
        assert.deepEqual(shape(events.find((e) => e.type === type)), shape(recorded.find((e) => e.type === type)), type);
      }
      assert.equal(Object.keys(events[0])[0], 'id', 'message-start begins with its id, as recorded');
    }
  });

  it('calls a tool, streamed like the recorded tool call', async () => {
    const tools = [{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } }];
    const messages = [{ role: 'user', content: 'Weather in SF?' }];
    let r = await cohereChat({ model: 'command-r', messages, tools, stream: true });
    const events = cohereEvents(await r.text());
    const recorded = fixture('cohere-v2.tool-call.payloads.jsonl').split('\n').map((l) => JSON.parse(l));
    for (const type of ['tool-plan-delta', 'tool-call-start', 'tool-call-delta', 'tool-call-end', 'message-end']) {
      assert.deepEqual(shape(events.find((e) => e.type === type)), shape(recorded.find((e) => e.type === type)), type);
    }
    const start = events.find((e) => e.type === 'tool-call-start');
    const call = start.delta.message.tool_calls;
    assert.match(call.id, /^weather_[a-z0-9]{12}$/);
    assert.equal(call.function.arguments, '');
    const args = events.filter((e) => e.type === 'tool-call-delta').map((e) => e.delta.message.tool_calls.function.arguments).join('');
    assert.deepEqual(JSON.parse(args), { location: 'location value' });
    assert.equal(events.at(-1).delta.finish_reason, 'TOOL_CALL');

    // The round trip: assistant call + tool result gives text; NONE gives text at once.
    const history = [
      ...messages,
      { role: 'assistant', tool_plan: 'I will look.', tool_calls: [{ id: call.id, type: 'function', function: { name: 'weather', arguments: args } }] },
      { role: 'tool', tool_call_id: call.id, content: '18°C' },
    ];
    r = await cohereChat({ model: 'command-r', messages: history, tools });
    const answer = await r.json();
    assert.equal(answer.message.content[0].text, `${ANSWER_PREFIX} The tool said: 18°C`);
    r = await cohereChat({ model: 'command-r', messages, tools, tool_choice: 'NONE' });
    assert.equal((await r.json()).finish_reason, 'COMPLETE');
    r = await cohereChat({ model: 'command-r', messages, tools });
    const whole = await r.json();
    assert.equal(whole.finish_reason, 'TOOL_CALL');
    assert.deepEqual(shape(whole), shape(JSON.parse(fixture('cohere-v2.tool-call.nonstream.json'))));
  });

  it('honours max_tokens and stop_sequences', async () => {
    let body = await (await cohereChat(hello({ max_tokens: 2 }))).json();
    assert.equal(body.finish_reason, 'MAX_TOKENS');
    assert.equal(body.message.content[0].text, 'Hello from');
    body = await (await cohereChat(hello({ stop_sequences: ['stand-in'] }))).json();
    assert.equal(body.finish_reason, 'STOP_SEQUENCE');
    assert.equal(body.message.content[0].text, 'Hello from the byok ');
  });

  it('refuses what Cohere refuses, in its words', async () => {
    const table = [
      [hello({ top_p: 0.5 }), 400, /^invalid request: unknown field: 'top_p'$/],
      [hello({ p: 1 }), 400, /^invalid request: p must be between 0.01 and 0.99/],
      [hello({ temperature: -1 }), 400, /temperature must be a non-negative number/],
      [hello({ tool_choice: 'auto' }), 400, /tool_choice must be one of 'REQUIRED', 'NONE'/],
      [hello({ tool_choice: 'REQUIRED' }), 400, /tool_choice requires tools/],
      [hello({ messages: [] }), 400, /messages must not be empty/],
      [hello({ messages: [{ role: 'bot', content: 'x' }] }), 400, /role must be one of/],
      [hello({ messages: [{ role: 'user', content: '' }] }), 400, /message must be at least 1 token long/],
      [hello({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', content: 'y' }] }), 400, /tool_call_id is required/],
      [hello({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }), 400, /does not support image inputs/],
      [hello({ model: 'command-x' }), 404, /^model 'command-x' not found, make sure the correct model ID was used/],
      [hello({ model: 'embed-v4.0' }), 400, /not supported by the chat API/],
      ['{"model":', 400, /could not parse/],
    ];
    for (const [body, status, message] of table) {
      assert.match(await cohereError(cohereChat(body), status), message, JSON.stringify(body));
    }
    // A vision model takes the image.
    const r = await cohereChat(hello({ model: 'command-a-vision-07-2025', messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }));
    assert.equal((await r.json()).message.content[0].text, `${ANSWER_PREFIX} You said: see [1 image(s)]`);
  });

  it('plays the account and network behaviours', async () => {
    assert.match(await cohereError(cohereChat(hello(), 'standinquotaKEYAAAAAAAAAAAAAAAAAAAAAAAAAA'), 402), /payment method/);
    assert.match(await cohereError(cohereChat(hello(), 'standinratelimit1KEYAAAAAAAAAAAAAAAAAAAAA'), 429), /Trial key, which is limited to 10 API calls \/ minute/);
    assert.equal(await cohereError(cohereChat(hello(), 'standinrevokedKEYAAAAAAAAAAAAAAAAAAAAAAA'), 401), 'invalid api token');
    const flaky = 'standinflaky2KEYAAAAAAAAAAAAAAAAAAAAAAAAA';
    await cohereError(cohereChat(hello(), flaky), 500);
    await cohereError(cohereChat(hello(), flaky), 503);
    assert.equal((await cohereChat(hello(), flaky)).status, 200);

    let events = cohereEvents(await (await cohereChat(hello({ stream: true }), 'standintruncate3KEYAAAAAAAAAAAAAAAAAAAAAA')).text());
    assert.equal(events.length, 3);
    assert.ok(!events.some((e) => e.type === 'message-end'));
    events = cohereEvents(await (await cohereChat(hello({ stream: true }), 'standinstreamerror2KEYAAAAAAAAAAAAAAAAAAA')).text());
    assert.equal(events.length, 3);
    assert.equal(events.at(-1).type, 'message-end');
    assert.equal(events.at(-1).delta.finish_reason, 'ERROR');
    assert.equal(typeof events.at(-1).delta.error, 'string');

    // Awkward chunking (the default) cuts inside events and inside UTF-8 characters.
    const raw = await rawRequest(`${cohere}/v2/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${COHERE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(hello({ stream: true })),
    });
    assert.ok(raw.chunks.length > 5);
    assert.ok(raw.chunks.some(isBrokenUtf8), 'a write ends inside a UTF-8 character');
  });

  it('embeds texts as v2 does', async () => {
    const embed = (body) => fetch(`${cohere}/v2/embed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${COHERE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const ok = { model: 'embed-v4.0', texts: ['sunny day', 'rainy day'], input_type: 'search_document', embedding_types: ['float'] };
    const r = await embed(ok);
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.response_type, 'embeddings_by_type');
    assert.equal(body.embeddings.float.length, 2);
    assert.equal(body.embeddings.float[0].length, 8);
    assert.ok(body.meta.billed_units.input_tokens > 0);
    assert.deepEqual(body.texts, ok.texts);
    assert.match(await cohereError(embed({ ...ok, input_type: undefined }), 400), /valid input_type must be provided/);
    assert.match(await cohereError(embed({ ...ok, texts: Array(97).fill('x') }), 400), /at most 96 - received 97/);
    assert.match(await cohereError(embed({ ...ok, model: 'command-r' }), 400), /not supported by the embed API/);
  });

  it('answers preflights with a fixed header list', async () => {
    const r = await fetch(`${cohere}/v2/chat`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-byok-debug' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-allow-headers'), /authorization, content-type/);
    const entry = await lastEntry('cohere');
    assert.equal(entry.preflight, true);
    assert.deepEqual(entry.cors.disallowedHeaders, ['x-byok-debug']);
    assert.equal(entry.cors.allowed, false);
  });
});

// ---------------------------------------------------------------------------------------------
// Ollama

function ollamaPost(path, body, headers = {}, base = ollama) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const ask = (extra = {}) => ({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'hi there' }], ...extra });

async function ollamaError(responsePromise, status) {
  const r = await responsePromise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  return body.error;
}

function ndjson(text) {
  assert.ok(text.endsWith('\n'), 'every line ends with \\n');
  return text.trimEnd().split('\n').map((l) => JSON.parse(l));
}

describe('Ollama stand-in', () => {
  it('says it is running, its version and its models, keyless', async () => {
    let r = await fetch(`${ollama}/`);
    assert.equal(await r.text(), 'Ollama is running');
    r = await fetch(`${ollama}/api/version`);
    assert.match((await r.json()).version, /^\d+\.\d+\.\d+$/);
    r = await fetch(`${ollama}/api/tags`);
    assert.equal(r.status, 200);
    const { models } = await r.json();
    assert.deepEqual(models.map((m) => m.name), OLLAMA_MODELS.map((m) => m.name));
    assert.deepEqual(Object.keys(models[0]).sort(), ['details', 'digest', 'model', 'modified_at', 'name', 'size']);
    assert.equal(models[0].digest.length, 64);
    r = await fetch(`${ollama}/api/tags`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    r = await ollamaPost('/api/show', { model: 'llama3.1:8b' });
    assert.deepEqual((await r.json()).capabilities, ['completion', 'tools']);
    r = await fetch(`${ollama}/api/nope`);
    assert.equal(r.status, 404);
    assert.equal(await r.text(), '404 page not found');
    r = await fetch(`${ollama}/api/chat`);
    assert.equal(r.status, 405);
    assert.equal(await r.text(), '405 method not allowed');
  });

  it('streams NDJSON lines ending with done and its counts', async () => {
    const r = await ollamaPost('/api/chat', ask());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-ndjson');
    const lines = ndjson(await r.text());
    const last = lines.at(-1);
    assert.equal(last.done, true);
    assert.equal(last.done_reason, 'stop');
    assert.equal(last.model, 'llama3.1:8b');
    for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration']) {
      assert.equal(typeof last[k], 'number', k);
    }
    assert.ok(lines.slice(0, -1).every((l) => l.done === false && l.message.role === 'assistant' && typeof l.created_at === 'string'));
    assert.equal(lines.map((l) => l.message.content).join(''), `${ANSWER_PREFIX} You said: hi there`);
    assert.equal(last.eval_count, lines.length - 1);

    // Awkward chunking cuts lines and UTF-8 characters.
    const raw = await rawRequest(`${ollama}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask()) });
    assert.ok(raw.chunks.some(isBrokenUtf8));
    assert.ok(raw.chunks.some((c) => !c.toString('latin1').endsWith('\n')), 'some write ends inside a line');
  });

  it('answers whole with stream: false, options honoured', async () => {
    let r = await ollamaPost('/api/chat', ask({ stream: false, options: { num_predict: 3, temperature: 0 } }));
    assert.match(r.headers.get('content-type'), /^application\/json/);
    let body = await r.json();
    assert.equal(body.done, true);
    assert.equal(body.done_reason, 'length');
    assert.equal(body.message.content, 'Hello from the');
    r = await ollamaPost('/api/chat', ask({ stream: false, options: { stop: ['stand-in'] } }));
    body = await r.json();
    assert.equal(body.message.content, 'Hello from the byok ');
    // A prompt "served from the cache" has no prompt_eval_count.
    r = await ollamaPost('/api/chat', ask({ stream: false, messages: [{ role: 'user', content: 'again #cached' }] }));
    body = await r.json();
    assert.equal(body.prompt_eval_count, undefined);
    assert.equal(typeof body.eval_count, 'number');
  });

  it('calls tools whole, arguments an object, with an id', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const lines = ndjson(await (await ollamaPost('/api/chat', ask({ tools }))).text());
    const call = lines.find((l) => l.message.tool_calls)?.message.tool_calls[0];
    assert.match(call.id, /^call_[a-z0-9]{8}$/);
    assert.deepEqual(call.function, { index: 0, name: 'get_weather', arguments: { city: 'city value' } });
    assert.equal(lines.at(-1).done_reason, 'stop');
    // The result goes back; the answer is text. Arguments as a string are refused as Go refuses them.
    const history = [
      ...ask().messages,
      { role: 'assistant', content: '', tool_calls: [{ id: call.id, function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '18°C', tool_name: 'get_weather', tool_call_id: call.id },
    ];
    const body = await (await ollamaPost('/api/chat', ask({ messages: history, tools, stream: false }))).json();
    assert.equal(body.message.content, `${ANSWER_PREFIX} The tool said: 18°C`);
    history[1].tool_calls[0].function.arguments = '{"city":"Paris"}';
    assert.match(await ollamaError(ollamaPost('/api/chat', ask({ messages: history })), 400),
      /^json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function.arguments/);
  });

  it('thinks aloud on a thinking model, in its own field', async () => {
    const lines = ndjson(await (await ollamaPost('/api/chat', ask({ model: 'qwen3:4b' }))).text());
    assert.ok(lines[0].message.thinking);
    assert.equal(lines[0].message.content, '');
    assert.ok(lines.map((l) => l.message.content).join('').startsWith(ANSWER_PREFIX));
  });

  it('refuses what Ollama refuses, in its words', async () => {
    const table = [
      [ask({ model: 'llama9' }), 404, "model 'llama9' not found"],
      [ask({ model: '' }), 400, 'model is required'],
      [ask({ model: 'nomic-embed-text' }), 400, '"nomic-embed-text" does not support chat'],
      [ask({ model: 'llava:7b', tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }), 400, 'registry.ollama.ai/library/llava:7b does not support tools'],
      [ask({ messages: [{ role: 'user', content: 'x', images: ['data:image/png;base64,AAAA'] }] }), 400, 'illegal base64 data at input byte 4'],
      [ask({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }), 400, 'json: cannot unmarshal array into Go struct field Message.messages.content of type string'],
      [ask({ options: { temperature: 'hot' } }), 400, 'option "temperature" must be of type float32'],
      ['', 400, 'missing request body'],
      ['hello', 400, "invalid character 'h' looking for beginning of value"],
    ];
    for (const [body, status, message] of table) {
      assert.equal(await ollamaError(ollamaPost('/api/chat', body), status), message, JSON.stringify(body));
    }
    // A name without a tag means :latest.
    assert.equal((await ollamaPost('/api/chat', ask({ model: 'llama3.2', stream: false }))).status, 200);
  });

  it('plays behaviours chosen by an optional bearer key', async () => {
    const key = (k) => ({ authorization: `Bearer ${k}` });
    let lines = ndjson(await (await ollamaPost('/api/chat', ask(), key('ollama-truncate2-whole'))).text());
    assert.equal(lines.length, 2);
    assert.ok(!lines.some((l) => l.done));
    lines = ndjson(await (await ollamaPost('/api/chat', ask(), key('ollama-streamerror2'))).text());
    assert.equal(lines.length, 3);
    assert.match(lines.at(-1).error, /^an error was encountered while running the model/);
    const flaky = key(`ollama-flaky2-${Date.now()}`);
    assert.match(await ollamaError(ollamaPost('/api/chat', ask(), flaky), 500), /llama runner process has terminated/);
    assert.match(await ollamaError(ollamaPost('/api/chat', ask(), flaky), 503), /server busy/);
    assert.equal((await ollamaPost('/api/chat', ask(), flaky)).status, 200);
    // Any other key is simply ignored, as Ollama does; the log shows it masked.
    assert.equal((await fetch(`${ollama}/api/tags`, { headers: key('whatever-secret-token-123') })).status, 200);
    const entry = await lastEntry('ollama');
    assert.ok(!JSON.stringify(entry).includes('whatever-secret'));
  });

  it('embeds with /api/embed', async () => {
    const r = await ollamaPost('/api/embed', { model: 'nomic-embed-text', input: ['a', 'b'] });
    const body = await r.json();
    assert.equal(body.model, 'nomic-embed-text:latest');
    assert.equal(body.embeddings.length, 2);
    assert.equal(typeof body.prompt_eval_count, 'number');
    assert.equal(await ollamaError(ollamaPost('/api/embed', { model: 'llama3.1:8b', input: 'a' }), 400), '"llama3.1:8b" does not support embeddings');
    assert.equal(await ollamaError(ollamaPost('/api/embed', { model: 'nope', input: 'a' }), 404), "model 'nope' not found");
  });

  describe('CORS, as gin-contrib/cors with Ollama\'s lists', () => {
    const preflight = (origin, headers = 'content-type', base = ollama) => fetch(`${base}/api/chat`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });

    it('allows local origins on any port and the app schemes', async () => {
      const patterns = allowedOrigins({});
      for (const o of ['http://localhost', 'http://localhost:5173', 'https://127.0.0.1:8443', 'http://0.0.0.0:3000',
        'app://obsidian.md', 'file://', 'tauri://localhost', 'vscode-webview://abc', 'vscode-file://vscode-app']) {
        assert.ok(originAllowed(o, patterns), o);
      }
      for (const o of ['https://app.example', 'http://localhost.evil.example', 'chrome-extension://abc', 'null']) {
        assert.ok(!originAllowed(o, patterns), o);
      }
      assert.ok(originAllowed('https://app.example', allowedOrigins({ OLLAMA_ORIGINS: 'https://app.example,chrome-extension://*' })));
      assert.ok(originAllowed('chrome-extension://abc', allowedOrigins({ OLLAMA_ORIGINS: '"chrome-extension://*"' })));
      assert.ok(originAllowed('https://anything', allowedOrigins({ OLLAMA_ORIGINS: '*' })));
    });

    it('answers an allowed preflight with 204, the origin echoed and the fixed lists', async () => {
      const r = await preflight('http://127.0.0.1:5173', 'authorization,content-type');
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173');
      assert.equal(r.headers.get('access-control-allow-headers'), ALLOW_HEADERS.join(','));
      assert.equal(r.headers.get('access-control-allow-methods'), 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS');
      assert.equal(r.headers.get('access-control-max-age'), '43200');
      assert.match(r.headers.get('vary'), /Origin/);
      let entry = await lastEntry('ollama');
      assert.equal(entry.preflight, true);
      assert.equal(entry.cors.allowed, true);
      // A header not on the list: the browser will refuse; the log says so.
      await preflight('http://localhost:8080', 'content-type,x-byok-debug');
      entry = await lastEntry('ollama');
      assert.deepEqual(entry.cors.disallowedHeaders, ['x-byok-debug']);
      assert.equal(entry.cors.allowed, false);
    });

    it('refuses other origins with a bare 403, preflight or not', async () => {
      let r = await preflight('https://app.example');
      assert.equal(r.status, 403);
      assert.equal(r.headers.get('access-control-allow-origin'), null);
      assert.equal(await r.text(), '');
      r = await fetch(`${ollama}/api/tags`, { headers: { origin: 'https://app.example' } });
      assert.equal(r.status, 403);
      assert.equal(await r.text(), '');
      // An allowed origin gets its origin back on the real answer.
      r = await fetch(`${ollama}/api/tags`, { headers: { origin: 'http://localhost:3000' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
      assert.equal(r.headers.get('vary'), 'Origin');
      // Without an Origin (curl, Node), or from the server's own origin, CORS does not apply.
      r = await fetch(`${ollama}/api/tags`, { headers: { origin: standin.url } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), null);
      // CORP, for byok's no-cors probe from a cross-origin-isolated page (README).
      assert.equal(r.headers.get('cross-origin-resource-policy'), 'cross-origin');
      r = await fetch(`${ollama}/api/chat`, { method: 'OPTIONS' });
      assert.equal(r.status, 405);
    });

    it('under /_refuse-origin, refuses every browser origin, local ones too', async () => {
      const refusing = `${ollama}/_refuse-origin`;
      let r = await preflight('http://127.0.0.1:5173', 'content-type', refusing);
      assert.equal(r.status, 403);
      assert.equal((await lastEntry('ollama')).cors.allowed, false);
      r = await fetch(`${refusing}/api/tags`, { headers: { origin: 'http://localhost:5173' } });
      assert.equal(r.status, 403);
      // It is still Ollama for everything else.
      r = await fetch(`${refusing}/api/tags`);
      assert.equal(r.status, 200);
      r = await ollamaPost('/api/chat', ask({ stream: false }), {}, refusing);
      assert.equal((await r.json()).done, true);
      r = await fetch(`${refusing}/`);
      assert.equal(await r.text(), 'Ollama is running');
    });
  });
});
