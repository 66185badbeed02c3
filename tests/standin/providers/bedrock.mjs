// Amazon Bedrock, as AWS answers:
//   runtime        https://bedrock-runtime.us-east-1.amazonaws.com ≙ http://127.0.0.1:N/bedrock
//   control plane  https://bedrock.us-east-1.amazonaws.com         ≙ the same prefix
// One prefix serves both (byok takes a base URL that is not an AWS runtime host as its own
// control plane): POST /model/{modelId}/converse, POST /model/{modelId}/converse-stream,
// GET /foundation-models.
//
// Authentication is checked for real: AWS Signature Version 4 is recomputed here with
// node:crypto exactly as AWS does it (signing name `bedrock`, region us-east-1, the path
// URI-encoded a second time, five minutes of clock skew), or a Bedrock API key is taken as a
// bearer token. Streams are real `application/vnd.amazon.eventstream` frames with both CRC32s
// (computed by hand below: Node 20 has no zlib.crc32), cut awkwardly across writes. Error bodies
// are AWS's `{"message": …}` with the type in `x-amzn-errortype`. Wording not confirmed against
// the live service is marked "(unverified wording)" in README.md.

import { createHash, createHmac, randomUUID } from 'node:crypto';

import { readBody, sendJson, sleep, nextTick, randomId, MAX_BODY_BYTES } from '../lib/http.mjs';
import { responseCorsHeaders } from '../lib/cors.mjs';
import { shapeStream } from '../lib/sse.mjs';
import { BEHAVIOUR_DEFAULTS } from '../lib/keys.mjs';
import { splitPieces, splitFixed, estimateTokens, exampleFromSchema } from '../lib/text.mjs';

const PREFIX = '/bedrock';
export const REGION = 'us-east-1';
export const SERVICE = 'bedrock';
/** How far a request's x-amz-date may be from the server's clock, as AWS allows. */
export const MAX_SKEW_MS = 5 * 60 * 1000;

/** The secret of AWS's documentation example; behaviour access keys pair with it. */
export const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const SESSION_TOKEN =
  'FwoGZXIvYXdzEBYaDHN0YW5kaW5TRVNTSU9OIjB0b2tlbi1mb3ItdGhlLWJ5b2stc3RhbmQtaW4tb25seQ==';

/** Built-in valid keys: credentials as the user pastes them, and Bedrock API keys. */
export const BUILTIN_KEYS = [
  { key: `AKIAIOSFODNN7EXAMPLE:${EXAMPLE_SECRET}`, behaviour: {}, note: "AWS's documentation example credentials, awkward chunking" },
  { key: 'AKIASTANDINSECOND000:c3RhbmRpbi1zZWNvbmQtc2VjcmV0LWtleS0wMDAw', behaviour: { chunking: 'whole' }, note: 'a second pair, one frame per write' },
  { key: `ASIASTANDINSESSION00:${EXAMPLE_SECRET}:${SESSION_TOKEN}`, behaviour: {}, note: 'temporary credentials: the session token is required and signed' },
  { key: 'ABSKc3RhbmRpbi12YWxpZC1iZWRyb2NrLWFwaS1rZXktMDAwMA==', behaviour: {}, note: 'Bedrock API key (bearer token)' },
];

/**
 * CORS as AWS answers browsers for Bedrock: any origin, no credentials. The request headers
 * allowed are the AWS SDK's (a fixed list rather than an echo, so that a stray header still
 * shows in the request log).
 */
export const CORS_POLICY = {
  allowOrigin: '*',
  allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
  allowHeaders: [
    'authorization',
    'content-type',
    'x-amz-date',
    'x-amz-security-token',
    'x-amz-content-sha256',
    'x-amz-user-agent',
    'amz-sdk-invocation-id',
    'amz-sdk-request',
    'x-amzn-bedrock-accept',
    'x-amzn-bedrock-trace',
    'x-amzn-bedrock-guardrailidentifier',
    'x-amzn-bedrock-guardrailversion',
    'x-amzn-bedrock-performanceconfig-latency',
  ],
  maxAge: 600,
  exposeHeaders: ['x-amzn-requestid', 'x-amzn-errortype', 'x-amzn-errormessage', 'date'],
  preflightStatus: 200,
};

/** The fixed part of every answer; non-ASCII on purpose so UTF-8 splitting is exercised. */
export const ANSWER_PREFIX = 'Hello from the byok Bedrock stand-in (héllo — 🌍).';
/** Prompt triggers (anywhere in the last user text). */
export const TRIGGERS = {
  throttle: '#throttle', // a throttlingException frame after two frames
  badcrc: '#badcrc', // the third frame's message CRC is wrong
  cutframe: '#cutframe', // the body ends in the middle of the fourth frame
  guardrail: '#guardrail', // stopReason guardrail_intervened
};

