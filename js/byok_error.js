// The error class of byok. It lives in JavaScript because a wasm-bindgen export cannot extend
// Error, and `e instanceof Error` must hold: the Rust side constructs it through `makeError`.

/** Every error code of byok, each mapped to itself. */
export const BYOK_ERROR_CODES = Object.freeze({
  INVALID_API_KEY: 'INVALID_API_KEY',
  RATE_LIMITED: 'RATE_LIMITED',
  MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
  INSUFFICIENT_QUOTA: 'INSUFFICIENT_QUOTA',
  STREAM_ABORTED: 'STREAM_ABORTED',
  ENCRYPTION_FAILED: 'ENCRYPTION_FAILED',
  DECRYPTION_FAILED: 'DECRYPTION_FAILED',
  KEY_NOT_FOUND: 'KEY_NOT_FOUND',
  WRONG_PASSPHRASE: 'WRONG_PASSPHRASE',
  VAULT_LOCKED: 'VAULT_LOCKED',
  UNSUPPORTED_PROVIDER: 'UNSUPPORTED_PROVIDER',
  INVALID_REQUEST: 'INVALID_REQUEST',
  CORS_BLOCKED: 'CORS_BLOCKED',
  NETWORK_ERROR: 'NETWORK_ERROR',
  PROVIDER_UNAVAILABLE: 'PROVIDER_UNAVAILABLE',
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  STORAGE_FAILED: 'STORAGE_FAILED',
});

/** A failure of any byok call: a real Error with a stable `code`. */
export class BYOKError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'BYOKError';
    this.code = code;
    const d = details || {};
    if (d.provider != null) this.provider = d.provider;
    if (d.status != null) this.status = d.status;
    if (d.retryAfterMs != null) this.retryAfterMs = d.retryAfterMs;
  }
}

/** Called from Rust; not part of the public API. */
export function makeError(code, message, provider, status, retryAfterMs) {
  return new BYOKError(code, message, { provider, status, retryAfterMs });
}
