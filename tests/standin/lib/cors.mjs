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
  const allowHeaders = new Set(policy.allowHeaders.map((h) => h.toLowerCase()));
  const disallowedHeaders = requestedHeaders.filter(
    (h) => !allowHeaders.has(h) && !(allowHeaders.has('*') && h !== 'authorization'),
  );
  const simpleMethods = ['GET', 'HEAD', 'POST'];
  const methodAllowed =
    requestedMethod === null || simpleMethods.includes(requestedMethod) || policy.allowMethods.includes(requestedMethod);
  const originAllowed = Boolean(policy.allowOrigin) && (policy.allowOrigin === '*' || policy.allowOrigin === origin);
  return {
    origin,
    requestedMethod,
    requestedHeaders,
    disallowedHeaders,
    methodAllowed,
    allowed: originAllowed && methodAllowed && disallowedHeaders.length === 0,
  };
}

/** Headers of a preflight answer; no access-control-allow-origin when the policy gives none. */
export function preflightHeaders(policy) {
  return {
    ...(policy.allowOrigin ? { 'access-control-allow-origin': policy.allowOrigin } : {}),
    'access-control-allow-methods': policy.allowMethods.join(', '),
    'access-control-allow-headers': policy.allowHeaders.join(', '),
    'access-control-max-age': String(policy.maxAge),
  };
}

/**
 * CORS headers of an actual (non-preflight) answer. `extraExpose` (from a key's behaviour)
 * adds access-control-expose-headers even when the policy exposes nothing.
 */
export function responseCorsHeaders(policy, extraExpose = null) {
  const headers = { 'access-control-allow-origin': policy.allowOrigin };
  const expose = [...(policy.exposeHeaders ?? []), ...(extraExpose ?? [])];
  if (expose.length) headers['access-control-expose-headers'] = expose.join(', ');
  return headers;
}
