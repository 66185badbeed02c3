//! When to retry a failed provider call, and how long to wait: pure policy, with the clock and
//! the randomness passed in so that every case is a plain table test.
//!
//! The rules (`shared/API.md`, "Errors"): short `Retry-After` waits and 5xx answers before the
//! first byte are retried with backoff; a stream that has started is never silently replayed;
//! an empty account (`INSUFFICIENT_QUOTA`) is never retried.

use crate::core::error::{ByokError, ErrorCode};

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (2: three attempts in all).
    pub max_retries: u32,
    /// The backoff cap of the first retry, doubled for each further one.
    pub base_delay_ms: u64,
    /// The largest backoff cap.
    pub max_delay_ms: u64,
    /// The longest wait a provider may ask for; a longer `Retry-After` fails at once (with the
    /// provider's error, `RATE_LIMITED` for a 429) rather than leaving the page hanging.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay_ms: 500,
            max_delay_ms: 8_000,
            max_retry_after_ms: 20_000,
        }
    }
}

/// How long to wait before retrying after `err`, or `None` to give up and report it.
///
/// `attempt` counts the retries already made (0 after the first failure); `stream_started`
/// says whether any byte of the answer's body was received; `jitter01` is a random number in
/// `[0, 1]` (out-of-range values are clamped, NaN is 0).
///
/// - `RATE_LIMITED`, `PROVIDER_UNAVAILABLE` and `NETWORK_ERROR` are retried, nothing else.
/// - A wait the provider asked for (`retry_after_ms`) is honoured exactly when it is at most
///   [`RetryPolicy::max_retry_after_ms`]; a longer one gives up at once.
/// - Otherwise the wait is exponential backoff with full jitter: uniform in
///   `[0, min(max_delay_ms, base_delay_ms · 2^attempt)]`, which spreads the retries of many
///   tabs hitting the same limit.
pub fn retry_delay(
    policy: &RetryPolicy,
    attempt: u32,
    err: &ByokError,
    stream_started: bool,
    jitter01: f64,
) -> Option<u64> {
    // Replaying a started stream would show the user its beginning twice and bill it twice.
    if stream_started || attempt >= policy.max_retries {
        return None;
    }
    match err.code {
        ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError => {}
        _ => return None,
    }
    match err.retry_after_ms {
        Some(ms) if ms <= policy.max_retry_after_ms => Some(ms),
        Some(_) => None,
        None => Some(backoff(policy, attempt, jitter01)),
    }
}

fn backoff(policy: &RetryPolicy, attempt: u32, jitter01: f64) -> u64 {
    let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
    let cap = policy
        .base_delay_ms
        .saturating_mul(factor)
        .min(policy.max_delay_ms);
    let jitter = if jitter01.is_nan() {
        0.0
    } else {
        jitter01.clamp(0.0, 1.0)
    };
    // `as` saturates; the product is at most `cap`.
    (cap as f64 * jitter).round() as u64
}

/// The wait a `Retry-After` value asks for, in milliseconds from `now_ms` (milliseconds since
/// the Unix epoch, as `Date.now()` gives).
///
/// Takes delay-seconds (`120`), fractional seconds (`1.5`, which some gateways send) and an
/// HTTP-date in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`; a date in the past is 0).
/// Anything else is `None`.
///
/// The date parser is written here rather than taken from a crate: IMF-fixdate is one fixed
/// layout that every server must send (RFC 9110 §5.6.7), a few dozen lines, where a date crate
/// would add far more to the wasm module. The two obsolete forms (RFC 850, asctime) are not
/// read: no LLM provider sends them, and `None` only means falling back to backoff.
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<u64> {
    let value = value.trim();
    if let Some(seconds) = parse_decimal(value) {
        return Some(to_ms(seconds * 1000.0));
    }
    let at = parse_imf_fixdate(value)?;
    let wait = at - now_ms;
    if !wait.is_finite() {
        return None;
    }
    Some(to_ms(wait.max(0.0)))
}

