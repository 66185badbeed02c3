// Vertex AI's Gemini models, as {region}-aiplatform.googleapis.com answers:
// https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}
//   ≙ http://127.0.0.1:N/vertex/v1/projects/{project}/locations/{region}
//
// Routes (below that base): POST /publishers/google/models/{id}:generateContent,
// :streamGenerateContent (?alt=sse), :countTokens, :predict (embeddings). The bodies are the
// Gemini API's (providers/google.mjs does the work); what differs is here: OAuth bearer tokens
// (`ya29.…`, an hour's life: a token holding "expired" gets Vertex's ACCESS_TOKEN_EXPIRED 401),
// publisher-model paths under a project and a region, Vertex's own wording of 404/429, billing
// refused as 403 BILLING_DISABLED, and `predict` embeddings that report token counts.

import { makeGeminiHandler, googleError, CORS_POLICY as GOOGLE_CORS, fieldError, normalize } from './google.mjs';
import { hashVector, estimateTokens } from '../lib/text.mjs';


const PREFIX = '/vertex';

export const BUILTIN_TOKENS = [
  { key: 'ya29.a0Standin-VALID-token_000000000000000000000000000000000000', behaviour: {}, note: 'default behaviour (awkward chunking)' },
  { key: 'ya29.a0Standin-WHOLE-token_000000000000000000000000000000000000', behaviour: { chunking: 'whole' }, note: 'one SSE event per write' },
];
/** Tokens starting with this take behaviour words; one holding `expired` has expired. */
export const BEHAVIOUR_TOKEN_PREFIX = 'ya29.';

/** Vertex answers browsers like the rest of Google's APIs. */
export const CORS_POLICY = { ...GOOGLE_CORS };

/** Vertex's Gemini models (the catalog's, for the tests); `gemini-2.5-flash` is byok's probe. */
export const MODELS = [
  { id: 'gemini-1.5-pro', kind: 'chat', output: 8192 },
  { id: 'gemini-1.5-flash', kind: 'chat', output: 8192 },
  { id: 'gemini-2.0-flash', kind: 'chat', output: 8192, version: 'gemini-2.0-flash-001' },
  { id: 'gemini-2.5-flash', kind: 'chat', output: 65535, thinking: true },
  { id: 'gemini-2.5-pro', kind: 'chat', output: 65535, thinking: true },
  { id: 'gemini-3.1-pro-preview', kind: 'chat', output: 65536, thinking: true, signatures: true },
  { id: 'text-embedding-004', kind: 'embedding', dims: 768 },
  { id: 'gemini-embedding-001', kind: 'embedding', dims: 3072 },
];
const MODEL_BY_ID = new Map(MODELS.map((m) => [m.id, m]));
const DEFAULT_EMBEDDING_DIMS = 8;

const AUTH_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid ' +
  'authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function errorInfo(reason, method) {
  return {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason,
    domain: 'googleapis.com',
    metadata: { method: `google.cloud.aiplatform.v1.PredictionService.${method}`, service: 'aiplatform.googleapis.com' },
  };
}

export const TOKEN_EXPIRED = (method = 'GenerateContent') =>
  googleError(401, 'UNAUTHENTICATED', AUTH_MESSAGE, [errorInfo('ACCESS_TOKEN_EXPIRED', method)]);
