// Tests of the Gemini API and Vertex AI stand-ins: `node --test tests/standin/` from the
// repository root. They prove both behave as README.md documents, and as the recorded Google
// traffic in tests/fixtures/google-* shows.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startStandin } from './server.mjs';
import { rawRequest, waitFor } from './lib/testkit.mjs';
import { geminiKey, MODELS, THOUGHT_TOKENS, STANDIN_SIGNATURE } from './providers/google.mjs';
import { ANSWER_PREFIX } from './providers/openai.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const fixtureLines = (name) =>
  readFileSync(here(`../fixtures/${name}`), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));

const VALID = geminiKey('StandinVALIDkey');
const WHOLE = geminiKey('StandinWHOLEkey');
const TOKEN = 'ya29.a0Standin-VALID-token_000000000000000000000000000000000000';
const PROJECT = 'byok-test';
const REGION = 'us-central1';

let standin;
let base; // http://127.0.0.1:N/google/v1beta
let vbase; // http://127.0.0.1:N/vertex/v1/projects/byok-test/locations/us-central1
let counter = 0;

before(async () => {
  standin = await startStandin();
  base = `${standin.url}/google/v1beta`;
  vbase = `${standin.url}/vertex/v1/projects/${PROJECT}/locations/${REGION}`;
});
after(async () => {
  await standin.close();
});

/** A fresh well-shaped key holding `words`, so counters never carry over between tests. */
function freshKey(words) {
  return geminiKey(`${words}T${++counter}`);
}

