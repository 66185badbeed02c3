// Key registry and per-key behaviours, shared by every provider.
//
// A key is valid for a provider when it is one of the provider's built-in keys, was registered
// through the control API (POST /__standin/keys), or is a "behaviour key": it starts with the
// provider's behaviour-key prefix (e.g. `sk-` for OpenAI) and contains one of the behaviour
// words below. Everything else is an unknown key (401 in the provider's own words).
//
// Keys are never printed: use maskKey() for anything that reaches a console or the log.

/** Everything a behaviour can set, with its default. */
export const BEHAVIOUR_DEFAULTS = Object.freeze({
  chunking: 'awkward', // 'awkward' | 'whole' | 'bytewise': how SSE bytes are cut into writes
  lineEnding: 'lf', // 'lf' | 'crlf': SSE line terminator (OpenAI uses lf)
  delayMs: 0, // pause between two writes of a stream (slow streams, abort tests)
  headersDelayMs: 0, // pause before the status line is sent (time-to-first-byte tests)
  truncateAfter: null, // N: stop after N events, without the terminator
  truncateMode: 'end', // 'end': finish the HTTP body cleanly | 'drop': close the socket mid-body
  errorAfter: null, // N: after N events send the provider's mid-stream error event and stop
  stallAfter: null, // N: after N events send nothing for stallMs, then close without terminator
  stallMs: 5000, // how long a stall lasts (capped at 60 s so nothing hangs for ever)
  status5xx: 0, // answer the next N requests with 500/503 before succeeding
  rateLimit: 0, // answer the next N requests with 429 rate_limit_exceeded (-1: always)
  retryAfter: 1, // seconds put in retry-after on 429
  quota: false, // every request: 429 insufficient_quota
  revoked: false, // every request: 401 as for an unknown key
  overloaded: false, // every request: the provider's "overloaded" answer (Anthropic: 529 overloaded_error)
  reply: null, // replaces the deterministic answer text
  exposeHeaders: null, // list of header names to expose via access-control-expose-headers
  reportedCost: null, // USD put in usage.cost, as OpenRouter and LiteLLM report their own cost
});

const ENUMS = {
  chunking: ['awkward', 'whole', 'bytewise'],
  lineEnding: ['lf', 'crlf'],
  truncateMode: ['end', 'drop'],
};

/**
 * Validates and completes a behaviour given by a test.
 * Returns `{ behaviour }` or `{ error }` (a sentence naming the bad field).
 */
export function normalizeBehaviour(input = {}) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { error: 'behaviour must be an object' };
  }
  const out = { ...BEHAVIOUR_DEFAULTS };
  for (const [name, value] of Object.entries(input)) {
    if (!(name in BEHAVIOUR_DEFAULTS)) {
      return { error: `unknown behaviour field '${name}'; known fields: ${Object.keys(BEHAVIOUR_DEFAULTS).join(', ')}` };
    }
    if (ENUMS[name]) {
      if (!ENUMS[name].includes(value)) return { error: `${name} must be one of ${ENUMS[name].join(', ')}` };
    } else if (['delayMs', 'headersDelayMs', 'stallMs', 'status5xx', 'retryAfter'].includes(name)) {
      if (!Number.isInteger(value) || value < 0) return { error: `${name} must be an integer >= 0` };
    } else if (['truncateAfter', 'errorAfter', 'stallAfter'].includes(name)) {
      if (value !== null && (!Number.isInteger(value) || value < 0)) return { error: `${name} must be null or an integer >= 0` };
    } else if (name === 'rateLimit') {
      if (!Number.isInteger(value) || value < -1) return { error: 'rateLimit must be an integer >= -1 (-1: always)' };
    } else if (name === 'quota' || name === 'revoked' || name === 'overloaded') {
      if (typeof value !== 'boolean') return { error: `${name} must be a boolean` };
    } else if (name === 'reply') {
      if (value !== null && typeof value !== 'string') return { error: 'reply must be null or a string' };
    } else if (name === 'reportedCost') {
      if (value !== null && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
        return { error: 'reportedCost must be null or a number >= 0' };
      }
    } else if (name === 'exposeHeaders') {
      if (value !== null && (!Array.isArray(value) || !value.every((h) => typeof h === 'string'))) {
        return { error: 'exposeHeaders must be null or an array of header names' };
      }
    }
    out[name] = value;
  }
  out.delayMs = Math.min(out.delayMs, 10_000);
  out.headersDelayMs = Math.min(out.headersDelayMs, 30_000);
  out.stallMs = Math.min(out.stallMs, 60_000);
  return { behaviour: out };
}

/**
 * Behaviour words recognised inside a key (lower case, anywhere in the key). A number right
 * after the word sets its parameter, e.g. `truncate5`, `slow200`, `flaky3`.
 */
export const BEHAVIOUR_WORDS = Object.freeze({
  quota: 'every request: 429 insufficient_quota',
  ratelimit: 'every request: 429 rate_limit_exceeded, retry-after N s (default 1)',
  revoked: 'every request: 401 as for an unknown key',
  overloaded: "every request: the provider's overloaded answer (Anthropic: 529 overloaded_error)",
  flaky: 'next N requests (default 2) answered 500 then 503, then success',
  slow: 'N ms (default 50) between stream writes',
  truncate: 'streams stop after N events (default 3) without [DONE]',
  streamerror: 'after N events (default 3) a mid-stream error event, no [DONE]',
  stall: 'after N events (default 2) the stream stalls 5 s, then closes',
  whole: 'one SSE event per write',
  bytewise: 'one byte per write',
  awkward: 'hostile write boundaries (the default anyway)',
  crlf: 'SSE lines end with CRLF instead of LF',
});

