//! Client-side rate limiting: a token bucket per provider and key, set by the user and fed by
//! the provider's own rate-limit and `Retry-After` headers, so that a page cannot flood a
//! provider.
//!
//! The limiter never sleeps and never stalls silently: [`Limiter::acquire`] answers at once
//! with [`Decision::Go`] (the call may leave, and is counted) or [`Decision::Wait`] (how long and
//! why). The shell turns a wait into a visible event or stream chunk, waits, and asks again (a
//! slot seen free before the wait may have been taken by then).
//!
//! What holds a call back, longest wait first:
//! - a `Retry-After` the provider sent with a 429 or 503 ([`Limiter::observe_retry_after`]);
//! - the provider's own counters, read from response headers ([`Limiter::observe_headers`]):
//!   no requests left, or fewer tokens left than the call needs, until the reset time;
//! - the user's limits ([`RateLimit`]): requests per minute and tokens per minute, as buckets
//!   that hold a minute's worth and refill continuously. A call needing more tokens than a whole
//!   minute holds goes once the bucket is full and leaves it in debt, so it is neither refused
//!   forever nor let through early again.
//!
//! Memory is bounded: at most [`MAX_BUCKETS`] buckets (the least recently used is forgotten)
//! and [`MAX_LIMITS`] user limits. The clock is passed in (`now_ms`); a clock that steps back
//! refills nothing, and a clock that is not a number lets the call go rather than hang it.
//! Each page has its own limiter: tabs of the same app do not share buckets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::error::{ByokError, Result};
use crate::core::retry::retry_after_from_headers;
use crate::core::usage::parse_rfc3339;

/// The most buckets kept at once.
pub const MAX_BUCKETS: usize = 256;
/// The most user limits kept at once.
pub const MAX_LIMITS: usize = 256;
/// The longest wait the limiter will ask for, ms: a day. A provider asking for more (or a clock
/// gone wrong) still gets a finite, visible wait.
pub const MAX_WAIT_MS: u64 = 86_400_000;

/// Limits the user sets for a provider or a key; absent means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Calls per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Tokens (input plus the output asked for) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u32>,
}

impl RateLimit {
    /// Whether it limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_minute.is_none() && self.tokens_per_minute.is_none()
    }
}

/// Whose calls a bucket (or a limit) counts: a provider and a stored key's id. For a limit, no
/// key id means every key of the provider that has no limit of its own; for a bucket, the calls
/// made without a stored key (local servers).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitKey {
    /// Provider id.
    pub provider: String,
    /// Stored key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl LimitKey {
    /// A key for `provider` and `key_id`.
    pub fn new(provider: &str, key_id: Option<&str>) -> Self {
        LimitKey {
            provider: provider.to_owned(),
            key_id: key_id.map(str::to_owned),
        }
    }
}

/// A limit as stored by `setRateLimit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSetting {
    /// Provider id.
    pub provider: String,
    /// Stored key id; absent for the provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The limits.
    pub limit: RateLimit,
}

/// `setRateLimit`'s argument and `rateLimits()`' rows, flat as pages write them:
/// `{ provider, keyId?, requestsPerMinute?, tokensPerMinute? }`. With neither limit, the
/// limit of that provider or key is removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Provider id.
    pub provider: String,
    /// A stored key's id: the limit is that key's; without, every key of the provider's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Calls per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute (input estimate plus the output asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u32>,
}

impl From<RateLimitSpec> for RateLimitSetting {
    fn from(s: RateLimitSpec) -> Self {
        RateLimitSetting {
            provider: s.provider,
            key_id: s.key_id,
            limit: RateLimit {
                requests_per_minute: s.requests_per_minute,
                tokens_per_minute: s.tokens_per_minute,
            },
        }
    }
}

impl From<RateLimitSetting> for RateLimitSpec {
    fn from(s: RateLimitSetting) -> Self {
        RateLimitSpec {
            provider: s.provider,
            key_id: s.key_id,
            requests_per_minute: s.limit.requests_per_minute,
            tokens_per_minute: s.limit.tokens_per_minute,
        }
    }
}