/// The wait the response headers ask for, in milliseconds. `get` looks a header up by its
/// lower-case name (as `Headers.get` does, case-insensitively).
///
/// In order: `retry-after-ms` (milliseconds, sent by OpenAI and Azure), `retry-after`, then
/// OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` durations (`1s`, `6m0s`,
/// `250ms`): the one whose `x-ratelimit-remaining-*` is 0, else the shorter (they give the time
/// until the limit is whole again, more than is needed for one more call).
///
/// In a browser most of these are readable only if the provider lists them in
/// `access-control-expose-headers`; missing headers are simply `None`.
pub fn retry_after_from_headers(get: impl Fn(&str) -> Option<String>, now_ms: f64) -> Option<u64> {
    if let Some(ms) = get("retry-after-ms").and_then(|v| parse_decimal(v.trim())) {
        return Some(to_ms(ms));
    }
    if let Some(ms) = get("retry-after").and_then(|v| parse_retry_after(&v, now_ms)) {
        return Some(ms);
    }
    let requests = get("x-ratelimit-reset-requests").and_then(|v| parse_duration(&v));
    let tokens = get("x-ratelimit-reset-tokens").and_then(|v| parse_duration(&v));
    let exhausted = |name: &str| get(name).is_some_and(|v| v.trim() == "0");
    if requests.is_some() && exhausted("x-ratelimit-remaining-requests") {
        return requests;
    }
    if tokens.is_some() && exhausted("x-ratelimit-remaining-tokens") {
        return tokens;
    }
    match (requests, tokens) {
        (Some(r), Some(t)) => Some(r.min(t)),
        (r, t) => r.or(t),
    }
}

/// Milliseconds, rounded up (a wait cut short would arrive just before the limit lifts).
fn to_ms(ms: f64) -> u64 {
    // `as` saturates at u64::MAX.
    ms.ceil() as u64
}

/// `digits[.digits]`, nothing else: `f64::from_str` alone would also take `inf`, `1e9`, `-1`.
fn parse_decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    s.parse().ok()
}

/// A Go-style duration as OpenAI sends it (`1s`, `6m0s`, `1h2m3.5s`, `250ms`), in ms.
fn parse_duration(s: &str) -> Option<u64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (num, tail) = rest.split_at(num_len);
        let value = parse_decimal(num)?;
        let unit_len = tail
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(tail.len(), |(i, _)| i);
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Some(to_ms(total))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → milliseconds since the Unix epoch. The weekday must be
/// a weekday name but is not checked against the date.
fn parse_imf_fixdate(s: &str) -> Option<f64> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = s.split_ascii_whitespace();
    let weekday = parts.next()?.strip_suffix(',')?;
    if !DAYS.contains(&weekday) {
        return None;
    }
    let day = number(parts.next()?, 2)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = number(parts.next()?, 4)?;
    let mut time = parts.next()?.split(':');
    let hour = number(time.next()?, 2)?;
    let minute = number(time.next()?, 2)?;
    let second = number(time.next()?, 2)?;
    if time.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let month = u32::try_from(month).ok()? + 1;
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3_600 + minute * 60 + second);
    Some(seconds as f64 * 1000.0)
}

