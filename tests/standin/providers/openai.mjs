// OpenAI, as api.openai.com answers: https://api.openai.com/v1 ≙ http://127.0.0.1:N/openai/v1
//
// Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/embeddings.
// Error bodies, status codes, headers and the SSE framing follow what the real service sends
// (recorded streams in shared/fixtures/openai-chat.*, error bodies as reported by users and the
// SDKs). Where the real wording is not known, README.md says so.

import { readBody, sendJson, sleep, randomId, randomHex, MAX_BODY_BYTES } from '../lib/http.mjs';
import { openaiErrorBody, openaiError, HttpError, sendError } from '../lib/errors.mjs';
import { responseCorsHeaders, judgePreflight, preflightHeaders } from '../lib/cors.mjs';
import { writeSse } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS } from '../lib/keys.mjs';
import { splitPieces, splitFixed, estimateTokens, hashVector, exampleFromSchema } from '../lib/text.mjs';

const PREFIX = '/openai';

/** The fixed part of every answer; non-ASCII on purpose so UTF-8 splitting is exercised. */
export const ANSWER_PREFIX = 'Hello from the byok stand-in (héllo — 🌍).';
export const REFUSAL_TEXT = "I'm sorry, I can't assist with that request.";
export const REFUSE_TRIGGER = '#refuse';
/** Reasoning tokens every o1 answer spends (counted in completion_tokens and in max_completion_tokens). */
export const O1_REASONING_TOKENS = 32;
/** Embedding length when `dimensions` is not given (the real models return 1536 / 3072). */
export const DEFAULT_EMBEDDING_DIMS = 8;

/** Models listed by GET /v1/models, in this order. `snapshot` is what answers report as `model`. */
export const MODELS = [
  { id: 'gpt-4o', created: 1715367049, owned_by: 'system', kind: 'chat', snapshot: 'gpt-4o-2024-08-06', vision: true, structured: true, fingerprint: 'fp_7568d46099' },
  { id: 'gpt-4o-mini', created: 1721172741, owned_by: 'system', kind: 'chat', snapshot: 'gpt-4o-mini-2024-07-18', vision: true, structured: true, fingerprint: 'fp_0ba0d124f1' },
  { id: 'gpt-4-turbo', created: 1712361441, owned_by: 'system', kind: 'chat', snapshot: 'gpt-4-turbo-2024-04-09', vision: true, structured: false, fingerprint: 'fp_5b26d85e12' },
  { id: 'gpt-4', created: 1687882411, owned_by: 'openai', kind: 'chat', snapshot: 'gpt-4-0613', vision: false, structured: false, fingerprint: null },
  { id: 'gpt-3.5-turbo', created: 1677610602, owned_by: 'openai', kind: 'chat', snapshot: 'gpt-3.5-turbo-0125', vision: false, structured: false, fingerprint: null },
  { id: 'o1-preview', created: 1725648897, owned_by: 'system', kind: 'chat', snapshot: 'o1-preview-2024-09-12', vision: false, structured: false, reasoning: true, fingerprint: 'fp_49f580698f' },
  { id: 'o1-mini', created: 1725649008, owned_by: 'system', kind: 'chat', snapshot: 'o1-mini-2024-09-12', vision: false, structured: false, reasoning: true, fingerprint: 'fp_f7eab99a33' },
  { id: 'gpt-4.1-nano', created: 1744321707, owned_by: 'system', kind: 'chat', snapshot: 'gpt-4.1-nano-2025-04-14', vision: true, structured: true, fingerprint: 'fp_de604bd877' },
  { id: 'text-embedding-3-small', created: 1705948997, owned_by: 'system', kind: 'embedding', dims: 1536 },
  { id: 'text-embedding-3-large', created: 1705953180, owned_by: 'system', kind: 'embedding', dims: 3072 },
];

/** Model ids accepted in requests: the listed ids and their dated snapshots. */
const MODEL_BY_ID = new Map();
for (const m of MODELS) {
  MODEL_BY_ID.set(m.id, { ...m, answerModel: m.snapshot ?? m.id });
  if (m.snapshot) MODEL_BY_ID.set(m.snapshot, { ...m, answerModel: m.snapshot });
}

/** Built-in valid keys. Keys holding behaviour words (lib/keys.mjs) are valid too when they start with `sk-`. */
export const BUILTIN_KEYS = [
  { key: 'sk-proj-standinVALIDkey0000000000000000000000', behaviour: {}, note: 'project key, default behaviour (awkward chunking)' },
  { key: 'sk-proj-standinWHOLEkey0000000000000000000000', behaviour: { chunking: 'whole' }, note: 'project key, one SSE event per write' },
  { key: 'sk-proj-standinBYTEWISEkey0000000000000000000', behaviour: { chunking: 'bytewise' }, note: 'project key, one byte per write' },
  { key: 'sk-standinLEGACYkey00000000000000000000000000000000', behaviour: {}, note: 'legacy user key format (51 characters)' },
  { key: 'sk-svcacct-standinSERVICEkey00000000000000000000', behaviour: {}, note: 'service-account key format' },
];
export const BEHAVIOUR_KEY_PREFIX = 'sk-';

/**
 * CORS as api.openai.com answers browsers: any origin, no credentials, a fixed list of request
 * headers (the OpenAI SDKs' own headers included). Response headers are not exposed.
 */
export const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowHeaders: [
    'authorization',
    'content-type',
    'openai-organization',
    'openai-project',
    'openai-beta',
    'x-stainless-arch',
    'x-stainless-lang',
    'x-stainless-os',
    'x-stainless-package-version',
    'x-stainless-retry-count',
    'x-stainless-runtime',
    'x-stainless-runtime-version',
    'x-stainless-timeout',
    'x-stainless-helper-method',
    'x-stainless-poll-helper',
    'x-stainless-custom-poll-interval',
  ],
  maxAge: 7200,
  exposeHeaders: [],
  preflightStatus: 200,
};

