// xAI, as api.x.ai answers: https://api.x.ai/v1 ≙ http://127.0.0.1:N/xai/v1
//
// OpenAI's chat API (providers/openai.mjs does the work) with xAI's differences: `xai-` keys,
// a bad key is 400 (not 401), errors are `{"code": <gRPC status text>, "error": "…"}`, the grok
// models, reasoning streamed as `reasoning_content` and counted beside the answer, a whole tool
// call in one chunk, and usage with `cost_in_usd_ticks`. The chunk shapes follow the recorded
// streams in tests/fixtures/xai-chat.*; what is not known for certain is listed in README.md.

import { makeHandler, makePreflight, familyRoute, modelTable } from './openai.mjs';
import { HttpError } from '../lib/errors.mjs';
import { ECHO } from '../lib/cors.mjs';
import { randomId, randomHex } from '../lib/http.mjs';

const PREFIX = '/xai';
/** The team id xAI names in its errors. */
export const TEAM = '2b1f6c1e-5a0d-4c8e-9a57-standin00000';

/** The text of each gRPC status code as xAI puts it in `code` (tonic's Code::description()). */
export const GRPC_TEXT = {
  400: 'Client specified an invalid argument',
  401: 'The request does not have valid authentication credentials for the operation',
  403: 'The caller does not have permission to execute the specified operation',
  404: 'Some requested entity was not found',
  429: 'Some resource has been exhausted',
  500: 'Internal error',
  503: 'The service is currently unavailable',
};

/**
 * The grok models. `price`: USD ticks (10⁻¹⁰ USD) per input and per output token, as xAI bills
 * them in `cost_in_usd_ticks` (reasoning tokens at the output price). `thinks: true` streams
 * `reasoning_content` (grok-3-mini); 'hidden' only counts reasoning tokens (grok-4).
 */
export const MODELS = [
  { id: 'grok-2-1212', created: 1737331200, aliases: ['grok-2', 'grok-2-latest'], kind: 'chat', vision: false, price: [20000, 100000] },
  { id: 'grok-2-vision-1212', created: 1733961600, aliases: ['grok-2-vision', 'grok-2-vision-latest'], kind: 'chat', vision: true, price: [20000, 100000] },
  { id: 'grok-3', created: 1743724800, aliases: ['grok-3-latest'], kind: 'chat', vision: false, price: [30000, 150000] },
  { id: 'grok-3-mini', created: 1743724800, aliases: ['grok-3-mini-latest'], kind: 'chat', vision: false, thinks: true, price: [3000, 5000] },
  { id: 'grok-4-0709', created: 1752019200, aliases: ['grok-4', 'grok-4-latest'], kind: 'chat', vision: true, thinks: 'hidden', price: [30000, 150000] },
];
const MODEL_BY_ID = modelTable(MODELS);

/** Built-in valid keys: `xai-` and 80 letters and digits, as the console issues them. */
export const BUILTIN_KEYS = [
  { key: `xai-standinVALIDkey${'0'.repeat(65)}`, behaviour: {}, note: 'default behaviour (awkward chunking)' },
  { key: `xai-standinWHOLEkey${'0'.repeat(65)}`, behaviour: { chunking: 'whole' }, note: 'one SSE event per write' },
];
/** Keys starting with this and holding behaviour words (lib/keys.mjs) are valid with that behaviour. */
export const BEHAVIOUR_KEY_PREFIX = 'xai-';

/** The key as xAI echoes it: its first two and last two characters around `***`. */
export function xaiMask(key) {
  return `${key.slice(0, 2)}***${key.slice(-2)}`;
}

const xaiError = (status, message, headers = {}) => new HttpError(status, { code: GRPC_TEXT[status] ?? GRPC_TEXT[500], error: message }, headers);

const FINGERPRINT = 'fp_2a885414fb';

/** Usage as xAI reports it: reasoning beside completion, both in the total, and the bill. */
function usage(promptTokens, plans, model) {
  const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
  const reasoning = plans.reduce((s, p) => s + p.thinking.length, 0);
  const [inTicks, outTicks] = model.price;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion + reasoning,
    prompt_tokens_details: { text_tokens: promptTokens, audio_tokens: 0, image_tokens: 0, cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    num_sources_used: 0,
    cost_in_usd_ticks: promptTokens * inTicks + (completion + reasoning) * outTicks,
  };
}

const wholeCall = (p) => ({ id: p.id, function: { name: p.name, arguments: p.fragments.join('') }, index: 0, type: 'function' });

