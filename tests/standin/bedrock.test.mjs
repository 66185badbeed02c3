// Tests of the Bedrock stand-in: `node --test tests/standin/`. Requests are signed here with a
// SigV4 signer written independently of the stand-in's verifier (encodeURIComponent-based), so
// both sides are checked against each other and against AWS's published vectors.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';

import { startStandin } from './server.mjs';
import {
  BUILTIN_KEYS,
  EXAMPLE_SECRET,
  SESSION_TOKEN,
  ANSWER_PREFIX,
  CORS_POLICY,
  canonicalUri,
  canonicalQuery,
  crc32,
  encodeFrame,
  decodeFrames,
  planFrameWrites,
} from './providers/bedrock.mjs';
import { rawRequest } from './lib/testkit.mjs';

const EXAMPLE = `AKIAIOSFODNN7EXAMPLE:${EXAMPLE_SECRET}`;
const SECOND = BUILTIN_KEYS[1].key;
const TEMPORARY = BUILTIN_KEYS[2].key;
const API_KEY = BUILTIN_KEYS[3].key;
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

let standin;
let base; // http://127.0.0.1:N/bedrock

before(async () => {
  standin = await startStandin();
  base = `${standin.url}/bedrock`;
});
after(async () => {
  await standin.close();
});

// ---------------------------------------------------------------------------------------------
// A client-side signer, independent of the stand-in's code

const sha256 = (d) => createHash('sha256').update(d).digest('hex');
const hmac = (k, d) => createHmac('sha256', k).update(d).digest();
const strict = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const amzDate = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/**
 * Signs like the AWS SDK (x-amz-content-sha256 included). `credentials` is `ID:SECRET[:TOKEN]`.
 * Options to break it: `date`, `region`, `service`, `singleEncode` (sign the path as sent,
 * without the second encoding), `secret` (another secret than the key's).
 */
