// The control API under /__standin/, for tests (also from a browser page: CORS is open).
//
//   GET  /__standin/health                          -> { ok, providers, uptimeMs, logSize }
//   POST /__standin/keys   { provider, key, behaviour } -> 201 { provider, key (masked), behaviour }
//   GET  /__standin/log?provider=openai&since=<seq>  -> { entries, last }
//   POST /__standin/reset                           -> { ok: true } (registered keys, counters, log)

import { readBody, sendJson, sendEmpty } from './http.mjs';
import { maskKey } from './keys.mjs';

export const CONTROL_PREFIX = '/__standin';

const CONTROL_CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
};

function reply(res, status, value) {
  sendJson(res, status, value, { 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
}

function problem(res, status, message) {
  reply(res, status, { error: { message } });
}

/** Handles a request whose path starts with /__standin. */
export async function handleControl(req, res, url, ctx) {
  const { keys, log, providers, startedAt } = ctx;
  const route = url.pathname.slice(CONTROL_PREFIX.length) || '/';

  if (req.method === 'OPTIONS') return sendEmpty(res, 204, CONTROL_CORS);

  if (route === '/health' && req.method === 'GET') {
    return reply(res, 200, {
      ok: true,
      providers: providers.map((p) => ({ id: p.id, prefix: p.prefix })),
      uptimeMs: Date.now() - startedAt,
      logSize: log.items.length,
      lastSeq: log.seq,
    });
  }

  if (route === '/log' && req.method === 'GET') {
    const provider = url.searchParams.get('provider') || null;
    const sinceRaw = url.searchParams.get('since');
    const since = sinceRaw === null ? 0 : Number(sinceRaw);
    if (!Number.isFinite(since)) return problem(res, 400, 'since must be a number');
    return reply(res, 200, { entries: log.list({ provider, since }), last: log.seq });
  }

  if (route === '/keys' && req.method === 'POST') {
    const { buffer, tooLarge } = await readBody(req, 64 * 1024);
    if (tooLarge || !buffer) return problem(res, 413, 'body too large');
    let body;
    try {
      body = JSON.parse(buffer.toString('utf8'));
    } catch {
      return problem(res, 400, 'body must be JSON: { provider, key, behaviour }');
    }
    const { provider, key, behaviour = {} } = body ?? {};
    if (!providers.some((p) => p.id === provider)) {
      return problem(res, 400, `provider must be one of: ${providers.map((p) => p.id).join(', ')}`);
    }
    if (typeof key !== 'string' || key.length === 0 || /\s/.test(key)) {
      return problem(res, 400, 'key must be a non-empty string without spaces');
    }
    const result = keys.register(provider, key, behaviour);
    if (result.error) return problem(res, 400, result.error);
    return reply(res, 201, { provider, key: maskKey(key), behaviour: result.behaviour });
  }

  if (route === '/reset' && req.method === 'POST') {
    req.resume();
    keys.reset();
    log.clear();
    return reply(res, 200, { ok: true });
  }

  return problem(res, 404, `no control route ${req.method} ${url.pathname}`);
}
