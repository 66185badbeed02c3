// Cohere, as api.cohere.com answers: https://api.cohere.com/v2 ≙ http://127.0.0.1:N/cohere/v2
// (the model list is on v1: https://api.cohere.com/v1/models ≙ http://127.0.0.1:N/cohere/v1/models).
//
// Routes: POST /v2/chat (JSON, or SSE with `event:` lines when `stream: true`), POST /v2/embed,
// GET /v1/models, GET /v1/models/{name}. Errors are `{"id", "message"}` with Cohere's statuses
// (401 invalid api token, 402, 404 model not found, 429 trial limits, 498 invalid token, 5xx).
// The stream follows the recorded fixtures (shared/fixtures/cohere-v2.*). Where the real wording
// or behaviour is not known, README.md says so.

import { randomUUID } from 'node:crypto';

import { readBody, sendJson, sleep, randomId, randomHex, MAX_BODY_BYTES } from '../lib/http.mjs';
import { HttpError, sendError } from '../lib/errors.mjs';
import { responseCorsHeaders } from '../lib/cors.mjs';
import { writeSse } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS } from '../lib/keys.mjs';
import { splitPieces, splitFixed, estimateTokens, hashVector, exampleFromSchema } from '../lib/text.mjs';
import { ANSWER_PREFIX } from './openai.mjs';

const PREFIX = '/cohere';

/** Embedding length (the real models give 1024 or 1536 numbers: kept small on purpose). */
export const EMBEDDING_DIMS = 8;
/** Tokens of Cohere's own prompt template, counted in `usage.tokens` but not billed. */
export const TEMPLATE_TOKENS = 495;
/** Texts one embed call takes at most. */
export const MAX_EMBED_TEXTS = 96;

/** GET /v1/models, in this order. */
export const MODELS = [
  { name: 'command-a-03-2025', endpoints: ['generate', 'chat', 'summarize'], context_length: 256000, tools: true },
  { name: 'command-r-plus', endpoints: ['generate', 'chat', 'summarize'], context_length: 128000, tools: true },
  { name: 'command-r-plus-08-2024', endpoints: ['generate', 'chat', 'summarize'], context_length: 128000, tools: true },
  { name: 'command-r', endpoints: ['generate', 'chat', 'summarize'], context_length: 128000, tools: true },
  { name: 'command-r-08-2024', endpoints: ['generate', 'chat', 'summarize'], context_length: 128000, tools: true },
  { name: 'command-r7b-12-2024', endpoints: ['generate', 'chat', 'summarize'], context_length: 128000, tools: true },
  { name: 'command-a-vision-07-2025', endpoints: ['chat'], context_length: 128000, tools: false, vision: true },
  { name: 'embed-english-v3.0', endpoints: ['embed', 'classify'], context_length: 512, embed: true },
  { name: 'embed-multilingual-v3.0', endpoints: ['embed', 'classify'], context_length: 512, embed: true },
  { name: 'embed-v4.0', endpoints: ['embed', 'classify'], context_length: 128000, embed: true },
];
const MODEL_BY_NAME = new Map(MODELS.map((m) => [m.name, m]));

/** Built-in keys: Cohere keys are 40 letters and digits. */
export const BUILTIN_KEYS = [
  { key: 'standinCOHEREvalidKEY0000000000000000000', behaviour: {}, note: 'valid, default behaviour (awkward chunking)' },
  { key: 'standinCOHEREwholeKEY0000000000000000000', behaviour: { chunking: 'whole' }, note: 'valid, one SSE event per write' },
];
/** Behaviour keys (lib/keys.mjs words) for Cohere start with this, e.g. `standintruncate3keyAAAAAAAAAAAAAAAAAAAA`. */
export const BEHAVIOUR_KEY_PREFIX = 'standin';
/** A key holding this word (any case) gets Cohere's 498 "invalid token" answer. */
export const INVALID_TOKEN_WORD = 'invalidtoken';

