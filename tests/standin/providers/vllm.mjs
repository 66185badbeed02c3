// vLLM's OpenAI-compatible server, as `vllm serve meta-llama/Llama-3.1-8B-Instruct` answers:
// http://localhost:8000/v1 ≙ http://127.0.0.1:N/vllm/v1 (started without --api-key: any key or
// none), and http://127.0.0.1:N/vllm/_api-key/v1 (started with --api-key: a Bearer key is
// required on every /v1 path, else 401 `{"error":"Unauthorized"}`).
//
// OpenAI's chat API (providers/openai.mjs does the work) with vLLM's differences: one served
// model (`owned_by: "vllm"`, `max_model_len`), errors `{"error":{"message","type","param","code"}}`
// with the HTTP status as `code`, FastAPI's `{"detail":"Not Found"}` for unknown paths, unknown
// request fields ignored, and Starlette's CORSMiddleware with vLLM's defaults (any origin, the
// requested headers echoed, preflights exempt from the key check).

import { makeHandler, makePreflight, familyRoute, modelTable } from './openai.mjs';
import { HttpError } from '../lib/errors.mjs';
import { ECHO } from '../lib/cors.mjs';
import { randomHex } from '../lib/http.mjs';

const PREFIX = '/vllm';
const OPTIONS = ['api-key'];
export const SERVED_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
export const MAX_MODEL_LEN = 131072;

const MODELS = [{ id: SERVED_MODEL, kind: 'chat', created: 1735689600 }];
const MODEL_BY_ID = modelTable(MODELS);

/** Keys of the --api-key instance (any string is a valid --api-key; these are the stand-in's). */
export const BUILTIN_KEYS = [
  { key: 'token-standinVLLMkey0000', behaviour: {}, note: 'the --api-key of /vllm/_api-key' },
];
export const BEHAVIOUR_KEY_PREFIX = 'token-';

const CORP = { 'cross-origin-resource-policy': 'cross-origin' };
/** HTTP status → vLLM's error type. */
const TYPES = { 400: 'BadRequestError', 404: 'NotFoundError', 500: 'InternalServerError', 503: 'ServiceUnavailableError' };

const vllmError = (status, message, param = null) =>
  new HttpError(status, { error: { message, type: TYPES[status] ?? 'BadRequestError', param, code: status } });

/** vLLM's defaults: --allowed-origins/--allowed-methods/--allowed-headers ["*"], no credentials. */
const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'],
  allowHeaders: ECHO,
  maxAge: 600,
  exposeHeaders: [],
  preflightStatus: 200,
  preflightBody: 'OK',
  preflightHeaders: { 'content-type': 'text/plain; charset=utf-8', vary: 'Origin', ...CORP },
};

const STYLE = {
  chunk: (meta, choices, extra) => ({ id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices, ...extra }),
  choice: (index, delta, finish = null) =>
    (finish === null ? { index, delta, logprobs: null, finish_reason: null } : { index, delta, logprobs: null, finish_reason: finish, stop_reason: null }),
  deltas(p) {
    const first = { delta: { role: 'assistant', content: '' } };
    if (p.kind === 'tool') {
      return [
        first,
        { delta: { tool_calls: [{ id: p.id, type: 'function', index: 0, function: { name: p.name, arguments: '' } }] } },
        ...p.fragments.map((f) => ({ delta: { tool_calls: [{ index: 0, function: { arguments: f } }] } })),
      ];
    }
    return [first, ...p.pieces.map((x) => ({ delta: { content: x } }))];
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
      message: {
        role: 'assistant',
        reasoning_content: null,
        content: p.kind === 'tool' ? null : p.pieces.join(''),
        tool_calls: p.kind === 'tool' ? [{ id: p.id, type: 'function', function: { name: p.name, arguments: p.fragments.join('') } }] : [],
      },
      logprobs: null,
      finish_reason: p.finish,
      stop_reason: null,
    })),
    usage: use,
    prompt_logprobs: null,
  }),
};

const modelCard = (m) => ({
  id: m.id,
  object: 'model',
  created: m.created,
  owned_by: 'vllm',
  root: m.id,
  parent: null,
  max_model_len: MAX_MODEL_LEN,
  permission: [{
    id: 'modelperm-standin0000000000000000000000',
    object: 'model_permission',
    created: m.created,
    allow_create_engine: false,
    allow_sampling: true,
    allow_logprobs: true,
    allow_search_indices: false,
    allow_view: true,
    allow_fine_tuning: false,
    organization: '*',
    group: null,
    is_blocking: false,
  }],
});

const FLAVOUR = {
  id: 'vllm',
  route: (method, path) => familyRoute(method, path, { options: OPTIONS, modelPath: false, embeddings: false }),
  notFound: () => new HttpError(404, { detail: 'Not Found' }),
  keyRequired: (r) => Boolean(r.instance['api-key']),
  missingKey: () => new HttpError(401, { error: 'Unauthorized' }),
  incorrectKey: () => new HttpError(401, { error: 'Unauthorized' }),
  headers: () => ({ ...CORP }),
  cors: () => CORS_POLICY,
  rateHeaders: null,
  errorBody: (status, info) => ({ error: { message: info.message, type: TYPES[status] ?? 'BadRequestError', param: info.param ?? null, code: status } }),
  accountErrors: {
    quota: null,
    rateLimit: null,
    server: (n) => (n % 2 === 0
      ? vllmError(500, 'EngineCore encountered an issue. See stack trace (above) for the root cause.')
      : vllmError(503, 'The server is not ready to accept requests.')),
  },
  models: MODEL_BY_ID,
  listModels: () => ({ object: 'list', data: MODELS.map(modelCard) }),
  modelObject: modelCard,
  resolveModel(id) {
    const m = MODEL_BY_ID.get(id);
    if (!m) throw vllmError(404, `The model \`${id}\` does not exist.`);
    return m;
  },
  chatParams: null,
  embeddingParams: null,
  strictMessages: false,
  openaiModelRules: false,
  streamOptionsNeedStream: 'Stream options can only be defined when `stream=True`.',
  style: STYLE,
  usage: (promptTokens, plans) => {
    const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
    return { prompt_tokens: promptTokens, total_tokens: promptTokens + completion, completion_tokens: completion, prompt_tokens_details: null };
  },
  toolCallId: () => `chatcmpl-tool-${randomHex(16)}`,
  completionId: () => `chatcmpl-${randomHex(32)}`,
  fingerprint: () => null,
  midStreamError: () => ({ data: JSON.stringify({ error: { message: 'EngineCore encountered an issue.', type: 'InternalServerError', param: null, code: 500 } }) }),
};

export default {
  id: 'vllm',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('vllm', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('vllm', BEHAVIOUR_KEY_PREFIX);
  },
  preflight: makePreflight(FLAVOUR),
  handle: makeHandler(FLAVOUR),
};