const CHAT_PARAMS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p',
  'n', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'user', 'seed',
  'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'service_tier', 'store', 'metadata',
  'functions', 'function_call', 'modalities', 'audio', 'prediction', 'reasoning_effort', 'safety_identifier',
  'prompt_cache_key',
]);
const EMBEDDING_PARAMS = new Set(['input', 'model', 'encoding_format', 'dimensions', 'user']);
const ROLES = ['system', 'assistant', 'user', 'function', 'tool', 'developer'];
const MESSAGE_FIELDS = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'function_call', 'refusal', 'audio']);
const PART_TYPES = {
  user: ['text', 'image_url', 'input_audio', 'file'],
  system: ['text'],
  developer: ['text'],
  tool: ['text'],
  assistant: ['text', 'refusal'],
  function: ['text'],
};
/** o1 models accept these parameters only at their default value. */
const O1_FIXED = { temperature: 1, top_p: 1, n: 1, presence_penalty: 0, frequency_penalty: 0 };

// ---------------------------------------------------------------------------------------------
// Wording helpers

/** "'a'", "'a' and 'b'", "'a', 'b', and 'c'" as OpenAI lists supported values. */
function supportedList(values) {
  const q = values.map((v) => `'${v}'`);
  if (q.length <= 1) return q.join('');
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  return 'an object';
}

const bad = (message, param = null, code = null) => openaiError(400, message, { param, code });
const missing = (param) => bad(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
const invalidType = (param, expected, value) =>
  bad(`Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, param, 'invalid_type');
const invalidValue = (param, value, allowed) =>
  bad(`Invalid value: '${value}'. Supported values are: ${supportedList(allowed)}.`, param, 'invalid_value');

function checkNumber(body, name, { integer = false, min = null, max = null } = {}) {
  const v = body[name];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw invalidType(name, integer ? 'an integer' : 'a decimal', v);
  }
  const kind = integer ? 'integer' : 'decimal';
  if (min !== null && v < min) {
    throw bad(`Invalid '${name}': ${kind} below minimum value. Expected a value >= ${min}, but got ${v} instead.`, name, `${kind}_below_min_value`);
  }
  if (max !== null && v > max) {
    throw bad(`Invalid '${name}': ${kind} above maximum value. Expected a value <= ${max}, but got ${v} instead.`, name, `${kind}_above_max_value`);
  }
}

function checkType(body, name, expected, test) {
  const v = body[name];
  if (v === undefined || v === null) return;
  if (!test(v)) throw invalidType(name, expected, v);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Masking and headers

/**
 * The key as OpenAI echoes it in "Incorrect API key provided": first 8 characters, one `*` per
 * hidden character, last 4. Keys of 12 characters or fewer are echoed whole, as OpenAI does.
 */
export function openaiEchoMask(key) {
  if (key.length <= 12) return key;
  return key.slice(0, 8) + '*'.repeat(key.length - 12) + key.slice(-4);
}

function rateHeaders({ limited = false, retryAfter = 1 } = {}) {
  return limited
    ? {
        'x-ratelimit-limit-requests': '3',
        'x-ratelimit-limit-tokens': '40000',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-remaining-tokens': '39950',
        'x-ratelimit-reset-requests': `${retryAfter}s`,
        'x-ratelimit-reset-tokens': '75ms',
        'retry-after': String(retryAfter),
      }
    : {
        'x-ratelimit-limit-requests': '5000',
        'x-ratelimit-limit-tokens': '800000',
        'x-ratelimit-remaining-requests': '4999',
        'x-ratelimit-remaining-tokens': '799950',
        'x-ratelimit-reset-requests': '12ms',
        'x-ratelimit-reset-tokens': '3ms',
      };
}

// ---------------------------------------------------------------------------------------------
// Chat completions: validation

function lastIndexWhere(list, pred) {
  for (let i = list.length - 1; i >= 0; i--) if (pred(list[i])) return i;
  return -1;
}

/** Text of a message's content (string or text parts) and its number of images. */
function contentText(content) {
  if (typeof content === 'string') return { text: content, images: 0 };
  if (!Array.isArray(content)) return { text: '', images: 0 };
  const texts = [];
  let images = 0;
  for (const part of content) {
    if (part?.type === 'text' || part?.type === 'refusal') texts.push(part.text ?? part.refusal ?? '');
    else if (part?.type === 'image_url') images++;
  }
  return { text: texts.join(' '), images };
}

function validateMessages(messages, model, strict = true) {
  if (messages.length === 0) {
    throw bad("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  }
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw invalidType(at, 'an object', m);
    if (m.role === undefined || m.role === null) throw missing(`${at}.role`);
    if (typeof m.role !== 'string' || !ROLES.includes(m.role)) throw invalidValue(`${at}.role`, String(m.role), ROLES);
    for (const field of strict ? Object.keys(m) : []) {
      if (!MESSAGE_FIELDS.has(field)) throw bad(`Unknown parameter: '${at}.${field}'.`, `${at}.${field}`, 'unknown_parameter');
    }
    if (model.reasoning && (m.role === 'system' || m.role === 'developer')) {
      throw bad(`Unsupported value: '${at}.role' does not support '${m.role}' with this model.`, `${at}.role`, 'unsupported_value');
    }
    const c = m.content;
    const needsContent = m.role !== 'assistant';
    if (c === undefined || c === null) {
      if (needsContent) throw missing(`${at}.content`);
      if (!m.tool_calls && !m.function_call && !m.refusal) {
        throw bad("Invalid value for 'content': expected a string, got null.", `messages.[${i}].content`);
      }
    } else if (typeof c !== 'string' && !Array.isArray(c)) {
      throw invalidType(`${at}.content`, 'one of a string or array of objects', c);
    } else if (Array.isArray(c)) {
      c.forEach((part, j) => {
        const pat = `${at}.content[${j}]`;
        if (!isObject(part)) throw invalidType(pat, 'an object', part);
        if (part.type === undefined || part.type === null) throw missing(`${pat}.type`);
        const allowed = PART_TYPES[m.role];
        if (!allowed.includes(part.type)) throw invalidValue(`${pat}.type`, String(part.type), allowed);
        if (part.type === 'text') {
          if (part.text === undefined || part.text === null) throw missing(`${pat}.text`);
          if (typeof part.text !== 'string') throw invalidType(`${pat}.text`, 'a string', part.text);
        }
        if (part.type === 'image_url') {
          if (part.image_url === undefined || part.image_url === null) throw missing(`${pat}.image_url`);
          if (!isObject(part.image_url)) throw invalidType(`${pat}.image_url`, 'an object', part.image_url);
          if (typeof part.image_url.url !== 'string') throw missing(`${pat}.image_url.url`);
          if (model.vision === false) {
            throw bad('Invalid content type. image_url is only supported by certain models.', `messages.[${i}].content.[${j}].type`);
          }
        }
      });
    }
    if (m.role === 'tool' && (m.tool_call_id === undefined || m.tool_call_id === null)) throw missing(`${at}.tool_call_id`);
    if (m.role === 'function' && typeof m.name !== 'string') throw missing(`${at}.name`);
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (m.role !== 'assistant') throw bad(`Unrecognized request argument supplied: ${at}.tool_calls`);
      if (!Array.isArray(m.tool_calls)) throw invalidType(`${at}.tool_calls`, 'an array', m.tool_calls);
      m.tool_calls.forEach((tc, k) => {
        const tat = `${at}.tool_calls[${k}]`;
        if (!isObject(tc)) throw invalidType(tat, 'an object', tc);
        if (typeof tc.id !== 'string') throw missing(`${tat}.id`);
        if (tc.type !== 'function') throw missing(`${tat}.type`);
        if (!isObject(tc.function) || typeof tc.function.name !== 'string') throw missing(`${tat}.function.name`);
        if (typeof tc.function.arguments !== 'string') throw missing(`${tat}.function.arguments`);
      });
    }
  });

  // Tool messages must answer a preceding assistant message's tool_calls, every one of them.
  let pending = null; // { index, ids: Set }
  messages.forEach((m, i) => {
    if (m.role === 'tool') {
      if (!pending || !pending.ids.has(m.tool_call_id)) {
        throw bad(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      }
      pending.ids.delete(m.tool_call_id);
      return;
    }
    if (pending && pending.ids.size) {
      throw bad(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
          `The following tool_call_ids did not have response messages: ${[...pending.ids].join(', ')}`,
        `messages.[${pending.index}].role`,
      );
    }
    pending = m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length
      ? { index: i, ids: new Set(m.tool_calls.map((tc) => tc.id)) }
      : null;
  });
  if (pending && pending.ids.size) {
    throw bad(
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
        `The following tool_call_ids did not have response messages: ${[...pending.ids].join(', ')}`,
      `messages.[${pending.index}].role`,
    );
  }
}

function validateTools(body, toolChoices = ['none', 'auto', 'required']) {
  const { tools, tool_choice: choice } = body;
  const hasTools = tools !== undefined && tools !== null;
  if (hasTools) {
    if (!Array.isArray(tools)) throw invalidType('tools', 'an array', tools);
    if (tools.length === 0) {
      throw bad("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tools', 'empty_array');
    }
    tools.forEach((t, i) => {
      const at = `tools[${i}]`;
      if (!isObject(t)) throw invalidType(at, 'an object', t);
      if (t.type === undefined || t.type === null) throw missing(`${at}.type`);
      if (t.type !== 'function') throw invalidValue(`${at}.type`, String(t.type), ['function', 'custom']);
      if (!isObject(t.function)) throw missing(`${at}.function`);
      if (t.function.name === undefined || t.function.name === null) throw missing(`${at}.function.name`);
      if (typeof t.function.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.function.name)) {
        throw bad(
          `Invalid '${at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          `${at}.function.name`,
          'invalid_value',
        );
      }
      if (t.function.parameters !== undefined && t.function.parameters !== null && !isObject(t.function.parameters)) {
        throw invalidType(`${at}.function.parameters`, 'an object', t.function.parameters);
      }
    });
  }
  if (choice === undefined || choice === null) return;
  if (!hasTools) {
    throw bad("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
  }
  if (typeof choice === 'string') {
    if (!toolChoices.includes(choice)) throw invalidValue('tool_choice', choice, toolChoices);
    return;
  }
  if (!isObject(choice)) throw invalidType('tool_choice', 'one of a string or object', choice);
  if (choice.type !== 'function') throw invalidValue('tool_choice.type', String(choice.type), ['function']);
  const name = choice.function?.name;
  if (typeof name !== 'string') throw missing('tool_choice.function.name');
  if (!tools.some((t) => t.function.name === name)) {
    throw bad(`Invalid value for 'tool_choice': function '${name}' is not among the 'tools'.`, 'tool_choice');
  }
}

