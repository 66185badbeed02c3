// The Gemini API, as generativelanguage.googleapis.com answers:
// https://generativelanguage.googleapis.com/v1beta ≙ http://127.0.0.1:N/google/v1beta
//
// Routes: GET /v1beta/models (paged), GET /v1beta/models/{id}, POST /v1beta/models/{id}:generateContent,
// :streamGenerateContent (?alt=sse: CRLF-framed events, no terminator; without it, one JSON
// array), :countTokens, :embedContent, :batchEmbedContents. The same for /v1.
//
// The generateContent logic (request checks in Google's words, the deterministic answer, the
// chunks) is shared with Vertex AI (providers/vertex.mjs) through makeGeminiHandler(): both speak
// the same body. Error bodies are `{"error":{"code","message","status","details"}}`, as Google
// sends them; the recorded streams in shared/fixtures/google-* are what the chunks imitate.
// Where the real wording is not known, README.md says so.

import { readBody, sendJson, sleep, randomId, prettyJson, MAX_BODY_BYTES } from '../lib/http.mjs';
import { HttpError, sendError } from '../lib/errors.mjs';
import { responseCorsHeaders } from '../lib/cors.mjs';
import { writeSse } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS, maskKey } from '../lib/keys.mjs';
import { splitPieces, estimateTokens, hashVector, exampleFromSchema } from '../lib/text.mjs';
import { ANSWER_PREFIX } from './openai.mjs';

const PREFIX = '/google';

/** Gemini API keys: `AIza` and 35 more characters of `[A-Za-z0-9_-]`. */
export const KEY_SHAPE = /^AIza[A-Za-z0-9_-]{35}$/;

/** A well-shaped Gemini key holding `words` (behaviour words, a tag), padded with `X`. */
export function geminiKey(words = '') {
  const body = `AIzaSy${words}`;
  if (body.length > 39) throw new Error(`a Gemini key holds 39 characters; "${words}" is too long`);
  return body + 'X'.repeat(39 - body.length);
}

export const BUILTIN_KEYS = [
  { key: geminiKey('StandinVALIDkey'), behaviour: {}, note: 'default behaviour (awkward chunking)' },
  { key: geminiKey('StandinWHOLEkey'), behaviour: { chunking: 'whole' }, note: 'one SSE event per write' },
  { key: geminiKey('StandinBYTEWISEkey'), behaviour: { chunking: 'bytewise' }, note: 'one byte per write' },
];
/** Keys starting with this and of the Gemini shape take behaviour words (quota, ratelimit, …). */
export const BEHAVIOUR_KEY_PREFIX = 'AIza';

/**
 * CORS as Google's API front end answers browsers: any origin, a fixed list of four request
 * headers (an extra one fails the preflight), no exposed response headers.
 */
export const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['DELETE', 'GET', 'OPTIONS', 'PATCH', 'POST', 'PUT'],
  allowHeaders: ['content-type', 'x-goog-api-key', 'x-goog-api-client', 'authorization'],
  maxAge: 3600,
  exposeHeaders: [],
  preflightStatus: 200,
};

/**
 * The models. `thinking` models report thoughtsTokenCount; `signatures` models (Gemini 3) send
 * thought signatures and refuse replayed function calls without one.
 */
export const MODELS = [
  { id: 'gemini-1.5-pro', kind: 'chat', display: 'Gemini 1.5 Pro', input: 2000000, output: 8192 },
  { id: 'gemini-1.5-flash', kind: 'chat', display: 'Gemini 1.5 Flash', input: 1000000, output: 8192 },
  { id: 'gemini-2.0-flash', kind: 'chat', display: 'Gemini 2.0 Flash', input: 1048576, output: 8192 },
  { id: 'gemini-2.5-flash', kind: 'chat', display: 'Gemini 2.5 Flash', input: 1048576, output: 65536, thinking: true },
  { id: 'gemini-2.5-pro', kind: 'chat', display: 'Gemini 2.5 Pro', input: 1048576, output: 65536, thinking: true },
  { id: 'gemini-3-pro-preview', kind: 'chat', display: 'Gemini 3 Pro Preview', input: 1048576, output: 65536, thinking: true, signatures: true },
  { id: 'text-embedding-004', kind: 'embedding', display: 'Text Embedding 004', input: 2048, output: 1, dims: 768 },
  { id: 'gemini-embedding-001', kind: 'embedding', display: 'Gemini Embedding 001', input: 2048, output: 1, dims: 3072 },
  { id: 'aqa', kind: 'aqa', display: 'Model that performs Attributed Question Answering.', input: 7168, output: 1024 },
  { id: 'imagen-3.0-generate-002', kind: 'image', display: 'Imagen 3.0', input: 480, output: 8192 },
];
const MODEL_BY_ID = new Map(MODELS.map((m) => [m.id, m]));
const METHODS = {
  chat: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
  embedding: ['embedContent', 'countTextTokens', 'countTokens', 'asyncBatchEmbedContent'],
  aqa: ['generateAnswer'],
  image: ['predict'],
};