/** As in the recordings: role on the first delta, no finish_reason until the end, the call whole. */
const STYLE = {
  chunk: (meta, choices, extra) => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices,
    ...extra,
    system_fingerprint: meta.fingerprint,
  }),
  choice: (index, delta, finish = null) => (finish === null ? { index, delta } : { index, delta, finish_reason: finish }),
  deltas(p) {
    const seq = p.thinkingShown ? p.thinking.map((t) => ({ reasoning_content: t })) : [];
    if (p.kind === 'tool') seq.push({ tool_calls: [wholeCall(p)] });
    else seq.push(...p.pieces.map((x) => ({ content: x })));
    if (!seq.length) seq.push({ content: '' });
    seq[0] = { ...seq[0], role: 'assistant' };
    return seq.map((delta) => ({ delta }));
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
        content: p.kind === 'tool' ? null : p.pieces.join(''),
        ...(p.thinkingShown ? { reasoning_content: p.thinking.join('') } : {}),
        ...(p.kind === 'tool' ? { tool_calls: [wholeCall(p)] } : {}),
        refusal: null,
      },
      finish_reason: p.finish,
    })),
    usage: use,
    system_fingerprint: meta.fingerprint,
  }),
};

const FLAVOUR = {
  id: 'xai',
  route: (method, path) => familyRoute(method, path),
  notFound: () => xaiError(404, 'No handler found on route. Please double check your URL and consult https://api.x.ai/docs for more information.'),
  missingKey: () => xaiError(400, 'No API key was provided. You can obtain an API key from https://console.x.ai.'),
  incorrectKey: (key) => xaiError(400, `Incorrect API key provided: ${xaiMask(key)}. You can obtain an API key from https://console.x.ai.`),
  headers: () => ({}),
  // Any origin; the requested headers are allowed (not confirmed: see README.md).
  cors: () => ({ allowOrigin: '*', allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ECHO, maxAge: 86400, exposeHeaders: [], preflightStatus: 204 }),
  rateHeaders: null,
  errorBody: (status, info) => ({ code: GRPC_TEXT[status] ?? GRPC_TEXT[400], error: info.message }),
  accountErrors: {
    quota: () => xaiError(403,
      `Your team ${TEAM} has either used all available credits or reached its monthly spending limit. ` +
        'To continue making API requests, please purchase more credits or raise your spending limit.'),
    rateLimit: () => xaiError(429, `Team ${TEAM} has exceeded its requests per second limit. Please slow down your requests.`),
    server: (n) => (n % 2 === 0
      ? xaiError(500, 'An internal error occurred while processing the request.')
      : xaiError(503, 'The service is currently unavailable. Please try again later.')),
  },
  models: MODEL_BY_ID,
  listModels: () => ({ data: MODELS.map((m) => ({ id: m.id, created: m.created, object: 'model', owned_by: 'xai' })), object: 'list' }),
  modelObject: (m) => ({ id: m.id, created: m.created, object: 'model', owned_by: 'xai' }),
  findModel(id) {
    const m = MODEL_BY_ID.get(id);
    if (!m) throw unknownModel(id);
    return { ...m, id };
  },
  resolveModel(id, kind) {
    const m = MODEL_BY_ID.get(id);
    if (!m || m.kind !== kind) throw unknownModel(id);
    return m;
  },
  // xAI's own parameters besides OpenAI's; what it does with unknown ones is not known, so
  // they are let through.
  chatParams: null,
  embeddingParams: null,
  strictMessages: false,
  openaiModelRules: false,
  streamOptionsNeedStream: null,
  style: STYLE,
  usage,
  toolCallId: () => `call_${randomId(8, '0123456789')}`,
  completionId: () => {
    const h = randomHex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  },
  fingerprint: () => FINGERPRINT,
  midStreamError: () => ({ data: JSON.stringify({ code: GRPC_TEXT[500], error: 'An internal error occurred while generating the response.' }) }),
};

function unknownModel(id) {
  return xaiError(404,
    `The model ${id} does not exist or your team ${TEAM} does not have access to it. Please ensure you're using the correct ` +
      'API key. If you believe this is a mistake, please contact support and quote your team ID and the model name.');
}

export default {
  id: 'xai',
  prefix: PREFIX,
  cors: FLAVOUR.cors(),
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('xai', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('xai', BEHAVIOUR_KEY_PREFIX);
  },
  preflight: makePreflight(FLAVOUR),
  handle: makeHandler(FLAVOUR),
};
