// Mistral, as api.mistral.ai answers: https://api.mistral.ai/v1 ≙ http://127.0.0.1:N/mistral/v1
//
// OpenAI's chat API (providers/openai.mjs does the work) with Mistral's differences: 32-character
// keys, 401 `{"detail":"Unauthorized"}`, 422 (pydantic's `extra_forbidden`) for any parameter it
// does not have — `stream_options` among them — usage on the last chunk of every stream, a
// whole tool call in one chunk with 9-character ids (and a 400 for any other id sent back),
// `Invalid model` as a 400, and a CORS preflight that allows a fixed list of request headers.
// Chunk shapes follow the recordings in tests/fixtures/mistral-chat.*.

import { makeHandler, makePreflight, familyRoute, modelTable } from './openai.mjs';
import { HttpError } from '../lib/errors.mjs';
import { randomId, randomHex } from '../lib/http.mjs';

const PREFIX = '/mistral';
const PYDANTIC_URL = 'https://errors.pydantic.dev/2.10/v/';

export const MODELS = [
  { id: 'mistral-large-latest', created: 1731024000, kind: 'chat', vision: true, tools: true, context: 131072, name: 'mistral-large-2411' },
  { id: 'mistral-small-latest', created: 1742256000, kind: 'chat', vision: true, tools: true, context: 131072, name: 'mistral-small-2503' },
  { id: 'open-mistral-7b', created: 1695686400, kind: 'chat', vision: false, tools: false, context: 32768, name: 'open-mistral-7b', aliases: ['mistral-tiny'] },
  { id: 'codestral-latest', created: 1736899200, kind: 'chat', vision: false, tools: true, context: 262144, name: 'codestral-2501' },
  { id: 'pixtral-large-latest', created: 1731024000, kind: 'chat', vision: true, tools: true, context: 131072, name: 'pixtral-large-2411' },
  { id: 'mistral-embed', created: 1702425600, kind: 'embedding', dims: 1024, context: 8192, name: 'mistral-embed' },
];
const MODEL_BY_ID = modelTable(MODELS);

/** Built-in valid keys: 32 letters and digits, as the console issues them. */
export const BUILTIN_KEYS = [
  { key: 'standinMISTRALvalidKEY0000000000', behaviour: {}, note: 'default behaviour (awkward chunking)' },
  { key: 'standinMISTRALwholeKEY0000000000', behaviour: { chunking: 'whole' }, note: 'one SSE event per write' },
];
/** Behaviour keys (32 letters and digits too) start with this and hold lib/keys.mjs words. */
export const BEHAVIOUR_KEY_PREFIX = 'standin';

/** The request fields of Mistral's chat completion schema; any other is 422 `extra_forbidden`. */
export const CHAT_FIELDS = new Set([
  'model', 'messages', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'response_format',
  'tools', 'tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls',
  'prompt_mode', 'safe_prompt', 'metadata',
]);
/** Known fields whose object takes none of the fields OpenAI gives it (recorded: stream_options.include_usage). */
const EMPTY_OBJECT_FIELDS = new Set(['stream_options']);
export const EMBED_FIELDS = new Set(['model', 'input', 'encoding_format', 'output_dimension', 'output_dtype', 'metadata']);
/** Fields of a message, by role (the role picks the schema, so it is part of `loc`). */
const MESSAGE_FIELDS = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'prefix']),
  tool: new Set(['role', 'content', 'tool_call_id', 'name']),
};
/** The tool call ids Mistral takes back: its own form, 9 letters and digits. */
const TOOL_CALL_ID = /^[a-zA-Z0-9]{9}$/;

/** The pydantic error list of a 422, in Mistral's envelope. */
function unprocessable(detail) {
  return new HttpError(422, { object: 'error', message: { detail }, type: 'invalid_request_error', param: null, code: null });
}
const extraForbidden = (loc, input) => ({ type: 'extra_forbidden', loc, msg: 'Extra inputs are not permitted', input, url: `${PYDANTIC_URL}extra_forbidden` });
const missingField = (loc, input) => ({ type: 'missing', loc, msg: 'Field required', input, url: `${PYDANTIC_URL}missing` });

const mistralError = (status, message, type, code = null) => new HttpError(status, { object: 'error', message, type, param: null, code });

/** Mistral's schema check, before anything else: every problem at once, as pydantic reports them. */
function precheck(body, kind) {
  const detail = [];
  const fields = kind === 'embeddings' ? EMBED_FIELDS : CHAT_FIELDS;
  for (const [name, value] of Object.entries(body)) {
    if (kind !== 'embeddings' && EMPTY_OBJECT_FIELDS.has(name) && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [inner, v] of Object.entries(value)) detail.push(extraForbidden(['body', name, inner], v));
    } else if (!fields.has(name)) {
      detail.push(extraForbidden(['body', name], value ?? null));
    }
  }
  for (const required of kind === 'embeddings' ? ['model', 'input'] : ['model', 'messages']) {
    if (body[required] === undefined) detail.push(missingField(['body', required], body));
  }
  if (kind !== 'embeddings' && Array.isArray(body.messages)) {
    body.messages.forEach((m, i) => {
      const allowed = MESSAGE_FIELDS[m?.role];
      if (!allowed) return;
      for (const [name, value] of Object.entries(m)) {
        if (!allowed.has(name)) detail.push(extraForbidden(['body', 'messages', i, m.role, name], value ?? null));
      }
    });
  }
  if (detail.length) throw unprocessable(detail);
  if (kind === 'embeddings') return;
  // Tool call ids sent back must be Mistral's own (a conversation begun elsewhere fails here).
  for (const m of body.messages ?? []) {
    const ids = [...(Array.isArray(m?.tool_calls) ? m.tool_calls.map((c) => c?.id) : []), ...(m?.role === 'tool' ? [m.tool_call_id] : [])];
    for (const id of ids) {
      if (typeof id === 'string' && !TOOL_CALL_ID.test(id)) {
        throw mistralError(400, `Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.`, 'invalid_function_call', '3280');
      }
    }
  }
}