/** Tokens a thinking model spends thinking on every answer (reported, never shown). */
export const THOUGHT_TOKENS = 24;
/** Tokens an image costs in a prompt (Gemini's fixed count per image). */
export const IMAGE_TOKENS = 258;
/** Embedding length when `outputDimensionality` is not given (the real models give 768/3072). */
export const DEFAULT_EMBEDDING_DIMS = 8;
/** The thought signature the stand-in's Gemini 3 answers carry. */
export const STANDIN_SIGNATURE = 'c3RhbmRpbi10aG91Z2h0LXNpZ25hdHVyZQ==';
/** Signatures Google documents as accepted in place of a real one. */
const SENTINEL_SIGNATURES = ['skip_thought_signature_validator', 'context_engineering_is_the_way_to_go'];
/** Word pieces per streamed chunk (Gemini streams several words at a time). */
const PIECES_PER_CHUNK = 2;

// ---------------------------------------------------------------------------------------------
// Errors in Google's shape

/** `{"error":{"code","message","status","details"?}}`, as every Google API sends it. */
export function googleErrorBody(code, status, message, details = null) {
  const error = { code, message, status };
  if (details) error.details = details;
  return { error };
}

export function googleError(code, status, message, details = null, headers = {}) {
  return new HttpError(code, googleErrorBody(code, status, message, details), headers);
}

const invalid = (message, details = null) => googleError(400, 'INVALID_ARGUMENT', message, details);
/** A field-level 400 as Google words them: `* GenerateContentRequest.<path>: <what>\n`. */
const fieldError = (request, path, what) => invalid(`* ${request}.${path}: ${what}\n`);
const unknownName = (name, at) => invalid(
  `Invalid JSON payload received. Unknown name "${name}"${at ? ` at '${at}'` : ''}: Cannot find field.`,
  [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: at || undefined, description: `Invalid JSON payload received. Unknown name "${name}"${at ? ` at '${at}'` : ''}: Cannot find field.` }] }],
);

export const API_KEY_INVALID = () => googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
  {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: 'API_KEY_INVALID',
    domain: 'googleapis.com',
    metadata: { service: 'generativelanguage.googleapis.com' },
  },
  {
    '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
    locale: 'en-US',
    message: 'API key not valid. Please pass a valid API key.',
  },
]);

const NO_KEY = () => googleError(403, 'PERMISSION_DENIED',
  "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");

const HELP = {
  '@type': 'type.googleapis.com/google.rpc.Help',
  links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
};

