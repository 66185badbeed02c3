// Anthropic, as api.anthropic.com answers: https://api.anthropic.com/v1 ≙ http://127.0.0.1:N/anthropic/v1
//
// Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/messages, POST /v1/messages/count_tokens.
// Error bodies, status codes, headers and the SSE framing follow what the real service sends
// (recorded streams in shared/fixtures/anthropic.*, error bodies as reported by users and the
// SDKs). Where the real wording is not known, README.md says so.

import { readBody, sleep, randomId } from '../lib/http.mjs';
import { HttpError } from '../lib/errors.mjs';
import { responseCorsHeaders, parseHeaderList } from '../lib/cors.mjs';
import { writeSse } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS } from '../lib/keys.mjs';
import { splitPieces, splitFixed, estimateTokens, exampleFromSchema } from '../lib/text.mjs';
import { ANSWER_PREFIX } from './openai.mjs';

const PREFIX = '/anthropic';

export { ANSWER_PREFIX };
/** A prompt holding this gets a refusal (`stop_reason: "refusal"`, no content), as in the recordings. */
export const REFUSE_TRIGGER = '#refuse';
/** The versions the API accepts in `anthropic-version`. */
export const API_VERSIONS = ['2023-06-01', '2023-01-01'];
/** The opt-in header without which the API refuses browsers. */
export const BROWSER_HEADER = 'anthropic-dangerous-direct-browser-access';
/** The Messages API refuses bodies over 32 MB. */
export const MAX_MESSAGES_BYTES = 32 * 1024 * 1024;

/**
 * Models listed by GET /v1/models, newest first as the API lists them, with the output limit
 * the API enforces on `max_tokens` (the same as byok's catalog).
 */
export const MODELS = [
  { id: 'claude-opus-4-7', display_name: 'Claude Opus 4.7', created_at: '2026-04-16T00:00:00Z', maxOutput: 128000 },
  { id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-15T00:00:00Z', maxOutput: 64000, alias: 'claude-haiku-4-5' },
  { id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z', maxOutput: 64000, alias: 'claude-sonnet-4-5' },
  { id: 'claude-opus-4-1-20250805', display_name: 'Claude Opus 4.1', created_at: '2025-08-05T00:00:00Z', maxOutput: 32000, alias: 'claude-opus-4-1' },
  { id: 'claude-opus-4-20250514', display_name: 'Claude Opus 4', created_at: '2025-05-22T00:00:00Z', maxOutput: 32000, alias: 'claude-opus-4-0' },
  { id: 'claude-sonnet-4-20250514', display_name: 'Claude Sonnet 4', created_at: '2025-05-22T00:00:00Z', maxOutput: 64000, alias: 'claude-sonnet-4-0' },
  { id: 'claude-3-7-sonnet-20250219', display_name: 'Claude Sonnet 3.7', created_at: '2025-02-24T00:00:00Z', maxOutput: 64000, alias: 'claude-3-7-sonnet-latest' },
  { id: 'claude-3-5-haiku-20241022', display_name: 'Claude Haiku 3.5', created_at: '2024-10-22T00:00:00Z', maxOutput: 8192, alias: 'claude-3-5-haiku-latest' },
  { id: 'claude-3-haiku-20240307', display_name: 'Claude Haiku 3', created_at: '2024-03-07T00:00:00Z', maxOutput: 4096 },
];

/** Model ids accepted in requests: the listed ids and their aliases (answers echo the id asked for). */
const MODEL_BY_ID = new Map();
for (const m of MODELS) {
  MODEL_BY_ID.set(m.id, m);
  if (m.alias) MODEL_BY_ID.set(m.alias, m);
}

/** Built-in valid keys. Keys holding behaviour words (lib/keys.mjs) are valid too when they start with `sk-ant-`. */
export const BUILTIN_KEYS = [
  { key: 'sk-ant-api03-standinVALIDkey000000000000000000000000000000000000000000000000000000000000000000000000000000AA', behaviour: {}, note: 'API key, default behaviour (awkward chunking)' },
  { key: 'sk-ant-api03-standinWHOLEkey000000000000000000000000000000000000000000000000000000000000000000000000000000AA', behaviour: { chunking: 'whole' }, note: 'API key, one SSE event per write' },
  { key: 'sk-ant-api03-standinBYTEWISEkey000000000000000000000000000000000000000000000000000000000000000000000000000AA', behaviour: { chunking: 'bytewise' }, note: 'API key, one byte per write' },
];
export const BEHAVIOUR_KEY_PREFIX = 'sk-ant-';

/** The request headers a browser may send: Anthropic's own and the TypeScript SDK's. */
export const ALLOWED_HEADERS = [
  'x-api-key',
  'anthropic-version',
  'anthropic-beta',
  BROWSER_HEADER,
  'content-type',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
  'x-stainless-helper-method',
];

/** CORS of actual answers to a browser that opted in: any origin, every response header readable. */
const RESPONSE_CORS = { allowOrigin: '*', exposeHeaders: ['*'] };

/**
 * CORS of preflights, as the server answers browsers: a preflight that asks for the opt-in header
 * gets `access-control-allow-origin: *`; one that does not gets none, so the browser blocks the
 * call. `prepare(req)` (called by lib/cors.mjs before the preflight headers are built, in the
 * same turn of the event loop) makes that choice for the preflight at hand.
 */
export const CORS_POLICY = {
  optedIn: false,
  prepare(req) {
    this.optedIn = parseHeaderList(req.headers['access-control-request-headers']).includes(BROWSER_HEADER);
  },
  get allowOrigin() {
    return this.optedIn ? '*' : null;
  },
  allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowHeaders: ALLOWED_HEADERS,
  maxAge: 86400,
  exposeHeaders: ['*'],
  preflightStatus: 200,
};

const MESSAGE_PARAMS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'stream', 'temperature', 'top_p', 'top_k', 'stop_sequences',
  'tools', 'tool_choice', 'metadata', 'thinking', 'service_tier', 'container', 'mcp_servers', 'context_management',
]);
const COUNT_PARAMS = new Set(['model', 'messages', 'system', 'tools', 'tool_choice', 'thinking', 'mcp_servers']);
const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