/** Validates a chat request the way the real endpoint does; returns the model entry. */
/**
 * Validates a chat request the way the real endpoint does; returns the model entry. The
 * flavour (see OPENAI_FLAVOUR) says which parameters exist, how models are found, and whether
 * OpenAI's own model rules (o1, json_object) apply.
 */
function validateChat(body, f = OPENAI_FLAVOUR) {
  for (const name of f.chatParams ? Object.keys(body) : []) {
    if (!f.chatParams.has(name)) throw bad(`Unrecognized request argument supplied: ${name}`);
  }
  if (body.model === undefined || body.model === null) throw bad('you must provide a model parameter');
  if (body.messages === undefined || body.messages === null) throw missing('messages');
  if (typeof body.model !== 'string') throw invalidType('model', 'a string', body.model);
  if (!Array.isArray(body.messages)) throw invalidType('messages', 'an array', body.messages);
  checkType(body, 'stream', 'a boolean', (v) => typeof v === 'boolean');
  checkType(body, 'stream_options', 'an object', isObject);
  checkType(body, 'logprobs', 'a boolean', (v) => typeof v === 'boolean');
  checkType(body, 'parallel_tool_calls', 'a boolean', (v) => typeof v === 'boolean');
  checkType(body, 'user', 'a string', (v) => typeof v === 'string');
  checkType(body, 'response_format', 'an object', isObject);
  checkType(body, 'stop', 'one of a string or array of strings', (v) => typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string')));
  checkNumber(body, 'max_tokens', { integer: true, min: 1 });
  checkNumber(body, 'max_completion_tokens', { integer: true, min: 1 });
  checkNumber(body, 'temperature', { min: 0, max: 2 });
  checkNumber(body, 'top_p', { min: 0, max: 1 });
  checkNumber(body, 'n', { integer: true, min: 1, max: 128 });
  checkNumber(body, 'presence_penalty', { min: -2, max: 2 });
  checkNumber(body, 'frequency_penalty', { min: -2, max: 2 });
  checkNumber(body, 'top_logprobs', { integer: true, min: 0, max: 20 });
  checkNumber(body, 'seed', { integer: true });
  if (Array.isArray(body.stop) && body.stop.length > 4) {
    throw bad(`Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length ${body.stop.length} instead.`, 'stop', 'array_above_max_length');
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true && f.streamOptionsNeedStream) {
    throw bad(f.streamOptionsNeedStream, 'stream_options');
  }
  if (isObject(body.stream_options) && body.stream_options.include_usage !== undefined &&
      typeof body.stream_options.include_usage !== 'boolean') {
    throw invalidType('stream_options.include_usage', 'a boolean', body.stream_options.include_usage);
  }

  const model = f.resolveModel(body.model, 'chat');

  if (f.openaiModelRules && model.reasoning) {
    if (body.max_tokens !== undefined && body.max_tokens !== null) {
      throw bad("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", 'max_tokens', 'unsupported_parameter');
    }
    if (body.reasoning_effort !== undefined && body.reasoning_effort !== null) {
      throw bad("Unsupported parameter: 'reasoning_effort' is not supported with this model.", 'reasoning_effort', 'unsupported_parameter');
    }
    for (const [name, def] of Object.entries(O1_FIXED)) {
      const v = body[name];
      if (v !== undefined && v !== null && v !== def) {
        throw bad(`Unsupported value: '${name}' does not support ${v} with this model. Only the default (${def}) value is supported.`, name, 'unsupported_value');
      }
    }
  } else if (f.openaiModelRules && body.reasoning_effort !== undefined) {
    throw bad('Unrecognized request argument supplied: reasoning_effort');
  }

  const rf = body.response_format;
  if (isObject(rf)) {
    const types = ['text', 'json_object', 'json_schema'];
    if (!types.includes(rf.type)) throw invalidValue('response_format.type', String(rf.type), types);
    if (rf.type === 'json_schema') {
      if (model.structured === false) {
        throw bad("Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", 'response_format');
      }
      if (!isObject(rf.json_schema)) throw missing('response_format.json_schema');
      if (typeof rf.json_schema.name !== 'string') throw missing('response_format.json_schema.name');
    }
  }

  validateTools(body, f.toolChoices);
  validateMessages(body.messages, model, f.strictMessages);

  if (f.openaiModelRules && isObject(rf) && rf.type === 'json_object') {
    const mentionsJson = body.messages.some((m) => /json/i.test(contentText(m.content).text));
    if (!mentionsJson) {
      throw bad("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", 'messages');
    }
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// Chat completions: the deterministic answer

/** The documented prompt-token rule. */
export function countPromptTokens(body) {
  let total = 3; // priming of the reply
  for (const m of body.messages) {
    const { text, images } = contentText(m.content);
    total += 3 + estimateTokens(text) + 85 * images;
    if (Array.isArray(m.tool_calls)) total += estimateTokens(JSON.stringify(m.tool_calls));
  }
  if (Array.isArray(body.tools)) total += estimateTokens(JSON.stringify(body.tools));
  return total;
}

/** What the model "decides" to do for a request: a tool call, a refusal or a text. */
function decide(body, behaviour) {
  const messages = body.messages;
  const last = messages[messages.length - 1];
  const tools = Array.isArray(body.tools) ? body.tools : null;
  const choice = body.tool_choice ?? 'auto';
  if (tools && choice !== 'none') {
    if (isObject(choice)) return { kind: 'tool', tool: tools.find((t) => t.function.name === choice.function.name) };
    if (choice === 'required' || last.role !== 'tool') return { kind: 'tool', tool: tools[0] };
  }
  const userIndex = lastIndexWhere(messages, (m) => m.role === 'user');
  const user = userIndex >= 0 ? contentText(messages[userIndex].content) : { text: '', images: 0 };
  let said = user.text;
  if (user.images) said += ` [${user.images} image${user.images > 1 ? 's' : ''}]`;
  if (said.includes(REFUSE_TRIGGER) && behaviour.reply === null) return { kind: 'refusal', text: REFUSAL_TEXT };

  let text;
  if (behaviour.reply !== null) text = behaviour.reply;
  else if (last.role === 'tool') text = `${ANSWER_PREFIX} The tool said: ${contentText(last.content).text}`;
  else text = `${ANSWER_PREFIX} You said: ${said}`;

  const rf = body.response_format;
  if (isObject(rf) && rf.type === 'json_schema') {
    text = JSON.stringify(exampleFromSchema(rf.json_schema.schema ?? { type: 'object' }, 'answer'));
  } else if (isObject(rf) && rf.type === 'json_object') {
    text = JSON.stringify({ answer: text });
  }
  return { kind: 'text', text, plain: !isObject(rf) || rf.type === 'text' };
}

/** What a thinking model (xAI's grok-3-mini) reasons before it answers, streamed first. */
export const THINKING_TEXT = 'First, the user wrote a message. I should answer it briefly.';

/**
 * The per-choice plan: pieces to stream, finish_reason and token counts. `thinking` holds the
 * reasoning pieces of a thinking model (`model.thinks`), which some services stream and count
 * beside the answer. `toolCallId` makes the id of a tool call in the service's own form.
 */
function planChoice(decision, index, body, model, toolCallId = () => `call_${randomId(24)}`) {
  // `thinks: true`: the reasoning is streamed (xAI's reasoning_content); 'hidden': only counted.
  const thinking = model.thinks ? splitPieces(THINKING_TEXT) : [];
  const thinkingShown = model.thinks === true;
  const limit = body.max_completion_tokens ?? body.max_tokens ?? null;
  // Reasoning comes first and is cut by the limit too (completion_tokens never exceeds it).
  const reasoning = model.reasoning ? Math.min(O1_REASONING_TOKENS, limit ?? Infinity) : 0;
  const budget = limit === null ? Infinity : Math.max(0, limit - reasoning);

  if (decision.kind === 'tool') {
    const fn = decision.tool.function;
    const args = JSON.stringify(exampleFromSchema(fn.parameters ?? { type: 'object' }, 'value'));
    const fragments = splitFixed(args, 5);
    const allowed = Math.max(0, Math.min(fragments.length, budget - 1));
    const cut = allowed < fragments.length;
    return {
      kind: 'tool',
      id: toolCallId(),
      name: fn.name,
      fragments: fragments.slice(0, allowed),
      finish: cut ? 'length' : 'tool_calls',
      completionTokens: reasoning + Math.min(budget, 1 + allowed),
      reasoning,
      thinking,
      thinkingShown,
    };
  }

  let text = decision.text;
  if (decision.kind === 'text' && decision.plain && index > 0) text = `(choice ${index}) ${text}`;
  let finish = 'stop';
  if (decision.kind === 'text' && body.stop !== undefined && body.stop !== null) {
    const stops = (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s) => s !== '');
    const at = Math.min(...stops.map((s) => text.indexOf(s)).filter((k) => k >= 0));
    if (Number.isFinite(at)) text = text.slice(0, at);
  }
  let pieces = splitPieces(text);
  if (pieces.length > budget) {
    pieces = pieces.slice(0, budget);
    finish = 'length';
  }
  return { kind: decision.kind, pieces, finish, completionTokens: reasoning + pieces.length, reasoning, thinking, thinkingShown };
}

function usageOf(promptTokens, plans) {
  const completion = plans.reduce((s, p) => s + p.completionTokens, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: plans.reduce((s, p) => s + p.reasoning, 0),
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function logprobsOf(pieces, body, offset = 0) {
  const top = body.top_logprobs ?? 0;
  return {
    content: pieces.map((token, k) => {
      const logprob = -((offset + k) % 7) / 100 - 0.0001;
      const bytes = [...Buffer.from(token, 'utf8')];
      const alternatives = [];
      for (let t = 0; t < top; t++) {
        alternatives.push(t === 0 ? { token, logprob, bytes } : { token: `${token}${t}`, logprob: logprob - t, bytes: [...Buffer.from(`${token}${t}`, 'utf8')] });
      }
      return { token, logprob, bytes, top_logprobs: alternatives };
    }),
    refusal: null,
  };
}

function chatCompletionObject(meta, plans, body, usage) {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: plans.map((p, index) => {
      let message;
      if (p.kind === 'tool') {
        message = {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: p.id, type: 'function', function: { name: p.name, arguments: p.fragments.join('') } }],
          refusal: null,
          annotations: [],
        };
      } else if (p.kind === 'refusal') {
        message = { role: 'assistant', content: null, refusal: p.pieces.join(''), annotations: [] };
      } else {
        message = { role: 'assistant', content: p.pieces.join(''), refusal: null, annotations: [] };
      }
      const logprobs = body.logprobs === true && p.kind === 'text' ? logprobsOf(p.pieces, body) : null;
      return { index, message, logprobs, finish_reason: p.finish };
    }),
    usage,
    service_tier: 'default',
    system_fingerprint: meta.fingerprint,
  };
}

/**
 * How a service of the OpenAI family writes its answers: what differs between OpenAI, xAI,
 * Mistral, LM Studio, vLLM and llama.cpp, as data and small builders. OpenAI's own:
 *   chunk(meta, choices, extra)        one chunk object (key order as the service sends it)
 *   choice(index, delta, finish, lp)   one entry of `choices`
 *   deltas(plan, body)                 the deltas of one choice, role chunk included: [{ delta, logprobs?, finish? }]
 *   finish(plan)                       the finishing delta ({ delta, finish }), or null when deltas() set it
 *   usage                              'requested': a `choices: []` chunk with usage, only with
 *                                      stream_options.include_usage; 'final': usage rides on the last chunk, always
 *   lastExtra(meta, usage)             fields added to the very last chunk (llama.cpp's timings)
 *   answer(meta, plans, body, usage)   the whole (non-streamed) answer
 */
export const OPENAI_STYLE = {
  chunk: (meta, choices, extra) => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.fingerprint,
    choices,
    ...extra,
  }),
  choice: (index, delta, finish = null, logprobs = null) => ({ index, delta, logprobs, finish_reason: finish }),
  deltas(p, body) {
    if (p.kind === 'tool') {
      return [
        {
          delta: {
            role: 'assistant',
            content: null,
            tool_calls: [{ index: 0, id: p.id, type: 'function', function: { name: p.name, arguments: '' } }],
            refusal: null,
          },
        },
        ...p.fragments.map((f) => ({ delta: { tool_calls: [{ index: 0, function: { arguments: f } }] } })),
      ];
    }
    if (p.kind === 'refusal') {
      return [{ delta: { role: 'assistant', content: null, refusal: '' } }, ...p.pieces.map((x) => ({ delta: { refusal: x } }))];
    }
    return [
      { delta: { role: 'assistant', content: '', refusal: null } },
      ...p.pieces.map((x, k) => ({
        delta: { content: x },
        logprobs: body.logprobs === true ? logprobsOf([x], body, k) : null,
      })),
    ];
  },
  finish: (p) => ({ delta: {}, finish: p.finish }),
  usage: 'requested',
  lastExtra: null,
  answer: chatCompletionObject,
};