/** 429 for a per-minute limit, with the wait in RetryInfo (Google sends no Retry-After header). */
function rateLimited(model, seconds) {
  return googleError(429, 'RESOURCE_EXHAUSTED',
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, ' +
      'head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n' +
      `* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 15, model: ${model}\n` +
      `Please retry in ${seconds}s.`,
    [
      HELP,
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [{
          quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
          quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
          quotaDimensions: { location: 'global', model },
          quotaValue: '15',
        }],
      },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${seconds}s` },
    ]);
}

/** 429 for a model the key's tier does not offer at all: `limit: 0`, no wait will help. */
function zeroQuota(model) {
  return googleError(429, 'RESOURCE_EXHAUSTED',
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, ' +
      'head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n' +
      `* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: ${model}\n` +
      'Please retry in 45.578569677s.',
    [
      HELP,
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [{
          quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
          quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier',
          quotaDimensions: { location: 'global', model },
          quotaValue: '0',
        }],
      },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '45s' },
    ]);
}

const INTERNAL = () => googleError(500, 'INTERNAL',
  'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
const OVERLOADED = () => googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.');

/** Google's front-end 404 page for a path no API serves. */
function notFoundPage(path) {
  return '<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n' +
    '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n' +
    '  <title>Error 404 (Not Found)!!1</title>\n' +
    '  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n' +
    `  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${path.replace(/[<>&"]/g, '')}</code> ` +
    'was not found on this server.  <ins>That’s all we know.</ins>\n';
}

// ---------------------------------------------------------------------------------------------
// Request checks (the generateContent body, shared with Vertex)

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/**
 * Google's JSON mapping takes camelCase and snake_case names alike: returns a copy of `obj`
 * with camelCase keys, refusing names not in `allowed` (camelCase) with Google's message.
 */
function normalize(obj, allowed, at) {
  if (!isObject(obj)) throw invalid(`Invalid value at '${at}' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(obj)}`);
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    const name = camel(k);
    if (!allowed.includes(name)) throw unknownName(k, at);
    out[name] = v;
  }
  return out;
}

const TOP_FIELDS = ['contents', 'systemInstruction', 'generationConfig', 'tools', 'toolConfig', 'safetySettings', 'cachedContent', 'model'];
const VERTEX_TOP_FIELDS = [...TOP_FIELDS, 'labels'];
const CONTENT_FIELDS = ['role', 'parts'];
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];
const PART_FIELDS = [...PART_DATA, 'thought', 'thoughtSignature', 'videoMetadata', 'mediaResolution', 'partMetadata'];
const GENERATION_FIELDS = [
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'presencePenalty',
  'frequencyPenalty', 'seed', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'responseModalities',
  'thinkingConfig', 'responseLogprobs', 'logprobs', 'mediaResolution', 'speechConfig', 'audioTimestamp',
  'enableEnhancedCivicAnswers',
];
const TOOL_FIELDS = ['functionDeclarations', 'googleSearch', 'googleSearchRetrieval', 'codeExecution', 'urlContext', 'retrieval'];
const DECLARATION_FIELDS = ['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema', 'behavior'];
/** The keywords of Gemini's `Schema`: anything else (additionalProperties, $schema, oneOf…) is refused. */
const SCHEMA_FIELDS = [
  'type', 'format', 'title', 'description', 'nullable', 'enum', 'maxItems', 'minItems', 'properties', 'required',
  'minProperties', 'maxProperties', 'minLength', 'maxLength', 'pattern', 'example', 'anyOf', 'propertyOrdering',
  'default', 'items', 'minimum', 'maximum',
];
const SCHEMA_TYPES = ['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL', 'TYPE_UNSPECIFIED'];
const STRING_FORMATS = ['enum', 'date-time'];
const MODES = ['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED'];
const FUNCTION_NAME = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;

function checkSchema(schema, at, req) {
  if (!isObject(schema)) throw invalid(`Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema), ${JSON.stringify(schema)}`);
  const s = normalize(schema, SCHEMA_FIELDS, at);
  let type = null;
  if (s.type !== undefined) {
    type = String(s.type).toUpperCase();
    if (!SCHEMA_TYPES.includes(type)) {
      throw invalid(`Invalid value at '${at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(s.type)}`);
    }
  }
  const path = at.replace(/^.*?function_declarations/, 'tools[0].function_declarations');
  if (type === 'OBJECT' && (!isObject(s.properties) || Object.keys(s.properties).length === 0)) {
    throw fieldError(req, `${path}.properties`, 'should be non-empty for OBJECT type');
  }
  if (s.format !== undefined && type === 'STRING' && !STRING_FORMATS.includes(s.format)) {
    throw fieldError(req, `${path}.format`, "only 'enum' and 'date-time' are supported for STRING type");
  }
  if (isObject(s.properties)) {
    for (const [name, sub] of Object.entries(s.properties)) checkSchema(sub, `${at}.properties[${name}]`, req);
  }
  if (s.items !== undefined) checkSchema(s.items, `${at}.items`, req);
  if (Array.isArray(s.anyOf)) s.anyOf.forEach((sub, i) => checkSchema(sub, `${at}.any_of[${i}]`, req));
  return s;
}

/** Lower-cases Gemini schema types so lib/text.mjs's exampleFromSchema reads them. */
function jsonSchemaOf(schema) {
  if (!isObject(schema)) return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    const name = camel(k);
    if (name === 'type' && typeof v === 'string') out.type = v.toLowerCase();
    else if (name === 'properties' && isObject(v)) out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, jsonSchemaOf(s)]));
    else if (name === 'items') out.items = jsonSchemaOf(v);
    else if (name === 'anyOf' && Array.isArray(v)) out.anyOf = v.map(jsonSchemaOf);
    else out[name] = v;
  }
  return out;
}

function checkNumber(value, at, req, { min = null, max = null, integer = false } = {}) {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw invalid(`Invalid value at '${at}' (${integer ? 'TYPE_INT32' : 'TYPE_FLOAT'}), ${JSON.stringify(value)}`);
  }
  if ((min !== null && value < min) || (max !== null && value > max)) {
    throw fieldError(req, at, `must be between ${min} and ${max}, got ${value}`);
  }
}

/** Text of a content's parts and its counts, for the answer and the token estimate. */
function describeParts(parts) {
  const texts = [];
  let images = 0;
  let other = 0;
  const responses = [];
  for (const p of parts) {
    if (typeof p.text === 'string') texts.push(p.text);
    else if (p.inlineData || p.fileData) images++;
    else if (p.functionResponse) responses.push(p.functionResponse);
    else if (p.functionCall) other += estimateTokens(JSON.stringify(p.functionCall));
  }
  return { text: texts.join(' '), images, responses, other };
}

/**
 * Checks a generateContent body the way the real endpoint does (the checks and their order
 * are the stand-in's; the messages are Google's). Returns the normalized request.
 */