/** The models: the catalog's Bedrock models (by id and inference-profile alias). */
export const MODELS = [
  { id: 'anthropic.claude-3-5-sonnet-20241022-v2:0', name: 'Claude 3.5 Sonnet v2', provider: 'Anthropic', vision: true },
  { id: 'anthropic.claude-3-5-haiku-20241022-v1:0', name: 'Claude 3.5 Haiku', provider: 'Anthropic', vision: false },
  { id: 'anthropic.claude-3-haiku-20240307-v1:0', name: 'Claude 3 Haiku', provider: 'Anthropic', vision: true },
  { id: 'anthropic.claude-sonnet-4-5-20250929-v1:0', name: 'Claude Sonnet 4.5', provider: 'Anthropic', vision: true },
  { id: 'anthropic.claude-haiku-4-5-20251001-v1:0', name: 'Claude Haiku 4.5', provider: 'Anthropic', vision: true },
  { id: 'meta.llama3-1-70b-instruct-v1:0', name: 'Llama 3.1 70B Instruct', provider: 'Meta', vision: false },
  { id: 'meta.llama3-1-8b-instruct-v1:0', name: 'Llama 3.1 8B Instruct', provider: 'Meta', vision: false },
  { id: 'mistral.mistral-large-2407-v1:0', name: 'Mistral Large (24.07)', provider: 'Mistral AI', vision: false },
  { id: 'amazon.nova-pro-v1:0', name: 'Nova Pro', provider: 'Amazon', vision: true },
  { id: 'amazon.nova-lite-v1:0', name: 'Nova Lite', provider: 'Amazon', vision: true },
  { id: 'amazon.nova-micro-v1:0', name: 'Nova Micro', provider: 'Amazon', vision: false },
  { id: 'amazon.titan-embed-text-v2:0', name: 'Titan Text Embeddings V2', provider: 'Amazon', vision: false, embedding: true },
];
const MODEL_BY_ID = new Map();
for (const m of MODELS) {
  MODEL_BY_ID.set(m.id, m);
  if (!m.embedding) {
    MODEL_BY_ID.set(`us.${m.id}`, m);
    MODEL_BY_ID.set(`global.${m.id}`, m);
    MODEL_BY_ID.set(`arn:aws:bedrock:${REGION}::foundation-model/${m.id}`, m);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

const NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.bedrock/';

class AwsError extends Error {
  constructor(status, type, message, body = undefined) {
    super(message ?? type);
    this.status = status;
    this.type = type;
    this.body = body ?? { message };
  }
}

const validation = (message) => new AwsError(400, 'ValidationException', message);
const invalidSignature = (message) => new AwsError(403, 'InvalidSignatureException', message);
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key ' +
  'and signing method. Consult the service documentation for details.';
const BAD_TOKEN = 'The security token included in the request is invalid.';
const unrecognized = () => new AwsError(403, 'UnrecognizedClientException', BAD_TOKEN);
const badApiKey = () => new AwsError(403, 'AccessDeniedException', 'Authentication failed: Please make sure your API Key is valid.');

// ---------------------------------------------------------------------------------------------
// SigV4, as AWS checks it

const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** Percent-encodes every byte but RFC 3986's unreserved characters, upper-case hex. */
export function uriEncode(bytes) {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c)) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function percentDecode(s) {
  const raw = Buffer.from(s, 'latin1');
  const out = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (raw[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(raw[i]);
    }
  }
  return Buffer.from(out);
}

/** The canonical URI of a path as received: dot and empty segments removed, encoded again. */
export function canonicalUri(path) {
  const segments = [];
  let trailing = false;
  for (const seg of path.split('/')) {
    trailing = false;
    if (seg === '' || seg === '.') trailing = true;
    else if (seg === '..') {
      segments.pop();
      trailing = true;
    } else segments.push(seg);
  }
  let out = segments.map((s) => '/' + uriEncode(Buffer.from(s, 'latin1'))).join('');
  if (segments.length === 0 || trailing) out += '/';
  return out;
}

/** The canonical query: pairs decoded, encoded strictly, sorted by name then value. */
export function canonicalQuery(query) {
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const [k, v] = eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
      return [uriEncode(percentDecode(k)), uriEncode(percentDecode(v))];
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** `20150830T123600Z` → epoch ms, or NaN. */
function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

const amzDateOf = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/**
 * The credentials an access key id stands for: registered and built-in `ID:SECRET[:TOKEN]`
 * keys, then behaviour access keys (AKIA…/ASIA… holding a behaviour word) with the example
 * secret. Returns `{ keyString, secret, token }` or null.
 */
function credentialsFor(keys, accessKeyId) {
  for (const map of [keys.registered.get('bedrock'), keys.builtin.get('bedrock')]) {
    for (const keyString of map?.keys() ?? []) {
      const [id, secret, token = null] = keyString.split(':');
      if (id === accessKeyId && secret) return { keyString, secret, token };
    }
  }
  if (/^A[KS]IA[A-Za-z0-9]{12,124}$/.test(accessKeyId)) {
    const keyString = `${accessKeyId}:${EXAMPLE_SECRET}`;
    if (keys.lookup('bedrock', keyString).known) return { keyString, secret: EXAMPLE_SECRET, token: null };
  }
  return null;
}

/**
 * Verifies the request's authentication. Resolves `{ keyString, shown }` (the registry key and
 * what may be logged) or throws the AwsError AWS would answer.
 */
function authenticate(req, rawPath, rawQuery, body, keys) {
  const auth = req.headers.authorization;
  if (typeof auth !== 'string' || auth.trim() === '') {
    throw new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (bearer) {
    const key = bearer[1];
    if (!/^(ABSK|bedrock-api-key-)/.test(key)) {
      throw new AwsError(403, 'AccessDeniedException', 'Invalid API Key format: Must start with pre-defined prefix');
    }
    if (!keys.lookup('bedrock', key).known) throw badApiKey();
    return { keyString: key, shown: key, bearer: true };
  }
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(auth);
  const params = {};
  for (const part of (m?.[1] ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!m || !params.Credential || !params.SignedHeaders || !params.Signature) {
    throw new AwsError(403, 'IncompleteSignatureException',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
        "Authorization header requires 'SignedHeaders' parameter.");
  }
  const amzDate = req.headers['x-amz-date'];
  const signedAt = parseAmzDate(amzDate);
  if (Number.isNaN(signedAt)) {
    throw new AwsError(403, 'IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const now = Date.now();
  if (signedAt < now - MAX_SKEW_MS) {
    throw invalidSignature(`Signature expired: ${amzDate} is now earlier than ${amzDateOf(now - MAX_SKEW_MS)} (${amzDateOf(now)} - 5 min.)`);
  }
  if (signedAt > now + MAX_SKEW_MS) {
    throw invalidSignature(`Signature not yet current: ${amzDate} is still later than ${amzDateOf(now + MAX_SKEW_MS)} (${amzDateOf(now)} + 5 min.)`);
  }
  const [accessKeyId, date, region, service, terminator, ...extra] = params.Credential.split('/');
  if (extra.length || terminator !== 'aws4_request') {
    throw new AwsError(403, 'IncompleteSignatureException', 'Credential should be scoped to terminate with "aws4_request". ');
  }
  if (date !== amzDate.slice(0, 8)) {
    throw invalidSignature(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  if (region !== REGION) throw invalidSignature(`Credential should be scoped to a valid region. `);
  if (service !== SERVICE) throw invalidSignature(`Credential should be scoped to correct service: '${SERVICE}'. `);
  const signed = params.SignedHeaders.split(';');
  if (!signed.includes('host')) {
    throw invalidSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const creds = credentialsFor(keys, accessKeyId);
  if (!creds) throw unrecognized();
  const token = req.headers['x-amz-security-token'] ?? null;
  if ((creds.token ?? null) !== token) throw unrecognized();

  const canonicalHeaders = signed
    .map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    req.method,
    canonicalUri(rawPath),
    canonicalQuery(rawQuery),
    canonicalHeaders,
    params.SignedHeaders,
    sha256Hex(body),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${creds.secret}`, date);
  for (const step of [region, service, 'aws4_request']) key = hmac(key, step);
  const expected = hmac(key, stringToSign).toString('hex');
  if (expected !== params.Signature) throw invalidSignature(SIGNATURE_MISMATCH);
  return { keyString: creds.keyString, shown: accessKeyId, bearer: false, canonicalRequest };
}

// ---------------------------------------------------------------------------------------------
// Event-stream frames

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32 (IEEE, as zlib computes it). */
export function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** One event-stream message: string headers (type 7) and a payload. */
export function encodeFrame(headers, payload) {
  const parts = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(v.length);
    parts.push(Buffer.from([n.length]), n, Buffer.from([7]), len, v);
  }
  const head = Buffer.concat(parts);
  const body = Buffer.from(payload);
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(16 + head.length + body.length, 0);
  prelude.writeUInt32BE(head.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const msg = Buffer.concat([prelude, head, body, Buffer.alloc(4)]);
  msg.writeUInt32BE(crc32(msg.subarray(0, msg.length - 4)), msg.length - 4);
  return msg;
}

/** Decodes frames (for tests): `[{ headers, payload }]`; throws on a bad CRC. */
export function decodeFrames(buf) {
  const out = [];
  let at = 0;
  while (at + 12 <= buf.length) {
    const total = buf.readUInt32BE(at);
    const hlen = buf.readUInt32BE(at + 4);
    if (crc32(buf.subarray(at, at + 8)) !== buf.readUInt32BE(at + 8)) throw new Error('prelude CRC mismatch');
    if (at + total > buf.length) break;
    const msg = buf.subarray(at, at + total);
    if (crc32(msg.subarray(0, total - 4)) !== msg.readUInt32BE(total - 4)) throw new Error('message CRC mismatch');
    const headers = {};
    let h = 12;
    while (h < 12 + hlen) {
      const nlen = msg[h];
      const name = msg.subarray(h + 1, h + 1 + nlen).toString('utf8');
      h += 1 + nlen;
      const type = msg[h++];
      if (type !== 7) throw new Error(`header type ${type} not decoded here`);
      const vlen = msg.readUInt16BE(h);
      headers[name] = msg.subarray(h + 2, h + 2 + vlen).toString('utf8');
      h += 2 + vlen;
    }
    out.push({ headers, payload: msg.subarray(12 + hlen, total - 4).toString('utf8') });
    at += total;
  }
  return { frames: out, rest: buf.length - at };
}

/** AWS pads every event with a `p` field of random length against size side channels. */
const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const padding = () => PADDING.slice(0, 1 + Math.floor(Math.random() * PADDING.length));

function eventFrame(type, payload) {
  return encodeFrame(
    { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
    JSON.stringify({ ...payload, p: padding() }),
  );
}

function exceptionFrame(type, body) {
  return encodeFrame(
    { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
    JSON.stringify(body),
  );
}

/**
 * Cuts frames into writes. 'whole': one frame per write; 'bytewise': one byte per write;
 * 'awkward': frame i % 4 == 0 is cut inside its total length, its headers length and its
 * prelude CRC; i % 4 == 3 inside its payload and inside its message CRC; frames 1 and 2 (mod 4)
 * go out in one write.
 */
export function planFrameWrites(frames, chunking = 'awkward') {
  const all = Buffer.concat(frames);
  const ends = [];
  let total = 0;
  for (const f of frames) ends.push((total += f.length));
  if (chunking === 'whole') return { writes: frames.map((f) => Buffer.from(f)), ends };
  if (chunking === 'bytewise') {
    const writes = [];
    for (let k = 0; k < all.length; k++) writes.push(all.subarray(k, k + 1));
    return { writes, ends };
  }
  const cuts = new Set();
  let start = 0;
  frames.forEach((f, i) => {
    const phase = i % 4;
    if (phase === 0) for (const c of [2, 6, 10]) if (c < f.length) cuts.add(start + c);
    if (phase === 3) {
      cuts.add(start + Math.floor(f.length * 0.7));
      cuts.add(start + f.length - 2);
    }
    if (phase !== 1) cuts.add(start + f.length);
    start += f.length;
  });
  cuts.add(all.length);
  const writes = [];
  let prev = 0;
  for (const c of [...cuts].filter((c) => c > 0 && c <= all.length).sort((a, b) => a - b)) {
    if (c > prev) writes.push(all.subarray(prev, c));
    prev = c;
  }
  return { writes, ends };
}

/**
 * Writes an event stream, applying the key's behaviour (chunking, delayMs, truncateAfter,
 * errorAfter, stallAfter, truncateMode) like writeSse does for SSE. `cutLast` ends the body in
 * the middle of the last frame.
 */
async function writeFrames(res, { headers, frames, behaviour, errorFrame, entry, cutLast = false }) {
  const shaped = shapeStream(frames, behaviour, errorFrame);
  let out = shaped.events;
  if (cutLast && out.length) {
    const last = out[out.length - 1];
    out = [...out.slice(0, -1), last.subarray(0, Math.floor(last.length / 2))];
  }
  const { writes, ends } = planFrameWrites(out, behaviour.chunking);

  let clientGone = false;
  let selfClosed = false;
  res.on('close', () => {
    if (!res.writableFinished && !selfClosed) {
      clientGone = true;
      entry.aborted = true;
    }
  });
  res.on('error', () => {});
  const cancelled = () => clientGone || res.destroyed;

  res.writeHead(200, headers);
  res.socket?.setNoDelay(true);
  res.flushHeaders();
  entry.stream = true;

  let written = 0;
  let done = 0;
  const gapMs = behaviour.delayMs > 0 ? behaviour.delayMs : behaviour.chunking === 'awkward' ? 1 : 0;
  for (let w = 0; w < writes.length; w++) {
    if (cancelled()) break;
    const ok = res.write(writes[w]);
    written += writes[w].length;
    while (done < ends.length && ends[done] <= written) done++;
    entry.events = done;
    entry.writes = w + 1;
    if (!ok && !cancelled()) {
      await new Promise((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
    if (w < writes.length - 1) {
      if (gapMs > 0) await sleep(gapMs, cancelled);
      else await nextTick();
    }
  }
  if (!cancelled() && shaped.ending === 'stall') await sleep(behaviour.stallMs, cancelled);
  if (cancelled()) return;
  const truncated = shaped.ending !== 'complete' || cutLast;
  entry.truncated = truncated && shaped.ending !== 'error';
  if (truncated && behaviour.truncateMode === 'drop' && shaped.ending !== 'error') {
    selfClosed = true;
    await sleep(5);
    res.socket?.destroy();
    return;
  }
  await new Promise((resolve) => {
    res.once('close', resolve);
    res.end(resolve);
  });
}

// ---------------------------------------------------------------------------------------------
// Converse: validation

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const TOP_LEVEL = new Set([
  'messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig', 'additionalModelRequestFields',
  'promptVariables', 'additionalModelResponseFieldPaths', 'requestMetadata', 'performanceConfig',
]);
const BLOCK_KEYS = ['text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'guardContent', 'cachePoint', 'reasoningContent', 'citationsContent'];
const IMAGE_FORMATS = ['png', 'jpeg', 'gif', 'webp'];

function constraint(at, value, rule) {
  return validation(`1 validation error detected: Value ${value} at '${at}' failed to satisfy constraint: ${rule}`);
}

function validateInference(cfg) {
  if (cfg === undefined) return;
  if (!isObject(cfg)) throw validation('1 validation error detected: Value at \'inferenceConfig\' failed to satisfy constraint: Member must be a structure');
  const { maxTokens, temperature, topP, stopSequences } = cfg;
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
    throw constraint('inferenceConfig.maxTokens', `'${maxTokens}'`, 'Member must have value greater than or equal to 1');
  }
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 1)) {
    throw constraint('inferenceConfig.temperature', `'${temperature}'`, 'Member must have value less than or equal to 1');
  }
  if (topP !== undefined && (typeof topP !== 'number' || topP < 0 || topP > 1)) {
    throw constraint('inferenceConfig.topP', `'${topP}'`, 'Member must have value less than or equal to 1');
  }
  if (stopSequences !== undefined && (!Array.isArray(stopSequences) || !stopSequences.every((s) => typeof s === 'string' && s !== ''))) {
    throw constraint('inferenceConfig.stopSequences', '', 'Member must satisfy constraint: [Member must have length greater than or equal to 1]');
  }
}

function validateTools(cfg) {
  if (cfg === undefined) return null;
  if (!isObject(cfg) || !Array.isArray(cfg.tools) || cfg.tools.length === 0) {
    throw constraint('toolConfig.tools', 'null', 'Member must have length greater than or equal to 1');
  }
  const names = cfg.tools.map((t, i) => {
    const spec = t?.toolSpec;
    const at = `toolConfig.tools.${i + 1}.member.toolSpec`;
    if (!isObject(spec)) throw validation(`The value at toolConfig.tools.${i} is invalid. Provide a toolSpec and try again.`);
    if (typeof spec.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(spec.name)) {
      throw constraint(`${at}.name`, '', 'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+');
    }
    if (spec.description !== undefined && (typeof spec.description !== 'string' || spec.description === '')) {
      throw constraint(`${at}.description`, "''", 'Member must have length greater than or equal to 1');
    }
    if (!isObject(spec.inputSchema) || !isObject(spec.inputSchema.json)) {
      throw validation(`The value at toolConfig.tools.${i}.toolSpec.inputSchema is invalid. Provide a json schema and try again.`);
    }
    return spec.name;
  });
  const choice = cfg.toolChoice;
  if (choice !== undefined) {
    const keys = isObject(choice) ? Object.keys(choice) : [];
    if (keys.length !== 1 || !['auto', 'any', 'tool'].includes(keys[0])) {
      throw validation('The value at toolConfig.toolChoice is invalid. Set exactly one of auto, any or tool and try again.');
    }
    if (keys[0] === 'tool' && !names.includes(choice.tool?.name)) {
      throw validation(`The tool ${choice.tool?.name} named in toolConfig.toolChoice is not in toolConfig.tools.`);
    }
  }
  return cfg;
}

function validateMessages(messages, model, tools) {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw validation('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
  }
  let previousToolUses = new Set();
  messages.forEach((m, i) => {
    if (!isObject(m)) throw constraint(`messages.${i + 1}.member`, 'null', 'Member must not be null');
    if (m.role !== 'user' && m.role !== 'assistant') {
      throw constraint(`messages.${i + 1}.member.role`, `'${m.role}'`, 'Member must satisfy enum value set: [user, assistant]');
    }
    if (i === 0 && m.role !== 'user') {
      throw validation('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    }
    if (i > 0 && messages[i - 1]?.role === m.role) {
      throw validation('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
    }
    if (!Array.isArray(m.content) || m.content.length === 0) {
      throw validation(`The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`);
    }
    const toolUses = new Set();
    m.content.forEach((block, j) => {
      const keys = isObject(block) ? Object.keys(block) : [];
      if (keys.length !== 1 || !BLOCK_KEYS.includes(keys[0])) {
        throw validation(`The ContentBlock object at messages.${i}.content.${j} must set exactly one of the following keys: ${BLOCK_KEYS.join(', ')}.`);
      }
      const [kind] = keys;
      if (kind === 'text' && (typeof block.text !== 'string' || block.text.trim() === '')) {
        throw validation(`The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`);
      }
      if (kind === 'image') {
        if (m.role !== 'user' || !model.vision) {
          throw validation(`This model doesn't support the image field for ${m.role} messages. Remove image and try again.`);
        }
        const img = block.image;
        if (!IMAGE_FORMATS.includes(img?.format)) {
          throw constraint(`messages.${i + 1}.member.content.${j + 1}.member.image.format`, `'${img?.format}'`, 'Member must satisfy enum value set: [gif, jpeg, png, webp]');
        }
        const bytes = img?.source?.bytes;
        if (typeof bytes !== 'string' || bytes === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(bytes)) {
          throw validation(`The image at messages.${i}.content.${j} could not be read: source.bytes must be base64.`);
        }
      }
      if (kind === 'toolUse' || kind === 'toolResult') {
        if (!tools) throw validation('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
      }
      if (kind === 'toolUse') {
        const t = block.toolUse;
        if (m.role !== 'assistant') throw validation(`The toolUse block at messages.${i}.content.${j} must be in an assistant message.`);
        if (typeof t?.toolUseId !== 'string' || typeof t?.name !== 'string' || !isObject(t?.input)) {
          throw validation(`The toolUse block at messages.${i}.content.${j} needs toolUseId, name and an input object.`);
        }
        toolUses.add(t.toolUseId);
      }
      if (kind === 'toolResult') {
        const r = block.toolResult;
        if (m.role !== 'user') throw validation(`The toolResult block at messages.${i}.content.${j} must be in a user message.`);
        if (!previousToolUses.has(r?.toolUseId)) {
          throw validation(`messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${r?.toolUseId}. ` +
            'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.');
        }
        if (!Array.isArray(r.content)) throw validation(`The toolResult block at messages.${i}.content.${j} needs a content list.`);
      }
    });
    previousToolUses = toolUses;
  });
}

function validateConverse(body, modelId) {
  for (const name of Object.keys(body)) {
    if (!TOP_LEVEL.has(name)) {
      throw new AwsError(400, 'SerializationException', `Unrecognized field "${name}" (not marked as ignorable)`);
    }
  }
  const model = MODEL_BY_ID.get(modelId);
  if (!model || model.embedding) throw validation('The provided model identifier is invalid.');
  if (body.system !== undefined) {
    if (!Array.isArray(body.system)) throw validation('The value at system is invalid. Provide a list of SystemContentBlock objects.');
    body.system.forEach((s, i) => {
      if (!isObject(s) || typeof s.text !== 'string' || s.text.trim() === '') {
        throw validation(`The text field in the SystemContentBlock object at system.${i} is blank. Add text to the text field, and try again.`);
      }
    });
  }
  validateInference(body.inferenceConfig);
  const tools = validateTools(body.toolConfig);
  validateMessages(body.messages, model, tools);
  return { model, tools };
}

// ---------------------------------------------------------------------------------------------
// Converse: the deterministic answer

function textOf(message) {
  return (message?.content ?? []).filter((b) => typeof b.text === 'string').map((b) => b.text).join(' ');
}

function countInputTokens(body) {
  let total = 3;
  for (const s of body.system ?? []) total += estimateTokens(s.text);
  for (const m of body.messages) {
    total += 3;
    for (const b of m.content) {
      if (typeof b.text === 'string') total += estimateTokens(b.text);
      else if (b.image) total += 85;
      else total += estimateTokens(JSON.stringify(b));
    }
  }
  if (body.toolConfig) total += estimateTokens(JSON.stringify(body.toolConfig));
  return total;
}

/** What the model "does": call a tool, or answer with text. */
function decide(body, behaviour, tools) {
  const last = body.messages[body.messages.length - 1];
  const lastIsToolResult = last.content.some((b) => b.toolResult);
  const choice = tools?.toolChoice ?? { auto: {} };
  if (tools && (choice.any || choice.tool || !lastIsToolResult)) {
    const spec = choice.tool
      ? tools.tools.find((t) => t.toolSpec.name === choice.tool.name).toolSpec
      : tools.tools[0].toolSpec;
    return { kind: 'tool', spec };
  }
  const said = textOf(last);
  const images = last.content.filter((b) => b.image).length;
  let text;
  if (behaviour.reply !== null) text = behaviour.reply;
  else if (lastIsToolResult) {
    const results = last.content.filter((b) => b.toolResult).map((b) => textOf(b.toolResult)).join(' ');
    text = `${ANSWER_PREFIX} The tool said: ${results}`;
  } else text = `${ANSWER_PREFIX} You said: ${said}${images ? ` [${images} image${images > 1 ? 's' : ''}]` : ''}`;
  return { kind: 'text', text, said };
}

function plan(body, decision) {
  const limit = body.inferenceConfig?.maxTokens ?? null;
  const budget = limit ?? Infinity;
  if (decision.kind === 'tool') {
    const input = exampleFromSchema(decision.spec.inputSchema.json, 'value');
    const fragments = splitFixed(JSON.stringify(input), 5);
    const allowed = Math.max(0, Math.min(fragments.length, budget - 1));
    return {
      kind: 'tool',
      id: `tooluse_${randomId(22)}`,
      name: decision.spec.name,
      input,
      fragments: fragments.slice(0, allowed),
      stopReason: allowed < fragments.length ? 'max_tokens' : 'tool_use',
      outputTokens: Math.min(budget, 1 + allowed),
    };
  }
  let text = decision.text;
  let stopReason = 'end_turn';
  const stops = body.inferenceConfig?.stopSequences ?? [];
  const at = Math.min(...stops.map((s) => text.indexOf(s)).filter((k) => k >= 0));
  if (Number.isFinite(at)) {
    text = text.slice(0, at);
    stopReason = 'stop_sequence';
  }
  let pieces = splitPieces(text);
  if (pieces.length > budget) {
    pieces = pieces.slice(0, budget);
    stopReason = 'max_tokens';
  }
  if (decision.said?.includes(TRIGGERS.guardrail)) stopReason = 'guardrail_intervened';
  return { kind: 'text', pieces, stopReason, outputTokens: pieces.length };
}

function usageOf(inputTokens, p) {
  return { inputTokens, outputTokens: p.outputTokens, totalTokens: inputTokens + p.outputTokens };
}

function converseAnswer(p, usage, started) {
  const content = p.kind === 'tool'
    ? [{ toolUse: { toolUseId: p.id, name: p.name, input: p.input } }]
    : [{ text: p.pieces.join('') }];
  return {
    metrics: { latencyMs: Date.now() - started },
    output: { message: { content, role: 'assistant' } },
    stopReason: p.stopReason,
    usage,
  };
}

function streamFrames(p, usage, started) {
  const frames = [eventFrame('messageStart', { role: 'assistant' })];
  if (p.kind === 'tool') {
    frames.push(eventFrame('contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { toolUseId: p.id, name: p.name } } }));
    for (const f of p.fragments) frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: f } } }));
  } else {
    for (const piece of p.pieces) frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: piece } }));
  }
  frames.push(eventFrame('contentBlockStop', { contentBlockIndex: 0 }));
  frames.push(eventFrame('messageStop', { stopReason: p.stopReason }));
  frames.push(eventFrame('metadata', { usage, metrics: { latencyMs: Date.now() - started } }));
  return frames;
}