/** The SSE events of a streamed answer, the terminator included, in the given style. */
function chatChunks(meta, plans, body, usage, includeUsage, style = OPENAI_STYLE) {
  const chunks = [];
  const emit = (choices, extra = {}) => chunks.push({ choices, extra });
  const seqs = plans.map((p) => style.deltas(p, body));
  const longest = Math.max(...seqs.map((q) => q.length));
  // Choice by choice at each step, as OpenAI interleaves them with n > 1.
  for (let k = 0; k < longest; k++) {
    seqs.forEach((q, index) => {
      if (k < q.length) emit([style.choice(index, q[k].delta, q[k].finish ?? null, q[k].logprobs ?? null)]);
    });
  }
  plans.forEach((p, index) => {
    const f = style.finish(p);
    if (f) emit([style.choice(index, f.delta, f.finish, null)]);
  });
  if (style.usage === 'final') chunks[chunks.length - 1].extra.usage = usage;
  else if (includeUsage) emit([], { usage });
  if (style.lastExtra) Object.assign(chunks[chunks.length - 1].extra, style.lastExtra(meta, usage));
  const events = chunks.map((c) => JSON.stringify(style.chunk(meta, c.choices, c.extra)));
  if (style.done !== false) events.push('[DONE]');
  return events.map((data) => ({ data }));
}