// ---------------------------------------------------------------------------------------------
// Errors

/** `{"type":"error","error":{"type","message"},"request_id"}`: Anthropic's error body. */
export function anthropicErrorBody(type, message, requestId = null) {
  const body = { type: 'error', error: { type, message } };
  if (requestId) body.request_id = requestId;
  return body;
}

const TYPE_OF_STATUS = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function apiError(status, message, headers = {}) {
  return new HttpError(status, anthropicErrorBody(TYPE_OF_STATUS[status], message), headers);
}

const bad = (message) => apiError(400, message);
const required = (path) => bad(`${path}: Field required`);
const extra = (path) => bad(`${path}: Extra inputs are not permitted`);

export const CREDIT_MESSAGE =
  'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.';
export const CORS_MESSAGE = `CORS requests must set '${BROWSER_HEADER}' header`;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkNumber(body, name, { integer = false, min = null, max = null } = {}) {
  const v = body[name];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw bad(`${name}: Input should be a valid ${integer ? 'integer' : 'number'}`);
  }
  if (min !== null && v < min) throw bad(`${name}: Input should be greater than or equal to ${min}`);
  if (max !== null && v > max) throw bad(`${name}: Input should be less than or equal to ${max}`);
}

// ---------------------------------------------------------------------------------------------
// Validation

function blockText(block) {
  return typeof block?.text === 'string' ? block.text : '';
}