/// Why a call must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WaitReason {
    /// The provider answered 429 or 503 with a `Retry-After`.
    RetryAfter,
    /// The provider's headers say no requests are left until their reset.
    ProviderRequests,
    /// The provider's headers say too few tokens are left until their reset.
    ProviderTokens,
    /// The user's requests-per-minute limit.
    RequestsPerMinute,
    /// The user's tokens-per-minute limit.
    TokensPerMinute,
}

impl WaitReason {
    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            WaitReason::RetryAfter => "the provider asked to wait before the next call",
            WaitReason::ProviderRequests => {
                "the provider's request limit is used up until it resets"
            }
            WaitReason::ProviderTokens => "the provider's token limit is used up until it resets",
            WaitReason::RequestsPerMinute => "your requests-per-minute limit is reached",
            WaitReason::TokensPerMinute => "your tokens-per-minute limit is reached",
        }
    }
}

/// The limiter's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Decision {
    /// Send now; the call has been counted.
    Go,
    /// Wait `ms` milliseconds, show `reason`, then ask again.
    Wait {
        /// How long, ms (at least 1, at most [`MAX_WAIT_MS`]).
        ms: u64,
        /// Why.
        reason: WaitReason,
    },
}

/// What the provider's headers said is left, until when.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    remaining: u64,
    reset_at: f64,
}

#[derive(Clone, Debug, PartialEq)]
struct Bucket {
    /// When the levels were last refilled.
    last_ms: f64,
    /// Requests available (≤ the per-minute limit).
    requests: f64,
    /// Tokens available; negative after a call larger than a minute's worth.
    tokens: f64,
    /// No call before this instant (Retry-After).
    blocked_until: f64,
    server_requests: Option<Window>,
    server_tokens: Option<Window>,
    /// For least-recently-used eviction.
    last_used: u64,
    /// The limit the levels were last filled under.
    limit: RateLimit,
}

impl Bucket {
    fn new(now_ms: f64, limit: RateLimit) -> Self {
        Bucket {
            last_ms: now_ms,
            requests: limit.requests_per_minute.map_or(0.0, f64::from),
            tokens: limit.tokens_per_minute.map_or(0.0, f64::from),
            blocked_until: f64::NEG_INFINITY,
            server_requests: None,
            server_tokens: None,
            last_used: 0,
            limit,
        }
    }

    /// Refills at the per-minute rates up to a minute's worth.
    fn refill(&mut self, now_ms: f64, limit: RateLimit) {
        if limit != self.limit {
            // A limit newly set starts full; a changed one keeps what is left, within the new cap.
            if self.limit.requests_per_minute.is_none() {
                self.requests = limit.requests_per_minute.map_or(0.0, f64::from);
            }
            if self.limit.tokens_per_minute.is_none() {
                self.tokens = limit.tokens_per_minute.map_or(0.0, f64::from);
            }
            self.limit = limit;
        }
        let elapsed = (now_ms - self.last_ms).max(0.0);
        self.last_ms = self.last_ms.max(now_ms);
        if let Some(rpm) = limit.requests_per_minute {
            let cap = f64::from(rpm);
            self.requests = (self.requests + elapsed * cap / 60_000.0).min(cap);
        }
        if let Some(tpm) = limit.tokens_per_minute {
            let cap = f64::from(tpm);
            self.tokens = (self.tokens + elapsed * cap / 60_000.0).min(cap);
        }
    }
}

/// Milliseconds as a wait: rounded up, at least 1, at most [`MAX_WAIT_MS`].
fn wait_ms(ms: f64) -> u64 {
    if ms.is_nan() {
        return 1;
    }
    (ms.ceil().max(1.0) as u64).min(MAX_WAIT_MS)
}

/// The token buckets of one page.
#[derive(Clone, Debug, Default)]
pub struct Limiter {
    limits: BTreeMap<LimitKey, RateLimit>,
    buckets: BTreeMap<LimitKey, Bucket>,
    tick: u64,
}

impl Limiter {
    /// A limiter with no limits: it holds calls back only on the provider's word.
    pub fn new() -> Self {
        Limiter::default()
    }