export function checkGenerate(body, model, { vertex = false } = {}) {
  const req = 'GenerateContentRequest';
  const b = normalize(body, vertex ? VERTEX_TOP_FIELDS : TOP_FIELDS, '');
  if (!Array.isArray(b.contents) || b.contents.length === 0) throw fieldError(req, 'contents', 'contents is not specified');
  const contents = b.contents.map((c, i) => {
    const at = `contents[${i}]`;
    if (!isObject(c)) throw invalid(`Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), ${JSON.stringify(c)}`);
    const content = normalize(c, CONTENT_FIELDS, at);
    if (content.role !== undefined && !['user', 'model'].includes(content.role)) throw invalid('Please use a valid role: user, model.');
    if (!Array.isArray(content.parts) || content.parts.length === 0) throw fieldError(req, `${at}.parts`, 'contents.parts must not be empty.');
    content.parts = content.parts.map((p, j) => checkPart(p, `${at}.parts[${j}]`, req, content.role ?? 'user', { vertex }));
    return content;
  });
  if (model.signatures) {
    contents.forEach((c, i) => {
      if (c.role !== 'model') return;
      const k = c.parts.findIndex((p) => p.functionCall);
      if (k < 0) return;
      const sig = c.parts[k].thoughtSignature;
      if (typeof sig !== 'string' || sig === '') {
        throw invalid(
          'Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, ' +
            'and missing thought_signature may lead to degraded model performance. Additional data, function call ' +
            `\`default_api:${c.parts[k].functionCall.name}\` , position ${i + 1}. Please refer to ` +
            'https://ai.google.dev/gemini-api/docs/thought-signatures for more details.');
      }
      if (!SENTINEL_SIGNATURES.includes(sig) && sig !== STANDIN_SIGNATURE) throw invalid('Corrupted thought signature.');
    });
  }
  let system = null;
  if (b.systemInstruction !== undefined && b.systemInstruction !== null) {
    const s = normalize(b.systemInstruction, CONTENT_FIELDS, 'system_instruction');
    if (!Array.isArray(s.parts)) throw fieldError(req, 'system_instruction.parts', 'contents.parts must not be empty.');
    system = s.parts.map((p, j) => checkPart(p, `system_instruction.parts[${j}]`, req, 'user', { vertex }));
  }
  const g = isObject(b.generationConfig) ? normalize(b.generationConfig, GENERATION_FIELDS, 'generation_config') : {};
  checkNumber(g.temperature, 'generation_config.temperature', req, { min: 0, max: 2 });
  checkNumber(g.topP, 'generation_config.top_p', req, { min: 0, max: 1 });
  checkNumber(g.maxOutputTokens, 'generation_config.max_output_tokens', req, { min: 1, max: model.output, integer: true });
  if (g.stopSequences !== undefined) {
    if (!Array.isArray(g.stopSequences) || !g.stopSequences.every((s) => typeof s === 'string')) {
      throw invalid(`Invalid value at 'generation_config.stop_sequences' (TYPE_STRING), ${JSON.stringify(g.stopSequences)}`);
    }
    if (g.stopSequences.length > 5) throw fieldError(req, 'generation_config.stop_sequences', 'at most 5 stop sequences are allowed');
  }
  const declarations = [];
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) throw invalid(`Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), ${JSON.stringify(b.tools)}`);
    b.tools.forEach((t, i) => {
      const tool = normalize(t, TOOL_FIELDS, `tools[${i}]`);
      (tool.functionDeclarations ?? []).forEach((d, k) => {
        const at = `tools[${i}].function_declarations[${k}]`;
        const decl = normalize(d, DECLARATION_FIELDS, at);
        if (typeof decl.name !== 'string' || !FUNCTION_NAME.test(decl.name)) {
          throw fieldError(req, `${at}.name`,
            'Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.');
        }
        if (decl.parameters !== undefined && decl.parameters !== null) checkSchema(decl.parameters, `${at}.parameters`, req);
        declarations.push(decl);
      });
    });
  }
  let mode = 'AUTO';
  let allowed = [];
  if (isObject(b.toolConfig)) {
    const tc = normalize(b.toolConfig, ['functionCallingConfig', 'retrievalConfig'], 'tool_config');
    if (isObject(tc.functionCallingConfig)) {
      const fc = normalize(tc.functionCallingConfig, ['mode', 'allowedFunctionNames', 'streamFunctionCallArguments'], 'tool_config.function_calling_config');
      if (fc.mode !== undefined) {
        if (!MODES.includes(fc.mode)) {
          throw invalid(`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), ${JSON.stringify(fc.mode)}`);
        }
        mode = fc.mode === 'MODE_UNSPECIFIED' ? 'AUTO' : fc.mode;
      }
      allowed = Array.isArray(fc.allowedFunctionNames) ? fc.allowedFunctionNames : [];
      if (allowed.length && mode !== 'ANY') {
        throw fieldError(req, 'tool_config.function_calling_config.allowed_function_names', 'allowed_function_names may only be set when mode is ANY.');
      }
      for (const name of allowed) {
        if (!declarations.some((d) => d.name === name)) {
          throw fieldError(req, 'tool_config.function_calling_config.allowed_function_names', `function ${name} is not declared.`);
        }
      }
    }
  }
  return { contents, system, generation: g, declarations, mode, allowed };
}

