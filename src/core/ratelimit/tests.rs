use super::*;
use crate::core::error::ErrorCode;

fn key(k: &str) -> LimitKey {
    LimitKey::new("openai", Some(k))
}

fn wait(ms: u64, reason: WaitReason) -> Decision {
    Decision::Wait { ms, reason }
}

use Decision::Go;
use WaitReason::*;

/// One step of a timeline: what happens at `t`, and what `acquire` must answer.
enum Step {
    /// acquire(tokens) at t → expected.
    Acquire(f64, u64, Decision),
    /// A Retry-After of `ms` observed at t.
    Blocked(f64, u64),
    /// Response headers observed at t.
    Headers(f64, &'static [(&'static str, &'static str)]),
}

fn run(limit: Option<RateLimit>, steps: &[Step]) {
    let mut l = Limiter::new();
    let k = key("k1");
    l.set_limit(&k, limit).unwrap();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Acquire(t, tokens, want) => {
                assert_eq!(l.acquire(&k, *t, *tokens), *want, "step {i} at {t}");
            }
            Step::Blocked(t, ms) => l.observe_retry_after(&k, *ms, *t),
            Step::Headers(t, pairs) => l.observe_headers(
                &k,
                |name| {
                    pairs
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| (*v).to_owned())
                },
                *t,
            ),
        }
    }
}

fn rpm(n: u32) -> Option<RateLimit> {
    Some(RateLimit {
        requests_per_minute: Some(n),
        tokens_per_minute: None,
    })
}

fn tpm(n: u32) -> Option<RateLimit> {
    Some(RateLimit {
        requests_per_minute: None,
        tokens_per_minute: Some(n),
    })
}

#[test]
fn requests_per_minute_timeline() {
    use Step::*;
    run(
        rpm(2),
        &[
            Acquire(0.0, 10, Go),
            Acquire(0.0, 10, Go),
            Acquire(0.0, 10, wait(30_000, RequestsPerMinute)),
            Acquire(10_000.0, 10, wait(20_000, RequestsPerMinute)),
            Acquire(30_000.0, 10, Go),
            Acquire(30_000.0, 10, wait(30_000, RequestsPerMinute)),
            // A long pause refills to a minute's worth, no more.
            Acquire(600_000.0, 10, Go),
            Acquire(600_000.0, 10, Go),
            Acquire(600_000.0, 10, wait(30_000, RequestsPerMinute)),
        ],
    );
}

#[test]
fn tokens_per_minute_timeline() {
    use Step::*;
    run(
        tpm(1_000),
        &[
            Acquire(0.0, 600, Go),
            // 400 left; 600 more needs 200 tokens = 12 s at 1,000 per minute.
            Acquire(0.0, 600, wait(12_000, TokensPerMinute)),
            Acquire(12_000.0, 600, Go),
            // Refill to full, then one call larger than a minute's worth goes and leaves debt.
            Acquire(200_000.0, 5_000, Go),
            Acquire(200_000.0, 1, wait(240_060, TokensPerMinute)),
            Acquire(440_060.0, 1, Go),
            // A zero-token call needs no tokens.
            Acquire(440_060.0, 0, Go),
        ],
    );
}

#[test]
fn retry_after_blocks_and_is_never_shortened() {
    use Step::*;
    run(
        None,
        &[
            Acquire(0.0, 1, Go),
            Blocked(1_000.0, 5_000),
            Acquire(1_000.0, 1, wait(5_000, RetryAfter)),
            Blocked(2_000.0, 1_000), // shorter: ignored
            Acquire(5_999.0, 1, wait(1, RetryAfter)),
            Acquire(5_999.5, 1, wait(1, RetryAfter)),
            Acquire(6_000.0, 1, Go),
            Blocked(7_000.0, u64::MAX), // capped at a day
            Acquire(7_000.0, 1, wait(MAX_WAIT_MS, RetryAfter)),
        ],
    );
}

#[test]
fn the_longest_wait_wins() {
    use Step::*;
    run(
        rpm(1),
        &[
            Acquire(0.0, 1, Go),
            Blocked(0.0, 5_000),
            Acquire(0.0, 1, wait(60_000, RequestsPerMinute)),
            Blocked(0.0, 90_000),
            Acquire(0.0, 1, wait(90_000, RetryAfter)),
            Acquire(90_000.0, 1, Go),
        ],
    );
}

