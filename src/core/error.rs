//! The error codes of `shared/API.md` and the one error type every layer returns.
//!
//! A [`ByokError`] reaches JavaScript as a `BYOKError` (a real `Error` subclass) with the same
//! `code`, message, `provider`, `status` and `retryAfterMs`. Messages are written for people and
//! never carry a secret: text that came from outside (a provider's error body) goes through
//! [`crate::core::keys::redact`] before it is put into one.

use core::fmt;

/// A stable, machine-readable error code. The string form is the contract with JavaScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The provider refused the key, or the key is malformed.
    InvalidApiKey,
    /// 429 after the allowed retries, or a Retry-After longer than the caller allows.
    RateLimited,
    /// The model does not exist (for this key, or in the catalog).
    ModelNotFound,
    /// Out of credit or billing quota.
    InsufficientQuota,
    /// The caller's AbortSignal fired.
    StreamAborted,
    /// WebCrypto failed while sealing.
    EncryptionFailed,
    /// WebCrypto failed while opening, or a stored record is corrupt or tampered with.
    DecryptionFailed,
    /// No stored key for that provider or id.
    KeyNotFound,
    /// `unlock` or `changePassphrase` with the wrong passphrase.
    WrongPassphrase,
    /// The vault must be unlocked first.
    VaultLocked,
    /// An unknown provider id.
    UnsupportedProvider,
    /// A malformed request, caught before any network call.
    InvalidRequest,
    /// The browser blocked the call.
    CorsBlocked,
    /// The provider could not be reached, or the stream broke off.
    NetworkError,
    /// 5xx or overloaded after the allowed retries.
    ProviderUnavailable,
    /// The call would pass a spending limit the user set.
    BudgetExceeded,
    /// IndexedDB refused (quota, blocked upgrade, private mode).
    StorageFailed,
}

impl ErrorCode {
    /// Every code, in the order of `shared/API.md`.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::InvalidApiKey,
        ErrorCode::RateLimited,
        ErrorCode::ModelNotFound,
        ErrorCode::InsufficientQuota,
        ErrorCode::StreamAborted,
        ErrorCode::EncryptionFailed,
        ErrorCode::DecryptionFailed,
        ErrorCode::KeyNotFound,
        ErrorCode::WrongPassphrase,
        ErrorCode::VaultLocked,
        ErrorCode::UnsupportedProvider,
        ErrorCode::InvalidRequest,
        ErrorCode::CorsBlocked,
        ErrorCode::NetworkError,
        ErrorCode::ProviderUnavailable,
        ErrorCode::BudgetExceeded,
        ErrorCode::StorageFailed,
    ];

    /// The code as JavaScript sees it, e.g. `"INVALID_API_KEY"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidApiKey => "INVALID_API_KEY",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ModelNotFound => "MODEL_NOT_FOUND",
            ErrorCode::InsufficientQuota => "INSUFFICIENT_QUOTA",
            ErrorCode::StreamAborted => "STREAM_ABORTED",
            ErrorCode::EncryptionFailed => "ENCRYPTION_FAILED",
            ErrorCode::DecryptionFailed => "DECRYPTION_FAILED",
            ErrorCode::KeyNotFound => "KEY_NOT_FOUND",
            ErrorCode::WrongPassphrase => "WRONG_PASSPHRASE",
            ErrorCode::VaultLocked => "VAULT_LOCKED",
            ErrorCode::UnsupportedProvider => "UNSUPPORTED_PROVIDER",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::CorsBlocked => "CORS_BLOCKED",
            ErrorCode::NetworkError => "NETWORK_ERROR",
            ErrorCode::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            ErrorCode::BudgetExceeded => "BUDGET_EXCEEDED",
            ErrorCode::StorageFailed => "STORAGE_FAILED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error type of byok: a code, a message for people, and what is known of the context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ByokError {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// A human message; never holds a secret.
    pub message: String,
    /// The provider involved, where there is one.
    pub provider: Option<String>,
    /// The HTTP status the provider answered, where there was one.
    pub status: Option<u16>,
    /// How long the provider asked us to wait, where it said.
    pub retry_after_ms: Option<u64>,
}

impl ByokError {
    /// A new error with a code and a message and no context.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ByokError {
            code,
            message: message.into(),
            provider: None,
            status: None,
            retry_after_ms: None,
        }
    }

    /// Shorthand for [`ErrorCode::InvalidRequest`], the most common error raised before any I/O.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// `INVALID_REQUEST` for input that did not decode, keeping serde's account of where and
    /// why but not the values it quotes: they may be prompt text or a key.
    pub fn from_decode(context: &str, detail: &str) -> Self {
        let mut out = String::with_capacity(detail.len());
        let mut in_quote = false;
        for c in detail.chars() {
            if c == '"' {
                if !in_quote {
                    out.push_str("\"…\"");
                }
                in_quote = !in_quote;
            } else if !in_quote {
                out.push(c);
            }
        }
        Self::invalid_request(format!("{context}: {out}"))
    }

    /// The same error, naming the provider it concerns.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// The same error, with the HTTP status the provider answered.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The same error, with the wait the provider asked for.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
}

/// The result type of every fallible byok call.
pub type Result<T, E = ByokError> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_api_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn codes_are_unique_and_complete() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 17);
        assert!(names.contains(&"BUDGET_EXCEEDED"));
        assert!(names.contains(&"STORAGE_FAILED"));
    }

    #[test]
    fn builder_keeps_context() {
        let e = ByokError::new(ErrorCode::RateLimited, "slow down")
            .with_provider("openai")
            .with_status(429)
            .with_retry_after_ms(1500);
        assert_eq!(e.provider.as_deref(), Some("openai"));
        assert_eq!(e.status, Some(429));
        assert_eq!(e.retry_after_ms, Some(1500));
        assert_eq!(e.to_string(), "RATE_LIMITED: slow down");
    }

    #[test]
    fn decode_errors_drop_quoted_values() {
        let e = ByokError::from_decode(
            "request",
            "invalid type: string \"sk-secret-123\", expected a sequence at line 1",
        );
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(!e.message.contains("sk-secret"));
        assert_eq!(
            e.message,
            "request: invalid type: string \"…\", expected a sequence at line 1"
        );
        let e = ByokError::from_decode("request", "unknown field `max_tokens`");
        assert!(e.message.contains("`max_tokens`"));
    }
}