    /// Sets (or with `None` or an unlimited value, removes) the user's limit for `key`.
    /// A limit of 0 is refused: it would hold every call forever.
    pub fn set_limit(&mut self, key: &LimitKey, limit: Option<RateLimit>) -> Result<()> {
        match limit.filter(|l| !l.is_unlimited()) {
            None => {
                self.limits.remove(key);
            }
            Some(l) => {
                if l.requests_per_minute == Some(0) || l.tokens_per_minute == Some(0) {
                    return Err(ByokError::invalid_request(
                        "a rate limit must be at least 1 per minute (leave it out for no limit)",
                    ));
                }
                if !self.limits.contains_key(key) && self.limits.len() >= MAX_LIMITS {
                    return Err(ByokError::invalid_request(format!(
                        "at most {MAX_LIMITS} rate limits can be set"
                    )));
                }
                self.limits.insert(key.clone(), l);
            }
        }
        Ok(())
    }

    /// Loads stored settings (as [`Limiter::settings`] gives them).
    pub fn set_limits(&mut self, settings: &[RateLimitSetting]) -> Result<()> {
        for s in settings {
            let key = LimitKey {
                provider: s.provider.clone(),
                key_id: s.key_id.clone(),
            };
            self.set_limit(&key, Some(s.limit))?;
        }
        Ok(())
    }

    /// The user's limits, to store or show.
    pub fn settings(&self) -> Vec<RateLimitSetting> {
        self.limits
            .iter()
            .map(|(k, l)| RateLimitSetting {
                provider: k.provider.clone(),
                key_id: k.key_id.clone(),
                limit: *l,
            })
            .collect()
    }

    /// The limit in force for `key`: its own, else its provider's default, else none.
    pub fn limit_for(&self, key: &LimitKey) -> RateLimit {
        self.limits
            .get(key)
            .or_else(|| {
                self.limits.get(&LimitKey {
                    provider: key.provider.clone(),
                    key_id: None,
                })
            })
            .copied()
            .unwrap_or_default()
    }

    /// Forgets the bucket of `key` (a key removed from the vault).
    pub fn forget(&mut self, key: &LimitKey) {
        self.buckets.remove(key);
    }