#[test]
fn openai_headers_timeline() {
    use Step::*;
    run(
        None,
        &[
            Headers(
                0.0,
                &[
                    ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "6m0s"),
                ],
            ),
            Acquire(0.0, 1, wait(360_000, ProviderRequests)),
            Acquire(359_999.0, 1, wait(1, ProviderRequests)),
            Acquire(360_000.0, 1, Go),
            // Two left: this page may send two before the next headers arrive.
            Headers(
                400_000.0,
                &[
                    ("x-ratelimit-remaining-requests", "2"),
                    ("x-ratelimit-reset-requests", "1s"),
                    ("x-ratelimit-remaining-tokens", "500"),
                    ("x-ratelimit-reset-tokens", "250ms"),
                ],
            ),
            Acquire(400_000.0, 600, wait(250, ProviderTokens)),
            Acquire(400_000.0, 100, Go),
            Acquire(400_000.0, 100, Go),
            Acquire(400_000.0, 100, wait(1_000, ProviderRequests)),
            Acquire(401_000.0, 100, Go),
            // Counts without a reset, or that are not numbers, are ignored.
            Headers(500_000.0, &[("x-ratelimit-remaining-requests", "0")]),
            Headers(
                500_000.0,
                &[
                    ("x-ratelimit-remaining-requests", "none"),
                    ("x-ratelimit-reset-requests", "1s"),
                ],
            ),
            Headers(
                500_000.0,
                &[
                    ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "soon"),
                ],
            ),
            Acquire(500_000.0, 1, Go),
        ],
    );
}

#[test]
fn anthropic_headers_timeline() {
    use Step::*;
    // 2026-11-23T10:15:30Z.
    let t = 1_795_428_930_000.0;
    run(
        None,
        &[
            Headers(
                t,
                &[
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", "2026-11-23T10:15:42Z"),
                    ("anthropic-ratelimit-tokens-remaining", "80000"),
                    (
                        "anthropic-ratelimit-tokens-reset",
                        "2026-11-23T10:15:31.500Z",
                    ),
                ],
            ),
            Acquire(t, 1_000, wait(12_000, ProviderRequests)),
            Acquire(t + 12_000.0, 1_000, Go),
            // Only input tokens reported (newer Anthropic headers): used for tokens.
            Headers(
                t + 20_000.0,
                &[
                    ("anthropic-ratelimit-input-tokens-remaining", "10"),
                    (
                        "anthropic-ratelimit-input-tokens-reset",
                        "2026-11-23T10:15:51Z",
                    ),
                ],
            ),
            Acquire(t + 20_000.0, 11, wait(1_000, ProviderTokens)),
            Acquire(t + 20_000.0, 10, Go),
            // A reset in the past lifts nothing and blocks nothing.
            Headers(
                t + 30_000.0,
                &[
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", "2026-11-23T10:15:00Z"),
                ],
            ),
            Acquire(t + 30_000.0, 1, Go),
        ],
    );
}