function signedHeaders(method, url, body, credentials, opts = {}) {
  const [id, keySecret, token] = credentials.split(':');
  const secret = opts.secret ?? keySecret;
  const u = new URL(url);
  const date = amzDate(opts.date ?? new Date());
  const region = opts.region ?? 'us-east-1';
  const service = opts.service ?? 'bedrock';
  const payload = sha256(body ?? '');
  const headers = {
    host: u.host,
    'x-amz-date': date,
    'x-amz-content-sha256': payload,
    ...(body !== null ? { 'content-type': 'application/json' } : {}),
    ...(token && !opts.dropToken ? { 'x-amz-security-token': token } : {}),
  };
  const names = Object.keys(headers).sort();
  const path = opts.singleEncode ? u.pathname : u.pathname.split('/').map(strict).join('/');
  const query = [...u.searchParams].map(([k, v]) => `${strict(k)}=${strict(v)}`).sort().join('&');
  const creq = [method, path, query, names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), payload].join('\n');
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', date, scope, sha256(creq)].join('\n');
  let k = hmac(`AWS4${secret}`, date.slice(0, 8));
  for (const s of [region, service, 'aws4_request']) k = hmac(k, s);
  const signature = hmac(k, sts).toString('hex');
  const out = { ...headers };
  delete out.host;
  out.authorization = `AWS4-HMAC-SHA256 Credential=${id}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return out;
}

function call(path, { method = 'POST', body = null, key = EXAMPLE, opts = {}, extraHeaders = {} } = {}) {
  const url = `${base}${path}`;
  const text = body === null ? null : typeof body === 'string' ? body : JSON.stringify(body);
  const headers = key.includes(':')
    ? signedHeaders(method, url, text, key, opts)
    : { authorization: `Bearer ${key}`, ...(text !== null ? { 'content-type': 'application/json' } : {}) };
  return rawRequest(url, { method, headers: { ...headers, ...extraHeaders }, body: text });
}

const modelPath = (op, model = MODEL) => `/model/${encodeURIComponent(model)}/${op}`;
const hello = (text = 'hi there', extra = {}) => ({ messages: [{ role: 'user', content: [{ text }] }], ...extra });
const json = (r) => JSON.parse(r.body.toString('utf8'));

function events(r) {
  const { frames, rest } = decodeFrames(r.body);
  assert.equal(rest, 0, 'the body ends on a frame boundary');
  return frames.map((f) => ({ ...f, json: f.payload ? JSON.parse(f.payload) : null }));
}

// ---------------------------------------------------------------------------------------------

describe('bedrock: SigV4 and event-stream helpers', () => {
  it('canonical paths and queries follow the AWS test suite', () => {
    // aws-sig-v4-test-suite: get-slashes, get-slash-dot-slash, get-relative-relative, get-space,
    // get-utf8 (raw UTF-8 as Node hands it over), get-vanilla-query-order-key-case, -utf8-query.
    assert.equal(canonicalUri('//example//'), '/example/');
    assert.equal(canonicalUri('/./'), '/');
    assert.equal(canonicalUri('/example1/example2/../..'), '/');
    assert.equal(canonicalUri('/example space/'), '/example%20space/');
    assert.equal(canonicalUri(Buffer.from('/ሴ', 'utf8').toString('latin1')), '/%E1%88%B4');
    assert.equal(canonicalUri('/model/a.b-v1%3A0/converse'), '/model/a.b-v1%253A0/converse');
    assert.equal(canonicalQuery('Param2=value2&Param1=value1'), 'Param1=value1&Param2=value2');
    assert.equal(canonicalQuery('%E1%88%B4=bar'), '%E1%88%B4=bar');
    assert.equal(canonicalQuery('Param1=value2&Param1=Value1'), 'Param1=Value1&Param1=value2');
  });

  it('the test signer reproduces the bedrock-family vector', () => {
    // tests/fixtures/aws-sigv4.bedrock-mantle.test-vector.json, through the independent signer.
    const h = signedHeaders(
      'POST',
      'https://bedrock-mantle.us-east-1.api.aws/openai/v1/responses',
      '{"model":"gpt-4o","input":"hello"}',
      'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY:fixture-session-token',
      { date: new Date('2025-01-02T03:04:05.000Z'), service: 'bedrock-mantle' },
    );
    assert.equal(
      h.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/us-east-1/bedrock-mantle/aws4_request, ' +
        'SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, ' +
        'Signature=dc20c8fbe516daf0ccae7e5b7a78fc2936870413a9f1af6e1b2d44b970ce411f',
    );
  });

  it('CRC32 and frames are what AWS sends', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    // The first frame of a live ConverseStream recording (fixtures/bedrock-converse-stream.live…).
    const live = Buffer.from(
      'AAAAhgAAAFbZjG6aCzpldmVudC10eXBlBwAQY29udGVudEJsb2NrU3RvcA06Y29udGVudC10eXBlBwAQYXBwbGljYXRpb24vanNvbg06bWVzc2FnZS10eXBlBwAFZXZlbnR7ImNvbnRlbnRCbG9ja0luZGV4IjowLCJwIjoiYWIiffM4iiA=',
      'base64',
    );
    const rebuilt = encodeFrame(
      { ':event-type': 'contentBlockStop', ':content-type': 'application/json', ':message-type': 'event' },
      '{"contentBlockIndex":0,"p":"ab"}',
    );
    assert.deepEqual(rebuilt, live);
    assert.deepEqual(decodeFrames(live).frames[0].headers[':event-type'], 'contentBlockStop');
  });

  it('awkward writes cut frames inside the prelude, the payload and the CRC', () => {
    const frames = Array.from({ length: 8 }, (_, i) => encodeFrame({ ':event-type': 'x' }, `{"i":${i}}`));
    const { writes, ends } = planFrameWrites(frames, 'awkward');
    assert.deepEqual(Buffer.concat(writes), Buffer.concat(frames));
    const cuts = [];
    let at = 0;
    for (const w of writes) cuts.push((at += w.length));
    assert.ok(cuts.includes(2) && cuts.includes(6) && cuts.includes(10), 'inside the prelude of frame 0');
    assert.ok(cuts.includes(ends[3] - 2), 'inside the message CRC of frame 3');
    assert.ok(!cuts.includes(ends[1]), 'frames 1 and 2 share a write');
    assert.equal(planFrameWrites(frames, 'whole').writes.length, 8);
  });
});

describe('bedrock: authentication', () => {
  it('accepts a correct signature for each built-in credential', async () => {
    for (const key of [EXAMPLE, SECOND, TEMPORARY, API_KEY]) {
      const r = await call(modelPath('converse'), { body: hello(), key });
      assert.equal(r.status, 200, `${key.slice(0, 8)}: ${r.body}`);
      assert.ok(json(r).output.message.content[0].text.startsWith(ANSWER_PREFIX));
    }
  });

  it('refuses a wrong secret with InvalidSignatureException', async () => {
    const r = await call(modelPath('converse'), { body: hello(), opts: { secret: 'x'.repeat(40) } });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^InvalidSignatureException:/);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.match(json(r).message, /^The request signature we calculated does not match/);
  });

  it('refuses a path signed without the second encoding', async () => {
    const r = await call(modelPath('converse'), { body: hello(), opts: { singleEncode: true } });
    assert.equal(r.status, 403);
    assert.match(json(r).message, /signature we calculated/);
  });

  it('refuses a tampered body', async () => {
    const text = JSON.stringify(hello());
    const url = `${base}${modelPath('converse')}`;
    const headers = signedHeaders('POST', url, text, EXAMPLE);
    const r = await rawRequest(url, { method: 'POST', headers, body: text.replace('hi', 'ho') });
    assert.equal(r.status, 403);
  });

  it('knows expired signatures, wrong scopes, unknown keys and missing tokens', async () => {
    const cases = [
      [{ opts: { date: new Date(Date.now() - 10 * 60_000) } }, 'InvalidSignatureException', /^Signature expired: /],
      [{ opts: { date: new Date(Date.now() + 10 * 60_000) } }, 'InvalidSignatureException', /^Signature not yet current: /],
      [{ opts: { region: 'eu-west-1' } }, 'InvalidSignatureException', /scoped to a valid region/],
      [{ opts: { service: 'bedrock-runtime' } }, 'InvalidSignatureException', /scoped to correct service: 'bedrock'/],
      [{ key: `AKIASTANDINUNKNOWN00:${EXAMPLE_SECRET}` }, 'UnrecognizedClientException', /security token included in the request is invalid/],
      [{ key: TEMPORARY, opts: { dropToken: true } }, 'UnrecognizedClientException', /security token/],
      [{ key: `${EXAMPLE}:${SESSION_TOKEN}` }, 'UnrecognizedClientException', /security token/],
    ];
    for (const [c, type, message] of cases) {
      const r = await call(modelPath('converse'), { body: hello(), ...c });
      assert.equal(r.status, 403, JSON.stringify(c));
      assert.ok(r.headers['x-amzn-errortype'].startsWith(`${type}:`), r.headers['x-amzn-errortype']);
      assert.match(json(r).message, message);
    }
  });

  it('missing or malformed authorization', async () => {
    const url = `${base}${modelPath('converse')}`;
    let r = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 403);
    assert.equal(json(r).message, 'Missing Authentication Token');
    r = await rawRequest(url, { method: 'POST', headers: { authorization: 'AWS4-HMAC-SHA256 nonsense' }, body: '{}' });
    assert.equal(r.status, 403);
    assert.match(json(r).message, /requires 'Credential' parameter/);
  });

  it('API keys: known ABSK keys pass, others are refused', async () => {
    let r = await call(modelPath('converse'), { body: hello(), key: 'ABSKbm90LWEta25vd24ta2V5LTAwMDAwMDAwMDAw' });
    assert.equal(r.status, 403);
    assert.match(json(r).message, /Authentication failed/);
    r = await call(modelPath('converse'), { body: hello(), key: 'sk-not-a-bedrock-key-000000' });
    assert.equal(r.status, 403);
    assert.match(json(r).message, /Invalid API Key format/);
  });

  it('keys registered through the control API sign too, and never reach the log', async () => {
    const key = 'AKIASTANDINREGISTER0:cmVnaXN0ZXJlZC1zZWNyZXQta2V5LTAwMDAwMDAwMDA';
    const reg = await fetch(`${standin.url}/__standin/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'bedrock', key, behaviour: {} }),
    });
    assert.equal(reg.status, 201);
    const r = await call(modelPath('converse'), { body: hello('logged?'), key });
    assert.equal(r.status, 200);
    const log = JSON.stringify(standin.log.list({ provider: 'bedrock' }));
    assert.ok(!log.includes('cmVnaXN0ZXJlZC1zZWNyZXQ'), 'no secret in the log');
    assert.ok(!log.includes(EXAMPLE_SECRET));
  });
});