/// Exactly `len` ASCII digits.
fn number(s: &str, len: usize) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: ErrorCode, retry_after_ms: Option<u64>) -> ByokError {
        let e = ByokError::new(code, "x");
        match retry_after_ms {
            Some(ms) => e.with_retry_after_ms(ms),
            None => e,
        }
    }

    #[test]
    fn default_policy() {
        let p = RetryPolicy::default();
        assert_eq!(
            (
                p.max_retries,
                p.base_delay_ms,
                p.max_delay_ms,
                p.max_retry_after_ms
            ),
            (2, 500, 8_000, 20_000)
        );
    }

    #[test]
    fn retry_table() {
        use ErrorCode::*;
        let p = RetryPolicy::default();
        // (name, code, retry_after_ms, attempt, stream_started, jitter, expected)
        type Row = (
            &'static str,
            ErrorCode,
            Option<u64>,
            u32,
            bool,
            f64,
            Option<u64>,
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("429 with a short wait: exactly that", RateLimited, Some(1_000), 0, false, 0.3, Some(1_000)),
            ("429 at the limit", RateLimited, Some(20_000), 1, false, 0.3, Some(20_000)),
            ("429 past the limit: give up", RateLimited, Some(20_001), 0, false, 0.3, None),
            ("429 wait 0", RateLimited, Some(0), 0, false, 0.9, Some(0)),
            ("429 without a wait: backoff", RateLimited, None, 0, false, 1.0, Some(500)),
            ("backoff doubles", RateLimited, None, 1, false, 1.0, Some(1_000)),
            ("full jitter", ProviderUnavailable, None, 1, false, 0.5, Some(500)),
            ("jitter 0", ProviderUnavailable, None, 0, false, 0.0, Some(0)),
            ("jitter clamped", ProviderUnavailable, None, 0, false, 7.0, Some(500)),
            ("jitter NaN", ProviderUnavailable, None, 0, false, f64::NAN, Some(0)),
            ("5xx before the body", ProviderUnavailable, None, 0, false, 1.0, Some(500)),
            ("5xx with a wait", ProviderUnavailable, Some(2_000), 0, false, 1.0, Some(2_000)),
            ("network error before the body", NetworkError, None, 1, false, 1.0, Some(1_000)),
            ("network error mid-stream", NetworkError, None, 0, true, 1.0, None),
            ("5xx mid-stream", ProviderUnavailable, None, 0, true, 1.0, None),
            ("429 mid-stream", RateLimited, Some(10), 0, true, 1.0, None),
            ("out of retries", RateLimited, Some(10), 2, false, 1.0, None),
            ("far out of retries", ProviderUnavailable, None, u32::MAX, false, 1.0, None),
            ("quota never", InsufficientQuota, Some(10), 0, false, 1.0, None),
            ("bad key never", InvalidApiKey, None, 0, false, 1.0, None),
            ("bad request never", InvalidRequest, None, 0, false, 1.0, None),
            ("unknown model never", ModelNotFound, None, 0, false, 1.0, None),
            ("abort never", StreamAborted, None, 0, false, 1.0, None),
            ("CORS never", CorsBlocked, None, 0, false, 1.0, None),
        ];
        for (name, code, after, attempt, started, jitter, want) in table {
            let got = retry_delay(&p, *attempt, &err(*code, *after), *started, *jitter);
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn backoff_is_capped_and_never_overflows() {
        let p = RetryPolicy {
            max_retries: u32::MAX,
            ..RetryPolicy::default()
        };
        let e = err(ErrorCode::ProviderUnavailable, None);
        let delays: Vec<_> = (0..8).map(|a| retry_delay(&p, a, &e, false, 1.0)).collect();
        assert_eq!(
            delays,
            [500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000].map(Some)
        );
        assert_eq!(retry_delay(&p, 63, &e, false, 1.0), Some(8_000));
        assert_eq!(retry_delay(&p, 64, &e, false, 1.0), Some(8_000));
        assert_eq!(retry_delay(&p, 1_000, &e, false, 1.0), Some(8_000));
        let huge = RetryPolicy {
            max_retries: u32::MAX,
            base_delay_ms: u64::MAX,
            max_delay_ms: u64::MAX,
            max_retry_after_ms: 0,
        };
        assert_eq!(retry_delay(&huge, 5, &e, false, 1.0), Some(u64::MAX));
    }

    // 1994-11-06T08:49:37Z, RFC 9110's example date, in ms since the epoch.
    const RFC_EXAMPLE_MS: f64 = 784_111_777_000.0;

    #[test]
    fn retry_after_values() {
        let now = RFC_EXAMPLE_MS - 30_000.0;
        let table: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1", Some(1_000)),
            ("  120 ", Some(120_000)),
            ("1.5", Some(1_500)),
            ("0.0001", Some(1)),
            ("20.25", Some(20_250)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(30_000)),
            ("Sun, 06 Nov 1994 08:49:07 GMT", Some(0)),
            ("Sun, 06 Nov 1994 07:00:00 GMT", Some(0)),
            ("Mon, 07 Nov 1994 08:49:37 GMT", Some(86_400_000 + 30_000)),
            ("", None),
            ("soon", None),
            ("-1", None),
            ("1e3", None),
            ("inf", None),
            ("NaN", None),
            ("1.", None),
            (".5", None),
            ("1,5", None),
            ("Sun, 06 Nov 1994 08:49:37", None),
            ("Sun, 06 Nov 1994 08:49:37 PST", None),
            ("Sun 06 Nov 1994 08:49:37 GMT", None),
            ("Sunday, 06-Nov-94 08:49:37 GMT", None),
            ("Sun Nov  6 08:49:37 1994", None),
            ("Sun, 31 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 6 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT extra", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_retry_after(value, now), *want, "{value:?}");
        }
        // A date needs a clock: without one there is no answer.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", f64::NAN),
            None
        );
        // A huge number of seconds saturates rather than wrapping.
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0.0),
            Some(u64::MAX)
        );
    }

    #[test]
    fn imf_fixdate_known_answers() {
        // Epoch values checked with `date -u -d ... +%s`.
        let table: &[(&str, f64)] = &[
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
            ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600_000.0),
            ("Fri, 31 Dec 2027 23:59:59 GMT", 1_830_297_599_000.0),
            ("Mon, 01 Mar 2100 00:00:00 GMT", 4_107_542_400_000.0),
        ];
        for (value, want) in table {
            assert_eq!(parse_imf_fixdate(value), Some(*want), "{value}");
        }
        assert_eq!(parse_imf_fixdate("Mon, 29 Feb 2100 00:00:00 GMT"), None);
        assert_eq!(parse_imf_fixdate("Mon, 29 Feb 1900 00:00:00 GMT"), None);
    }

    #[test]
    fn headers_in_order_of_preference() {
        let now = RFC_EXAMPLE_MS;
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        type Pairs = &'static [(&'static str, &'static str)];
        #[rustfmt::skip]
        let table: &[(&str, Pairs, Option<u64>)] = &[
            ("none", &[], None),
            ("retry-after-ms first", &[("retry-after-ms", "250.5"), ("retry-after", "3")], Some(251)),
            ("bad retry-after-ms falls through", &[("retry-after-ms", "x"), ("retry-after", "3")], Some(3_000)),
            ("retry-after seconds", &[("retry-after", "7")], Some(7_000)),
            ("retry-after date", &[("retry-after", "Sun, 06 Nov 1994 08:49:39 GMT")], Some(2_000)),
            ("bad retry-after falls through", &[("retry-after", "later"), ("x-ratelimit-reset-requests", "1s")], Some(1_000)),
            ("reset duration", &[("x-ratelimit-reset-requests", "6m0s")], Some(360_000)),
            ("reset ms", &[("x-ratelimit-reset-tokens", "250ms")], Some(250)),
            ("shorter reset", &[("x-ratelimit-reset-requests", "1s"), ("x-ratelimit-reset-tokens", "6m0s")], Some(1_000)),
            (
                "the exhausted limit",
                &[
                    ("x-ratelimit-reset-requests", "1s"),
                    ("x-ratelimit-reset-tokens", "6m0s"),
                    ("x-ratelimit-remaining-requests", "12"),
                    ("x-ratelimit-remaining-tokens", "0"),
                ],
                Some(360_000),
            ),
            (
                "requests exhausted",
                &[
                    ("x-ratelimit-reset-requests", "8.64s"),
                    ("x-ratelimit-reset-tokens", "1ms"),
                    ("x-ratelimit-remaining-requests", "0"),
                ],
                Some(8_640),
            ),
        ];
        for (name, pairs, want) in table {
            assert_eq!(
                retry_after_from_headers(lookup(pairs), now),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn durations() {
        let table: &[(&str, Option<u64>)] = &[
            ("1s", Some(1_000)),
            ("6m0s", Some(360_000)),
            ("250ms", Some(250)),
            ("1h2m3.5s", Some(3_723_500)),
            ("0.5s", Some(500)),
            ("20ms", Some(20)),
            ("1500us", Some(2)),
            ("100ns", Some(1)),
            ("2m", Some(120_000)),
            ("", None),
            ("s", None),
            ("1", None),
            ("1x", None),
            ("-1s", None),
            ("1s2", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_duration(value), *want, "{value:?}");
        }
    }
}