#[test]
fn limits_per_key_and_per_provider() {
    let mut l = Limiter::new();
    let provider_default = LimitKey::new("openai", None);
    l.set_limit(&provider_default, rpm(1)).unwrap();
    l.set_limit(&key("fast"), rpm(100)).unwrap();
    assert_eq!(l.limit_for(&key("slow")), rpm(1).unwrap());
    assert_eq!(l.limit_for(&key("fast")), rpm(100).unwrap());
    assert_eq!(
        l.limit_for(&LimitKey::new("anthropic", Some("x"))),
        RateLimit::default()
    );
    // Buckets are per key: one key's use does not hold another back.
    assert_eq!(l.acquire(&key("slow"), 0.0, 1), Go);
    assert_eq!(
        l.acquire(&key("slow"), 0.0, 1),
        wait(60_000, RequestsPerMinute)
    );
    assert_eq!(l.acquire(&key("other"), 0.0, 1), Go);
    assert_eq!(l.acquire(&key("fast"), 0.0, 1), Go);
    assert_eq!(l.acquire(&key("fast"), 0.0, 1), Go);

    // Zero is refused; unlimited removes.
    let e = l.set_limit(&key("x"), rpm(0)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    l.set_limit(&key("fast"), Some(RateLimit::default()))
        .unwrap();
    assert_eq!(l.limit_for(&key("fast")), rpm(1).unwrap());

    // Settings round-trip through storage.
    let settings = l.settings();
    let json = serde_json::to_string(&settings).unwrap();
    assert_eq!(
        json,
        r#"[{"provider":"openai","limit":{"requestsPerMinute":1}}]"#
    );
    let mut fresh = Limiter::new();
    fresh
        .set_limits(&serde_json::from_str::<Vec<RateLimitSetting>>(&json).unwrap())
        .unwrap();
    assert_eq!(fresh.settings(), settings);
    assert!(serde_json::from_str::<RateLimit>(r#"{"rpm":3}"#).is_err());
}

#[test]
fn setting_a_limit_later_starts_full_and_lowering_it_caps() {
    let mut l = Limiter::new();
    let k = key("k");
    assert_eq!(l.acquire(&k, 0.0, 1), Go);
    l.set_limit(&k, rpm(2)).unwrap();
    assert_eq!(l.acquire(&k, 0.0, 1), Go);
    assert_eq!(l.acquire(&k, 0.0, 1), Go);
    assert_eq!(l.acquire(&k, 0.0, 1), wait(30_000, RequestsPerMinute));
    l.set_limit(&k, rpm(60)).unwrap();
    // Raising keeps what was left (nothing) and refills at the new rate: one per second.
    assert_eq!(l.acquire(&k, 0.0, 1), wait(1_000, RequestsPerMinute));
    assert_eq!(l.acquire(&k, 1_000.0, 1), Go);
}

#[test]
fn too_many_limits_are_refused() {
    let mut l = Limiter::new();
    for i in 0..MAX_LIMITS {
        l.set_limit(&key(&format!("k{i}")), rpm(5)).unwrap();
    }
    assert!(l.set_limit(&key("one-more"), rpm(5)).is_err());
    // Changing an existing one is still fine.
    l.set_limit(&key("k0"), rpm(6)).unwrap();
}

#[test]
fn memory_is_bounded_and_the_recent_are_kept() {
    let mut l = Limiter::new();
    let busy = key("busy");
    l.observe_retry_after(&busy, 60_000, 0.0);
    for i in 0..(MAX_BUCKETS * 3) {
        let t = i as f64;
        assert_eq!(l.acquire(&key(&format!("k{i}")), t, 1), Go);
        if i % 100 == 0 {
            // Still in use: it survives the churn, and so does its block.
            assert!(matches!(l.acquire(&busy, t, 1), Decision::Wait { .. }));
        }
        assert!(l.bucket_count() <= MAX_BUCKETS);
    }
    assert_eq!(l.bucket_count(), MAX_BUCKETS);
    l.forget(&busy);
    assert_eq!(l.acquire(&busy, 1_000.0, 1), Go);
}

#[test]
fn odd_clocks() {
    let mut l = Limiter::new();
    let k = key("k");
    l.set_limit(&k, rpm(1)).unwrap();
    assert_eq!(l.acquire(&k, 10_000.0, 1), Go);
    // A clock that steps back refills nothing and does not panic.
    assert_eq!(l.acquire(&k, 0.0, 1), wait(60_000, RequestsPerMinute));
    assert_eq!(l.acquire(&k, 70_000.0, 1), Go);
    // A clock that is not a number lets the call go rather than hang it.
    assert_eq!(l.acquire(&k, f64::NAN, 1), Go);
    l.observe_retry_after(&k, 1_000, f64::NAN);
    l.observe_headers(&k, |_| Some("0".into()), f64::INFINITY);
    assert_eq!(l.acquire(&k, 130_000.0, 1), Go);
}

#[test]
fn decisions_serialize_for_the_shell() {
    assert_eq!(serde_json::to_string(&Go).unwrap(), r#"{"type":"go"}"#);
    assert_eq!(
        serde_json::to_string(&wait(1_500, RetryAfter)).unwrap(),
        r#"{"type":"wait","ms":1500,"reason":"retryAfter"}"#
    );
    for r in [
        RetryAfter,
        ProviderRequests,
        ProviderTokens,
        RequestsPerMinute,
        TokensPerMinute,
    ] {
        assert!(!r.describe().is_empty());
        let d = wait(1, r);
        let back: Decision = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
