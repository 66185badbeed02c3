// Ollama, as a local `ollama serve` answers: http://localhost:11434 ≙ http://127.0.0.1:N/ollama
//
// Routes: GET/HEAD /, GET/HEAD /api/version, GET/HEAD /api/tags, GET /api/ps, POST /api/show,
// POST /api/chat (NDJSON stream unless `stream: false`), POST /api/embed. Errors are
// `{"error": "…"}`; unknown paths get gin's plain-text `404 page not found`, a known path with
// the wrong method `405 method not allowed`. No key is needed (Ollama has none); a bearer key,
// when sent, only selects a behaviour (lib/keys.mjs words).
//
// CORS is Ollama's own (server/routes.go with gin-contrib/cors, envconfig.AllowedOrigins):
// browser origins on localhost, 127.0.0.1 and 0.0.0.0 (any port, http or https) and the app://,
// file://, tauri://, vscode-webview://, vscode-file:// schemes are allowed, plus OLLAMA_ORIGINS
// from the stand-in's environment; any other origin gets 403 with no CORS headers, preflight or
// not. Preflights list a fixed set of request headers. Under the base URL
// http://127.0.0.1:N/ollama/_refuse-origin the stand-in is an Ollama that allows no browser
// origin at all: what a page served from a real site meets when OLLAMA_ORIGINS does not name it.

import { readBody, sendJson, sleep, randomId, MAX_BODY_BYTES } from '../lib/http.mjs';
import { judgePreflight } from '../lib/cors.mjs';
import { writeSse } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS } from '../lib/keys.mjs';
import { splitPieces, estimateTokens, hashVector, exampleFromSchema } from '../lib/text.mjs';
import { ANSWER_PREFIX } from './openai.mjs';

const PREFIX = '/ollama';
/** The path segment that turns the stand-in into an Ollama refusing every browser origin. */
export const REFUSE_ORIGIN_SEGMENT = '/_refuse-origin';
export const VERSION = '0.12.6';
/** Embedding length (nomic-embed-text gives 768 numbers: kept small on purpose). */
export const EMBEDDING_DIMS = 8;
/** A prompt holding this word is "served from Ollama's cache": no prompt_eval_count. */
export const CACHED_TRIGGER = '#cached';

/** Locally "pulled" models, most recently modified first, as /api/tags lists them. */
export const MODELS = [
  { name: 'llama3.1:8b', family: 'llama', size: '8.0B', tools: true },
  { name: 'llama3.1:70b', family: 'llama', size: '70.6B', tools: true },
  { name: 'llama3.2:latest', family: 'llama', size: '3.2B', tools: true },
  { name: 'mistral:7b', family: 'llama', size: '7.2B', tools: true },
  { name: 'qwen3:4b', family: 'qwen3', size: '4.0B', tools: true, thinking: true },
  { name: 'llava:7b', family: 'llama', families: ['llama', 'clip'], size: '7B', vision: true },
  { name: 'codellama:13b', family: 'llama', size: '13B' },
  { name: 'nomic-embed-text:latest', family: 'nomic-bert', size: '137M', embedding: true },
];

/** Ollama's AllowHeaders (server/routes.go), in its order, as gin-contrib/cors writes them. */
export const ALLOW_HEADERS = [
  'Authorization', 'Content-Type', 'User-Agent', 'Accept', 'X-Requested-With', 'Openai-Beta',
  'X-Stainless-Arch', 'X-Stainless-Async', 'X-Stainless-Custom-Poll-Interval', 'X-Stainless-Helper-Method',
  'X-Stainless-Lang', 'X-Stainless-Os', 'X-Stainless-Package-Version', 'X-Stainless-Poll-Helper',
  'X-Stainless-Retry-Count', 'X-Stainless-Runtime', 'X-Stainless-Runtime-Version', 'X-Stainless-Timeout',
];
/** gin-contrib/cors DefaultConfig's methods and max age (12 hours). */
export const ALLOW_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
export const MAX_AGE = 43200;