/**
 * CORS as the stand-in answers for Cohere (the real lists are not documented; see README): any
 * origin, the Fern SDK's own headers allowed, nothing exposed.
 */
export const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['GET', 'POST', 'OPTIONS'],
  allowHeaders: [
    'authorization',
    'content-type',
    'accepts',
    'request-source',
    'x-client-name',
    'x-fern-language',
    'x-fern-sdk-name',
    'x-fern-sdk-version',
    'x-fern-runtime',
    'x-fern-runtime-version',
  ],
  maxAge: 86400,
  exposeHeaders: [],
  preflightStatus: 204,
};

const CHAT_PARAMS = new Set([
  'model', 'messages', 'stream', 'tools', 'strict_tools', 'documents', 'citation_options', 'response_format',
  'safety_mode', 'max_tokens', 'stop_sequences', 'temperature', 'seed', 'frequency_penalty', 'presence_penalty',
  'k', 'p', 'logprobs', 'tool_choice', 'thinking', 'priority',
]);
const EMBED_PARAMS = new Set(['model', 'texts', 'images', 'inputs', 'input_type', 'embedding_types', 'output_dimension', 'truncate', 'max_tokens']);
const ROLES = ['system', 'user', 'assistant', 'tool'];
const INPUT_TYPES = ['search_document', 'search_query', 'classification', 'clustering', 'image'];
const EMBEDDING_TYPES = ['float', 'int8', 'uint8', 'binary', 'ubinary', 'base64'];

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A Cohere error: `{"id": <uuid>, "message"}`. */
export function cohereError(status, message, headers = {}) {
  return new HttpError(status, { id: randomUUID(), message }, headers);
}
const bad = (message) => cohereError(400, `invalid request: ${message}`);
const notFound = (model) =>
  cohereError(404, `model '${model}' not found, make sure the correct model ID was used and that you have access to the model.`);

// ---------------------------------------------------------------------------------------------
// Chat: validation

function contentText(content) {
  if (typeof content === 'string') return { text: content, images: 0 };
  return {
    text: content.filter((p) => p.type === 'text').map((p) => p.text).join(''),
    images: content.filter((p) => p.type === 'image_url').length,
  };
}

function checkContent(content, where, role) {
  if (typeof content === 'string') return;
  if (!Array.isArray(content)) throw bad(`${where}.content must be a string or a list of content items`);
  for (const [j, part] of content.entries()) {
    if (!isObject(part)) throw bad(`${where}.content[${j}] must be an object`);
    const allowed = role === 'user' ? ['text', 'image_url'] : role === 'tool' ? ['text', 'document'] : ['text'];
    if (!allowed.includes(part.type)) {
      throw bad(`${where}.content[${j}].type must be one of ${allowed.join(', ')}, received '${part.type}'`);
    }
    if (part.type === 'text' && typeof part.text !== 'string') throw bad(`${where}.content[${j}].text must be a string`);
    if (part.type === 'image_url' && (!isObject(part.image_url) || typeof part.image_url.url !== 'string')) {
      throw bad(`${where}.content[${j}].image_url.url must be a string`);
    }
  }
}