function checkPart(p, at, req, role, { vertex }) {
  if (!isObject(p)) throw invalid(`Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), ${JSON.stringify(p)}`);
  const part = normalize(p, PART_FIELDS, at);
  const set = PART_DATA.filter((k) => part[k] !== undefined && part[k] !== null && !(k === 'text' && part[k] === ''));
  if (set.length === 0) throw fieldError(req, `${at}.data`, "required oneof field 'data' must have one initialized field");
  if (set.length > 1) throw invalid(`Invalid value at '${at}' (oneof), oneof field 'data' is already set. Cannot set '${set[1]}'`);
  if (part.text !== undefined && typeof part.text !== 'string') throw invalid(`Invalid value at '${at}.text' (TYPE_STRING), ${JSON.stringify(part.text)}`);
  if (part.inlineData !== undefined) {
    const d = normalize(part.inlineData, ['mimeType', 'data', 'displayName'], `${at}.inline_data`);
    if (typeof d.mimeType !== 'string' || d.mimeType === '') throw fieldError(req, `${at}.inline_data.mime_type`, 'mime_type is not specified.');
    if (typeof d.data !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(d.data)) {
      throw invalid(`Invalid value at '${at}.inline_data.data' (TYPE_BYTES), Base64 decoding failed for "${String(d.data).slice(0, 20)}"`);
    }
    part.inlineData = d;
  }
  if (part.fileData !== undefined) {
    const f = normalize(part.fileData, ['mimeType', 'fileUri', 'displayName'], `${at}.file_data`);
    const uri = String(f.fileUri ?? '');
    const ok = vertex ? /^(https?|gs):\/\//.test(uri) : /^https?:\/\//.test(uri);
    if (!ok) throw invalid(`Invalid or unsupported file uri: ${uri}`);
    if (vertex && !f.mimeType) throw invalid(`Unable to submit request because it has an empty mimeType parameter in fileData. Add a value to the parameter and try again.`);
    part.fileData = f;
  }
  if (part.functionCall !== undefined) {
    const fc = normalize(part.functionCall, ['id', 'name', 'args'], `${at}.function_call`);
    if (typeof fc.name !== 'string' || fc.name === '') throw fieldError(req, `${at}.function_call.name`, 'Name cannot be empty.');
    if (fc.args !== undefined && !isObject(fc.args)) throw invalid(`Invalid value at '${at}.function_call.args' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(fc.args)}`);
    if (role !== 'model') throw invalid('Please ensure that function call turn comes immediately after a user turn or after a function response turn.');
    part.functionCall = fc;
  }
  if (part.functionResponse !== undefined) {
    const fr = normalize(part.functionResponse, ['id', 'name', 'response', 'willContinue', 'scheduling', 'parts'], `${at}.function_response`);
    if (typeof fr.name !== 'string' || fr.name === '') throw fieldError(req, `${at}.function_response.name`, 'Name cannot be empty.');
    if (!isObject(fr.response)) throw invalid(`Invalid value at '${at}.function_response.response' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(fr.response)}`);
    part.functionResponse = fr;
  }
  return part;
}

// ---------------------------------------------------------------------------------------------
// The answer

function promptTokens(checked) {
  let tokens = 0;
  const add = (parts) => {
    const d = describeParts(parts);
    tokens += estimateTokens(d.text) + d.images * IMAGE_TOKENS + d.other +
      d.responses.reduce((s, r) => s + estimateTokens(JSON.stringify(r)), 0);
  };
  for (const c of checked.contents) add(c.parts);
  if (checked.system) add(checked.system);
  if (checked.declarations.length) tokens += estimateTokens(JSON.stringify(checked.declarations));
  return Math.max(tokens, 1);
}

/**
 * What to answer: a function call (tools declared and mode ANY, or AUTO unless the last turn
 * is a function response), else the deterministic text.
 */
function decide(checked, behaviour) {
  const last = checked.contents.at(-1);
  const d = describeParts(last.parts);
  const afterTool = d.responses.length > 0;
  const useTool = checked.declarations.length > 0 && checked.mode !== 'NONE' && (checked.mode === 'ANY' || !afterTool);
  if (useTool) {
    const name = checked.allowed[0] ?? checked.declarations[0].name;
    const decl = checked.declarations.find((x) => x.name === name);
    const args = exampleFromSchema(jsonSchemaOf(decl.parameters ?? { type: 'object', properties: {} }), 'value') ?? {};
    return { kind: 'call', name, args };
  }
  let text;
  if (behaviour.reply !== null) text = behaviour.reply;
  else if (afterTool) text = `${ANSWER_PREFIX} The tool said: ${d.responses.map((r) => JSON.stringify(r.response)).join(' ')}`;
  else text = `${ANSWER_PREFIX} You said: ${d.text}${d.images ? ` [${d.images} image(s)]` : ''}`;
  return { kind: 'text', text };
}

