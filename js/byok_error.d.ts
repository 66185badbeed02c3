/** The error codes of byok. */
export type BYOKErrorCode =
  | 'INVALID_API_KEY' | 'RATE_LIMITED' | 'MODEL_NOT_FOUND' | 'INSUFFICIENT_QUOTA'
  | 'STREAM_ABORTED' | 'ENCRYPTION_FAILED' | 'DECRYPTION_FAILED' | 'KEY_NOT_FOUND'
  | 'WRONG_PASSPHRASE' | 'VAULT_LOCKED' | 'UNSUPPORTED_PROVIDER' | 'INVALID_REQUEST'
  | 'CORS_BLOCKED' | 'NETWORK_ERROR' | 'PROVIDER_UNAVAILABLE' | 'BUDGET_EXCEEDED'
  | 'STORAGE_FAILED';

/** Every error code of byok, each mapped to itself. */
export declare const BYOK_ERROR_CODES: Readonly<{ [K in BYOKErrorCode]: K }>;

/** A failure of any byok call: a real Error with a stable `code`. */
export declare class BYOKError extends Error {
  constructor(
    code: BYOKErrorCode,
    message: string,
    details?: { provider?: string; status?: number; retryAfterMs?: number },
  );
  readonly name: 'BYOKError';
  /** What went wrong, stable across versions. */
  readonly code: BYOKErrorCode;
  /** The provider involved, where there is one. */
  readonly provider?: string;
  /** The HTTP status the provider answered, where there was one. */
  readonly status?: number;
  /** How long the provider asked to wait before retrying. */
  readonly retryAfterMs?: number;
}