async function register(provider, key, behaviour) {
  const r = await fetch(`${standin.url}/__standin/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ provider, key, behaviour }),
  });
  assert.equal(r.status, 201, await r.clone().text());
}

function gpost(path, body, key = WHOLE, headers = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { ...(key ? { 'x-goog-api-key': key } : {}), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function vpost(path, body, token = TOKEN) {
  return fetch(`${vbase}${path}`, {
    method: 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const hello = (extra = {}) => ({ contents: [{ role: 'user', parts: [{ text: 'hi there' }] }], ...extra });

async function googleErrorOf(promise, status) {
  const r = await promise;
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, status);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.status, 'string');
  return { error: body.error, headers: r.headers, text };
}

/** The JSON objects of a Gemini SSE body, checking its framing: CRLF, no terminator. */
function eventsOf(text) {
  assert.ok(text.endsWith('\r\n\r\n'), 'ends with a blank CRLF line');
  const blocks = text.split('\r\n\r\n').slice(0, -1);
  return blocks.map((b) => {
    assert.ok(b.startsWith('data: '), b);
    assert.ok(!b.includes('\n'), 'one data line per event');
    return JSON.parse(b.slice(6));
  });
}

const textOf = (objects) =>
  objects.flatMap((o) => o.candidates?.[0]?.content?.parts ?? []).map((p) => p.text ?? '').join('');

async function lastEntry(provider, filter = () => true) {
  const r = await fetch(`${standin.url}/__standin/log?provider=${provider}`);
  const { entries } = await r.json();
  return entries.filter(filter).at(-1);
}

describe('Gemini API routes', () => {
  it('lists models in pages of pageSize with nextPageToken', async () => {
    const r = await fetch(`${base}/models?pageSize=4`, { headers: { 'x-goog-api-key': VALID } });
    assert.equal(r.status, 200);
    const page1 = await r.json();
    assert.equal(page1.models.length, 4);
    assert.equal(page1.models[0].name, 'models/gemini-1.5-pro');
    assert.deepEqual(page1.models[0].supportedGenerationMethods.slice(0, 2), ['generateContent', 'countTokens']);
    assert.ok(page1.nextPageToken);
    const all = [...page1.models];
    let token = page1.nextPageToken;
    while (token) {
      const next = await (await fetch(`${base}/models?pageSize=4&pageToken=${token}`, { headers: { 'x-goog-api-key': VALID } })).json();
      all.push(...next.models);
      token = next.nextPageToken;
    }
    assert.deepEqual(all.map((m) => m.name), MODELS.map((m) => `models/${m.id}`));
    // Default page size 50 holds them all; no token then.
    const one = await (await fetch(`${base}/models`, { headers: { 'x-goog-api-key': VALID } })).json();
    assert.equal(one.models.length, MODELS.length);
    assert.equal(one.nextPageToken, undefined);
    assert.ok(one.models.some((m) => m.supportedGenerationMethods.includes('embedContent')));
    assert.ok(one.models.some((m) => m.supportedGenerationMethods.includes('generateAnswer')));
  });

  it('gets one model; an unknown model is 404 NOT_FOUND in Google words', async () => {
    const r = await fetch(`${base}/models/gemini-1.5-flash`, { headers: { 'x-goog-api-key': VALID } });
    assert.equal((await r.json()).name, 'models/gemini-1.5-flash');
    const { error } = await googleErrorOf(gpost('/models/gemini-9:generateContent', hello()), 404);
    assert.equal(error.status, 'NOT_FOUND');
    assert.equal(
      error.message,
      'models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. ' +
        'Call ListModels to see the list of available models and their supported methods.',
    );
    // An embedding model cannot chat, a chat model cannot embed.
    await googleErrorOf(gpost('/models/text-embedding-004:generateContent', hello()), 404);
    await googleErrorOf(gpost('/models/gemini-1.5-flash:batchEmbedContents', { requests: [] }), 404);
  });

  it("answers paths no API serves with Google's HTML 404", async () => {
    for (const [method, path] of [['GET', '/google/v1beta/nope'], ['GET', '/google/v1beta/models/x:generateContent'], ['POST', '/google/v2/models']]) {
      const r = await fetch(`${standin.url}${path}`, { method, headers: { 'x-goog-api-key': VALID } });
      assert.equal(r.status, 404);
      assert.match(r.headers.get('content-type'), /text\/html/);
      assert.match(await r.text(), /That’s an error/);
    }
  });
});

describe('Gemini API keys and account states', () => {
  it('403 PERMISSION_DENIED without a key', async () => {
    const { error } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), null), 403);
    assert.equal(error.status, 'PERMISSION_DENIED');
    assert.match(error.message, /unregistered callers/);
  });

  it('400 API_KEY_INVALID for an unknown key, exactly as Google sends it', async () => {
    const { text } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), 'AIzaSyUnknownKey0000000000000000000000X'), 400);
    assert.equal(text, JSON.stringify({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
          { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
        ],
      },
    }, null, 2) + '\n');
    // A behaviour key of the wrong shape is no Gemini key.
    await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), 'AIzaSy-ratelimit-too-short'), 400);
    // A registered key needs no shape.
    await register('google', 'my-test-key', {});
    assert.equal((await gpost('/models/gemini-1.5-flash:generateContent', hello(), 'my-test-key')).status, 200);
  });

  it('takes ?key= like the real API, and logs that it came that way, masked', async () => {
    const r = await fetch(`${base}/models/gemini-1.5-flash:generateContent?key=${VALID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(hello()),
    });
    assert.equal(r.status, 200);
    const entry = await lastEntry('google');
    assert.equal(entry.keyInUrl, true);
    assert.ok(!entry.path.includes(VALID), entry.path);
    assert.match(entry.path, /key=AIzaS…XXXX/);
    assert.equal(entry.key, 'AIzaS…XXXX');
    await gpost('/models/gemini-1.5-flash:generateContent', hello(), VALID);
    assert.equal((await lastEntry('google')).keyInUrl, false);
  });

  it('quota: 429 whose quota limit is 0', async () => {
    const { error } = await googleErrorOf(gpost('/models/gemini-2.5-pro:generateContent', hello(), freshKey('quota')), 429);
    assert.equal(error.status, 'RESOURCE_EXHAUSTED');
    assert.match(error.message, /limit: 0, model: gemini-2\.5-pro/);
    const failure = error.details.find((d) => d['@type'].endsWith('QuotaFailure'));
    assert.equal(failure.violations[0].quotaValue, '0');
  });

  it('ratelimit: 429 with RetryInfo, no Retry-After header', async () => {
    const key = freshKey('ratelimit2');
    const { error, headers } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), key), 429);
    assert.deepEqual(error.details.at(-1), { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2s' });
    assert.match(error.message, /Please retry in 2s\./);
    assert.equal(headers.get('retry-after'), null);
    // Registered with a count, it lifts.
    const once = freshKey('once');
    await register('google', once, { rateLimit: 1, retryAfter: 1 });
    assert.equal((await gpost('/models/gemini-1.5-flash:generateContent', hello(), once)).status, 429);
    assert.equal((await gpost('/models/gemini-1.5-flash:generateContent', hello(), once)).status, 200);
  });

  it('flaky: 500 INTERNAL, 503 UNAVAILABLE, then success; revoked: API_KEY_INVALID', async () => {
    const key = freshKey('flaky2');
    const a = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), key), 500);
    assert.equal(a.error.status, 'INTERNAL');
    const b = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), key), 503);
    assert.equal(b.error.status, 'UNAVAILABLE');
    assert.equal((await gpost('/models/gemini-1.5-flash:generateContent', hello(), key)).status, 200);
    const { error } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', hello(), freshKey('revoked')), 400);
    assert.equal(error.details[0].reason, 'API_KEY_INVALID');
  });
});