/** Ollama's default origins (envconfig.AllowedOrigins), after OLLAMA_ORIGINS. */
export function allowedOrigins(env = process.env) {
  const origins = [];
  const configured = (env.OLLAMA_ORIGINS ?? '').trim().replace(/^["']|["']$/g, '');
  if (configured) origins.push(...configured.split(',').map((o) => o.trim()).filter(Boolean));
  for (const host of ['localhost', '127.0.0.1', '0.0.0.0']) {
    origins.push(`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`);
  }
  origins.push('app://*', 'file://*', 'tauri://*', 'vscode-webview://*', 'vscode-file://*');
  return origins;
}

/** gin-contrib/cors with AllowWildcard: `*` alone allows all; one `*` splits prefix and suffix. */
export function originAllowed(origin, patterns) {
  return patterns.some((p) => {
    if (p === '*') return true;
    const star = p.indexOf('*');
    if (star < 0) return p === origin;
    const [head, tail] = [p.slice(0, star), p.slice(star + 1)];
    return origin.length >= head.length + tail.length && origin.startsWith(head) && origin.endsWith(tail);
  });
}

/** Placeholder CORS policy, for the server's generic parts; real answers come from corsOf(). */
export const CORS_POLICY = {
  allowOrigin: 'http://localhost',
  allowMethods: ALLOW_METHODS,
  allowHeaders: ALLOW_HEADERS,
  maxAge: MAX_AGE,
  exposeHeaders: [],
  preflightStatus: 204,
};

/**
 * How Ollama's CORS middleware treats a request: `{ cors: false }` when it is not a CORS request
 * (no Origin, or the Origin is the server itself), else `{ cors: true, origin, allowed }`.
 */
function corsOf(req, refuseAll) {
  const origin = req.headers.origin;
  if (!origin) return { cors: false };
  const host = req.headers.host;
  if (origin === `http://${host}` || origin === `https://${host}`) return { cors: false };
  const allowed = !refuseAll && originAllowed(origin, allowedOrigins());
  return { cors: true, origin, allowed };
}

// ---------------------------------------------------------------------------------------------
// Models and names

function resolveModel(name) {
  if (typeof name !== 'string' || name === '') return null;
  const full = name.includes(':') ? name : `${name}:latest`;
  return MODELS.find((m) => m.name === full) ?? null;
}

function digestOf(name) {
  return hashVector(name, 8).map((x) => Math.floor((x + 1) * 1e6).toString(16).padStart(6, '0')).join('').slice(0, 64).padEnd(64, '0');
}

function tagEntry(m, i) {
  return {
    name: m.name,
    model: m.name,
    modified_at: new Date(Date.UTC(2025, 8, 30 - i, 12, 0, 0)).toISOString().replace('Z', '+00:00'),
    size: 1_000_000_000 + i * 123_456_789,
    digest: digestOf(m.name),
    details: {
      parent_model: '',
      format: 'gguf',
      family: m.family,
      families: m.families ?? [m.family],
      parameter_size: m.size,
      quantization_level: m.embedding ? 'F16' : 'Q4_K_M',
    },
  };
}

function capabilities(m) {
  if (m.embedding) return ['embedding'];
  return ['completion', ...(m.tools ? ['tools'] : []), ...(m.vision ? ['vision'] : []), ...(m.thinking ? ['thinking'] : [])];
}

// ---------------------------------------------------------------------------------------------
// Errors (Go's wording where Ollama passes Go's errors through)

class OllamaError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
const bad = (message) => new OllamaError(400, message);
const goType = (v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v);
const unmarshal = (v, field, goTypeName) =>
  bad(`json: cannot unmarshal ${goType(v)} into Go struct field ${field} of type ${goTypeName}`);

/** The start of Go's JSON syntax error for a body that is not JSON. */
function syntaxError(text) {
  const first = text.trimStart()[0];
  if (first === undefined) return bad('missing request body');
  if (!'{["-0123456789tfn'.includes(first)) return bad(`invalid character '${first}' looking for beginning of value`);
  return bad('unexpected EOF');
}

function isBase64(s) {
  return typeof s === 'string' && s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Chat

function checkChat(body) {
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw unmarshal(body.stream, 'ChatRequest.stream', 'bool');
  }
  if (body.messages !== undefined && body.messages !== null && !Array.isArray(body.messages)) {
    throw unmarshal(body.messages, 'ChatRequest.messages', '[]api.Message');
  }
  for (const m of body.messages ?? []) {
    if (!isObject(m)) throw unmarshal(m, 'ChatRequest.messages', 'api.Message');
    if (m.content !== undefined && m.content !== null && typeof m.content !== 'string') {
      throw unmarshal(m.content, 'Message.messages.content', 'string');
    }
    for (const img of m.images ?? []) {
      if (!isBase64(img)) throw bad('illegal base64 data at input byte 4');
    }
    for (const c of m.tool_calls ?? []) {
      const args = c?.function?.arguments;
      if (args !== undefined && args !== null && !isObject(args)) {
        throw unmarshal(args, 'ToolCallFunction.messages.tool_calls.function.arguments', 'api.ToolCallFunctionArguments');
      }
    }
  }
  if (body.options !== undefined && body.options !== null) {
    if (!isObject(body.options)) throw unmarshal(body.options, 'ChatRequest.options', 'map[string]interface {}');
    for (const name of ['temperature', 'top_p']) {
      const v = body.options[name];
      if (v !== undefined && v !== null && typeof v !== 'number') throw bad(`option "${name}" must be of type float32`);
    }
    const n = body.options.num_predict;
    if (n !== undefined && n !== null && typeof n !== 'number') throw bad('option "num_predict" must be of type integer');
    const stop = body.options.stop;
    if (stop !== undefined && stop !== null && (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string'))) {
      throw bad('option "stop" must be of an array of strings');
    }
  }
  if (typeof body.model !== 'string' || body.model === '') throw bad('model is required');
  const model = resolveModel(body.model);
  if (!model) throw new OllamaError(404, `model '${body.model}' not found`);
  if (model.embedding) throw bad(`"${body.model}" does not support chat`);
  if (Array.isArray(body.tools) && body.tools.length && !model.tools) {
    throw bad(`registry.ollama.ai/library/${model.name} does not support tools`);
  }
  return model;
}

function messageText(m) {
  return typeof m?.content === 'string' ? m.content : '';
}

function planAnswer(body, behaviour, model) {
  const messages = body.messages ?? [];
  const last = messages[messages.length - 1];
  const tools = Array.isArray(body.tools) ? body.tools.filter((t) => isObject(t?.function)) : [];
  const thinking = model.thinking && body.think !== false ? splitPieces('Let me think about that.') : [];
  if (tools.length && last?.role !== 'tool') {
    const tool = tools[0].function;
    return {
      kind: 'tool',
      thinking,
      call: {
        id: `call_${randomId(8, 'abcdefghijklmnopqrstuvwxyz0123456789')}`,
        name: tool.name,
        arguments: exampleFromSchema(tool.parameters ?? { type: 'object' }, 'value') ?? {},
      },
      reason: 'stop',
    };
  }
  let text;
  if (behaviour.reply !== null) {
    text = behaviour.reply;
  } else if (last?.role === 'tool') {
    text = `${ANSWER_PREFIX} The tool said: ${messageText(last)}`;
  } else {
    const user = [...messages].reverse().find((m) => m?.role === 'user');
    const images = user?.images?.length ?? 0;
    text = `${ANSWER_PREFIX} You said: ${messageText(user)}${images ? ` [${images} image(s)]` : ''}`;
  }
  for (const stop of body.options?.stop ?? []) {
    const at = stop === '' ? -1 : text.indexOf(stop);
    if (at >= 0) text = text.slice(0, at);
  }
  let pieces = splitPieces(text);
  let reason = 'stop';
  const limit = body.options?.num_predict;
  if (Number.isInteger(limit) && limit >= 0 && pieces.length > limit) {
    pieces = pieces.slice(0, limit);
    reason = 'length';
  }
  return { kind: 'text', thinking, pieces, reason };
}

function metricsOf(body, plan) {
  const messages = body.messages ?? [];
  let prompt = 0;
  for (const m of messages) prompt += 4 + estimateTokens(messageText(m)) + 576 * (m?.images?.length ?? 0);
  if (Array.isArray(body.tools) && body.tools.length) prompt += estimateTokens(JSON.stringify(body.tools));
  const output = plan.thinking.length + (plan.kind === 'tool' ? 1 + Math.ceil(JSON.stringify(plan.call.arguments).length / 4) : plan.pieces.length);
  const cached = messages.some((m) => messageText(m).includes(CACHED_TRIGGER));
  return {
    total_duration: 885_095_291,
    load_duration: 3_753_500,
    ...(cached ? {} : { prompt_eval_count: prompt, prompt_eval_duration: 328_493_000 }),
    eval_count: output,
    eval_duration: 552_222_000,
  };
}

function now() {
  return new Date().toISOString().replace('Z', '000Z');
}

function chatLines(model, plan, metrics) {
  const line = (message, done = false) => ({ model: model.name, created_at: now(), message: { role: 'assistant', ...message }, done });
  const lines = plan.thinking.map((t) => line({ content: '', thinking: t }));
  if (plan.kind === 'tool') {
    lines.push(line({ content: '', tool_calls: [{ id: plan.call.id, function: { index: 0, name: plan.call.name, arguments: plan.call.arguments } }] }));
  } else {
    for (const p of plan.pieces) lines.push(line({ content: p }));
  }
  lines.push({ model: model.name, created_at: now(), message: { role: 'assistant', content: '' }, done_reason: plan.reason, done: true, ...metrics });
  return lines.map((l) => ({ data: JSON.stringify(l) }));
}

function chatObject(model, plan, metrics) {
  const message = { role: 'assistant', content: plan.kind === 'text' ? plan.pieces.join('') : '' };
  if (plan.thinking.length) message.thinking = plan.thinking.join('');
  if (plan.kind === 'tool') {
    message.tool_calls = [{ id: plan.call.id, function: { index: 0, name: plan.call.name, arguments: plan.call.arguments } }];
  }
  return { model: model.name, created_at: now(), message, done_reason: plan.reason, done: true, ...metrics };
}

/** One JSON object and `\n` per line, as Ollama's streamResponse writes them. */
export function frameLine({ data }, lineEnding = 'lf') {
  return Buffer.from(data + (lineEnding === 'crlf' ? '\r\n' : '\n'), 'utf8');
}

/** What Ollama writes when the runner fails after the answer began (behaviour `errorAfter`). */
const MID_STREAM_ERROR = {
  data: JSON.stringify({ error: 'an error was encountered while running the model: llama runner process has terminated: signal: killed' }),
};

// ---------------------------------------------------------------------------------------------
// Embed

function embed(body) {
  if (typeof body.model !== 'string' || body.model === '') throw bad('model is required');
  const model = resolveModel(body.model);
  if (!model) throw new OllamaError(404, `model '${body.model}' not found`);
  if (!model.embedding) throw bad(`"${body.model}" does not support embeddings`);
  const input = body.input;
  let texts;
  if (typeof input === 'string') texts = [input];
  else if (Array.isArray(input) && input.every((t) => typeof t === 'string')) texts = input;
  else throw bad('invalid input type');
  if (texts.length === 0) return { model: model.name, embeddings: [] };
  return {
    model: model.name,
    embeddings: texts.map((t) => hashVector(`${model.name}\n${t}`, EMBEDDING_DIMS)),
    total_duration: 14_143_917,
    load_duration: 1_019_500,
    prompt_eval_count: texts.reduce((s, t) => s + estimateTokens(t), 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Request handling

/** The routes Ollama registers (server/routes.go) that the stand-in answers, with their methods. */
const ROUTES = {
  '/': ['GET', 'HEAD'],
  '/api/version': ['GET', 'HEAD'],
  '/api/tags': ['GET', 'HEAD'],
  '/api/ps': ['GET'],
  '/api/show': ['POST'],
  '/api/chat': ['POST'],
  '/api/embed': ['POST'],
};

function sendText(res, status, text, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), ...headers });
  res.end(body);
}

function bearerKey(req) {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : null;
}

/** Splits `/_refuse-origin/api/chat` into the mode and Ollama's own path. */
function modeOf(path) {
  if (path === REFUSE_ORIGIN_SEGMENT || path.startsWith(REFUSE_ORIGIN_SEGMENT + '/')) {
    return { refuseAll: true, path: path.slice(REFUSE_ORIGIN_SEGMENT.length) || '/' };
  }
  return { refuseAll: false, path: path || '/' };
}

/** Answers a preflight as gin-contrib/cors does (called by server.mjs for OPTIONS). */
function preflight({ req, res, path, entry }) {
  req.resume();
  const { refuseAll, path: own } = modeOf(path);
  const c = corsOf(req, refuseAll);
  entry.preflight = c.cors;
  if (!c.cors) {
    // Not a CORS request: the router answers, and no route takes OPTIONS.
    entry.status = ROUTES[own] ? 405 : 404;
    return sendText(res, entry.status, ROUTES[own] ? '405 method not allowed' : '404 page not found');
  }
  entry.cors = judgePreflight(req, {
    allowOrigin: c.allowed ? c.origin : '',
    allowMethods: ALLOW_METHODS,
    allowHeaders: ALLOW_HEADERS,
  });
  if (!c.allowed) {
    entry.status = 403;
    res.writeHead(403, { 'content-length': '0' });
    return res.end();
  }
  entry.status = 204;
  res.writeHead(204, {
    'access-control-allow-origin': c.origin,
    'access-control-allow-methods': ALLOW_METHODS.join(','),
    'access-control-allow-headers': ALLOW_HEADERS.join(','),
    'access-control-max-age': String(MAX_AGE),
    vary: ['Origin', 'Access-Control-Request-Method', 'Access-Control-Request-Headers'],
  });
  return res.end();
}

/**
 * Not sent by Ollama: lets byok's no-cors reachability probe read "the server answered" from a
 * cross-origin-isolated page (the browser test runner's), as it can from any other page.
 */
const CORP = { 'cross-origin-resource-policy': 'cross-origin' };

async function handle({ req, res, path, entry, keys, log }) {
  const { refuseAll, path: own } = modeOf(path);
  const c = corsOf(req, refuseAll);
  if (c.cors && !c.allowed) {
    // gin-contrib/cors aborts before any route: 403, empty, no CORS headers.
    req.resume();
    entry.status = 403;
    res.writeHead(403, { 'content-length': '0', ...CORP });
    return res.end();
  }
  const cors = { ...CORP, ...(c.cors ? { 'access-control-allow-origin': c.origin, vary: 'Origin' } : {}) };
  const json = (status, value, extra = {}) => {
    entry.status = status;
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(JSON.stringify(value), 'utf8');
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length), ...cors, ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const fail = (err) => json(err.status, { error: err.message });

  const methods = ROUTES[own];
  if (!methods || !methods.includes(req.method)) {
    req.resume();
    entry.status = methods ? 405 : 404;
    return sendText(res, entry.status, methods ? '405 method not allowed' : '404 page not found', cors);
  }

  let body = null;
  let rawText = '';
  if (req.method === 'POST') {
    const { buffer, tooLarge, aborted } = await readBody(req, MAX_BODY_BYTES);
    if (aborted) return;
    if (tooLarge) return fail(bad('http: request body too large'));
    rawText = buffer.toString('utf8');
    try {
      body = JSON.parse(rawText);
      entry.body = body;
    } catch {
      entry.bodyError = 'not JSON';
      entry.bodyText = rawText.slice(0, 2000);
    }
  } else {
    req.resume();
  }

  // Ollama reads no key; the stand-in uses one, when sent, to pick a behaviour.
  const key = bearerKey(req);
  log.setKey(entry, key);
  const found = key ? keys.lookup('ollama', key) : { known: false };
  const behaviour = found.known ? found.behaviour : BEHAVIOUR_DEFAULTS;
  const state = found.known ? found.state : { status5xx: 0, rateLimit: 0, served: 0 };

  if (behaviour.headersDelayMs > 0) {
    let gone = false;
    res.once('close', () => (gone = true));
    await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
    if (gone || res.destroyed) return;
  }
  // What a reverse proxy in front of Ollama would answer.
  if (behaviour.revoked) return fail(new OllamaError(401, 'unauthorized'));
  if (state.rateLimit !== 0) {
    if (state.rateLimit > 0) state.rateLimit--;
    return fail(new OllamaError(503, 'server busy, please try again.  maximum pending requests exceeded'));
  }
  if (state.status5xx > 0) {
    state.status5xx--;
    const n = behaviour.status5xx - state.status5xx - 1;
    return fail(n % 2 === 0
      ? new OllamaError(500, 'llama runner process has terminated: exit status 2')
      : new OllamaError(503, 'server busy, please try again.  maximum pending requests exceeded'));
  }
  state.served++;

  try {
    if (own === '/') {
      entry.status = 200;
      return sendText(res, 200, req.method === 'HEAD' ? '' : 'Ollama is running', cors);
    }
    if (own === '/api/version') return json(200, { version: VERSION });
    if (own === '/api/tags') return json(200, { models: MODELS.map(tagEntry) });
    if (own === '/api/ps') return json(200, { models: [] });
    if (body === null) throw syntaxError(rawText);
    if (!isObject(body)) throw unmarshal(body, '', `api.${own === '/api/embed' ? 'EmbedRequest' : own === '/api/show' ? 'ShowRequest' : 'ChatRequest'}`);
    if (own === '/api/show') {
      const model = resolveModel(body.model ?? body.name);
      if (!model) throw new OllamaError(404, `model '${body.model ?? body.name ?? ''}' not found`);
      const i = MODELS.indexOf(model);
      return json(200, { details: tagEntry(model, i).details, capabilities: capabilities(model), modified_at: tagEntry(model, i).modified_at });
    }
    if (own === '/api/embed') return json(200, embed(body));

    const model = checkChat(body);
    const plan = planAnswer(body, behaviour, model);
    const metrics = metricsOf(body, plan);
    if (body.stream === false) return json(200, chatObject(model, plan, metrics));
    entry.status = 200;
    await writeSse(res, {
      status: 200,
      headers: { 'content-type': 'application/x-ndjson', ...cors },
      events: chatLines(model, plan, metrics),
      behaviour,
      errorEvent: MID_STREAM_ERROR,
      entry,
      frame: frameLine,
    });
  } catch (err) {
    if (err instanceof OllamaError) return fail(err);
    throw err;
  }
}

export default {
  id: 'ollama',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    // Any key is accepted; one holding behaviour words gets that behaviour.
    keys.setBehaviourPrefix('ollama', '');
  },
  preflight,
  handle,
};