const wholeCall = (p) => ({ id: p.id, function: { name: p.name, arguments: p.fragments.join('') } });

/** As recorded: role chunk with empty content, the call whole with the finish, usage on the last chunk. */
const STYLE = {
  chunk: (meta, choices, extra) => ({ id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices, ...extra }),
  choice: (index, delta, finish = null) => ({ index, delta, finish_reason: finish, logprobs: null }),
  deltas(p) {
    const first = { delta: { role: 'assistant', content: '' } };
    if (p.kind === 'tool') return [first, { delta: { content: null, tool_calls: [wholeCall(p)] }, finish: p.finish }];
    return [first, ...p.pieces.map((x) => ({ delta: { content: x } }))];
  },
  finish: (p) => (p.kind === 'tool' ? null : { delta: { content: '' }, finish: p.finish }),
  usage: 'final',
  answer: (meta, plans, body, use) => ({
    id: meta.id,
    created: meta.created,
    model: meta.model,
    usage: use,
    object: 'chat.completion',
    choices: plans.map((p, index) => ({
      index,
      finish_reason: p.finish,
      message: {
        role: 'assistant',
        tool_calls: p.kind === 'tool' ? [{ ...wholeCall(p), type: 'function' }] : null,
        content: p.kind === 'tool' ? '' : p.pieces.join(''),
      },
    })),
  }),
};

function modelCard(m) {
  return {
    id: m.id,
    object: 'model',
    created: m.created,
    owned_by: 'mistralai',
    capabilities: {
      completion_chat: m.kind === 'chat',
      completion_fim: m.id.startsWith('codestral'),
      function_calling: Boolean(m.tools),
      fine_tuning: false,
      vision: Boolean(m.vision),
      classification: false,
    },
    name: m.name,
    description: `Standin ${m.name}`,
    max_context_length: m.context,
    aliases: m.aliases ?? [],
    deprecation: null,
    default_model_temperature: m.kind === 'chat' ? 0.3 : null,
    type: 'base',
  };
}

const invalidModel = (id) => mistralError(400, `Invalid model: ${id}`, 'invalid_model', '1500');

const FLAVOUR = {
  id: 'mistral',
  route: (method, path) => familyRoute(method, path),
  notFound: () => new HttpError(404, { detail: 'Not Found' }),
  missingKey: () => new HttpError(401, { detail: 'Unauthorized' }),
  incorrectKey: () => new HttpError(401, { detail: 'Unauthorized' }),
  headers: () => {
    const id = `${randomHex(8)}-${randomHex(4)}-7${randomHex(3)}-${randomHex(4)}-${randomHex(12)}`;
    return { 'mistral-correlation-id': id, 'x-kong-request-id': id };
  },
  // Any origin; a fixed list of request headers (an OpenAI SDK's x-stainless-timeout is refused).
  cors: () => CORS_POLICY,
  rateHeaders: null,
  errorBody: (status, info) => ({ object: 'error', message: info.message, type: 'invalid_request_error', param: info.param ?? null, code: null }),
  accountErrors: {
    quota: null,
    rateLimit: () => mistralError(429, 'Requests rate limit exceeded', 'rate_limited', '1300'),
    server: (n) => (n % 2 === 0
      ? mistralError(500, 'Internal server error', 'internal_server_error', '3000')
      : mistralError(503, 'Service unavailable', 'service_unavailable', '3003')),
  },
  models: MODEL_BY_ID,
  listModels: () => ({ object: 'list', data: MODELS.map(modelCard) }),
  modelObject: modelCard,
  findModel(id) {
    const m = MODEL_BY_ID.get(id);
    if (!m) throw new HttpError(404, { detail: 'Model not found' });
    return m;
  },
  resolveModel(id, kind) {
    const m = MODEL_BY_ID.get(id);
    if (!m || m.kind !== kind) throw invalidModel(id);
    // Mistral answers with the model id asked for (mistral-small-latest, not its dated name).
    return { ...m, answerModel: id };
  },
  precheck: (body, kind) => precheck(body, kind),
  chatParams: null,
  embeddingParams: null,
  strictMessages: false,
  openaiModelRules: false,
  toolChoices: ['auto', 'none', 'any', 'required'],
  streamOptionsNeedStream: null,
  style: STYLE,
  usage: (promptTokens, plans) => {
    const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
    return { prompt_tokens: promptTokens, total_tokens: promptTokens + completion, completion_tokens: completion };
  },
  toolCallId: () => randomId(9),
  completionId: () => randomHex(32),
  fingerprint: () => null,
  midStreamError: () => ({ data: JSON.stringify({ object: 'error', message: 'Internal server error', type: 'internal_server_error', param: null, code: '3000' }) }),
};

export const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  allowHeaders: [
    'authorization',
    'content-type',
    'x-stainless-arch',
    'x-stainless-lang',
    'x-stainless-os',
    'x-stainless-package-version',
    'x-stainless-retry-count',
    'x-stainless-runtime',
    'x-stainless-runtime-version',
  ],
  maxAge: 86400,
  exposeHeaders: [],
  preflightStatus: 204,
};

export default {
  id: 'mistral',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('mistral', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('mistral', BEHAVIOUR_KEY_PREFIX);
  },
  preflight: makePreflight(FLAVOUR),
  handle: makeHandler(FLAVOUR),
};
