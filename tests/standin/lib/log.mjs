// The request log: one entry per request reaching a provider route (preflights included).
// Tests read it through GET /__standin/log or the `log` object returned by startStandin().
//
// An entry never holds an API key: only its masked form. Bodies are kept parsed (prompts are
// fine on a test server); if a body contains the raw key anyway it is masked there too.

import { maskKey } from './keys.mjs';

const MAX_ENTRIES = 2000;

export class RequestLog {
  constructor() {
    this.seq = 0;
    this.items = [];
  }

  /**
   * Opens an entry. The returned object is live: the server and the providers fill in status,
   * events, aborted… as the request goes on; readers always get a copy.
   */
  begin({ method, path, provider, headerNames, headers }) {
    const entry = {
      seq: ++this.seq,
      time: new Date().toISOString(),
      provider,
      method,
      path,
      preflight: false,
      key: null,
      headerNames,
      headers,
      body: null,
      bodyError: null,
      bodyText: null,
      status: null,
      stream: false,
      events: 0,
      writes: 0,
      aborted: false,
      truncated: false,
      done: false,
      durationMs: null,
      note: null,
    };
    Object.defineProperty(entry, '_start', { value: Date.now(), enumerable: false });
    this.items.push(entry);
    if (this.items.length > MAX_ENTRIES) this.items.splice(0, this.items.length - MAX_ENTRIES);
    return entry;
  }

  /** Records the key of an entry (masked) and masks it wherever it appears in the body. */
  setKey(entry, key) {
    if (!key) return;
    entry.key = maskKey(key);
    if (key.length < 8) return;
    if (entry.body !== null) {
      const text = JSON.stringify(entry.body);
      if (text.includes(key)) entry.body = JSON.parse(text.split(key).join(entry.key));
    }
    if (typeof entry.bodyText === 'string') entry.bodyText = entry.bodyText.split(key).join(entry.key);
  }

  finish(entry, fields = {}) {
    Object.assign(entry, fields);
    if (!entry.done) {
      entry.done = true;
      entry.durationMs = Date.now() - entry._start;
    }
  }

  /** Copies of the entries with seq > since, optionally of one provider. */
  list({ provider = null, since = 0 } = {}) {
    return this.items
      .filter((e) => e.seq > since && (provider === null || e.provider === provider))
      .map((e) => structuredClone(e));
  }

  /** All entries (copies). */
  get entries() {
    return this.list();
  }

  clear() {
    this.items = [];
  }
}