/** The error event OpenAI sends inside a 200 stream when generation fails half-way. */
function midStreamError(requestId) {
  return {
    data: JSON.stringify(openaiErrorBody(
      'The server had an error processing your request. Sorry about that! You can retry your request, or contact us ' +
        `through our help center at help.openai.com if you keep seeing this error. (Please include the request ID ${requestId} in your email.)`,
      { type: 'server_error' },
    )),
  };
}

// ---------------------------------------------------------------------------------------------
// Embeddings

const INPUT_INVALID = () => bad("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.");

function embeddingInputs(input) {
  if (typeof input === 'string') {
    if (input === '') throw INPUT_INVALID();
    return [{ seed: input, tokens: estimateTokens(input) }];
  }
  if (!Array.isArray(input) || input.length === 0 || input.length > 2048) throw INPUT_INVALID();
  if (input.every((x) => Number.isInteger(x))) return [{ seed: JSON.stringify(input), tokens: input.length }];
  return input.map((x) => {
    if (typeof x === 'string' && x !== '') return { seed: x, tokens: estimateTokens(x) };
    if (Array.isArray(x) && x.length && x.every((t) => Number.isInteger(t))) return { seed: JSON.stringify(x), tokens: x.length };
    throw INPUT_INVALID();
  });
}

function embeddings(body, f = OPENAI_FLAVOUR) {
  for (const name of f.embeddingParams ? Object.keys(body) : []) {
    if (!f.embeddingParams.has(name)) throw bad(`Unrecognized request argument supplied: ${name}`);
  }
  if (body.model === undefined || body.model === null) throw bad('you must provide a model parameter');
  if (body.input === undefined || body.input === null) throw missing('input');
  if (typeof body.model !== 'string') throw invalidType('model', 'a string', body.model);
  checkNumber(body, 'dimensions', { integer: true, min: 1 });
  const format = body.encoding_format ?? 'float';
  if (!['float', 'base64'].includes(format)) throw invalidValue('encoding_format', String(format), ['float', 'base64']);
  const model = f.resolveModel(body.model, 'embedding');
  if (body.dimensions !== undefined && body.dimensions !== null && body.dimensions > model.dims) {
    throw bad(`Invalid 'dimensions': integer above maximum value. Expected a value <= ${model.dims}, but got ${body.dimensions} instead.`, 'dimensions', 'integer_above_max_value');
  }
  const dims = body.dimensions ?? DEFAULT_EMBEDDING_DIMS;
  const inputs = embeddingInputs(body.input);
  const tokens = inputs.reduce((s, x) => s + x.tokens, 0);
  return {
    object: 'list',
    data: inputs.map((x, index) => {
      const vector = hashVector(`${model.id}\n${x.seed}`, dims);
      const embedding = format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return { object: 'embedding', index, embedding };
    }),
    model: model.id,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

// ---------------------------------------------------------------------------------------------
// Request handling

function route(method, path) {
  if (path === '/v1/models' && method === 'GET') return { name: 'models' };
  const m = /^\/v1\/models\/(.+)$/.exec(path);
  if (m && method === 'GET') return { name: 'model', id: decodeURIComponent(m[1]) };
  if (path === '/v1/chat/completions' && method === 'POST') return { name: 'chat' };
  if (path === '/v1/embeddings' && method === 'POST') return { name: 'embeddings' };
  return null;
}

function modelObject(m) {
  return { id: m.id, object: 'model', created: m.created, owned_by: m.owned_by };
}

export function bearerKey(req) {
  const value = req.headers.authorization;
  if (typeof value !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m ? m[1] : null;
}

/**
 * Model lookup of a flavour: `byId` maps every accepted id (snapshots included) to its entry,
 * whose `answerModel` is what answers report. Unknown ids and a model of the wrong kind get the
 * flavour's own errors.
 */
export function modelTable(models) {
  const byId = new Map();
  for (const m of models) {
    const snapshot = m.snapshot ?? null;
    byId.set(m.id, { ...m, answerModel: snapshot ?? m.id });
    if (snapshot) byId.set(snapshot, { ...m, answerModel: snapshot });
    // Aliases (xAI's grok-4 → grok-4-0709) answer with the model's own id.
    for (const alias of m.aliases ?? []) byId.set(alias, { ...m, answerModel: m.id });
  }
  return byId;
}

/**
 * Splits an instance path into the instance's options and the service's own path:
 * `/_cors-off/v1/models` → `{ options: { 'cors-off': true }, path: '/v1/models' }`. The stand-in
 * runs several instances of a local server (started with or without CORS, an API key, …) side by
 * side; each option is a path segment right after the provider's prefix. Unknown `_words` stay
 * in the path (and get the service's 404).
 */
export function splitInstance(path, allowed) {
  const options = {};
  let rest = path;
  for (;;) {
    const m = /^\/_([a-z0-9-]+)(?=\/|$)/.exec(rest);
    if (!m || !allowed.includes(m[1])) break;
    options[m[1]] = true;
    rest = rest.slice(m[0].length);
  }
  return { options, path: rest || '/' };
}

/**
 * The routes of an OpenAI-family server below its base URL: `/v1/models`, `/v1/models/{id}`
 * (`modelPath`), `/v1/chat/completions`, `/v1/embeddings` (`embeddings`). `instance` carries the
 * instance options (splitInstance).
 */
export function familyRoute(method, path, { options = [], modelPath = true, embeddings = true } = {}) {
  const { options: instance, path: own } = splitInstance(path, options);
  const r = route(method, own);
  if (!r) return null;
  if (r.name === 'model' && !modelPath) return null;
  if (r.name === 'embeddings' && !embeddings) return null;
  return { ...r, instance };
}

/** A copy of `value` with every object's keys sorted, as nlohmann::json (llama.cpp) writes them. */
export function sortedKeys(value) {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedKeys(value[k])]));
}

