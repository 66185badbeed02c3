// LM Studio's local server, as `lms server start` answers: http://localhost:1234/v1 ≙
// http://127.0.0.1:N/lmstudio/v1 (started with CORS on, `lms server start --cors`), and
// http://127.0.0.1:N/lmstudio/_cors-off/v1 (LM Studio's default: no CORS header at all, so a
// browser page on another origin is refused).
//
// OpenAI's chat API (providers/openai.mjs does the work) with LM Studio's differences: no key
// (any key or none is taken; a key's behaviour words still pick a behaviour), the loaded models,
// `Invalid model identifier` (400 model_not_found) for any other, the first chunk carrying the
// role with the first piece, and Express answering 200 with `{"error":"Unexpected endpoint or
// method. (GET /x)"}` to anything it does not route, preflights included when CORS is off.

import { makeHandler, makePreflight, familyRoute, modelTable, splitInstance } from './openai.mjs';
import { HttpError, openaiError } from '../lib/errors.mjs';
import { ECHO } from '../lib/cors.mjs';
import { randomId } from '../lib/http.mjs';

const PREFIX = '/lmstudio';
const OPTIONS = ['cors-off'];

/** The models loaded in LM Studio, as GET /v1/models lists them. */
export const MODELS = [
  { id: 'meta-llama-3.1-8b-instruct', kind: 'chat', vision: false },
  { id: 'mistral-7b-instruct-v0.3', kind: 'chat', vision: false },
  { id: 'qwen2-vl-7b-instruct', kind: 'chat', vision: true },
  { id: 'text-embedding-nomic-embed-text-v1.5', kind: 'embedding', dims: 768 },
];
const MODEL_BY_ID = modelTable(MODELS);

/**
 * Not sent by LM Studio: lets byok's no-cors reachability probe read "the server answered" from a
 * cross-origin-isolated page (the browser test runner's), as it can from any other page.
 */
const CORP = { 'cross-origin-resource-policy': 'cross-origin' };

const unexpected = (method, path) => new HttpError(200, { error: `Unexpected endpoint or method. (${method} ${path})` });

/** CORS on: the npm cors package's defaults (any origin, requested headers echoed). */
const CORS_ON = {
  allowOrigin: '*',
  allowMethods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
  allowHeaders: ECHO,
  maxAge: null,
  exposeHeaders: [],
  preflightStatus: 204,
  preflightHeaders: { 'x-powered-by': 'Express', ...CORP },
};
/** CORS off (LM Studio's default): no CORS header; OPTIONS is an unexpected method like any other. */
const CORS_OFF = {
  allowOrigin: null,
  allowMethods: [],
  allowHeaders: [],
  preflightAnswer: (req, path) => {
    const body = JSON.stringify(unexpected('OPTIONS', splitInstance(path, OPTIONS).path).body);
    return { status: 200, headers: { 'x-powered-by': 'Express', 'content-type': 'application/json; charset=utf-8', ...CORP }, body };
  },
};

const STYLE = {
  chunk: (meta, choices, extra) => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.model,
    choices,
    ...extra,
  }),
  choice: (index, delta, finish = null) => ({ index, delta, logprobs: null, finish_reason: finish }),
  deltas(p) {
    if (p.kind === 'tool') {
      return [
        { delta: { role: 'assistant', tool_calls: [{ index: 0, id: p.id, type: 'function', function: { name: p.name, arguments: '' } }] } },
        ...p.fragments.map((f) => ({ delta: { tool_calls: [{ index: 0, function: { arguments: f } }] } })),
      ];
    }
    const [first = '', ...rest] = p.pieces;
    return [{ delta: { role: 'assistant', content: first } }, ...rest.map((x) => ({ delta: { content: x } }))];
  },
  finish: (p) => ({ delta: {}, finish: p.finish }),
  usage: 'requested',
  answer: (meta, plans, body, use) => ({
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: plans.map((p, index) => ({
      index,
      logprobs: null,
      finish_reason: p.finish,
      message: p.kind === 'tool'
        ? { role: 'assistant', tool_calls: [{ id: p.id, type: 'function', function: { name: p.name, arguments: p.fragments.join('') } }] }
        : { role: 'assistant', content: p.pieces.join('') },
    })),
    usage: use,
    stats: {},
    system_fingerprint: meta.model,
  }),
};

function invalidModel(id) {
  const examples = MODELS.filter((m) => m.kind === 'chat').map((m) => m.id).join(', ');
  return openaiError(400, `Invalid model identifier "${id}". Please specify a valid downloaded model (e.g., ${examples}).`,
    { param: 'model', code: 'model_not_found' });
}

const FLAVOUR = {
  id: 'lmstudio',
  route: (method, path) => familyRoute(method, path, { options: OPTIONS, modelPath: false }),
  notFound: (method, path) => unexpected(method, splitInstance(path, OPTIONS).path),
  keyRequired: () => false,
  headers: () => ({ 'x-powered-by': 'Express', ...CORP }),
  cors: (r, path) => (splitInstance(path, OPTIONS).options['cors-off'] ? CORS_OFF : CORS_ON),
  rateHeaders: null,
  accountErrors: {
    quota: null,
    rateLimit: null,
    server: () => new HttpError(500, { error: 'The model has crashed without additional information. (Exit code: null)' }),
  },
  models: MODEL_BY_ID,
  listModels: () => ({ data: MODELS.map((m) => ({ id: m.id, object: 'model', owned_by: 'organization_owner' })), object: 'list' }),
  modelObject: (m) => ({ id: m.id, object: 'model', owned_by: 'organization_owner' }),
  resolveModel(id, kind) {
    const m = MODEL_BY_ID.get(id);
    if (!m || m.kind !== kind) throw invalidModel(id);
    return m;
  },
  chatParams: null,
  embeddingParams: null,
  strictMessages: false,
  openaiModelRules: false,
  streamOptionsNeedStream: null,
  style: STYLE,
  usage: (promptTokens, plans) => {
    const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
    return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
  },
  toolCallId: () => randomId(9, '0123456789'),
  completionId: () => `chatcmpl-${randomId(20, 'abcdefghijklmnopqrstuvwxyz0123456789')}`,
  fingerprint: () => null,
  midStreamError: () => ({ data: JSON.stringify({ error: { message: 'The model has crashed without additional information. (Exit code: null)' } }) }),
};

export default {
  id: 'lmstudio',
  prefix: PREFIX,
  cors: CORS_ON,
  setup(keys) {
    // No key is needed; any key's behaviour words still pick a behaviour.
    keys.setBehaviourPrefix('lmstudio', '');
  },
  preflight: makePreflight(FLAVOUR),
  handle: makeHandler(FLAVOUR),
};