function validateChat(body) {
  for (const name of Object.keys(body)) {
    if (!CHAT_PARAMS.has(name)) throw bad(`unknown field: '${name}'`);
  }
  if (typeof body.model !== 'string' || body.model === '') throw bad('model is required');
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad('messages must not be empty');
  const check = (name, test, what) => {
    if (body[name] !== undefined && body[name] !== null && !test(body[name])) throw bad(`${name} ${what}, received ${JSON.stringify(body[name])}`);
  };
  check('temperature', (v) => typeof v === 'number' && v >= 0, 'must be a non-negative number');
  check('p', (v) => typeof v === 'number' && v >= 0.01 && v <= 0.99, 'must be between 0.01 and 0.99');
  check('k', (v) => Number.isInteger(v) && v >= 0 && v <= 500, 'must be an integer between 0 and 500');
  check('max_tokens', (v) => Number.isInteger(v) && v >= 1, 'must be a positive integer');
  check('stream', (v) => typeof v === 'boolean', 'must be a boolean');
  check('stop_sequences', (v) => Array.isArray(v) && v.length <= 5 && v.every((s) => typeof s === 'string'), 'must be a list of at most 5 strings');
  check('tool_choice', (v) => v === 'REQUIRED' || v === 'NONE', "must be one of 'REQUIRED', 'NONE'");
  if (body.tool_choice && !(Array.isArray(body.tools) && body.tools.length)) throw bad('tool_choice requires tools to be specified');
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw bad('tools must be a list');
    for (const [i, t] of body.tools.entries()) {
      if (!isObject(t) || t.type !== 'function' || !isObject(t.function) || typeof t.function.name !== 'string') {
        throw bad(`tools[${i}] must be {type: 'function', function: {name, description, parameters}}`);
      }
    }
  }
  const callIds = new Set();
  for (const [i, m] of body.messages.entries()) {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw bad(`${where} must be an object`);
    if (!ROLES.includes(m.role)) throw bad(`${where}.role must be one of ${ROLES.join(', ')}, received '${m.role}'`);
    if (m.role === 'system' && i !== 0 && body.messages.slice(0, i).some((x) => x.role !== 'system')) {
      throw cohereError(400, 'system turn must be the first in the list');
    }
    if (m.content !== undefined && m.content !== null) checkContent(m.content, where, m.role);
    if (m.role === 'assistant' && m.tool_calls !== undefined) {
      if (!Array.isArray(m.tool_calls)) throw bad(`${where}.tool_calls must be a list`);
      for (const [j, c] of m.tool_calls.entries()) {
        if (!isObject(c) || typeof c.id !== 'string' || !isObject(c.function) || typeof c.function.name !== 'string') {
          throw bad(`${where}.tool_calls[${j}] must be {id, type: 'function', function: {name, arguments}}`);
        }
        if (typeof c.function.arguments !== 'string') throw bad(`${where}.tool_calls[${j}].function.arguments must be a string`);
        try {
          JSON.parse(c.function.arguments);
        } catch {
          throw bad(`${where}.tool_calls[${j}].function.arguments must be valid JSON`);
        }
        callIds.add(c.id);
      }
    }
    if (m.role === 'assistant' && (m.content === undefined || m.content === null || m.content === '') && !m.tool_calls?.length) {
      throw cohereError(400, 'message must not be empty in a turn');
    }
    if (m.role === 'user' && contentText(m.content ?? '').text === '' && !contentText(m.content ?? '').images) {
      throw bad('message must be at least 1 token long or tool results must be specified.');
    }
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw bad(`${where}.tool_call_id is required for tool messages`);
      if (!callIds.has(m.tool_call_id)) throw bad(`${where}.tool_call_id '${m.tool_call_id}' does not match any tool call`);
    }
  }
  const model = MODEL_BY_NAME.get(body.model);
  if (!model) throw notFound(body.model);
  if (!model.endpoints.includes('chat')) throw bad(`model '${model.name}' is not supported by the chat API`);
  if (!model.vision && body.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'))) {
    throw bad(`model '${model.name}' does not support image inputs`);
  }
  if (!model.tools && Array.isArray(body.tools) && body.tools.length) throw bad(`model '${model.name}' does not support tools`);
  return model;
}

// ---------------------------------------------------------------------------------------------
// Chat: the answer