/**
 * What differs between OpenAI and the services that serve the same API under other paths, auth
 * and words (Azure OpenAI, xAI, Mistral, LM Studio, vLLM, llama.cpp's server). A flavour gives
 * some of these; makeHandler() fills in the rest from here, which is OpenAI itself.
 *   route(method, path, url)     → { name: 'models' | 'model' | 'chat' | 'embeddings', id?, deployment?, instance? },
 *                                  { error }, or null for an unknown path (notFound)
 *   keyOf(req)                   the key sent, or null
 *   keyRequired(r)               false: any key or none is taken (a local server without an API key)
 *   missingKey(), incorrectKey(key)   the key errors
 *   headers(ctx)                 headers of every answer besides CORS ({ requestId, started })
 *   cors(r)                      the CORS policy of the answers (lib/cors.mjs), per instance
 *   rateHeaders(limited)         x-ratelimit-* headers, or null
 *   errorBody(status, info)      the service's body for an error OpenAI words as `info`
 *                                ({ message, type, param, code }); null: OpenAI's body
 *   accountErrors                { quota(), rateLimit(model, retryAfter), server(n, requestId) }
 *   models, listModels(), modelObject(m), resolveModel(id, kind)
 *   chatParams, embeddingParams  the parameters that exist (null: unknown ones are ignored)
 *   precheck(body, kind)         the service's own validation before OpenAI's (Mistral's 422)
 *   strictMessages               OpenAI's "Unknown parameter: messages[0].x"
 *   openaiModelRules             o1's fixed parameters, json_object's "json" rule
 *   toolChoices                  the tool_choice strings that exist
 *   streamOptionsNeedStream      the error text for stream_options without stream (null: ignored)
 *   style                        how answers are written (OPENAI_STYLE)
 *   usage(promptTokens, plans, model)   the usage object
 *   toolCallId()                 a new tool call id
 *   completionId()               a new answer id
 *   fingerprint(model)           system_fingerprint
 *   midStreamError(requestId)    the error event of a stream that fails half-way
 */
