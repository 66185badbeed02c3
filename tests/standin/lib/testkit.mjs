// Helpers for tests that talk to the stand-in (Node side). Not used by the server itself.

import http from 'node:http';

/**
 * Parses an SSE body into events `{ event, data }` following the WHATWG rules
 * (LF, CRLF or CR line ends; `data:` lines joined with \n; comments ignored).
 * A trailing event without its blank line is not returned, as a browser would not dispatch it.
 */
export function parseSse(text) {
  const events = [];
  let data = [];
  let event = null;
  const lines = text.split(/\r\n|\r|\n/);
  // The last element is what followed the final line end: an unfinished line.
  lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (data.length) events.push({ event, data: data.join('\n') });
      data = [];
      event = null;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  return events;
}

/**
 * A request with node:http that keeps every body chunk exactly as it was read (so tests can
 * see where the server's writes were cut). Resolves `{ status, headers, chunks, body, error }`;
 * `error` is set (and the promise still resolves) when the connection breaks mid-body.
 */
export function rawRequest(url, { method = 'GET', headers = {}, body = null, onChunk = null } = {}) {
  return new Promise((resolve) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      let done = false;
      const finish = (error = null) => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode, headers: res.headers, chunks, body: Buffer.concat(chunks), error });
      };
      res.on('data', (c) => {
        chunks.push(c);
        onChunk?.(c, req);
      });
      res.on('end', () => finish());
      res.on('aborted', () => finish(new Error('aborted')));
      res.on('error', (e) => finish(e));
      res.on('close', () => finish(res.complete ? null : new Error('closed before the end of the body')));
    });
    req.on('error', (error) => resolve({ status: null, headers: {}, chunks: [], body: Buffer.alloc(0), error }));
    if (body !== null) req.write(body);
    req.end();
  });
}

/** Polls `fn` until it returns a truthy value (returned) or `timeoutMs` passes (throws). */
export async function waitFor(fn, timeoutMs = 2000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True when the bytes are not valid UTF-8 on their own (e.g. cut inside a character). */
export function isBrokenUtf8(bytes) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return false;
  } catch {
    return true;
  }
}