// ---------------------------------------------------------------------------------------------
// The control plane

function modelSummary(m) {
  return {
    modelArn: `arn:aws:bedrock:${REGION}::foundation-model/${m.id}`,
    modelId: m.id,
    modelName: m.name,
    providerName: m.provider,
    inputModalities: m.vision ? ['TEXT', 'IMAGE'] : ['TEXT'],
    outputModalities: m.embedding ? ['EMBEDDING'] : ['TEXT'],
    responseStreamingSupported: !m.embedding,
    customizationsSupported: [],
    inferenceTypesSupported: ['ON_DEMAND'],
    modelLifecycle: { status: 'ACTIVE' },
  };
}

function listModels(url) {
  const modality = url.searchParams.get('byOutputModality');
  if (modality !== null && !['TEXT', 'IMAGE', 'EMBEDDING'].includes(modality)) {
    throw constraint('byOutputModality', `'${modality}'`, 'Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]');
  }
  const models = MODELS.filter((m) => modality === null || (modality === 'EMBEDDING') === Boolean(m.embedding) && modality !== 'IMAGE');
  return { modelSummaries: models.map(modelSummary) };
}

// ---------------------------------------------------------------------------------------------
// Request handling

function route(method, path) {
  if (path === '/foundation-models') return method === 'GET' ? { name: 'models' } : null;
  const m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
  if (m && method === 'POST') {
    let modelId;
    try {
      modelId = decodeURIComponent(m[1]);
    } catch {
      return null;
    }
    return { name: m[2], modelId };
  }
  return null;
}