describe('bedrock: converse-stream', () => {
  it('streams real frames, split awkwardly, ending with messageStop and metadata', async () => {
    const r = await call(modelPath('converse-stream'), { body: hello('héllo 🌍') });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.amazon.eventstream');
    const evs = events(r);
    const types = evs.map((e) => e.headers[':event-type']);
    assert.equal(types[0], 'messageStart');
    assert.deepEqual(types.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
    assert.ok(evs.every((e) => e.headers[':message-type'] === 'event' && typeof e.json.p === 'string'));
    const text = evs.filter((e) => e.headers[':event-type'] === 'contentBlockDelta').map((e) => e.json.delta.text).join('');
    assert.equal(text, `${ANSWER_PREFIX} You said: héllo 🌍`);
    assert.equal(evs.at(-2).json.stopReason, 'end_turn');
    const usage = evs.at(-1).json.usage;
    assert.equal(usage.totalTokens, usage.inputTokens + usage.outputTokens);
    // Write boundaries fall inside frames.
    const boundaries = [];
    let at = 0;
    for (const c of r.chunks) boundaries.push((at += c.length));
    const frameEnds = [];
    at = 0;
    for (const e of evs) frameEnds.push((at += 16 + Buffer.byteLength(e.payload) + Object.entries(e.headers).reduce((s, [n, v]) => s + 4 + Buffer.byteLength(n) + Buffer.byteLength(v), 0)));
    assert.equal(frameEnds.at(-1), r.body.length);
    assert.ok(r.chunks.length > 1);
    assert.ok(boundaries.some((b) => !frameEnds.includes(b)), 'some reads end inside a frame');
  });

  it('streams a tool call whose input pieces concatenate to JSON', async () => {
    const body = hello('Weather in Paris?', {
      toolConfig: {
        tools: [{ toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } } }],
        toolChoice: { auto: {} },
      },
    });
    const evs = events(await call(modelPath('converse-stream'), { body }));
    const start = evs.find((e) => e.headers[':event-type'] === 'contentBlockStart').json.start.toolUse;
    assert.equal(start.name, 'get_weather');
    assert.match(start.toolUseId, /^tooluse_/);
    const input = evs.filter((e) => e.json.delta?.toolUse).map((e) => e.json.delta.toolUse.input).join('');
    assert.deepEqual(JSON.parse(input), { city: 'city value' });
    assert.equal(evs.find((e) => e.headers[':event-type'] === 'messageStop').json.stopReason, 'tool_use');
  });

  it('prompt triggers: a throttling exception frame, a bad CRC, a frame cut in half', async () => {
    let r = await call(modelPath('converse-stream'), { body: hello('x #throttle') });
    let evs = events(r);
    assert.equal(evs.length, 3);
    assert.equal(evs[2].headers[':message-type'], 'exception');
    assert.equal(evs[2].headers[':exception-type'], 'throttlingException');
    r = await call(modelPath('converse-stream'), { body: hello('x #badcrc') });
    assert.throws(() => decodeFrames(r.body), /message CRC mismatch/);
    r = await call(modelPath('converse-stream'), { body: hello('x #cutframe') });
    const { frames, rest } = decodeFrames(r.body);
    assert.equal(frames.length, 3);
    assert.ok(rest > 0);
  });

  it('behaviour keys: streamerror, truncate, ratelimit, flaky, quota, revoked', async () => {
    const k = (word) => `AKIASTANDIN${word}:${EXAMPLE_SECRET}`;
    let evs = events(await call(modelPath('converse-stream'), { body: hello(), key: k('streamerror2') }));
    assert.equal(evs.length, 3);
    assert.equal(evs[2].headers[':exception-type'], 'modelStreamErrorException');
    assert.equal(evs[2].json.message, 'Model Stream Error');
    evs = events(await call(modelPath('converse-stream'), { body: hello(), key: k('truncate3') }));
    assert.equal(evs.length, 3);
    assert.ok(!evs.some((e) => e.headers[':event-type'] === 'messageStop'));

    let r = await call(modelPath('converse'), { body: hello(), key: k('ratelimit') });
    assert.equal(r.status, 429);
    assert.match(r.headers['x-amzn-errortype'], /^ThrottlingException/);
    r = await call(modelPath('converse'), { body: hello(), key: k('quota') });
    assert.equal(r.status, 429);
    assert.match(json(r).message, /per day/);
    r = await call(modelPath('converse'), { body: hello(), key: k('revoked') });
    assert.equal(r.status, 403);
    const flaky = k('flaky2x');
    assert.equal((await call(modelPath('converse'), { body: hello(), key: flaky })).status, 500);
    assert.equal((await call(modelPath('converse'), { body: hello(), key: flaky })).status, 503);
    assert.equal((await call(modelPath('converse'), { body: hello(), key: flaky })).status, 200);
    // Behaviour words on API keys too.
    r = await call(modelPath('converse'), { body: hello(), key: 'ABSKstandinratelimit0000000000' });
    assert.equal(r.status, 429);
    // A behaviour access key with another secret is still a signature mismatch.
    r = await call(modelPath('converse'), { body: hello(), key: k('slow'), opts: { secret: 'y'.repeat(40) } });
    assert.equal(r.status, 403);
  });
});