/** What the answer is: text pieces or one tool call, and why it stops. */
function planAnswer(body, behaviour) {
  const messages = body.messages;
  const last = messages[messages.length - 1];
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const wantsTool =
    tools.length > 0 && body.tool_choice !== 'NONE' && (body.tool_choice === 'REQUIRED' || last.role !== 'tool');
  if (wantsTool) {
    const tool = tools[0].function;
    const args = JSON.stringify(exampleFromSchema(tool.parameters ?? { type: 'object' }, 'value'));
    return {
      kind: 'tool',
      plan: splitPieces(`I will use the ${tool.name} tool to answer.`),
      call: { id: `${tool.name}_${randomId(12, 'abcdefghijklmnopqrstuvwxyz0123456789')}`, name: tool.name },
      fragments: splitFixed(args, 5),
      finish: 'TOOL_CALL',
    };
  }
  let text;
  if (behaviour.reply !== null) {
    text = behaviour.reply;
  } else if (last.role === 'tool') {
    text = `${ANSWER_PREFIX} The tool said: ${contentText(last.content ?? '').text}`;
  } else {
    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const { text: said, images } = contentText(lastUser?.content ?? '');
    text = `${ANSWER_PREFIX} You said: ${said}${images ? ` [${images} image(s)]` : ''}`;
  }
  let finish = 'COMPLETE';
  for (const stop of body.stop_sequences ?? []) {
    const at = stop === '' ? -1 : text.indexOf(stop);
    if (at >= 0) {
      text = text.slice(0, at);
      finish = 'STOP_SEQUENCE';
    }
  }
  let pieces = splitPieces(text);
  if (Number.isInteger(body.max_tokens) && pieces.length > body.max_tokens) {
    pieces = pieces.slice(0, body.max_tokens);
    finish = 'MAX_TOKENS';
  }
  return { kind: 'text', pieces, finish };
}

function usageOf(body, plan) {
  let input = 0;
  for (const m of body.messages) {
    const { text, images } = contentText(m.content ?? '');
    input += estimateTokens(text) + 256 * images + (m.tool_calls ? estimateTokens(JSON.stringify(m.tool_calls)) : 0);
  }
  if (Array.isArray(body.tools) && body.tools.length) input += estimateTokens(JSON.stringify(body.tools));
  const output = plan.kind === 'tool' ? plan.plan.length + plan.fragments.length : plan.pieces.length;
  return {
    billed_units: { input_tokens: input, output_tokens: output },
    tokens: { input_tokens: input + TEMPLATE_TOKENS, output_tokens: output + 3 },
    cached_tokens: 0,
  };
}

function chatObject(id, plan, usage) {
  const message = plan.kind === 'tool'
    ? {
        role: 'assistant',
        tool_plan: plan.plan.join(''),
        tool_calls: [{ id: plan.call.id, type: 'function', function: { name: plan.call.name, arguments: plan.fragments.join('') } }],
      }
    : { role: 'assistant', content: [{ type: 'text', text: plan.pieces.join('') }] };
  return { id, message, finish_reason: plan.finish, usage };
}

/** The stream as the recorded fixtures show it (shared/fixtures/cohere-v2.*.payloads.jsonl). */
function chatEvents(id, plan, usage) {
  const events = [
    { type: 'message-start', id, delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } } },
  ];
  if (plan.kind === 'tool') {
    for (const p of plan.plan) events.push({ type: 'tool-plan-delta', delta: { message: { tool_plan: p } } });
    events.push({
      type: 'tool-call-start',
      index: 0,
      delta: { message: { tool_calls: { id: plan.call.id, type: 'function', function: { name: plan.call.name, arguments: '' } } } },
    });
    for (const f of plan.fragments) {
      events.push({ type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: f } } } } });
    }
    events.push({ type: 'tool-call-end', index: 0 });
  } else {
    events.push({ type: 'content-start', index: 0, delta: { message: { content: { type: 'text', text: '' } } } });
    for (const p of plan.pieces) events.push({ type: 'content-delta', index: 0, delta: { message: { content: { text: p } } } });
    events.push({ type: 'content-end', index: 0 });
  }
  events.push({ type: 'message-end', delta: { finish_reason: plan.finish, usage } });
  // Cohere's own key order puts `id` first on message-start.
  return events.map(({ type, ...rest }) => {
    const payload = type === 'message-start' ? { id: rest.id, type, delta: rest.delta } : { type, ...rest };
    return { event: type, data: JSON.stringify(payload) };
  });
}