async function handle({ req, res, url, path, entry, keys, log }) {
  const started = Date.now();
  const requestId = randomUUID();
  let behaviour = BEHAVIOUR_DEFAULTS;
  const headers = (extra = {}) => ({
    'x-amzn-requestid': requestId,
    date: new Date().toUTCString(),
    ...responseCorsHeaders(CORS_POLICY, behaviour.exposeHeaders),
    ...extra,
  });
  const fail = (err) => {
    entry.status = err.status;
    sendJson(res, err.status, err.body, headers({ 'x-amzn-errortype': `${err.type}:${NAMESPACE}` }));
  };

  // The raw request target: the signature covers the path exactly as sent.
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const rawPath = (q < 0 ? target : target.slice(0, q)).split('#')[0];
  const rawQuery = q < 0 ? '' : target.slice(q + 1).split('#')[0];

  const { buffer, tooLarge, aborted } = await readBody(req, MAX_BODY_BYTES);
  if (aborted) return;
  if (tooLarge) {
    return fail(new AwsError(413, 'ValidationException', 'Input is too long for requested model.'));
  }
  const r = route(req.method, path);
  if (!r) {
    entry.status = 404;
    return sendJson(res, 404,
      { Output: { __type: 'com.amazon.coral.service#UnknownOperationException' }, Version: '1.0' },
      headers({ 'x-amzn-errortype': 'UnknownOperationException' }));
  }

  let auth;
  try {
    auth = authenticate(req, rawPath, rawQuery, buffer, keys);
  } catch (err) {
    if (err instanceof AwsError) return fail(err);
    throw err;
  }
  log.setKey(entry, auth.shown);
  const found = keys.lookup('bedrock', auth.keyString);
  behaviour = found.behaviour ?? BEHAVIOUR_DEFAULTS;
  const state = found.state ?? { status5xx: 0, rateLimit: 0, served: 0 };

  if (behaviour.headersDelayMs > 0) {
    let gone = false;
    res.once('close', () => (gone = true));
    await sleep(behaviour.headersDelayMs, () => gone || res.destroyed);
    if (gone || res.destroyed) return;
  }
  if (behaviour.revoked) return fail(auth.bearer ? badApiKey() : unrecognized());
  if (behaviour.quota) {
    return fail(new AwsError(429, 'ThrottlingException', 'Too many tokens per day, please wait before trying again.'));
  }
  if (state.rateLimit !== 0) {
    if (state.rateLimit > 0) state.rateLimit--;
    return fail(new AwsError(429, 'ThrottlingException', 'Too many requests, please wait before trying again.'));
  }
  if (state.status5xx > 0) {
    state.status5xx--;
    const n = behaviour.status5xx - state.status5xx - 1;
    return fail(n % 2 === 0
      ? new AwsError(500, 'InternalServerException', 'The server encountered an internal error while processing the request.')
      : new AwsError(503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.'));
  }
  state.served++;

  try {
    if (r.name === 'models') {
      entry.status = 200;
      return sendJson(res, 200, listModels(url), headers());
    }
    let body;
    try {
      body = JSON.parse(buffer.toString('utf8'));
      if (!isObject(body)) throw new Error('not an object');
      entry.body = body;
    } catch {
      entry.bodyError = 'not a JSON object';
      entry.bodyText = buffer.toString('utf8').slice(0, 2000);
      throw new AwsError(400, 'SerializationException', 'Unable to parse the request body as JSON.');
    }
    const { tools } = validateConverse(body, r.modelId);
    const decision = decide(body, behaviour, tools);
    const p = plan(body, decision);
    const usage = usageOf(countInputTokens(body), p);
    if (r.name === 'converse') {
      entry.status = 200;
      return sendJson(res, 200, converseAnswer(p, usage, started), headers());
    }
    const said = decision.said ?? '';
    let frames = streamFrames(p, usage, started);
    let cutLast = false;
    if (said.includes(TRIGGERS.throttle)) {
      frames = [...frames.slice(0, 2), exceptionFrame('throttlingException', { message: 'Too many requests, please wait before trying again.' })];
    } else if (said.includes(TRIGGERS.badcrc) && frames.length > 2) {
      const bad = Buffer.from(frames[2]);
      bad[bad.length - 1] ^= 0xff;
      frames = [...frames.slice(0, 2), bad, ...frames.slice(3)];
    } else if (said.includes(TRIGGERS.cutframe) && frames.length > 3) {
      frames = frames.slice(0, 4);
      cutLast = true;
    }
    entry.status = 200;
    await writeFrames(res, {
      headers: headers({ 'content-type': 'application/vnd.amazon.eventstream' }),
      frames,
      behaviour,
      errorFrame: exceptionFrame('modelStreamErrorException', {
        message: 'Model Stream Error',
        originalStatusCode: 500,
        originalMessage: 'The model stream failed.',
      }),
      entry,
      cutLast,
    });
  } catch (err) {
    if (err instanceof AwsError) return fail(err);
    throw err;
  }
}

export default {
  id: 'bedrock',
  prefix: PREFIX,
  cors: CORS_POLICY,
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('bedrock', k.key, k.behaviour, k.note);
    // Behaviour keys are recognised in authenticate(): AKIA…/ASIA… access key ids with the
    // example secret, and ABSK… API keys, holding a behaviour word.
    keys.setBehaviourPrefix('bedrock', '');
  },
  handle,
};