export const OPENAI_FLAVOUR = {
  id: 'openai',
  route: (method, path) => route(method, path),
  keyOf: bearerKey,
  keyRequired: () => true,
  missingKey: () => openaiError(401,
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
      "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API " +
      'from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.'),
  incorrectKey: (key) => openaiError(401,
    `Incorrect API key provided: ${openaiEchoMask(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    { code: 'invalid_api_key' }),
  notFound: (method, path) => openaiError(404, `Invalid URL (${method} ${path})`),
  headers: ({ requestId, started }) => ({
    'x-request-id': requestId,
    'openai-version': '2020-10-01',
    'openai-processing-ms': String(Date.now() - started),
  }),
  cors: () => CORS_POLICY,
  rateHeaders: (limited, retryAfter) => rateHeaders({ limited, retryAfter }),
  errorBody: null,
  accountErrors: {
    quota: () => openaiError(429,
      'You exceeded your current quota, please check your plan and billing details. For more information on this error, ' +
        'read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
      { type: 'insufficient_quota', code: 'insufficient_quota' }),
    rateLimit: (modelName, retryAfter) => openaiError(429,
      `Rate limit reached for ${modelName ?? 'gpt-4o'} in organization org-standin on requests per min (RPM): Limit 3, Used 3, Requested 1. ` +
        `Please try again in ${retryAfter}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      { type: 'requests', code: 'rate_limit_exceeded' }),
    server: (n, requestId) => n % 2 === 0
      ? openaiError(500,
        'The server had an error processing your request. Sorry about that! You can retry your request, or contact us through ' +
          `our help center at help.openai.com if you keep seeing this error. (Please include the request ID ${requestId} in your email.)`,
        { type: 'server_error' })
      : openaiError(503, 'The engine is currently overloaded, please try again later.', { type: 'server_error' }),
  },
  tooLarge: () => openaiError(413, `Request body too large. The maximum request body size is ${MAX_BODY_BYTES / (1024 * 1024)} MB.`),
  badJson: () => bad(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. " +
      'The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to ' +
      'fix this, please contact us through our help center at help.openai.com.)'),
  models: MODEL_BY_ID,
  listModels() {
    return { object: 'list', data: MODELS.map((m) => this.modelObject(m)) };
  },
  modelObject,
  findModel(id) {
    const m = this.models.get(id);
    if (!m) throw openaiError(404, `The model '${id}' does not exist`, { param: 'model', code: 'model_not_found' });
    return { ...m, id };
  },
  resolveModel(id, kind) {
    const model = this.models.get(id);
    if (!model) {
      throw openaiError(404, `The model \`${id}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
    }
    if (kind === 'chat' && model.kind !== 'chat') {
      throw openaiError(404, 'This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?', { param: 'model' });
    }
    if (kind === 'embedding' && model.kind !== 'embedding') throw bad('You are not allowed to generate embeddings from this model');
    return model;
  },
  chatParams: CHAT_PARAMS,
  embeddingParams: EMBEDDING_PARAMS,
  precheck: null,
  strictMessages: true,
  openaiModelRules: true,
  toolChoices: ['none', 'auto', 'required'],
  streamOptionsNeedStream: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  style: OPENAI_STYLE,
  usage: (promptTokens, plans) => usageOf(promptTokens, plans),
  toolCallId: () => `call_${randomId(24)}`,
  completionId: () => `chatcmpl-${randomId(29)}`,
  fingerprint: (model) => model.fingerprint,
  midStreamError,
};

/** The request handler of an OpenAI-API service of the given flavour (see OPENAI_FLAVOUR). */
export function makeHandler(flavour) {
  const f = { ...OPENAI_FLAVOUR, ...flavour };
  return (ctx) => handle(f, ctx);
}

/**
 * The preflight handler of a flavour whose CORS depends on the instance (an option in the path):
 * answers with the flavour's policy for that path and records the browser's verdict.
 */
export function makePreflight(flavour) {
  const f = { ...OPENAI_FLAVOUR, ...flavour };
  return ({ req, res, path, entry }) => {
    req.resume();
    const policy = f.cors(null, path);
    const verdict = judgePreflight(req, policy);
    // A server without CORS answers OPTIONS as any other unknown request (policy.preflightAnswer).
    const answer = policy.preflightAnswer?.(req, path) ?? {
      status: policy.preflightStatus ?? 204,
      headers: { ...preflightHeaders(policy, req), ...(policy.preflightHeaders ?? {}) },
      body: policy.preflightBody ?? '',
    };
    Object.assign(entry, { preflight: true, status: answer.status, cors: verdict });
    const bodyBytes = Buffer.from(answer.body, 'utf8');
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(bodyBytes.length) });
    return res.end(bodyBytes);
  };
}

async function handle(f, { req, res, path, url, entry, keys, log }) {
  const started = Date.now();
  const requestId = `req_${randomHex(32)}`;
  let behaviour = BEHAVIOUR_DEFAULTS;
  const r = f.route(req.method, path, url);
  const headers = (extra = {}) => ({
    ...f.headers({ requestId, started, r }),
    ...responseCorsHeaders(f.cors(r, path), behaviour.exposeHeaders, req),
    ...extra,
  });
  const fail = (err, extra = {}) => {
    entry.status = err.status;
    // Errors worded as OpenAI words them go out in the flavour's own body shape.
    const shaped = err.info && f.errorBody ? new HttpError(err.status, f.errorBody(err.status, err.info), err.headers) : err;
    sendError(res, shaped, headers(extra));
  };

  if (r?.error) {
    req.resume();
    return fail(r.error);
  }
  if (!r) {
    req.resume();
    return fail(f.notFound(req.method, path));
  }

  // Body first (so it is in the log whatever happens next), then the key.
  let body = null;
  let parseError = false;
  if (req.method === 'POST') {
    const { buffer, tooLarge, aborted } = await readBody(req, MAX_BODY_BYTES);
    if (aborted) return;
    if (tooLarge) return fail(f.tooLarge(), { connection: 'close' });
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

  const key = f.keyOf(req);
  log.setKey(entry, key);
  let found;
  if (f.keyRequired(r)) {
    if (!key) return fail(f.missingKey());
    found = keys.lookup(f.id, key);
    if (!found.known) return fail(f.incorrectKey(key));
  } else {
    found = keys.lookupAny(f.id, key);
  }
  const incorrectKey = () => f.incorrectKey(key ?? '');
  behaviour = found.behaviour;
  const state = found.state;

  if (behaviour.headersDelayMs > 0) {
    // (req.destroyed is no use here: a fully read request is destroyed already.)
    let gone = false;
    res.once('close', () => (gone = true));
    await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
    if (gone || res.destroyed) return;
  }

  // Account states, before the request itself is looked at.
  if (behaviour.revoked) return fail(incorrectKey());
  const quota = behaviour.quota ? f.accountErrors.quota?.() : null;
  if (quota) return fail(quota);
  if (state.rateLimit !== 0 && f.accountErrors.rateLimit) {
    if (state.rateLimit > 0) state.rateLimit--;
    const modelName = typeof body?.model === 'string' ? body.model : null;
    return fail(f.accountErrors.rateLimit(modelName, behaviour.retryAfter), f.rateHeaders?.(true, behaviour.retryAfter) ?? {});
  }
  if (state.status5xx > 0) {
    state.status5xx--;
    const n = behaviour.status5xx - state.status5xx - 1;
    return fail(f.accountErrors.server(n, requestId));
  }
  state.served++;
  const okHeaders = (extra = {}) => headers({ ...(f.rateHeaders?.(false) ?? {}), ...extra });

  try {
    if (r.name === 'models') {
      entry.status = 200;
      return sendJson(res, 200, f.listModels(r), headers());
    }
    if (r.name === 'model') {
      const m = f.findModel(r.id);
      entry.status = 200;
      return sendJson(res, 200, f.modelObject(m), headers());
    }

    // A deployment URL names the model; the body's `model` is then ignored, as Azure does.
    if (r.deployment && body && typeof body === 'object') body.model = r.deployment;

    if (parseError) throw f.badJson();
    if (f.precheck) f.precheck(body, r.name, r);

    if (r.name === 'embeddings') {
      const out = embeddings(body, f);
      entry.status = 200;
      return sendJson(res, 200, out, okHeaders());
    }

    // Chat completions.
    const model = validateChat(body, f);
    const decision = decide(body, behaviour);
    const n = body.n ?? 1;
    const plans = Array.from({ length: n }, (_, i) => planChoice(decision, i, body, model, f.toolCallId));
    const usage = f.usage(countPromptTokens(body), plans, model);
    // A gateway's own price of the call (OpenRouter, LiteLLM): `usage.cost`, in USD.
    if (behaviour.reportedCost != null) usage.cost = behaviour.reportedCost;
    const meta = {
      id: f.completionId(),
      created: Math.floor(Date.now() / 1000),
      model: model.answerModel,
      fingerprint: f.fingerprint(model),
      started,
    };
    if (body.stream !== true) {
      entry.status = 200;
      return sendJson(res, 200, f.style.answer(meta, plans, body, usage), okHeaders());
    }
    const includeUsage = body.stream_options?.include_usage === true;
    entry.status = 200;
    await writeSse(res, {
      status: 200,
      headers: okHeaders({ 'content-type': f.style.contentType ?? 'text/event-stream; charset=utf-8' }),
      events: chatChunks(meta, plans, body, usage, includeUsage, f.style),
      behaviour,
      errorEvent: f.midStreamError(requestId),
      entry,
    });
  } catch (err) {
    if (err instanceof HttpError) return fail(err);
    throw err;
  }
}

export default {
  id: 'openai',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('openai', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('openai', BEHAVIOUR_KEY_PREFIX);
  },
  handle: makeHandler(OPENAI_FLAVOUR),
};