/** What the stand-in sends when a generation fails half-way (behaviour `errorAfter`). */
function midStreamError() {
  const payload = {
    type: 'message-end',
    delta: {
      finish_reason: 'ERROR',
      error: 'internal server error, this has been reported to our developers',
      usage: { billed_units: { input_tokens: 0, output_tokens: 0 }, tokens: { input_tokens: 0, output_tokens: 0 } },
    },
  };
  return { event: 'message-end', data: JSON.stringify(payload) };
}

// ---------------------------------------------------------------------------------------------
// Embed

function embed(body) {
  for (const name of Object.keys(body)) {
    if (!EMBED_PARAMS.has(name)) throw bad(`unknown field: '${name}'`);
  }
  if (typeof body.model !== 'string' || body.model === '') throw bad('model is required');
  const texts = body.texts;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
    throw bad('texts must be a non-empty list of strings');
  }
  if (texts.length > MAX_EMBED_TEXTS) throw bad(`total number of texts must be at most ${MAX_EMBED_TEXTS} - received ${texts.length}`);
  const model = MODEL_BY_NAME.get(body.model);
  if (!model) throw notFound(body.model);
  if (!model.embed) throw bad(`model '${model.name}' is not supported by the embed API`);
  if (!INPUT_TYPES.includes(body.input_type)) throw bad('valid input_type must be provided with the provided model');
  const types = body.embedding_types;
  if (!Array.isArray(types) || types.length === 0) throw bad('embedding_types must be provided');
  for (const t of types) {
    if (!EMBEDDING_TYPES.includes(t)) throw bad(`embedding_types must be one of ${EMBEDDING_TYPES.join(', ')}, received '${t}'`);
    if (t !== 'float' && t !== 'int8') throw bad(`the stand-in does not imitate embedding type '${t}'`);
  }
  const vectors = texts.map((t) => hashVector(`${model.name}\n${t}`, EMBEDDING_DIMS));
  const embeddings = {};
  for (const t of types) embeddings[t] = t === 'float' ? vectors : vectors.map((v) => v.map((x) => Math.round(x * 127)));
  return {
    id: randomUUID(),
    texts,
    embeddings,
    meta: { api_version: { version: '2' }, billed_units: { input_tokens: texts.reduce((s, t) => s + estimateTokens(t), 0) } },
    response_type: 'embeddings_by_type',
  };
}

// ---------------------------------------------------------------------------------------------
// Models

function modelEntry(m) {
  return {
    name: m.name,
    endpoints: m.endpoints,
    finetuned: false,
    context_length: m.context_length,
    tokenizer_url: `https://storage.googleapis.com/cohere-public/tokenizers/${m.name}.json`,
    default_endpoints: [],
    features: m.tools ? ['tools', 'strict_tools', 'json_mode', 'json_schema'] : m.vision ? ['vision'] : [],
  };
}

