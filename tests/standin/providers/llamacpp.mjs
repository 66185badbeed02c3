// llama.cpp's server (byok's `openai-compatible`), as `llama-server -m model.gguf --alias
// llama-3.1-8b-instruct` answers: http://localhost:8080/v1 ≙ http://127.0.0.1:N/llamacpp/v1.
// Instances (path segments after the prefix, combinable):
//   /llamacpp/_api-key/v1      started with --api-key: a key is needed, except on the public
//                              /v1/models and /health; else 401 `Invalid API Key`
//   /llamacpp/_cors-proxy/v1   behind a proxy that echoes the requested headers (llama.cpp's own
//                              preflight allows `*`, which by the Fetch standard never covers
//                              Authorization; Chromium 156 lets it through anyway, so the
//                              stand-in's logged verdict is stricter than that browser)
//
// From tools/server/server-http.cpp and server-task.cpp: every answer copies the request's Origin
// into access-control-allow-origin; a preflight gets credentials true, methods `GET, POST` and
// headers `*`; errors are `{"error":{"code","message","type"}}`; the model in the request is not
// checked (one model is loaded) and answers name the model asked for; streams end with the
// finish chunk, then (stream_options.include_usage) a `choices: []` chunk with usage, the last
// chunk carrying `timings`; JSON keys come sorted (nlohmann::json). /v1/embeddings needs
// --embeddings, which this server was not started with (501).

import { makeHandler, makePreflight, familyRoute, splitInstance, sortedKeys } from './openai.mjs';
import { HttpError } from '../lib/errors.mjs';
import { ECHO } from '../lib/cors.mjs';
import { randomId } from '../lib/http.mjs';

const PREFIX = '/llamacpp';
const OPTIONS = ['api-key', 'cors-proxy'];
export const MODEL_ALIAS = 'llama-3.1-8b-instruct';
export const BUILD = 'b6123-3f4b4c5d';
const CREATED = 1735689600;

/** Keys of the --api-key instance (any string is a valid --api-key; these are the stand-in's). */
export const BUILTIN_KEYS = [
  { key: 'sk-standinLLAMACPPkey0000', behaviour: {}, note: 'the --api-key of /llamacpp/_api-key' },
];
export const BEHAVIOUR_KEY_PREFIX = 'sk-';

/** HTTP status → llama.cpp's error type (server-common.h's error_type). */
const TYPES = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  500: 'server_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};
const llamaBody = (status, message) => ({ error: { code: status, message, type: TYPES[status] ?? 'server_error' } });
const llamaError = (status, message) => new HttpError(status, llamaBody(status, message));

/**
 * Not sent by llama.cpp: lets byok's no-cors reachability probe read "the server answered" from
 * a cross-origin-isolated page (the browser test runner's), as it can from any other page.
 */
const CORP = { 'cross-origin-resource-policy': 'cross-origin' };

const PREFLIGHT = {
  allowOrigin: ECHO,
  allowCredentials: true,
  allowMethods: ['GET, POST'],
  allowHeaders: ['*'],
  maxAge: null,
  preflightStatus: 200,
  preflightHeaders: { 'content-type': 'text/html', server: 'llama.cpp', ...CORP },
};
/** A CORS proxy in front: the same, with the requested headers echoed. */
const PROXIED = { ...PREFLIGHT, allowHeaders: ECHO };

function timings(usage) {
  const promptMs = 12.5 + usage.prompt_tokens;
  const predictedMs = 20 * Math.max(1, usage.completion_tokens);
  return {
    cache_n: 0,
    prompt_n: usage.prompt_tokens,
    prompt_ms: promptMs,
    prompt_per_token_ms: promptMs / Math.max(1, usage.prompt_tokens),
    prompt_per_second: (1000 * usage.prompt_tokens) / promptMs,
    predicted_n: usage.completion_tokens,
    predicted_ms: predictedMs,
    predicted_per_token_ms: predictedMs / Math.max(1, usage.completion_tokens),
    predicted_per_second: (1000 * usage.completion_tokens) / predictedMs,
  };
}