/** The whole answer: parts per chunk, finish reason, usage per chunk (cumulative). */
function plan(checked, model, behaviour, { vertex = false } = {}) {
  const decision = decide(checked, behaviour);
  const prompt = promptTokens(checked);
  const thoughts = model.thinking ? THOUGHT_TOKENS : 0;
  const chunks = [];
  let finish = 'STOP';
  if (decision.kind === 'call') {
    const part = { functionCall: { name: decision.name, args: decision.args } };
    if (model.signatures) part.thoughtSignature = STANDIN_SIGNATURE;
    chunks.push({ parts: [part], tokens: estimateTokens(JSON.stringify(decision.args)) });
    chunks.push({ parts: [{ text: '' }], tokens: 0 });
  } else {
    let text = decision.text;
    for (const stop of checked.generation.stopSequences ?? []) {
      const at = stop === '' ? -1 : text.indexOf(stop);
      if (at >= 0) text = text.slice(0, at);
    }
    let pieces = splitPieces(text);
    const max = checked.generation.maxOutputTokens;
    if (Number.isInteger(max) && pieces.length > max) {
      pieces = pieces.slice(0, max);
      finish = 'MAX_TOKENS';
    }
    for (let i = 0; i < pieces.length; i += PIECES_PER_CHUNK) {
      const group = pieces.slice(i, i + PIECES_PER_CHUNK);
      chunks.push({ parts: [{ text: group.join('') }], tokens: group.length });
    }
    if (chunks.length === 0) chunks.push({ parts: [{ text: '' }], tokens: 0 });
  }
  let candidates = 0;
  const usageAt = chunks.map((c) => {
    candidates += c.tokens;
    const usage = {
      promptTokenCount: prompt,
      candidatesTokenCount: candidates,
      totalTokenCount: prompt + candidates + thoughts,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    };
    if (thoughts) usage.thoughtsTokenCount = thoughts;
    if (vertex) {
      usage.trafficType = 'ON_DEMAND';
      usage.candidatesTokensDetails = [{ modality: 'TEXT', tokenCount: candidates }];
    }
    return usage;
  });
  return { chunks, finish, usageAt, kind: decision.kind };
}

function responseMeta(model, vertex) {
  const meta = { modelVersion: model.version ?? model.id, responseId: randomId(22) };
  if (vertex) meta.createTime = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return meta;
}

function streamObjects(p, model, vertex) {
  const meta = responseMeta(model, vertex);
  return p.chunks.map((c, i) => {
    const last = i === p.chunks.length - 1;
    const candidate = { content: { parts: c.parts, role: 'model' } };
    if (last) candidate.finishReason = p.finish;
    candidate.index = 0;
    return { candidates: [candidate], usageMetadata: p.usageAt[i], ...meta };
  });
}

function wholeObject(p, model, vertex) {
  const parts = [];
  for (const c of p.chunks) {
    for (const part of c.parts) {
      if (typeof part.text === 'string' && parts.length && typeof parts.at(-1).text === 'string') parts.at(-1).text += part.text;
      else if (!(part.text === '' && parts.length)) parts.push({ ...part });
    }
  }
  const candidate = { content: { parts, role: 'model' }, finishReason: p.finish, index: 0 };
  if (p.kind === 'call') candidate.finishMessage = 'Model generated function call(s).';
  return { candidates: [candidate], usageMetadata: p.usageAt.at(-1), ...responseMeta(model, vertex) };
}