function listModels(url) {
  const size = url.searchParams.get('page_size');
  const pageSize = size === null ? 20 : Number(size);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw bad('page_size must be an integer between 1 and 1000');
  const endpoint = url.searchParams.get('endpoint');
  const all = MODELS.filter((m) => endpoint === null || m.endpoints.includes(endpoint));
  const token = url.searchParams.get('page_token');
  const start = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0) throw bad('invalid page_token');
  const page = all.slice(start, start + pageSize);
  const next = start + pageSize < all.length ? Buffer.from(String(start + pageSize)).toString('base64url') : undefined;
  return { models: page.map(modelEntry), ...(next ? { next_page_token: next } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Request handling

function route(method, path) {
  if (path === '/v1/models') return method === 'GET' ? { name: 'models' } : { notAllowed: true };
  const m = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (m) return method === 'GET' ? { name: 'model', id: decodeURIComponent(m[1]) } : { notAllowed: true };
  if (path === '/v2/chat') return method === 'POST' ? { name: 'chat' } : { notAllowed: true };
  if (path === '/v2/embed') return method === 'POST' ? { name: 'embed' } : { notAllowed: true };
  return null;
}

function bearerKey(req) {
  const value = req.headers.authorization;
  if (typeof value !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m ? m[1] : null;
}

async function handle({ req, res, path, url, entry, keys, log }) {
  let behaviour = BEHAVIOUR_DEFAULTS;
  const traceId = randomHex(32);
  const headers = (extra = {}) => ({
    'x-debug-trace-id': traceId,
    ...responseCorsHeaders(CORS_POLICY, behaviour.exposeHeaders),
    ...extra,
  });
  const fail = (err) => {
    entry.status = err.status;
    sendError(res, err, headers());
  };

  const r = route(req.method, path);
  if (!r || r.notAllowed) {
    req.resume();
    return fail(cohereError(r ? 405 : 404, r ? 'Method Not Allowed' : 'Not Found'));
  }

  let body = null;
  let parseError = false;
  if (req.method === 'POST') {
    const { buffer, tooLarge, aborted } = await readBody(req, MAX_BODY_BYTES);
    if (aborted) return;
    if (tooLarge) return fail(cohereError(413, 'request body too large'));
    const text = buffer.toString('utf8');
    try {
      body = JSON.parse(text);
      if (!isObject(body)) throw new Error('not an object');
      entry.body = body;
    } catch {
      parseError = true;
      entry.bodyError = 'not a JSON object';
      entry.bodyText = text.slice(0, 2000);
    }
  } else {
    req.resume();
  }

  const key = bearerKey(req);
  log.setKey(entry, key);
  if (!key) return fail(cohereError(401, 'no api key supplied'));
  if (key.toLowerCase().includes(INVALID_TOKEN_WORD)) return fail(cohereError(498, 'invalid api token'));
  const found = keys.lookup('cohere', key);
  if (!found.known) return fail(cohereError(401, 'invalid api token'));
  behaviour = found.behaviour;
  const state = found.state;

  if (behaviour.headersDelayMs > 0) {
    let gone = false;
    res.once('close', () => (gone = true));
    await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
    if (gone || res.destroyed) return;
  }
  if (behaviour.revoked) return fail(cohereError(401, 'invalid api token'));
  if (behaviour.quota) {
    return fail(cohereError(402,
      'Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue'));
  }
  if (state.rateLimit !== 0) {
    if (state.rateLimit > 0) state.rateLimit--;
    return fail(cohereError(429,
      "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions"));
  }
  if (state.status5xx > 0) {
    state.status5xx--;
    const n = behaviour.status5xx - state.status5xx - 1;
    return fail(n % 2 === 0 ? cohereError(500, 'internal server error, this has been reported to our developers') : cohereError(503, 'service unavailable'));
  }
  state.served++;

  try {
    if (r.name === 'models') {
      entry.status = 200;
      return sendJson(res, 200, listModels(url), headers());
    }
    if (r.name === 'model') {
      const m = MODEL_BY_NAME.get(r.id);
      if (!m) throw notFound(r.id);
      entry.status = 200;
      return sendJson(res, 200, modelEntry(m), headers());
    }
    if (parseError) throw bad('could not parse the request body as JSON');
    if (r.name === 'embed') {
      const out = embed(body);
      entry.status = 200;
      return sendJson(res, 200, out, headers());
    }
    validateChat(body);
    const plan = planAnswer(body, behaviour);
    const usage = usageOf(body, plan);
    const id = randomUUID();
    entry.status = 200;
    if (body.stream !== true) return sendJson(res, 200, chatObject(id, plan, usage), headers());
    await writeSse(res, {
      status: 200,
      headers: headers({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }),
      events: chatEvents(id, plan, usage),
      behaviour,
      errorEvent: midStreamError(),
      entry,
    });
  } catch (err) {
    if (err instanceof HttpError) return fail(err);
    throw err;
  }
}

export default {
  id: 'cohere',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('cohere', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('cohere', BEHAVIOUR_KEY_PREFIX);
  },
  handle,
};