    /// How many buckets are kept.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket of `key`, refilled to `now_ms`; made (evicting the least recently used one
    /// when full) if there is none.
    fn bucket(&mut self, key: &LimitKey, now_ms: f64) -> Option<&mut Bucket> {
        let limit = self.limit_for(key);
        self.tick = self.tick.wrapping_add(1);
        if !self.buckets.contains_key(key) {
            if self.buckets.len() >= MAX_BUCKETS {
                let oldest = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, b)| b.last_used)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.buckets.remove(&oldest);
                }
            }
            self.buckets.insert(key.clone(), Bucket::new(now_ms, limit));
        }
        let tick = self.tick;
        let bucket = self.buckets.get_mut(key)?;
        bucket.refill(now_ms, limit);
        bucket.last_used = tick;
        Some(bucket)
    }

    /// May a call for `key` needing `tokens` (input estimate plus the output asked for) leave at
    /// `now_ms`? `Go` counts it; `Wait` counts nothing.
    pub fn acquire(&mut self, key: &LimitKey, now_ms: f64, tokens: u64) -> Decision {
        if !now_ms.is_finite() {
            return Decision::Go;
        }
        let limit = self.limit_for(key);
        let Some(b) = self.bucket(key, now_ms) else {
            return Decision::Go;
        };
        let needed = tokens as f64;
        let mut waits: Vec<(f64, WaitReason)> = Vec::new();
        if b.blocked_until > now_ms {
            waits.push((b.blocked_until - now_ms, WaitReason::RetryAfter));
        }
        if let Some(w) = b.server_requests.filter(|w| w.reset_at > now_ms) {
            if w.remaining == 0 {
                waits.push((w.reset_at - now_ms, WaitReason::ProviderRequests));
            }
        }
        if let Some(w) = b.server_tokens.filter(|w| w.reset_at > now_ms) {
            if (w.remaining as f64) < needed {
                waits.push((w.reset_at - now_ms, WaitReason::ProviderTokens));
            }
        }
        if let Some(rpm) = limit.requests_per_minute {
            if b.requests < 1.0 {
                let rate = f64::from(rpm) / 60_000.0;
                waits.push(((1.0 - b.requests) / rate, WaitReason::RequestsPerMinute));
            }
        }
        if let Some(tpm) = limit.tokens_per_minute {
            let want = needed.min(f64::from(tpm));
            if b.tokens < want {
                let rate = f64::from(tpm) / 60_000.0;
                waits.push(((want - b.tokens) / rate, WaitReason::TokensPerMinute));
            }
        }
        // The longest wait: after it every other condition has cleared too (or is re-checked).
        if let Some((ms, reason)) = waits.into_iter().max_by(|a, b| a.0.total_cmp(&b.0)) {
            return Decision::Wait {
                ms: wait_ms(ms),
                reason,
            };
        }
        if limit.requests_per_minute.is_some() {
            b.requests -= 1.0;
        }
        if limit.tokens_per_minute.is_some() {
            b.tokens -= needed;
        }
        // Count against the provider's window too, so that calls sent before the next
        // response's headers do not overshoot it.
        if let Some(w) = b.server_requests.as_mut() {
            w.remaining = w.remaining.saturating_sub(1);
        }
        if let Some(w) = b.server_tokens.as_mut() {
            w.remaining = w.remaining.saturating_sub(tokens);
        }
        Decision::Go
    }

    /// Blocks `key` for `ms` from `now_ms` (a 429's or 503's `Retry-After`, as
    /// [`retry_after_from_headers`] reads it). A shorter block never shortens a longer one.
    pub fn observe_retry_after(&mut self, key: &LimitKey, ms: u64, now_ms: f64) {
        if !now_ms.is_finite() {
            return;
        }
        let until = now_ms + ms.min(MAX_WAIT_MS) as f64;
        if let Some(b) = self.bucket(key, now_ms) {
            b.blocked_until = b.blocked_until.max(until);
        }
    }

    /// Reads the provider's rate-limit headers of a response (`get` looks a header up by its
    /// lower-case name, as `Headers.get` does):
    /// - OpenAI and the servers that copy it (Azure, Groq, xAI, ...):
    ///   `x-ratelimit-remaining-requests` with `x-ratelimit-reset-requests`, and
    ///   `x-ratelimit-remaining-tokens` with `x-ratelimit-reset-tokens`, the resets as durations
    ///   (`1s`, `6m0s`, `250ms`);
    /// - Anthropic: `anthropic-ratelimit-requests-remaining` with `-requests-reset`, and
    ///   `anthropic-ratelimit-tokens-remaining` with `-tokens-reset` (else the
    ///   `input-tokens` pair), the resets as RFC 3339 times.
    ///
    /// A count without its reset time is ignored: there would be no telling when it ends. In a
    /// browser these headers are readable only when the provider exposes them to CORS.
    pub fn observe_headers(
        &mut self,
        key: &LimitKey,
        get: impl Fn(&str) -> Option<String>,
        now_ms: f64,
    ) {
        if !now_ms.is_finite() {
            return;
        }
        let openai = |remaining: &str, reset: &str| {
            let count = get(remaining).and_then(|v| parse_count(&v))?;
            let value = get(reset)?;
            // The retry module already reads OpenAI's durations: hand it only this header.
            let ms = retry_after_from_headers(
                |name| (name == "x-ratelimit-reset-requests").then(|| value.clone()),
                now_ms,
            )?;
            Some(Window {
                remaining: count,
                reset_at: now_ms + ms.min(MAX_WAIT_MS) as f64,
            })
        };
        let anthropic = |remaining: &str, reset: &str| {
            let count = get(remaining).and_then(|v| parse_count(&v))?;
            let at = get(reset).and_then(|v| parse_rfc3339(&v))?;
            Some(Window {
                remaining: count,
                reset_at: at.min(now_ms + MAX_WAIT_MS as f64),
            })
        };
        let requests = openai(
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        )
        .or_else(|| {
            anthropic(
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
            )
        });
        let tokens = openai("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")
            .or_else(|| {
                anthropic(
                    "anthropic-ratelimit-tokens-remaining",
                    "anthropic-ratelimit-tokens-reset",
                )
            })
            .or_else(|| {
                anthropic(
                    "anthropic-ratelimit-input-tokens-remaining",
                    "anthropic-ratelimit-input-tokens-reset",
                )
            });
        if requests.is_none() && tokens.is_none() {
            return;
        }
        if let Some(b) = self.bucket(key, now_ms) {
            if requests.is_some() {
                b.server_requests = requests;
            }
            if tokens.is_some() {
                b.server_tokens = tokens;
            }
        }
    }
}

/// A header's count: decimal digits only.
fn parse_count(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More than u64 holds is as good as unlimited.
    Some(v.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
