// Small HTTP helpers shared by every provider of the stand-in.
// Only node: built-ins; nothing here knows about a particular provider.

import { randomBytes } from 'node:crypto';

/** Request bodies larger than this are refused with 413 (the real APIs refuse multi-MB bodies too). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Beyond this many bytes of an oversized body we stop draining and drop the connection. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Reads the whole request body, up to `limit` bytes.
 * Resolves `{ buffer, tooLarge, aborted }`. When the body is too large the rest is drained
 * (so the 413 reply can still be read by the client) and `buffer` is null.
 */
export function readBody(req, limit = MAX_BODY_BYTES) {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    const chunks = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    let settled = false;
    const finish = (aborted = false) => {
      if (settled) return;
      settled = true;
      resolve({ buffer: tooLarge || aborted ? null : Buffer.concat(chunks), tooLarge, aborted });
    };
    if (tooLarge) {
      // Answer at once; whatever the client still sends is drained and discarded.
      let drained = 0;
      req.on('data', (c) => {
        drained += c.length;
        if (drained > DRAIN_LIMIT_BYTES) req.destroy();
      });
      req.on('error', () => {});
      finish();
      return;
    }
    req.on('data', (chunk) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        finish();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish());
    req.on('error', () => finish(true));
    req.on('aborted', () => finish(true));
    req.on('close', () => finish(!req.complete));
  });
}

/** JSON as the real APIs print it: two-space indent and a final newline. */
export function prettyJson(value) {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Sends a JSON reply (any status) with the given extra headers. */
export function sendJson(res, status, value, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(prettyJson(value), 'utf8');
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(body.length),
    ...headers,
  });
  res.end(body);
}

/** Sends an empty reply (204, preflights). */
export function sendEmpty(res, status, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-length': '0', ...headers });
  res.end();
}

/**
 * Sleeps `ms` milliseconds, or less if `isCancelled()` becomes true (checked every 10 ms).
 * Used between SSE writes so a closed connection stops the writer promptly.
 */
export function sleep(ms, isCancelled = () => false) {
  return new Promise((resolve) => {
    if (ms <= 0 || isCancelled()) return resolve();
    const end = Date.now() + ms;
    const tick = () => {
      const left = end - Date.now();
      if (left <= 0 || isCancelled()) return resolve();
      setTimeout(tick, Math.min(left, 10));
    };
    setTimeout(tick, Math.min(ms, 10));
  });
}

export function nextTick() {
  return new Promise((resolve) => setImmediate(resolve));
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random string of `length` characters from `alphabet` (ids like chatcmpl-…, call_…). */
export function randomId(length, alphabet = ALNUM) {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

export function randomHex(length) {
  return randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);
}

/** Header values worth recording in the log besides the names (never authorization). */
export const LOGGED_HEADER_VALUES = ['origin', 'content-type', 'referer', 'cookie'];

/** Names of the request headers in the order received (lower case), and the few logged values. */
export function headerSummary(req) {
  const names = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) names.push(req.rawHeaders[i].toLowerCase());
  const values = {};
  for (const name of LOGGED_HEADER_VALUES) {
    if (req.headers[name] !== undefined) values[name] = req.headers[name];
  }
  return { headerNames: names, headers: values };
}

/** Parses `--name value` / `--name=value` / `--flag` command-line options. */
export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      out[arg.slice(2, eq)] = arg.slice(eq + 1);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      out[arg.slice(2)] = argv[++i];
    } else {
      out[arg.slice(2)] = true;
    }
  }
  return out;
}