describe('Gemini API answers', () => {
  it('generateContent: the deterministic text, usage, STOP', async () => {
    const r = await gpost('/models/gemini-1.5-flash:generateContent', hello({ systemInstruction: { parts: [{ text: 'Be brief.' }] } }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const body = await r.json();
    const c = body.candidates[0];
    assert.deepEqual(c.content.parts, [{ text: `${ANSWER_PREFIX} You said: hi there` }]);
    assert.equal(c.content.role, 'model');
    assert.equal(c.finishReason, 'STOP');
    const u = body.usageMetadata;
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount);
    assert.ok(u.promptTokenCount >= 4, 'the system instruction counts');
    assert.equal(body.modelVersion, 'gemini-1.5-flash');
    assert.match(body.responseId, /^[A-Za-z0-9]{22}$/);
  });

  it('snake_case names work as camelCase, as in every Google JSON API', async () => {
    const r = await gpost('/models/gemini-1.5-flash:generateContent', {
      contents: [{ role: 'user', parts: [{ text: 'snake' }] }],
      system_instruction: { parts: [{ text: 'x' }] },
      generation_config: { max_output_tokens: 2 },
    });
    const body = await r.json();
    assert.equal(body.candidates[0].finishReason, 'MAX_TOKENS');
  });

  it('maxOutputTokens cuts with MAX_TOKENS, stopSequences cut the text, thinking models report thoughts', async () => {
    let body = await (await gpost('/models/gemini-1.5-flash:generateContent', hello({ generationConfig: { maxOutputTokens: 3 } }))).json();
    assert.equal(body.candidates[0].content.parts[0].text, 'Hello from the');
    assert.equal(body.candidates[0].finishReason, 'MAX_TOKENS');
    assert.equal(body.usageMetadata.candidatesTokenCount, 3);
    body = await (await gpost('/models/gemini-1.5-flash:generateContent', hello({ generationConfig: { stopSequences: ['byok'] } }))).json();
    assert.equal(body.candidates[0].content.parts[0].text, 'Hello from the ');
    body = await (await gpost('/models/gemini-2.5-flash:generateContent', hello())).json();
    const u = body.usageMetadata;
    assert.equal(u.thoughtsTokenCount, THOUGHT_TOKENS);
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount + THOUGHT_TOKENS);
  });

  it('streams with alt=sse: CRLF events, cumulative usage, finishReason last, no terminator', async () => {
    const r = await gpost('/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const objects = eventsOf(await r.text());
    assert.ok(objects.length >= 4);
    assert.equal(textOf(objects), `${ANSWER_PREFIX} You said: hi there`);
    objects.forEach((o, i) => {
      const last = i === objects.length - 1;
      assert.equal(o.candidates[0].finishReason, last ? 'STOP' : undefined);
      if (i > 0) assert.ok(o.usageMetadata.candidatesTokenCount > objects[i - 1].usageMetadata.candidatesTokenCount);
    });
    // The shape of the recorded Gemini stream: the same keys in the same places.
    const recorded = fixtureLines('google-gemini.text.payloads.jsonl')[0];
    for (const o of objects) {
      assert.deepEqual(Object.keys(o).sort(), Object.keys(recorded).sort());
      assert.deepEqual(Object.keys(o.candidates[0].content).sort(), Object.keys(recorded.candidates[0].content).sort());
    }
  });

  it('awkward chunking cuts between \\r and \\n and inside characters', async () => {
    const r = await rawRequest(`${base}/models/gemini-1.5-flash:streamGenerateContent?alt=sse`, {
      method: 'POST',
      headers: { 'x-goog-api-key': VALID, 'content-type': 'application/json' },
      body: JSON.stringify(hello()),
    });
    assert.equal(r.error, null);
    assert.ok(r.chunks.length > 6, `${r.chunks.length} reads`);
    assert.ok(r.chunks.some((c) => c.at(-1) === 0x0d), 'a read ends between \\r and \\n');
    eventsOf(r.body.toString('utf8'));
  });

  it('without alt=sse the stream is one JSON array', async () => {
    const r = await gpost('/models/gemini-1.5-flash:streamGenerateContent', hello());
    const list = JSON.parse(await r.text());
    assert.ok(Array.isArray(list) && list.length >= 4);
    assert.equal(list.at(-1).candidates[0].finishReason, 'STOP');
  });

  it('function calls: whole in one part, then an empty STOP chunk; results answered in text', async () => {
    const tools = [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } }, required: ['city'] } }] }];
    const objects = eventsOf(await (await gpost('/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello({ tools }))).text());
    assert.deepEqual(objects[0].candidates[0].content.parts, [{ functionCall: { name: 'get_weather', args: { city: 'city value' } } }]);
    assert.deepEqual(objects.at(-1).candidates[0].content.parts, [{ text: '' }]);
    assert.equal(objects.at(-1).candidates[0].finishReason, 'STOP');
    const recorded = fixtureLines('google-gemini.tool-call.payloads.jsonl');
    assert.equal(objects.length, recorded.length);
    // The round trip: a function response gets a text answer in AUTO mode.
    const history = {
      contents: [
        { role: 'user', parts: [{ text: 'Weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }] },
      ],
      tools,
    };
    let body = await (await gpost('/models/gemini-1.5-flash:generateContent', history)).json();
    assert.equal(body.candidates[0].content.parts[0].text, `${ANSWER_PREFIX} The tool said: {"temp":18}`);
    // ANY always calls; allowedFunctionNames picks; NONE never calls.
    body = await (await gpost('/models/gemini-1.5-flash:generateContent', { ...history, toolConfig: { functionCallingConfig: { mode: 'ANY' } } })).json();
    assert.ok(body.candidates[0].content.parts[0].functionCall);
    body = await (await gpost('/models/gemini-1.5-flash:generateContent', hello({ tools, toolConfig: { functionCallingConfig: { mode: 'NONE' } } }))).json();
    assert.ok(body.candidates[0].content.parts[0].text);
  });

  it('Gemini 3 wants thought signatures on replayed calls; the documented sentinel passes', async () => {
    const tools = [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } }] }];
    let body = await (await gpost('/models/gemini-3-pro-preview:generateContent', hello({ tools }))).json();
    assert.equal(body.candidates[0].content.parts[0].thoughtSignature, STANDIN_SIGNATURE);
    const history = (sig) => ({
      contents: [
        { role: 'user', parts: [{ text: 'x' }] },
        { role: 'model', parts: [{ functionCall: { name: 'f', args: {} }, ...(sig ? { thoughtSignature: sig } : {}) }] },
        { role: 'user', parts: [{ functionResponse: { name: 'f', response: { ok: true } } }] },
      ],
      tools,
    });
    const { error } = await googleErrorOf(gpost('/models/gemini-3-pro-preview:generateContent', history(null)), 400);
    assert.match(error.message, /^Function call is missing a thought_signature in functionCall parts/);
    await googleErrorOf(gpost('/models/gemini-3-pro-preview:generateContent', history('bogus')), 400);
    for (const sig of ['skip_thought_signature_validator', STANDIN_SIGNATURE]) {
      assert.equal((await gpost('/models/gemini-3-pro-preview:generateContent', history(sig))).status, 200);
    }
    assert.equal((await gpost('/models/gemini-2.5-flash:generateContent', history(null))).status, 200);
  });

  it('refuses what Gemini refuses, in its words', async () => {
    const cases = [
      [{ contents: [] }, '* GenerateContentRequest.contents: contents is not specified\n'],
      [{ contents: [{ role: 'system', parts: [{ text: 'x' }] }] }, 'Please use a valid role: user, model.'],
      [{ contents: [{ role: 'user', parts: [] }] }, '* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n'],
      [{ contents: [{ role: 'user', parts: [{ text: '' }] }] }, "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one initialized field\n"],
      [hello({ temperatur: 1 }), 'Invalid JSON payload received. Unknown name "temperatur": Cannot find field.'],
      [
        hello({ tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false } }] }] }),
        'Invalid JSON payload received. Unknown name "additionalProperties" at \'tools[0].function_declarations[0].parameters\': Cannot find field.',
      ],
      [
        hello({ tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: {} } }] }] }),
        '* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT type\n',
      ],
      [
        hello({ tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: { e: { type: 'string', format: 'email' } } } }] }] }),
        "* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties[e].format: only 'enum' and 'date-time' are supported for STRING type\n",
      ],
      [
        { contents: [{ role: 'user', parts: [{ functionResponse: { response: {} } }] }] },
        '* GenerateContentRequest.contents[0].parts[0].function_response.name: Name cannot be empty.\n',
      ],
    ];
    for (const [body, message] of cases) {
      const { error } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', body), 400);
      assert.equal(error.message, message);
      assert.equal(error.status, 'INVALID_ARGUMENT');
    }
    const { error } = await googleErrorOf(gpost('/models/gemini-1.5-flash:generateContent', '{not json'), 400);
    assert.match(error.message, /^Invalid JSON payload received/);
  });

  it('truncate, streamerror (bare JSON, no data:) and slow keys', async () => {
    const t = await gpost('/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello(), freshKey('truncate3'));
    const objects = eventsOf(await t.text());
    assert.equal(objects.length, 3);
    assert.ok(objects.every((o) => o.candidates[0].finishReason === undefined));
    const entry = await waitFor(() => lastEntry('google', (e) => e.done && e.stream), 2000, 'log');
    assert.equal(entry.truncated, true);

    const e = await gpost('/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello(), freshKey('streamerror2'));
    assert.equal(e.status, 200);
    const text = await e.text();
    const cut = text.lastIndexOf('\r\n\r\n') + 4;
    assert.equal(eventsOf(text.slice(0, cut)).length, 2);
    const bare = text.slice(cut);
    assert.ok(!bare.includes('data:'), bare);
    assert.deepEqual(JSON.parse(bare), { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });

    const t0 = Date.now();
    await (await gpost('/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello(), freshKey('slow60whole'))).text();
    assert.ok(Date.now() - t0 >= 250);
  });

  it('embeddings: batchEmbedContents, embedContent, at most 100 per batch', async () => {
    const requests = ['héllo', 'world'].map((text) => ({ model: 'models/text-embedding-004', content: { parts: [{ text }] } }));
    const body = await (await gpost('/models/text-embedding-004:batchEmbedContents', { requests })).json();
    assert.equal(body.embeddings.length, 2);
    assert.equal(body.embeddings[0].values.length, 8);
    assert.equal(body.usageMetadata, undefined, 'Gemini reports no token counts for embeddings');
    const again = await (await gpost('/models/text-embedding-004:batchEmbedContents', { requests })).json();
    assert.deepEqual(again, body, 'deterministic');
    const one = await (await gpost('/models/text-embedding-004:embedContent', { content: { parts: [{ text: 'héllo' }] } })).json();
    assert.deepEqual(one.embedding.values, body.embeddings[0].values);
    const many = Array.from({ length: 101 }, () => requests[0]);
    const { error } = await googleErrorOf(gpost('/models/text-embedding-004:batchEmbedContents', { requests: many }), 400);
    assert.equal(error.message, '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n');
    await googleErrorOf(gpost('/models/text-embedding-004:batchEmbedContents', { requests: [{ ...requests[0], model: 'models/other' }] }), 400);
  });

  it('countTokens', async () => {
    const body = await (await gpost('/models/gemini-1.5-flash:countTokens', hello())).json();
    assert.equal(body.totalTokens, 2);
  });
});

describe('Google CORS', () => {
  it('allows the four Google headers only; an extra one fails the preflight', async () => {
    const preflight = (headers) => fetch(`${base}/models/gemini-1.5-flash:generateContent`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });
    const ok = await preflight('content-type,x-goog-api-key');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-headers'), 'content-type, x-goog-api-key, x-goog-api-client, authorization');
    assert.equal(ok.headers.get('access-control-allow-origin'), '*');
    assert.equal((await lastEntry('google', (e) => e.preflight)).cors.allowed, true);
    await preflight('content-type,x-goog-api-key,x-byok-debug');
    const refused = await lastEntry('google', (e) => e.preflight);
    assert.equal(refused.cors.allowed, false);
    assert.deepEqual(refused.cors.disallowedHeaders, ['x-byok-debug']);
    // Vertex answers the same way.
    await fetch(`${vbase}/publishers/google/models/gemini-1.5-flash:generateContent`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal((await lastEntry('vertex', (e) => e.preflight)).cors.allowed, true);
  });
});

describe('Vertex AI', () => {
  it('chats under a project and region with a bearer token', async () => {
    const r = await vpost('/publishers/google/models/gemini-1.5-flash:generateContent', hello());
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.candidates[0].content.parts[0].text, `${ANSWER_PREFIX} You said: hi there`);
    assert.equal(body.usageMetadata.trafficType, 'ON_DEMAND');
    assert.match(body.createTime, /^\d{4}-\d\d-\d\dT.*Z$/);
    const entry = await lastEntry('vertex');
    assert.deepEqual(entry.vertex, { project: PROJECT, location: REGION, model: 'gemini-1.5-flash' });
    assert.equal(entry.key, 'ya29.…0000');
    // Streams are framed like the Gemini API's.
    const s = await vpost('/publishers/google/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello());
    const objects = eventsOf(await s.text());
    assert.equal(objects.at(-1).candidates[0].finishReason, 'STOP');
  });

  it('401 without a token, for an unknown token, and ACCESS_TOKEN_EXPIRED for an expired one', async () => {
    let { error } = await googleErrorOf(vpost('/publishers/google/models/gemini-1.5-flash:generateContent', hello(), null), 401);
    assert.equal(error.details[0].reason, 'CREDENTIALS_MISSING');
    ({ error } = await googleErrorOf(vpost('/publishers/google/models/gemini-1.5-flash:generateContent', hello(), 'ya29.unknown-token'), 401));
    assert.equal(error.status, 'UNAUTHENTICATED');
    assert.equal(error.details, undefined);
    ({ error } = await googleErrorOf(vpost('/publishers/google/models/gemini-1.5-flash:streamGenerateContent?alt=sse', hello(), 'ya29.expired-standin-token'), 401));
    assert.equal(error.status, 'UNAUTHENTICATED');
    assert.match(error.message, /^Request had invalid authentication credentials/);
    assert.equal(error.details[0].reason, 'ACCESS_TOKEN_EXPIRED');
    assert.equal(error.details[0].metadata.method, 'google.cloud.aiplatform.v1.PredictionService.StreamGenerateContent');
  });

  it('countTokens proves a token; predict embeds with token counts', async () => {
    const count = await (await vpost('/publishers/google/models/gemini-2.5-flash:countTokens', { contents: [{ role: 'user', parts: [{ text: 'ping' }] }] })).json();
    assert.deepEqual(Object.keys(count).sort(), ['promptTokensDetails', 'totalBillableCharacters', 'totalTokens']);
    const p = await (await vpost('/publishers/google/models/text-embedding-004:predict', { instances: [{ content: 'héllo' }, { content: 'a longer text' }] })).json();
    assert.equal(p.predictions.length, 2);
    assert.equal(p.predictions[1].embeddings.statistics.token_count, 4);
    assert.equal(p.predictions[0].embeddings.values.length, 8);
  });

  it("Vertex's own 404, 429 and billing errors", async () => {
    let { error } = await googleErrorOf(vpost('/publishers/google/models/gemini-9:generateContent', hello()), 404);
    assert.match(error.message, /^Publisher Model `projects\/byok-test\/locations\/us-central1\/publishers\/google\/models\/gemini-9` was not found/);
    ({ error } = await googleErrorOf(vpost('/publishers/google/models/gemini-1.5-flash:generateContent', hello(), 'ya29.ratelimit-tok'), 429));
    assert.match(error.message, /^Resource exhausted\. Please try again later\./);
    ({ error } = await googleErrorOf(vpost('/publishers/google/models/gemini-1.5-flash:generateContent', hello(), 'ya29.quota-tok'), 403));
    assert.equal(error.details[0].reason, 'BILLING_DISABLED');
    // Paths outside the publisher-model routes.
    const r = await fetch(`${standin.url}/vertex/v1/projects/p/locations/r/models`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 404);
  });
});