const INVALID_TOKEN = () => googleError(401, 'UNAUTHENTICATED', AUTH_MESSAGE);
const NO_TOKEN = (method = 'GenerateContent') => googleError(401, 'UNAUTHENTICATED',
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid ' +
    'authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  [errorInfo('CREDENTIALS_MISSING', method)]);

const METHOD_NAMES = {
  generateContent: 'GenerateContent',
  streamGenerateContent: 'StreamGenerateContent',
  countTokens: 'CountTokens',
  predict: 'Predict',
};

function route(method, path) {
  const m = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (!m || method !== 'POST') return null;
  const [, version, project, location, rawModel, verb] = m;
  const names = { generateContent: 'generate', streamGenerateContent: 'stream', countTokens: 'countTokens', predict: 'predict' };
  if (!names[verb]) return null;
  return { name: names[verb], model: decodeURIComponent(rawModel), version, project, location, method: verb };
}

function makeAuthenticate() {
  return (req, url, keys, seen) => {
    const r = route(req.method, url.pathname.slice(PREFIX.length));
    const method = METHOD_NAMES[r?.method] ?? 'GenerateContent';
    const value = req.headers.authorization;
    const m = typeof value === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
    if (!m) throw NO_TOKEN(method);
    const token = m[1];
    seen(token);
    if (token.startsWith(BEHAVIOUR_TOKEN_PREFIX) && token.includes('expired')) throw TOKEN_EXPIRED(method);
    const found = keys.lookup('vertex', token);
    if (!found.known) throw INVALID_TOKEN();
    return { key: token, ...found };
  };
}

/** `predict` with text-embedding instances: vectors and per-instance token counts. */
function predict(body, model) {
  const req = 'PredictRequest';
  const b = normalize(body, ['instances', 'parameters'], '');
  if (!Array.isArray(b.instances) || b.instances.length === 0) throw fieldError(req, 'instances', 'instances is not specified');
  if (b.instances.length > 250) throw fieldError(req, 'instances', 'at most 250 instances are allowed per request');
  const params = b.parameters ?? {};
  const dims = params.outputDimensionality ?? DEFAULT_EMBEDDING_DIMS;
  let chars = 0;
  const predictions = b.instances.map((inst, i) => {
    if (inst === null || typeof inst !== 'object' || typeof inst.content !== 'string') {
      throw fieldError(req, `instances[${i}].content`, 'content is not specified');
    }
    chars += inst.content.length;
    return {
      embeddings: {
        statistics: { truncated: false, token_count: estimateTokens(inst.content) },
        values: hashVector(`${model.id}\n${inst.content}`, dims),
      },
    };
  });
  return { predictions, metadata: { billableCharacterCount: chars } };
}

const FLAVOUR = {
  id: 'vertex',
  vertex: true,
  cors: CORS_POLICY,
  route,
  authenticate: makeAuthenticate(),
  models: MODEL_BY_ID,
  listModels: () => ({}),
  modelObject: (m) => ({ name: `publishers/google/models/${m.id}` }),
  predict,
  errors: {
    revoked: INVALID_TOKEN,
    quota: () => googleError(403, 'PERMISSION_DENIED',
      'This API method requires billing to be enabled. Please enable billing on project #123456789012 by visiting ' +
        'https://console.developers.google.com/billing/enable?project=123456789012 then retry. If you enabled billing for this ' +
        'project recently, wait a few minutes for the action to propagate to our systems and retry.',
      [{
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'BILLING_DISABLED',
        domain: 'googleapis.com',
        metadata: { consumer: 'projects/123456789012', service: 'aiplatform.googleapis.com' },
      }]),
    rateLimited: () => googleError(429, 'RESOURCE_EXHAUSTED',
      'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.'),
    unknownModel: (r) => googleError(404, 'NOT_FOUND',
      `Publisher Model \`projects/${r.project}/locations/${r.location}/publishers/google/models/${r.model}\` was not found ` +
        'or your project does not have access to it. Please ensure you are using a valid model version. For more information, ' +
        'see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions'),
  },
};

const handleGemini = makeGeminiHandler(FLAVOUR);

export default {
  id: 'vertex',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const t of BUILTIN_TOKENS) keys.addBuiltin('vertex', t.key, t.behaviour, t.note);
    keys.setBehaviourPrefix('vertex', BEHAVIOUR_TOKEN_PREFIX);
  },
  async handle(ctx) {
    const r = route(ctx.req.method, ctx.path);
    if (r) ctx.entry.vertex = { project: r.project, location: r.location, model: r.model };
    return handleGemini(ctx);
  },
};