/** The behaviour a behaviour key asks for, or null when the key holds no behaviour word. */
export function behaviourFromKeyWords(key) {
  const found = {};
  let any = false;
  const re = /(quota|ratelimit|revoked|overloaded|flaky|slow|truncate|streamerror|stall|whole|bytewise|awkward|crlf)(\d*)/g;
  for (const m of key.matchAll(re)) {
    any = true;
    const n = m[2] === '' ? null : Number(m[2]);
    switch (m[1]) {
      case 'quota': found.quota = true; break;
      case 'ratelimit': found.rateLimit = -1; found.retryAfter = n ?? 1; break;
      case 'revoked': found.revoked = true; break;
      case 'overloaded': found.overloaded = true; break;
      case 'flaky': found.status5xx = n ?? 2; break;
      case 'slow': found.delayMs = n ?? 50; break;
      case 'truncate': found.truncateAfter = n ?? 3; break;
      case 'streamerror': found.errorAfter = n ?? 3; break;
      case 'stall': found.stallAfter = n ?? 2; break;
      case 'whole': case 'bytewise': case 'awkward': found.chunking = m[1]; break;
      case 'crlf': found.lineEnding = 'crlf'; break;
    }
  }
  return any ? normalizeBehaviour(found).behaviour : null;
}

/**
 * Masked form of a key for consoles and the log: `sk-pr…f456`. Short keys show less, so the
 * masked form never gives the whole key away.
 */
export function maskKey(key) {
  if (key === null || key === undefined) return null;
  const s = String(key);
  if (s.length >= 16) return `${s.slice(0, 5)}…${s.slice(-4)}`;
  if (s.length >= 8) return `${s.slice(0, 3)}…`;
  return '…';
}

export class KeyRegistry {
  constructor() {
    /** provider -> Map(key -> { behaviour, source, note }) */
    this.builtin = new Map();
    this.registered = new Map();
    /** `${provider}\n${key}` -> { status5xx, rateLimit, served } counters */
    this.state = new Map();
    /** provider -> prefix that behaviour keys must start with */
    this.behaviourPrefixes = new Map();
  }

  addBuiltin(provider, key, behaviour = {}, note = '') {
    const { behaviour: b, error } = normalizeBehaviour(behaviour);
    if (error) throw new Error(`built-in key for ${provider}: ${error}`);
    if (!this.builtin.has(provider)) this.builtin.set(provider, new Map());
    this.builtin.get(provider).set(key, { behaviour: b, source: 'builtin', note });
  }

  setBehaviourPrefix(provider, prefix) {
    this.behaviourPrefixes.set(provider, prefix);
  }

  /** Registers (or replaces) a key; its counters start afresh. Returns { behaviour } or { error }. */
  register(provider, key, behaviour) {
    const result = normalizeBehaviour(behaviour ?? {});
    if (result.error) return result;
    if (!this.registered.has(provider)) this.registered.set(provider, new Map());
    this.registered.get(provider).set(key, { behaviour: result.behaviour, source: 'registered', note: '' });
    this.state.delete(`${provider}\n${key}`);
    return result;
  }

  /** Forgets registered keys and every counter; built-in keys stay. */
  reset() {
    this.registered.clear();
    this.state.clear();
  }

  /**
   * What the provider should do with this key: `{ known: false }` or
   * `{ known: true, behaviour, source, state }`. `state` holds the key's counters.
   */
  lookup(provider, key) {
    if (typeof key !== 'string' || key === '') return { known: false };
    const entry = this.registered.get(provider)?.get(key) ?? this.builtin.get(provider)?.get(key) ?? null;
    let behaviour = entry?.behaviour ?? null;
    let source = entry?.source ?? null;
    if (!behaviour) {
      const prefix = this.behaviourPrefixes.get(provider);
      if (prefix !== undefined && key.startsWith(prefix)) {
        behaviour = behaviourFromKeyWords(key);
        source = 'behaviour-key';
      }
    }
    if (!behaviour) return { known: false };
    const stateKey = `${provider}\n${key}`;
    if (!this.state.has(stateKey)) {
      this.state.set(stateKey, { status5xx: behaviour.status5xx, rateLimit: behaviour.rateLimit, served: 0 });
    }
    return { known: true, behaviour, source, state: this.state.get(stateKey) };
  }

  /**
   * As lookup(), for a server that takes any key or none (a local server started without an
   * API key): every key is known; its behaviour comes from the registry, its words, or the
   * defaults. Counters are per key ('' for no key).
   */
  lookupAny(provider, key) {
    const k = typeof key === 'string' ? key : '';
    const strict = this.lookup(provider, k);
    if (strict.known) return strict;
    const behaviour = (k && behaviourFromKeyWords(k)) || normalizeBehaviour({}).behaviour;
    const stateKey = `${provider}\n${k}`;
    if (!this.state.has(stateKey)) {
      this.state.set(stateKey, { status5xx: behaviour.status5xx, rateLimit: behaviour.rateLimit, served: 0 });
    }
    return { known: true, behaviour, source: k ? 'any-key' : 'no-key', state: this.state.get(stateKey) };
  }

  /** Built-in keys of a provider, for the README and the health endpoint. */
  listBuiltin(provider) {
    return [...(this.builtin.get(provider) ?? new Map()).entries()].map(([key, v]) => ({ key, note: v.note }));
  }
}