function validateBlock(block, at, role, isFinalAssistant) {
  if (!isObject(block)) throw bad(`${at}: Input should be a valid dictionary or object to extract fields from`);
  const types = role === 'user' ? ['text', 'image', 'document', 'tool_result'] : ['text', 'tool_use', 'thinking', 'redacted_thinking'];
  if (block.type === undefined || block.type === null) throw bad(`${at}: Unable to extract tag using discriminator 'type'`);
  if (!types.includes(block.type)) {
    throw bad(`${at}: Input tag '${block.type}' found using 'type' does not match any of the expected tags: ${types.map((t) => `'${t}'`).join(', ')}`);
  }
  const allowed = {
    text: ['type', 'text', 'cache_control', 'citations'],
    image: ['type', 'source', 'cache_control'],
    document: ['type', 'source', 'title', 'context', 'citations', 'cache_control'],
    tool_result: ['type', 'tool_use_id', 'content', 'is_error', 'cache_control'],
    tool_use: ['type', 'id', 'name', 'input', 'cache_control'],
    thinking: ['type', 'thinking', 'signature'],
    redacted_thinking: ['type', 'data'],
  }[block.type];
  for (const field of Object.keys(block)) if (!allowed.includes(field)) throw extra(`${at}.${block.type}.${field}`);
  if (block.type === 'text') {
    if (typeof block.text !== 'string') throw required(`${at}.text.text`);
    if (block.text === '' && !isFinalAssistant) throw bad('messages: text content blocks must be non-empty');
  }
  if (block.type === 'image') {
    const s = block.source;
    if (!isObject(s)) throw required(`${at}.image.source`);
    if (s.type === 'base64') {
      if (!MEDIA_TYPES.includes(s.media_type)) {
        throw bad(`${at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
      }
      if (typeof s.data !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.data)) {
        throw bad(`${at}.image.source.base64: The image data is not valid base64`);
      }
    } else if (s.type === 'url') {
      if (typeof s.url !== 'string' || !/^https?:\/\//.test(s.url)) throw bad(`${at}.image.source.url.url: Input should be a valid URL`);
    } else {
      throw bad(`${at}.image.source: Input tag '${s.type}' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'`);
    }
  }
  if (block.type === 'tool_use') {
    if (typeof block.id !== 'string') throw required(`${at}.tool_use.id`);
    if (typeof block.name !== 'string') throw required(`${at}.tool_use.name`);
    if (!isObject(block.input)) throw bad(`${at}.tool_use.input: Input should be a valid dictionary`);
  }
  if (block.type === 'tool_result') {
    if (typeof block.tool_use_id !== 'string') throw required(`${at}.tool_result.tool_use_id`);
    const c = block.content;
    if (c !== undefined && typeof c !== 'string' && !Array.isArray(c)) {
      throw bad(`${at}.tool_result.content: Input should be a valid string or list`);
    }
  }
}

/** The blocks of a message's content (a string is one text block). */
function blocksOf(content) {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

function validateMessages(messages) {
  if (messages.length === 0) throw bad('messages: at least one message is required');
  messages.forEach((m, i) => {
    const at = `messages.${i}`;
    if (!isObject(m)) throw bad(`${at}: Input should be a valid dictionary or object to extract fields from`);
    for (const field of Object.keys(m)) if (!['role', 'content'].includes(field)) throw extra(`${at}.${field}`);
    if (m.role === undefined || m.role === null) throw required(`${at}.role`);
    if (m.role === 'system') {
      throw bad('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.');
    }
    if (m.role !== 'user' && m.role !== 'assistant') throw bad(`${at}.role: Input should be 'user' or 'assistant'`);
    if (m.content === undefined || m.content === null) throw required(`${at}.content`);
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) throw bad(`${at}.content: Input should be a valid list`);
    const isFinalAssistant = i === messages.length - 1 && m.role === 'assistant';
    const empty = m.content === '' || (Array.isArray(m.content) && m.content.length === 0);
    if (empty && !isFinalAssistant) {
      throw bad(`${at}: all messages must have non-empty content except for the optional final assistant message`);
    }
    if (Array.isArray(m.content)) m.content.forEach((b, j) => validateBlock(b, `${at}.content.${j}`, m.role, isFinalAssistant));
    if (isFinalAssistant) {
      const blocks = blocksOf(m.content);
      const last = blocks[blocks.length - 1];
      if (last?.type === 'text' && /\s$/.test(last.text)) {
        throw bad('messages: final assistant content cannot end with trailing whitespace');
      }
    }
  });

  // Consecutive turns of one role are combined into one, as the API does, before the tool
  // checks: every tool_use must be answered by a tool_result in the next turn, first in it.
  const turns = [];
  messages.forEach((m, i) => {
    const blocks = blocksOf(m.content).map((b, j) => ({ block: b, i, j }));
    const last = turns[turns.length - 1];
    if (last && last.role === m.role) last.blocks.push(...blocks);
    else turns.push({ role: m.role, first: i, blocks });
  });
  turns.forEach((t, k) => {
    const prev = turns[k - 1];
    const asked = new Set(prev?.role === 'assistant' ? prev.blocks.filter((x) => x.block.type === 'tool_use').map((x) => x.block.id) : []);
    if (t.role === 'user') {
      let seenOther = false;
      for (const x of t.blocks) {
        if (x.block.type === 'tool_result') {
          if (!asked.has(x.block.tool_use_id)) {
            throw bad(
              `messages.${x.i}.content.${x.j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${x.block.tool_use_id}. ` +
                'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
            );
          }
          if (seenOther) {
            throw bad(`messages.${x.i}: \`tool_result\` blocks must come before any other content in a user message`);
          }
        } else {
          seenOther = true;
        }
      }
    }
    if (t.role === 'assistant') {
      const ids = t.blocks.filter((x) => x.block.type === 'tool_use').map((x) => x.block.id);
      if (!ids.length) return;
      const next = turns[k + 1];
      const answered = new Set(next ? next.blocks.filter((x) => x.block.type === 'tool_result').map((x) => x.block.tool_use_id) : []);
      const missing = ids.filter((id) => !answered.has(id));
      // A final assistant turn with calls is a prefill the model continues; that is allowed.
      if (next && missing.length) {
        throw bad(
          `messages.${next.first - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. ` +
            'Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
        );
      }
    }
  });
}

function validateTools(body) {
  const { tools, tool_choice: choice } = body;
  const hasTools = Array.isArray(tools) && tools.length > 0;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw bad('tools: Input should be a valid list');
    tools.forEach((t, i) => {
      const at = `tools.${i}`;
      if (!isObject(t)) throw bad(`${at}: Input should be a valid dictionary or object to extract fields from`);
      for (const field of Object.keys(t)) {
        if (!['name', 'description', 'input_schema', 'type', 'cache_control'].includes(field)) throw extra(`${at}.custom.${field}`);
      }
      if (t.name === undefined || t.name === null) throw required(`${at}.custom.name`);
      if (typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) {
        throw bad(`${at}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
      }
      if (t.input_schema === undefined || t.input_schema === null) throw required(`${at}.custom.input_schema`);
      if (!isObject(t.input_schema)) throw bad(`${at}.custom.input_schema: Input should be a valid dictionary`);
      if (t.input_schema.type !== 'object') throw bad(`${at}.custom.input_schema.type: Input should be 'object'`);
    });
    const names = tools.map((t) => t.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw bad(`tools: Tool names must be unique.`);
  }
  if (choice === undefined || choice === null) return;
  if (!isObject(choice)) throw bad('tool_choice: Input should be a valid dictionary or object to extract fields from');
  const types = ['auto', 'any', 'tool', 'none'];
  if (!types.includes(choice.type)) {
    throw bad(`tool_choice: Input tag '${choice.type}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
  }
  if (choice.type === 'tool' && typeof choice.name !== 'string') throw required('tool_choice.tool.name');
  if (!hasTools && choice.type !== 'none' && choice.type !== 'auto') {
    throw bad('tool_choice: tool_choice may only be specified while providing tools.');
  }
  if (choice.type === 'tool' && !tools.some((t) => t.name === choice.name)) {
    throw bad(`tool_choice: Tool '${choice.name}' not found in provided tools`);
  }
}

/** Validates a Messages request as the real endpoint does; returns the model entry. */
function validateMessagesRequest(body, { counting = false } = {}) {
  const params = counting ? COUNT_PARAMS : MESSAGE_PARAMS;
  for (const name of Object.keys(body)) if (!params.has(name)) throw extra(name);
  if (body.model === undefined || body.model === null) throw required('model');
  if (body.messages === undefined || body.messages === null) throw required('messages');
  if (!counting && (body.max_tokens === undefined || body.max_tokens === null)) throw required('max_tokens');
  if (typeof body.model !== 'string') throw bad('model: Input should be a valid string');
  if (!Array.isArray(body.messages)) throw bad('messages: Input should be a valid list');
  checkNumber(body, 'max_tokens', { integer: true, min: 1 });
  checkNumber(body, 'temperature', { min: 0, max: 1 });
  checkNumber(body, 'top_p', { min: 0, max: 1 });
  checkNumber(body, 'top_k', { integer: true, min: 0 });
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw bad('stream: Input should be a valid boolean');
  }
  const stops = body.stop_sequences;
  if (stops !== undefined && stops !== null && (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string'))) {
    throw bad('stop_sequences: Input should be a valid list of strings');
  }
  const sys = body.system;
  if (sys !== undefined && sys !== null) {
    if (typeof sys !== 'string' && !(Array.isArray(sys) && sys.every((b) => isObject(b) && b.type === 'text' && typeof b.text === 'string'))) {
      throw bad('system: Input should be a valid string or a list of text blocks');
    }
  }
  validateTools(body);
  validateMessages(body.messages);
  const model = MODEL_BY_ID.get(body.model);
  if (!model) throw apiError(404, `model: ${body.model}`);
  if (!counting && body.max_tokens > model.maxOutput) {
    throw bad(`max_tokens: ${body.max_tokens} > ${model.maxOutput}, which is the maximum allowed number of output tokens for ${model.id}`);
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// The deterministic answer

/** The text of content (string or blocks): text blocks joined with a space, and its images. */
function contentText(content) {
  if (typeof content === 'string') return { text: content, images: 0 };
  if (!Array.isArray(content)) return { text: '', images: 0 };
  const texts = [];
  let images = 0;
  for (const b of content) {
    if (b?.type === 'text') texts.push(blockText(b));
    else if (b?.type === 'image') images++;
  }
  return { text: texts.join(' '), images };
}

function toolResultText(block) {
  if (typeof block.content === 'string') return block.content;
  return contentText(block.content ?? []).text;
}

/** The documented input-token rule. */
export function countInputTokens(body) {
  let total = 3;
  const sys = body.system;
  if (typeof sys === 'string') total += estimateTokens(sys);
  else if (Array.isArray(sys)) total += estimateTokens(sys.map(blockText).join(' '));
  for (const m of body.messages) {
    const { text, images } = contentText(m.content);
    total += 3 + estimateTokens(text) + 85 * images;
    if (Array.isArray(m.content)) {
      const calls = m.content.filter((b) => b?.type === 'tool_use' || b?.type === 'tool_result');
      if (calls.length) total += estimateTokens(JSON.stringify(calls));
    }
  }
  if (Array.isArray(body.tools) && body.tools.length) total += estimateTokens(JSON.stringify(body.tools));
  return total;
}

/**
 * What the model "does": `{ kind: 'tool', tool, preface }`, `{ kind: 'refusal' }` or
 * `{ kind: 'text', text }`.
 */
function decide(body, behaviour) {
  const messages = body.messages;
  const last = messages[messages.length - 1];
  const lastBlocks = blocksOf(last.content);
  const results = last.role === 'user' ? lastBlocks.filter((b) => b?.type === 'tool_result') : [];
  const tools = Array.isArray(body.tools) && body.tools.length ? body.tools : null;
  const choice = body.tool_choice ?? { type: 'auto' };
  if (tools && choice.type !== 'none') {
    if (choice.type === 'tool') return { kind: 'tool', tool: tools.find((t) => t.name === choice.name), preface: null };
    if (choice.type === 'any') return { kind: 'tool', tool: tools[0], preface: null };
    if (!results.length) return { kind: 'tool', tool: tools[0], preface: `I'll use the ${tools[0].name} tool.` };
  }
  // The user's words: the text of the last user message that has any.
  let said = '';
  let images = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role !== 'user') continue;
    const c = contentText(messages[i].content);
    if (c.text === '' && !c.images) continue;
    said = c.text;
    images = c.images;
    break;
  }
  if (images) said += ` [${images} image${images > 1 ? 's' : ''}]`;
  if (said.includes(REFUSE_TRIGGER) && behaviour.reply === null) return { kind: 'refusal' };
  if (behaviour.reply !== null) return { kind: 'text', text: behaviour.reply };
  if (results.length) return { kind: 'text', text: `${ANSWER_PREFIX} The tool said: ${results.map(toolResultText).join(' ')}` };
  return { kind: 'text', text: `${ANSWER_PREFIX} You said: ${said}` };
}

/**
 * The answer's content blocks, stop reason and output tokens, within `max_tokens`:
 * `{ blocks: [{ type: 'text', pieces } | { type: 'tool_use', id, name, fragments, input }], stopReason, stopSequence, outputTokens }`.
 */
function plan(decision, body) {
  let budget = body.max_tokens;
  const blocks = [];
  let stopReason = 'end_turn';
  let stopSequence = null;
  let outputTokens = 0;
  const addText = (text) => {
    let pieces = splitPieces(text);
    if (pieces.length > budget) {
      pieces = pieces.slice(0, budget);
      stopReason = 'max_tokens';
    }
    budget -= pieces.length;
    outputTokens += pieces.length;
    if (pieces.length) blocks.push({ type: 'text', pieces });
  };

  if (decision.kind === 'refusal') return { blocks, stopReason: 'refusal', stopSequence, outputTokens: 5 };

  if (decision.kind === 'tool') {
    if (decision.preface) addText(decision.preface);
    if (stopReason === 'max_tokens') return { blocks, stopReason, stopSequence, outputTokens };
    const input = exampleFromSchema(decision.tool.input_schema ?? { type: 'object' }, 'value') ?? {};
    const json = JSON.stringify(input);
    // A call without arguments streams one empty piece, as the recordings show.
    const fragments = json === '{}' ? [] : splitFixed(json, 5);
    const allowed = Math.max(0, Math.min(fragments.length, budget - 1));
    const cut = allowed < fragments.length;
    blocks.push({ type: 'tool_use', id: `toolu_01${randomId(22)}`, name: decision.tool.name, fragments: fragments.slice(0, allowed), input });
    outputTokens += Math.min(budget, 1 + allowed);
    return { blocks, stopReason: cut ? 'max_tokens' : 'tool_use', stopSequence, outputTokens };
  }

  let text = decision.text;
  const stops = (body.stop_sequences ?? []).filter((s) => s !== '');
  let at = Infinity;
  for (const s of stops) {
    const k = text.indexOf(s);
    if (k >= 0 && k < at) {
      at = k;
      stopSequence = s;
    }
  }
  if (Number.isFinite(at)) {
    text = text.slice(0, at);
    stopReason = 'stop_sequence';
  }
  addText(text);
  if (stopReason !== 'max_tokens' && stopSequence === null) stopReason = 'end_turn';
  return { blocks, stopReason, stopSequence, outputTokens };
}

function usageObject(inputTokens, outputTokens) {
  return {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

const REFUSAL_DETAILS = {
  type: 'refusal',
  category: 'cyber',
  explanation: "This request triggered restrictions on violative content and was blocked under Anthropic's Usage Policy.",
};

function messageObject(meta, p, inputTokens) {
  const content = p.blocks.map((b) =>
    b.type === 'text'
      ? { type: 'text', text: b.pieces.join('') }
      : { type: 'tool_use', id: b.id, name: b.name, input: b.fragments.length === 0 ? {} : safeParse(b.fragments.join('')) },
  );
  const message = {
    model: meta.model,
    id: meta.id,
    type: 'message',
    role: 'assistant',
    content,
    stop_reason: p.stopReason,
    stop_sequence: p.stopSequence,
    usage: usageObject(inputTokens, p.outputTokens),
  };
  if (p.stopReason === 'refusal') message.stop_details = REFUSAL_DETAILS;
  return message;
}

/** The input of a call whose arguments were cut by max_tokens is empty. */
function safeParse(json) {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** The named SSE events of a streamed answer, with pings sprinkled in as the API sends them. */
function messageEvents(meta, p, inputTokens) {
  const events = [];
  const push = (type, payload) => events.push({ event: type, data: JSON.stringify({ type, ...payload }) });
  const ping = () => events.push({ event: 'ping', data: JSON.stringify({ type: 'ping' }) });
  push('message_start', {
    message: {
      model: meta.model,
      id: meta.id,
      type: 'message',
      role: 'assistant',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usageObject(inputTokens, 1),
    },
  });
  let pinged = false;
  p.blocks.forEach((b, index) => {
    if (b.type === 'text') {
      push('content_block_start', { index, content_block: { type: 'text', text: '' } });
      if (!pinged) {
        ping();
        pinged = true;
      }
      b.pieces.forEach((text, k) => {
        push('content_block_delta', { index, delta: { type: 'text_delta', text } });
        if (k % 5 === 4) ping();
      });
    } else {
      push('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      if (!pinged) {
        ping();
        pinged = true;
      }
      push('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
      for (const partial_json of b.fragments) push('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } });
    }
    push('content_block_stop', { index });
  });
  if (!pinged) ping();
  const delta = { stop_reason: p.stopReason, stop_sequence: p.stopSequence };
  if (p.stopReason === 'refusal') delta.stop_details = REFUSAL_DETAILS;
  push('message_delta', {
    delta,
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: p.outputTokens },
  });
  push('message_stop', {});
  return events;
}

/** The error event Anthropic sends inside a 200 stream (the documented example: overloaded). */
export const MID_STREAM_ERROR = {
  event: 'error',
  data: JSON.stringify(anthropicErrorBody('overloaded_error', 'Overloaded')),
};

// ---------------------------------------------------------------------------------------------
// Request handling

function route(method, path) {
  if (path === '/v1/models' && method === 'GET') return { name: 'models' };
  const m = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (m && method === 'GET') return { name: 'model', id: decodeURIComponent(m[1]) };
  if (path === '/v1/messages' && method === 'POST') return { name: 'messages' };
  if (path === '/v1/messages/count_tokens' && method === 'POST') return { name: 'count' };
  return null;
}

function modelObject(m) {
  return { type: 'model', id: m.id, display_name: m.display_name, created_at: m.created_at };
}

/** One page of the model list: `limit` (1 to 1000, default 20), `after_id`, `before_id`. */
function modelPage(url) {
  const q = url.searchParams;
  const limitRaw = q.get('limit');
  const limit = limitRaw === null ? 20 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw bad('limit: Input should be greater than or equal to 1 and less than or equal to 1000');
  }
  let list = MODELS;
  const after = q.get('after_id');
  const before = q.get('before_id');
  if (after !== null) list = list.slice(list.findIndex((m) => m.id === after) + 1);
  if (before !== null) {
    const k = list.findIndex((m) => m.id === before);
    list = k < 0 ? [] : list.slice(Math.max(0, k - limit), k);
  }
  const page = list.slice(0, limit);
  return {
    data: page.map(modelObject),
    has_more: list.length > page.length,
    first_id: page[0]?.id ?? null,
    last_id: page[page.length - 1]?.id ?? null,
  };
}

function rateHeaders({ limited = false, retryAfter = 1 } = {}) {
  const reset = new Date(Date.now() + retryAfter * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const h = {
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': limited ? '0' : '49',
    'anthropic-ratelimit-requests-reset': reset,
    'anthropic-ratelimit-input-tokens-limit': '50000',
    'anthropic-ratelimit-input-tokens-remaining': limited ? '0' : '49000',
    'anthropic-ratelimit-input-tokens-reset': reset,
    'anthropic-ratelimit-output-tokens-limit': '10000',
    'anthropic-ratelimit-output-tokens-remaining': limited ? '0' : '9900',
    'anthropic-ratelimit-output-tokens-reset': reset,
  };
  if (limited) h['retry-after'] = String(retryAfter);
  return h;
}

/** Sends JSON as the API does: compact, one line. */
function sendJson(res, status, value, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length), ...headers });
  res.end(body);
}

function requestId() {
  return `req_011C${randomId(20)}`;
}

async function handle({ req, res, path, url, entry, keys, log }) {
  const reqId = requestId();
  let behaviour = BEHAVIOUR_DEFAULTS;
  // A browser request (it has an Origin) without the opt-in header gets no CORS header at all.
  const browser = req.headers.origin !== undefined;
  const optedIn = String(req.headers[BROWSER_HEADER] ?? '').toLowerCase() === 'true';
  const headers = (extraHeaders = {}) => ({
    'request-id': reqId,
    'anthropic-organization-id': 'a1b2c3d4-0000-4000-8000-standin00000',
    ...(browser && !optedIn ? {} : responseCorsHeaders(RESPONSE_CORS, behaviour.exposeHeaders)),
    ...extraHeaders,
  });
  const fail = (err, extraHeaders = {}) => {
    entry.status = err.status;
    err.body.request_id = reqId;
    sendJson(res, err.status, err.body, { ...headers(extraHeaders), ...err.headers });
  };

  const r = route(req.method, path);
  if (!r) {
    req.resume();
    return fail(apiError(404, 'Not Found'));
  }

  // Body first (so it is in the log whatever happens next), then the headers.
  let body = null;
  let parseError = false;
  if (req.method === 'POST') {
    const { buffer, tooLarge, aborted } = await readBody(req, MAX_MESSAGES_BYTES);
    if (aborted) return;
    if (tooLarge) return fail(apiError(413, 'Request exceeds the maximum allowed number of bytes.'), { connection: 'close' });
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

  const key = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : null;
  log.setKey(entry, key);
  if (browser && !optedIn) return fail(apiError(401, CORS_MESSAGE));
  if (!key) return fail(apiError(401, 'x-api-key header is required'));
  const found = keys.lookup('anthropic', key);
  if (!found.known) return fail(apiError(401, 'invalid x-api-key'));
  behaviour = found.behaviour;
  const state = found.state;
  const version = req.headers['anthropic-version'];
  if (version === undefined) return fail(bad('anthropic-version: header is required'));
  if (!API_VERSIONS.includes(version)) return fail(bad(`anthropic-version: "${version}" is not a valid version`));

  if (behaviour.headersDelayMs > 0) {
    let gone = false;
    res.once('close', () => (gone = true));
    await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
    if (gone || res.destroyed) return;
  }

  // Account states, before the request itself is looked at.
  if (behaviour.revoked) return fail(apiError(401, 'invalid x-api-key'));
  if (behaviour.quota) return fail(bad(CREDIT_MESSAGE));
  if (behaviour.overloaded) return fail(apiError(529, 'Overloaded'));
  if (state.rateLimit !== 0) {
    if (state.rateLimit > 0) state.rateLimit--;
    return fail(
      apiError(429,
        'Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); ' +
          'see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, ' +
          'or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options ' +
          'for a rate limit increase.'),
      rateHeaders({ limited: true, retryAfter: behaviour.retryAfter }),
    );
  }
  if (state.status5xx > 0) {
    state.status5xx--;
    const n = behaviour.status5xx - state.status5xx - 1;
    return fail(n % 2 === 0 ? apiError(529, 'Overloaded') : apiError(500, 'Internal server error'));
  }
  state.served++;

  try {
    if (r.name === 'models') {
      const page = modelPage(url);
      entry.status = 200;
      return sendJson(res, 200, page, headers());
    }
    if (r.name === 'model') {
      const m = MODEL_BY_ID.get(r.id);
      if (!m) throw apiError(404, `model: ${r.id}`);
      entry.status = 200;
      return sendJson(res, 200, modelObject(m), headers());
    }
    if (parseError) throw bad('There was an error parsing the body of your request: it is not a JSON object');

    if (r.name === 'count') {
      validateMessagesRequest(body, { counting: true });
      entry.status = 200;
      return sendJson(res, 200, { input_tokens: countInputTokens(body) }, headers());
    }

    const model = validateMessagesRequest(body);
    const p = plan(decide(body, behaviour), body);
    const inputTokens = countInputTokens(body);
    const meta = { id: `msg_01${randomId(22)}`, model: body.model ?? model.id };
    if (body.stream !== true) {
      entry.status = 200;
      return sendJson(res, 200, messageObject(meta, p, inputTokens), headers(rateHeaders()));
    }
    entry.status = 200;
    await writeSse(res, {
      status: 200,
      headers: headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...rateHeaders() }),
      events: messageEvents(meta, p, inputTokens),
      behaviour,
      errorEvent: MID_STREAM_ERROR,
      entry,
    });
  } catch (err) {
    if (err instanceof HttpError) return fail(err);
    throw err;
  }
}

export default {
  id: 'anthropic',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('anthropic', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('anthropic', BEHAVIOUR_KEY_PREFIX);
  },
  handle,
};