/** The bare JSON Google writes into a 200 stream when generation fails half-way. */
function midStreamError() {
  return { data: prettyJson(googleErrorBody(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.')), raw: true };
}

// ---------------------------------------------------------------------------------------------
// Embeddings and token counts

function embeddingVector(model, text, dims) {
  return hashVector(`${model.id}\n${text}`, dims);
}

function textOfContent(content, at, req) {
  if (!isObject(content) || !Array.isArray(content.parts) || content.parts.length === 0) {
    throw fieldError(req, `${at}.content.parts`, 'contents.parts must not be empty.');
  }
  return content.parts.map((p) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
}

function batchEmbed(body, model) {
  const req = 'BatchEmbedContentsRequest';
  const b = normalize(body, ['requests'], '');
  if (!Array.isArray(b.requests) || b.requests.length === 0) throw fieldError(req, 'requests', 'requests is not specified');
  if (b.requests.length > 100) throw fieldError(req, 'requests', 'at most 100 requests can be in one batch');
  const embeddings = b.requests.map((r, i) => {
    const at = `requests[${i}]`;
    const one = normalize(r, ['model', 'content', 'taskType', 'title', 'outputDimensionality'], at);
    if (one.model !== `models/${model.id}`) {
      throw fieldError(req, `${at}.model`, `Model name in request (${one.model ?? ''}) must match the model in the URL (models/${model.id}).`);
    }
    const dims = one.outputDimensionality ?? DEFAULT_EMBEDDING_DIMS;
    if (!Number.isInteger(dims) || dims < 1 || dims > model.dims) throw fieldError(req, `${at}.output_dimensionality`, `must be between 1 and ${model.dims}`);
    return { values: embeddingVector(model, textOfContent(one.content, at, req), dims) };
  });
  return { embeddings };
}

function embedOne(body, model) {
  const one = normalize(body, ['model', 'content', 'taskType', 'title', 'outputDimensionality'], '');
  const dims = one.outputDimensionality ?? DEFAULT_EMBEDDING_DIMS;
  return { embedding: { values: embeddingVector(model, textOfContent(one.content, '', 'EmbedContentRequest'), dims) } };
}

// ---------------------------------------------------------------------------------------------
// Shared handler (Gemini API and Vertex AI)

/** Google's answer headers (`server`, `vary`, the security headers) and CORS. */
function googleHeaders(policy, behaviour, started, extra = {}) {
  return {
    vary: 'Origin, X-Origin, Referer',
    server: 'scaffolding on HTTPServer2',
    'x-xss-protection': '0',
    'x-frame-options': 'SAMEORIGIN',
    'x-content-type-options': 'nosniff',
    'server-timing': `gfet4t7; dur=${Date.now() - started}`,
    ...responseCorsHeaders(policy, behaviour.exposeHeaders),
    ...extra,
  };
}

/**
 * A provider handler speaking generateContent. `flavour` gives what differs between the Gemini
 * API and Vertex AI: { id, vertex, cors, route(method, path), authenticate(req, url, keys, seen)
 * → { key, behaviour, state } or throws (calling seen(key) once it has one), models, listModels(url),
 * modelObject(m), predict(body, model), errors: { revoked, quota(model), rateLimited(model, s),
 * unknownModel(route) } }.
 */
export function makeGeminiHandler(flavour) {
  return async function handle({ req, res, url, path, entry, keys, log }) {
    const started = Date.now();
    let behaviour = BEHAVIOUR_DEFAULTS;
    const headers = (extra = {}) => googleHeaders(flavour.cors, behaviour, started, extra);
    const fail = (err, extra = {}) => {
      entry.status = err.status;
      sendError(res, err, headers({ 'content-type': 'application/json; charset=UTF-8', ...extra }));
    };

    // A key in the URL works, as on the real API, but never reaches the log in clear; the log
    // says it came that way (byok must never send one).
    entry.keyInUrl = url.searchParams.has('key');
    if (entry.keyInUrl) {
      const search = url.search.replace(/([?&]key=)([^&]*)/g, (_, p, k) => p + (maskKey(decodeURIComponent(k)) ?? ''));
      entry.path = url.pathname + search;
    }

    const r = flavour.route(req.method, path, url);
    if (!r) {
      req.resume();
      entry.status = 404;
      const page = Buffer.from(notFoundPage(path), 'utf8');
      res.writeHead(404, headers({ 'content-type': 'text/html; charset=UTF-8', 'content-length': String(page.length) }));
      return res.end(page);
    }

    let body = null;
    let parseError = null;
    if (req.method === 'POST') {
      const { buffer, tooLarge, aborted } = await readBody(req, MAX_BODY_BYTES);
      if (aborted) return;
      if (tooLarge) {
        return fail(googleError(413, 'INVALID_ARGUMENT', `Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`), { connection: 'close' });
      }
      const text = buffer.toString('utf8');
      try {
        body = text.trim() === '' ? {} : JSON.parse(text);
        if (!isObject(body)) throw new Error('not an object');
        entry.body = body;
      } catch {
        parseError = text;
        entry.bodyError = 'not a JSON object';
        entry.bodyText = text.slice(0, 2000);
      }
    } else {
      req.resume();
    }

    let found;
    try {
      found = flavour.authenticate(req, url, keys, (key) => log.setKey(entry, key));
    } catch (err) {
      if (err instanceof HttpError) return fail(err);
      throw err;
    }
    behaviour = { ...found.behaviour, lineEnding: 'crlf' };
    const state = found.state;

    if (behaviour.headersDelayMs > 0) {
      let gone = false;
      res.once('close', () => (gone = true));
      await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
      if (gone || res.destroyed) return;
    }

    const modelName = r.model ?? 'gemini-1.5-flash';
    if (behaviour.revoked) return fail(flavour.errors.revoked());
    if (behaviour.quota) return fail(flavour.errors.quota(modelName));
    if (state.rateLimit !== 0) {
      if (state.rateLimit > 0) state.rateLimit--;
      return fail(flavour.errors.rateLimited(modelName, behaviour.retryAfter));
    }
    if (state.status5xx > 0) {
      state.status5xx--;
      const n = behaviour.status5xx - state.status5xx - 1;
      return fail(n % 2 === 0 ? INTERNAL() : OVERLOADED());
    }
    state.served++;

    try {
      if (r.name === 'models') {
        entry.status = 200;
        return sendJson(res, 200, flavour.listModels(url), headers({ 'content-type': 'application/json; charset=UTF-8' }));
      }
      if (r.name === 'model') {
        const m = flavour.models.get(r.model);
        if (!m) throw flavour.errors.unknownModel(r);
        entry.status = 200;
        return sendJson(res, 200, flavour.modelObject(m), headers({ 'content-type': 'application/json; charset=UTF-8' }));
      }
      if (parseError !== null) {
        const first = parseError.trim().split('\n')[0].slice(0, 60);
        throw invalid(`Invalid JSON payload received. Unexpected token.\n${first}\n^`);
      }
      const model = flavour.models.get(r.model);
      const wanted = r.name === 'embed' || r.name === 'batchEmbed' || r.name === 'predict' ? 'embedding' : 'chat';
      if (!model || (model.kind !== wanted && r.name !== 'countTokens')) throw flavour.errors.unknownModel(r);
      const json = (value) => {
        entry.status = 200;
        sendJson(res, 200, value, headers({ 'content-type': 'application/json; charset=UTF-8' }));
      };

      if (r.name === 'batchEmbed') return json(batchEmbed(body, model));
      if (r.name === 'embed') return json(embedOne(body, model));
      if (r.name === 'predict') return json(flavour.predict(body, model));
      if (r.name === 'countTokens') {
        const contents = Array.isArray(body.contents) ? body.contents : [];
        if (!contents.length) throw fieldError('CountTokensRequest', 'contents', 'contents is not specified');
        const checked = checkGenerate({ contents }, model, { vertex: flavour.vertex });
        const total = promptTokens(checked);
        const out = { totalTokens: total, promptTokensDetails: [{ modality: 'TEXT', tokenCount: total }] };
        if (flavour.vertex) out.totalBillableCharacters = checked.contents.reduce((s, c) => s + describeParts(c.parts).text.length, 0);
        return json(out);
      }

      const checked = checkGenerate(body, model, { vertex: flavour.vertex });
      const p = plan(checked, model, behaviour, { vertex: flavour.vertex });
      if (r.name === 'generate') return json(wholeObject(p, model, flavour.vertex));

      // streamGenerateContent
      const objects = streamObjects(p, model, flavour.vertex);
      if (url.searchParams.get('alt') !== 'sse') {
        // Without alt=sse Google streams one JSON array, each element a whole response.
        entry.status = 200;
        const text = '[' + objects.map((o) => JSON.stringify(o, null, 2)).join(',\r\n') + ']';
        const buf = Buffer.from(text, 'utf8');
        res.writeHead(200, headers({ 'content-type': 'application/json; charset=UTF-8', 'content-length': String(buf.length) }));
        return res.end(buf);
      }
      entry.status = 200;
      await writeSse(res, {
        status: 200,
        headers: headers({ 'content-type': 'text/event-stream', 'content-disposition': 'attachment', 'x-content-type-options': 'nosniff' }),
        events: objects.map((o) => ({ data: JSON.stringify(o) })),
        behaviour,
        errorEvent: midStreamError(),
        entry,
      });
    } catch (err) {
      if (err instanceof HttpError) return fail(err);
      throw err;
    }
  };
}

function modelObject(m) {
  const obj = {
    name: `models/${m.id}`,
    version: '001',
    displayName: m.display,
    description: m.display,
    inputTokenLimit: m.input,
    outputTokenLimit: m.output,
    supportedGenerationMethods: METHODS[m.kind],
  };
  if (m.kind === 'chat') Object.assign(obj, { temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2 });
  if (m.thinking) obj.thinking = true;
  return obj;
}

/** GET /models with `pageSize` (default 50, at most 1000) and `pageToken` (an opaque offset). */
function listModels(url) {
  const size = Math.min(Math.max(Number(url.searchParams.get('pageSize') ?? 50) || 50, 1), 1000);
  const token = url.searchParams.get('pageToken');
  let offset = 0;
  if (token) {
    const decoded = Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^offset:/, ''));
    if (!Number.isInteger(decoded) || decoded < 0) throw invalid('Invalid page token.');
    offset = decoded;
  }
  const page = MODELS.slice(offset, offset + size).map((m) => modelObject(m));
  const out = { models: page };
  if (offset + size < MODELS.length) out.nextPageToken = Buffer.from(`offset:${offset + size}`).toString('base64url');
  return out;
}

function route(method, path) {
  const v = /^\/(v1beta|v1)(\/.*)$/.exec(path);
  if (!v) return null;
  const [, version, sub] = v;
  if (sub === '/models' && method === 'GET') return { name: 'models', version };
  const m = /^\/models\/([^/:]+)(?::([A-Za-z]+))?$/.exec(sub);
  if (!m) return null;
  const model = decodeURIComponent(m[1]);
  if (!m[2]) return method === 'GET' ? { name: 'model', model, version } : null;
  if (method !== 'POST') return null;
  const names = {
    generateContent: 'generate',
    streamGenerateContent: 'stream',
    countTokens: 'countTokens',
    embedContent: 'embed',
    batchEmbedContents: 'batchEmbed',
  };
  const name = names[m[2]];
  return name ? { name, model, version, method: m[2] } : null;
}

function authenticate(req, url, keys, seen) {
  const header = req.headers['x-goog-api-key'];
  const key = typeof header === 'string' && header !== '' ? header : url.searchParams.get('key');
  if (!key) throw NO_KEY();
  seen(key);
  const found = keys.lookup('google', key);
  // A behaviour key still has to look like a Gemini key, as every key Google issues does.
  if (!found.known || (found.source === 'behaviour-key' && !KEY_SHAPE.test(key))) throw API_KEY_INVALID();
  return { key, ...found };
}

const FLAVOUR = {
  id: 'google',
  vertex: false,
  cors: CORS_POLICY,
  route,
  authenticate,
  models: MODEL_BY_ID,
  listModels,
  modelObject,
  predict: () => {
    throw invalid('predict is not supported here');
  },
  errors: {
    revoked: API_KEY_INVALID,
    quota: zeroQuota,
    rateLimited,
    unknownModel: (r) => googleError(404, 'NOT_FOUND',
      `models/${r.model} is not found for API version ${r.version}, or is not supported for ${r.method ?? 'getModel'}. ` +
        'Call ListModels to see the list of available models and their supported methods.'),
  },
};

export default {
  id: 'google',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('google', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('google', BEHAVIOUR_KEY_PREFIX);
  },
  handle: makeGeminiHandler(FLAVOUR),
};

export { MODEL_BY_ID, invalid as invalidArgument, fieldError, normalize };