const STYLE = {
  chunk: (meta, choices, extra) =>
    sortedKeys({ choices, created: meta.created, id: meta.id, model: meta.model, system_fingerprint: meta.fingerprint, object: 'chat.completion.chunk', ...extra }),
  choice: (index, delta, finish = null) => ({ delta, finish_reason: finish, index }),
  deltas(p) {
    const first = { delta: { role: 'assistant', content: null } };
    if (p.kind === 'tool') {
      return [
        first,
        { delta: { tool_calls: [{ index: 0, id: p.id, type: 'function', function: { name: p.name, arguments: '' } }] } },
        ...p.fragments.map((f) => ({ delta: { tool_calls: [{ index: 0, function: { arguments: f } }] } })),
      ];
    }
    return [first, ...p.pieces.map((x) => ({ delta: { content: x } }))];
  },
  finish: (p) => ({ delta: {}, finish: p.finish }),
  usage: 'requested',
  lastExtra: (meta, usage) => ({ timings: timings(usage) }),
  answer: (meta, plans, body, use) => sortedKeys({
    choices: plans.map((p, index) => ({
      finish_reason: p.finish,
      index,
      message: p.kind === 'tool'
        ? { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: p.name, arguments: p.fragments.join('') }, id: p.id }] }
        : { role: 'assistant', content: p.pieces.join('') },
    })),
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.fingerprint,
    object: 'chat.completion',
    usage: use,
    id: meta.id,
    timings: timings(use),
  }),
};

const FLAVOUR = {
  id: 'llamacpp',
  route: (method, path) => familyRoute(method, path, { options: OPTIONS, modelPath: false }),
  notFound: () => llamaError(404, 'File Not Found'),
  // /v1/models is public even with --api-key.
  keyRequired: (r) => Boolean(r.instance['api-key']) && r.name !== 'models',
  missingKey: () => llamaError(401, 'Invalid API Key'),
  incorrectKey: () => llamaError(401, 'Invalid API Key'),
  headers: () => ({ server: 'llama.cpp', ...CORP }),
  cors: (r, path) => (splitInstance(path, OPTIONS).options['cors-proxy'] ? PROXIED : PREFLIGHT),
  rateHeaders: null,
  errorBody: (status, info) => llamaBody(status, info.message),
  accountErrors: {
    quota: null,
    rateLimit: null,
    server: (n) => (n % 2 === 0 ? llamaError(500, 'Internal Server Error') : llamaError(503, 'Loading model')),
  },
  models: new Map(),
  listModels: () => sortedKeys({
    object: 'list',
    data: [{
      id: MODEL_ALIAS,
      object: 'model',
      created: CREATED,
      owned_by: 'llamacpp',
      meta: { vocab_type: 2, n_vocab: 128256, n_ctx_train: 131072, n_embd: 4096, n_params: 8030261248, size: 4912898304 },
    }],
  }),
  // One model is loaded; the name in the request is not checked and answers repeat it.
  resolveModel(id, kind) {
    if (kind === 'embedding') throw llamaError(501, 'This server does not support embeddings. Start it with `--embeddings`');
    return { id, kind: 'chat', answerModel: id };
  },
  chatParams: null,
  embeddingParams: null,
  strictMessages: false,
  openaiModelRules: false,
  streamOptionsNeedStream: null,
  style: STYLE,
  usage: (promptTokens, plans) => {
    const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
    return { completion_tokens: completion, prompt_tokens: promptTokens, prompt_tokens_details: { cached_tokens: 0 }, total_tokens: promptTokens + completion };
  },
  toolCallId: () => randomId(32),
  completionId: () => `chatcmpl-${randomId(32)}`,
  fingerprint: () => BUILD,
  midStreamError: () => ({ data: JSON.stringify(llamaBody(500, 'Internal Server Error')) }),
};

export default {
  id: 'llamacpp',
  prefix: PREFIX,
  cors: PREFLIGHT,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('llamacpp', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('llamacpp', BEHAVIOUR_KEY_PREFIX);
  },
  preflight: makePreflight(FLAVOUR),
  handle: makeHandler(FLAVOUR),
};