describe('bedrock: converse validation and the control plane', () => {
  it('answers Converse requests it cannot take with ValidationException', async () => {
    const tool = { toolUse: { toolUseId: 't1', name: 'f', input: {} } };
    const cases = [
      [hello(), 'nope.model-v1:0', /provided model identifier is invalid/],
      [{ messages: [{ role: 'assistant', content: [{ text: 'x' }] }] }, MODEL, /must start with a user message/],
      [{ messages: [{ role: 'user', content: [{ text: 'a' }] }, { role: 'user', content: [{ text: 'b' }] }] }, MODEL, /must alternate/],
      [{ messages: [{ role: 'user', content: [{ text: '  ' }] }] }, MODEL, /is blank/],
      [{ messages: [{ role: 'user', content: [] }] }, MODEL, /messages.0 is empty/],
      [{ messages: [{ role: 'user', content: [{ text: 'a' }] }, { role: 'assistant', content: [tool] }] }, MODEL, /toolConfig field must be defined/],
      [hello('x', { inferenceConfig: { temperature: 1.5 } }), MODEL, /temperature/],
      [hello('x', { inferenceConfig: { maxTokens: 0 } }), MODEL, /maxTokens/],
      [{ messages: [{ role: 'user', content: [{ image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } }] }] }, 'amazon.nova-micro-v1:0', /doesn't support the image field/],
      [{ messages: [{ role: 'user', content: [{ image: { format: 'bmp', source: { bytes: 'iVBORw0KGgo=' } } }] }] }, MODEL, /enum value set/],
    ];
    for (const [body, model, message] of cases) {
      const r = await call(modelPath('converse', model), { body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.match(r.headers['x-amzn-errortype'], /^ValidationException:/);
      assert.match(json(r).message, message);
    }
    let r = await call(modelPath('converse'), { body: hello('x', { stream: true }) });
    assert.equal(r.status, 400);
    assert.match(r.headers['x-amzn-errortype'], /^SerializationException/);
    r = await call(modelPath('converse'), { body: '{"messages": [' });
    assert.equal(r.status, 400);
  });

  it('accepts images, inference settings and a tool round trip', async () => {
    const tools = { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }] };
    const body = {
      system: [{ text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ text: 'look' }, { image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'f', input: {} } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'sunny' }] } }] },
      ],
      inferenceConfig: { maxTokens: 100, temperature: 0.2, topP: 0.9, stopSequences: ['STOP'] },
      toolConfig: tools,
    };
    const r = await call(modelPath('converse'), { body });
    assert.equal(r.status, 200, String(r.body));
    const out = json(r);
    assert.equal(out.output.message.content[0].text, `${ANSWER_PREFIX} The tool said: sunny`);
    assert.equal(out.stopReason, 'end_turn');
    const cut = await call(modelPath('converse'), { body: hello('one two three four five six', { inferenceConfig: { maxTokens: 3 } }) });
    assert.equal(json(cut).stopReason, 'max_tokens');
    assert.equal(json(cut).usage.outputTokens, 3);
  });

  it('lists foundation models on the control plane, signed with the same service', async () => {
    const r = await call('/foundation-models?byOutputModality=TEXT', { method: 'GET' });
    assert.equal(r.status, 200, String(r.body));
    const ids = json(r).modelSummaries.map((m) => m.modelId);
    assert.ok(ids.includes(MODEL));
    assert.ok(!ids.some((id) => id.includes('embed')));
    const all = json(await call('/foundation-models', { method: 'GET', key: API_KEY })).modelSummaries;
    assert.ok(all.some((m) => m.modelId.includes('embed')));
    const bad = await call('/foundation-models?byOutputModality=TEXT', { method: 'GET', opts: { secret: 'z'.repeat(40) } });
    assert.equal(bad.status, 403);
  });

  it('unknown operations and CORS as AWS answers browsers', async () => {
    const r = await call('/model/x/invoke-nothing', { body: {} });
    assert.equal(r.status, 404);
    assert.equal(json(r).Output.__type, 'com.amazon.coral.service#UnknownOperationException');
    const pre = await rawRequest(`${base}${modelPath('converse-stream')}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:8080',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-security-token',
      },
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    const allowed = pre.headers['access-control-allow-headers'].split(', ');
    for (const h of ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
      assert.ok(allowed.includes(h), h);
    }
    const entry = standin.log.list({ provider: 'bedrock' }).filter((e) => e.preflight).at(-1);
    assert.equal(entry.cors.allowed, true);
    assert.deepEqual(CORS_POLICY.exposeHeaders.includes('x-amzn-errortype'), true);
  });
});
