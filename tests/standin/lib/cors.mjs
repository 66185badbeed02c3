// CORS as a provider answers a browser.
//
// A policy is `{ allowOrigin, allowMethods, allowHeaders, maxAge, exposeHeaders, preflightStatus }`.
// The preflight answer always carries the provider's fixed lists, whatever the browser asked
// for: the browser itself then refuses a request whose method or headers are not listed. The
// stand-in also works out which requested headers are not allowed and records that in the log,
// so a test running in Node (whose fetch does not enforce CORS) can still see the refusal.

/** Parses an `access-control-request-headers` value into lower-case names. */
export function parseHeaderList(value) {
  if (!value) return [];
  return String(value)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * What the browser will decide about a preflight answered with `policy`:
 * `{ origin, requestedMethod, requestedHeaders, disallowedHeaders, methodAllowed, allowed }`.
 * Browsers list only the headers that need permission (content-type with a non-simple value
 * such as application/json, authorization, any custom header); each listed name must then be
 * in access-control-allow-headers. `*` there allows any name except authorization (the
 * stand-in never sends credentials, so the wildcard applies).
 */
export function judgePreflight(req, policy) {
  // A policy may depend on the preflight (Anthropic allows browsers only when they ask for its
  // opt-in header): `prepare(req)` sets it up for this request, before preflightHeaders() runs
  // in the same turn of the event loop.
  policy.prepare?.(req);
  const origin = req.headers.origin ?? null;
  const requestedMethod = (req.headers['access-control-request-method'] ?? '').toUpperCase() || null;
  const requestedHeaders = parseHeaderList(req.headers['access-control-request-headers']);
  // 'echo': the server copies access-control-request-headers back (Starlette, the npm cors package).
  const allowHeaders = new Set(
    (policy.allowHeaders === ECHO ? requestedHeaders : policy.allowHeaders).map((h) => h.toLowerCase()),
  );
  const disallowedHeaders = requestedHeaders.filter(
    (h) => !allowHeaders.has(h) && !(allowHeaders.has('*') && h !== 'authorization'),
  );
  const simpleMethods = ['GET', 'HEAD', 'POST'];
  const methodAllowed =
    requestedMethod === null || simpleMethods.includes(requestedMethod) ||
    policy.allowMethods.includes(requestedMethod) || policy.allowMethods.includes('*');
  const allowOrigin = allowOriginFor(policy, origin);
  const originAllowed = Boolean(allowOrigin) && (allowOrigin === '*' || allowOrigin === origin);
  return {
    origin,
    requestedMethod,
    requestedHeaders,
    disallowedHeaders,
    methodAllowed,
    allowed: originAllowed && methodAllowed && disallowedHeaders.length === 0,
  };
}

/** `allowOrigin: ECHO` copies the request's Origin; `allowHeaders: ECHO` its requested headers. */
export const ECHO = 'echo';

/** The access-control-allow-origin value a policy gives a request from `origin` (null: none). */
function allowOriginFor(policy, origin) {
  if (policy.allowOrigin === ECHO) return origin || null;
  return policy.allowOrigin || null;
}

/**
 * Headers of a preflight answer; no access-control-allow-origin when the policy gives none.
 * `req` is needed only by policies that echo the request (ECHO).
 */
export function preflightHeaders(policy, req = null) {
  const origin = allowOriginFor(policy, req?.headers?.origin ?? null);
  const allowHeaders =
    policy.allowHeaders === ECHO ? req?.headers?.['access-control-request-headers'] ?? null : policy.allowHeaders.join(', ');
  return {
    ...(origin ? { 'access-control-allow-origin': origin } : {}),
    ...(policy.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    'access-control-allow-methods': policy.allowMethods.join(', '),
    ...(allowHeaders ? { 'access-control-allow-headers': allowHeaders } : {}),
    ...(policy.maxAge !== null && policy.maxAge !== undefined ? { 'access-control-max-age': String(policy.maxAge) } : {}),
  };
}

/**
 * CORS headers of an actual (non-preflight) answer. `extraExpose` (from a key's behaviour)
 * adds access-control-expose-headers even when the policy exposes nothing. A policy without
 * allowOrigin (a server with CORS off) sends no CORS header at all.
 */
export function responseCorsHeaders(policy, extraExpose = null, req = null) {
  const origin = allowOriginFor(policy, req?.headers?.origin ?? null);
  if (!origin) return {};
  const headers = { 'access-control-allow-origin': origin };
  if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  const expose = [...(policy.exposeHeaders ?? []), ...(extraExpose ?? [])];
  if (expose.length) headers['access-control-expose-headers'] = expose.join(', ');
  return headers;
}
