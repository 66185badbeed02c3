//! The usage ledger: one [`LedgerEntry`] per call, daily aggregates for older days, reports per
//! day and month, and the retention plan that folds the one into the other.
//!
//! Everything here is pure: the browser shell reads the stores, calls these functions with the
//! clock passed in (`now_ms`, milliseconds since the Unix epoch as `Date.now()` gives) and writes
//! back what they return. No entry ever holds a prompt, a response or a key: only ids, counts,
//! money and timing.
//!
//! Money is kept as integer femto-dollars (USD × 10⁻¹⁵, the unit of the catalog's prices), so
//! sums are exact whatever their order; it becomes a USD `f64` only in report output. Amounts are
//! serialized as decimal strings (`"7500000000000"`): a JavaScript number holds integers exactly
//! only up to 2⁵³, which is just $9.01 in femto-dollars, and a stored record goes through
//! JavaScript on its way to IndexedDB.
//!
//! Retention: raw entries are kept 30 days ([`RAW_RETENTION_DAYS`]), then folded into the daily
//! aggregate of their UTC day, provider, model and key; aggregates are kept 365 days
//! ([`DAILY_RETENTION_DAYS`]). Folding is idempotent: each aggregate records the greatest
//! `(at, id)` it has folded (its watermark), so an entry that was folded but not yet deleted
//! (a page closed between the two writes) is recognised and neither counted again in a report
//! nor folded twice.
//!
//! Dates are computed here by hand (Howard Hinnant's civil-date algorithms, proleptic Gregorian,
//! UTC plus a fixed offset) rather than with `chrono` or `time`: a few dozen lines against tens
//! of kilobytes of wasm for calendar and time-zone machinery the ledger does not need.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::cost::femto_to_usd;
use crate::core::error::{ByokError, ErrorCode, Result};

/// Milliseconds in a day.
pub const MS_PER_DAY: f64 = 86_400_000.0;
/// Days a raw ledger entry is kept before it is folded into its daily aggregate.
pub const RAW_RETENTION_DAYS: i64 = 30;
/// Days a daily aggregate is kept.
pub const DAILY_RETENTION_DAYS: i64 = 365;
/// The largest time-zone offset accepted, in minutes either side of UTC (UTC+14 exists).
pub const MAX_TZ_OFFSET_MINUTES: i32 = 14 * 60;

/// The range of `Date`: ±10⁸ days from the epoch. Outside it a time is not a real date, and
/// keeping day numbers small keeps the calendar arithmetic far from overflow.
const MAX_ABS_MS: f64 = 8.64e15;

// ---------------------------------------------------------------------------------------------
// Femto-dollar amounts as JSON strings.

/// Serde helpers for femto-dollar amounts: written as a decimal string, read from a string or
/// from a whole JSON number (a number is accepted so that hand-written or older records load,
/// but only while it is at most 2⁵³, where a JavaScript number is still exact).
pub(crate) mod femto_serde {
    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    /// Writes the amount as a decimal string.
    pub fn serialize<S: Serializer, T: Copy + Into<u128>>(
        v: &T,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.collect_str(&(*v).into())
    }

    /// Reads an amount from a decimal string or a safe whole number.
    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<u128>>(
        d: D,
    ) -> core::result::Result<T, D::Error> {
        let v = d.deserialize_any(FemtoVisitor)?;
        T::try_from(v).map_err(|_| D::Error::custom("femto-dollar amount out of range"))
    }

    /// The same for optional amounts (`null` or missing is `None`).
    pub mod option {
        use super::FemtoVisitor;
        use serde::de::{Error, Visitor};
        use serde::{Deserializer, Serializer};

        /// Writes `Some` as a decimal string and `None` as `null`.
        pub fn serialize<S: Serializer>(
            v: &Option<u128>,
            s: S,
        ) -> core::result::Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        /// Reads `null`, a decimal string or a safe whole number.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> core::result::Result<Option<u128>, D::Error> {
            struct OptVisitor;
            impl<'de> Visitor<'de> for OptVisitor {
                type Value = Option<u128>;
                fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str("null or a femto-dollar amount")
                }
                fn visit_none<E: Error>(self) -> core::result::Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_unit<E: Error>(self) -> core::result::Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_some<D2: Deserializer<'de>>(
                    self,
                    d: D2,
                ) -> core::result::Result<Self::Value, D2::Error> {
                    d.deserialize_any(FemtoVisitor).map(Some)
                }
            }
            d.deserialize_option(OptVisitor)
        }
    }

    pub(super) struct FemtoVisitor;

    /// 2⁵³: above it a JavaScript number may already have been rounded.
    const MAX_EXACT_NUMBER: u64 = 1 << 53;

    impl Visitor<'_> for FemtoVisitor {
        type Value = u128;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a femto-dollar amount as a decimal string")
        }

        fn visit_str<E: Error>(self, v: &str) -> core::result::Result<u128, E> {
            if v.is_empty() || v.len() > 39 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom("a femto-dollar amount must be decimal digits"));
            }
            v.parse()
                .map_err(|_| E::custom("femto-dollar amount out of range"))
        }

        fn visit_u64<E: Error>(self, v: u64) -> core::result::Result<u128, E> {
            if v > MAX_EXACT_NUMBER {
                return Err(E::custom(
                    "a femto-dollar amount above 2^53 must be a string",
                ));
            }
            Ok(u128::from(v))
        }

        fn visit_i64<E: Error>(self, v: i64) -> core::result::Result<u128, E> {
            u64::try_from(v)
                .map_err(|_| E::custom("a femto-dollar amount cannot be negative"))
                .and_then(|v| self.visit_u64(v))
        }

        fn visit_f64<E: Error>(self, v: f64) -> core::result::Result<u128, E> {
            // JSON.stringify writes 1e21 and up with an exponent, which arrives as a float.
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_EXACT_NUMBER as f64 {
                Ok(v as u128)
            } else {
                Err(E::custom(
                    "a femto-dollar amount must be a whole number below 2^53, or a string",
                ))
            }
        }
    }
}

/// USD → femto-dollars, rounded to the nearest; `None` for NaN, infinities and negative amounts
/// (a gateway's reported cost is never negative, and a bad one must not poison a sum).
pub fn usd_to_femto(usd: f64) -> Option<u128> {
    if !usd.is_finite() || usd < 0.0 {
        return None;
    }
    // `as` saturates; 1e15 × any finite f64 below 3.4e23 fits u128.
    Some((usd * 1e15).round() as u128)
}

/// A signed femto difference as USD.
fn signed_femto_to_usd(a: u128, b: u128) -> f64 {
    if a >= b {
        femto_to_usd(a - b)
    } else {
        -femto_to_usd(b - a)
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic.

/// Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's `days_from_civil`).
///
/// `month` is 1–12 and `day` 1–31; the date is not checked (see [`parse_day`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: `(year, month 1–12, day 1–31)` (Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1–31, 1–12).
    (year, day_part(month), day_part(day))
}

fn day_part(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day (days since 1970-01-01) that the instant `at_ms` falls on at a fixed offset from UTC
/// (`tz_offset_minutes` = local time − UTC: +60 for CET, −300 for New York in winter; the
/// negation of JavaScript's `Date.prototype.getTimezoneOffset()`). `None` when `at_ms` is not a
/// time `Date` can hold.
pub fn day_number(at_ms: f64, tz_offset_minutes: i32) -> Option<i64> {
    if !at_ms.is_finite() || at_ms.abs() > MAX_ABS_MS {
        return None;
    }
    let local = at_ms + f64::from(tz_offset_minutes) * 60_000.0;
    Some((local / MS_PER_DAY).floor() as i64)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` of the month a day number falls in.
pub fn format_month(days: i64) -> String {
    let (y, m, _) = civil_from_days(days);
    format!("{y:04}-{m:02}")
}

/// Exactly `len` ASCII digits as a number.
fn digits(s: Option<&str>, len: usize) -> Option<u32> {
    let s = s?;
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM` → `(year, month)`; the month must be 01–12.
pub fn parse_month(s: &str) -> Option<(i64, u32)> {
    if s.len() != 7 || s.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let y = digits(s.get(0..4), 4)?;
    let m = digits(s.get(5..7), 2)?;
    (1..=12).contains(&m).then_some((i64::from(y), m))
}

/// `YYYY-MM-DD` → day number; the date must exist (no 31 April, 29 February only in leap years).
pub fn parse_day(s: &str) -> Option<i64> {
    if s.len() != 10 || s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let (y, m) = parse_month(s.get(0..7)?)?;
    let d = digits(s.get(8..10), 2)?;
    (d >= 1 && d <= days_in_month(y, m)).then(|| days_from_civil(y, m, d))
}

/// An RFC 3339 timestamp (`2026-11-23T10:15:30Z`, `2026-11-23T10:15:30.25+01:00`) → milliseconds
/// since the epoch. Anthropic sends its rate-limit resets in this form.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    let day = parse_day(s.get(0..10)?)?;
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let time = s.get(11..)?;
    let hour = digits(time.get(0..2), 2)?;
    let minute = digits(time.get(3..5), 2)?;
    let second = digits(time.get(6..8), 2)?;
    if time.as_bytes().get(2) != Some(&b':') || time.as_bytes().get(5) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = time.get(8..)?;
    let mut millis = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        // Milliseconds are the first three digits; finer digits are dropped.
        let mut scale = 100.0;
        for b in frac.bytes().take(n.min(3)) {
            millis += f64::from(b - b'0') * scale;
            scale /= 10.0;
        }
        rest = frac.get(n..)?;
    }
    let offset_minutes: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let oh = digits(rest.get(1..3), 2)?;
            let om = digits(rest.get(4..6), 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 60 + om)
        }
    };
    let seconds =
        day * 86_400 + i64::from(hour * 3_600 + minute * 60 + second) - offset_minutes * 60;
    Some(seconds as f64 * 1000.0 + millis)
}

// ---------------------------------------------------------------------------------------------
// The stored types.

/// Which call a ledger entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallKind {
    /// `sendChat`: one answer, not streamed.
    Chat,
    /// `streamChat` or `collectStream`.
    Stream,
    /// `embed`.
    Embed,
    /// A key validation (`addKey`, `validateKey`, `revalidateKeys`).
    Validate,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallStatus {
    /// It completed.
    Ok,
    /// It failed; `errorCode` says how.
    Error,
    /// The caller's AbortSignal stopped it.
    Aborted,
}

/// One call, as the ledger stores it: ids, counts, money and timing, never a prompt, a response
/// or a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// A unique id (the IndexedDB primary key); random, chosen by the caller.
    pub id: String,
    /// When the call started, ms since the epoch.
    pub at: f64,
    /// Provider id.
    pub provider: String,
    /// Model id as requested.
    pub model: String,
    /// The stored key's id, when a stored key was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Which call.
    pub kind: CallKind,
    /// Tokens read, as the provider reported them (or as far as known when it failed).
    pub input_tokens: u64,
    /// Tokens written, as far as known.
    pub output_tokens: u64,
    /// Our cost at the prices in force at call time, femto-dollars (a string in JSON).
    #[serde(with = "femto_serde")]
    pub cost_femto: u64,
    /// The cost a gateway reported itself (OpenRouter's and LiteLLM's `usage.cost`), USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_cost_usd: Option<f64>,
    /// How it ended.
    pub status: CallStatus,
    /// The error's code, when it failed or was aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// Wall time of the whole call, retries included, ms.
    pub duration_ms: u64,
    /// Retries made before the final attempt.
    #[serde(default)]
    pub retries: u32,
}

/// The totals of one UTC day, provider, model and key: what remains of raw entries older than
/// [`RAW_RETENTION_DAYS`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyAggregate {
    /// The primary key: [`aggregate_id`] of the fields below.
    pub id: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// The stored key's id: kept so that per-key monthly budgets still see spending that was
    /// folded before the month ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Calls folded in.
    pub calls: u64,
    /// Of which failed.
    pub errors: u64,
    /// Of which were aborted.
    pub aborted: u64,
    /// Calls per error code (`RATE_LIMITED`: 2), so that error types outlive the raw entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_codes: BTreeMap<String, u64>,
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
    /// Our cost, femto-dollars.
    #[serde(with = "femto_serde")]
    pub cost_femto: u128,
    /// Calls that came with a gateway-reported cost.
    #[serde(default)]
    pub reported_calls: u64,
    /// The sum of those reported costs, femto-dollars.
    #[serde(default, with = "femto_serde")]
    pub reported_cost_femto: u128,
    /// Our cost of the same calls, femto-dollars: the difference is only meaningful between
    /// like and like.
    #[serde(default, with = "femto_serde")]
    pub reported_basis_femto: u128,
    /// The watermark: `at` of the greatest entry folded in, ordered by `(at, id)`.
    pub folded_through_at: f64,
    /// The watermark's `id`.
    pub folded_through_id: String,
}

/// The primary key of a daily aggregate: its day, provider, model and key id, joined by the
/// ASCII unit separator (which no id contains, so different tuples never meet).
pub fn aggregate_id(day: &str, provider: &str, model: &str, key_id: Option<&str>) -> String {
    let key = key_id.unwrap_or("");
    let mut id = String::with_capacity(day.len() + provider.len() + model.len() + key.len() + 3);
    for (i, part) in [day, provider, model, key].into_iter().enumerate() {
        if i > 0 {
            id.push('\u{1f}');
        }
        id.push_str(part);
    }
    id
}

impl DailyAggregate {
    /// Whether `entry` is already counted here: it belongs to this aggregate and is at or below
    /// its watermark.
    pub fn covers(&self, entry: &LedgerEntry) -> bool {
        entry.at < self.folded_through_at
            || (entry.at == self.folded_through_at && entry.id <= self.folded_through_id)
    }

    /// An empty aggregate for the key of `entry`, with its watermark at `entry` (the caller
    /// adds the entry next).
    fn empty_for(day: &str, entry: &LedgerEntry) -> Self {
        DailyAggregate {
            id: aggregate_id(day, &entry.provider, &entry.model, entry.key_id.as_deref()),
            day: day.to_owned(),
            provider: entry.provider.clone(),
            model: entry.model.clone(),
            key_id: entry.key_id.clone(),
            calls: 0,
            errors: 0,
            aborted: 0,
            error_codes: BTreeMap::new(),
            input_tokens: 0,
            output_tokens: 0,
            cost_femto: 0,
            reported_calls: 0,
            reported_cost_femto: 0,
            reported_basis_femto: 0,
            folded_through_at: entry.at,
            folded_through_id: entry.id.clone(),
        }
    }

    /// Counts `entry` in and moves the watermark to it.
    fn fold(&mut self, entry: &LedgerEntry) {
        let mut t = Tally::default();
        t.add_entry(entry);
        self.calls = self.calls.saturating_add(t.calls);
        self.errors = self.errors.saturating_add(t.errors);
        self.aborted = self.aborted.saturating_add(t.aborted);
        if let Some(code) = entry.error_code {
            let n = self
                .error_codes
                .entry(code.as_str().to_owned())
                .or_default();
            *n = n.saturating_add(1);
        }
        self.input_tokens = self.input_tokens.saturating_add(t.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(t.output_tokens);
        self.cost_femto = self.cost_femto.saturating_add(t.cost_femto);
        self.reported_calls = self.reported_calls.saturating_add(t.reported_calls);
        self.reported_cost_femto = self
            .reported_cost_femto
            .saturating_add(t.reported_cost_femto);
        self.reported_basis_femto = self
            .reported_basis_femto
            .saturating_add(t.reported_basis_femto);
        self.folded_through_at = entry.at;
        self.folded_through_id.clone_from(&entry.id);
    }

    /// The aggregate's key recomputed from its fields (the stored `id` is not trusted for
    /// matching: a record edited by hand could carry any).
    fn computed_id(&self) -> String {
        aggregate_id(
            &self.day,
            &self.provider,
            &self.model,
            self.key_id.as_deref(),
        )
    }
}

/// The aggregates by key, to ask which raw entries they already count.
#[derive(Debug)]
pub struct AggregateIndex<'a> {
    by_id: BTreeMap<String, &'a DailyAggregate>,
}

impl<'a> AggregateIndex<'a> {
    /// Indexes `daily`. Should two records share a key (they never do when written by
    /// [`plan_retention`]), the one with the higher watermark wins.
    pub fn new(daily: &'a [DailyAggregate]) -> Self {
        let mut by_id: BTreeMap<String, &'a DailyAggregate> = BTreeMap::new();
        for agg in daily {
            let slot = by_id.entry(agg.computed_id()).or_insert(agg);
            if (agg.folded_through_at, &agg.folded_through_id)
                > (slot.folded_through_at, &slot.folded_through_id)
            {
                *slot = agg;
            }
        }
        AggregateIndex { by_id }
    }

    /// Whether `entry` is already counted in an aggregate (folded, not yet deleted).
    pub fn covers(&self, entry: &LedgerEntry) -> bool {
        let Some(day) = day_number(entry.at, 0) else {
            return false;
        };
        let id = aggregate_id(
            &format_day(day),
            &entry.provider,
            &entry.model,
            entry.key_id.as_deref(),
        );
        self.by_id.get(&id).is_some_and(|agg| agg.covers(entry))
    }
}

// ---------------------------------------------------------------------------------------------
// Tallies and reports.

/// Running totals of a group of calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    calls: u64,
    errors: u64,
    aborted: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_femto: u128,
    reported_calls: u64,
    reported_cost_femto: u128,
    reported_basis_femto: u128,
}

impl Tally {
    fn add_entry(&mut self, e: &LedgerEntry) {
        self.calls = self.calls.saturating_add(1);
        match e.status {
            CallStatus::Ok => {}
            CallStatus::Error => self.errors = self.errors.saturating_add(1),
            CallStatus::Aborted => self.aborted = self.aborted.saturating_add(1),
        }
        self.input_tokens = self.input_tokens.saturating_add(e.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(e.output_tokens);
        self.cost_femto = self.cost_femto.saturating_add(u128::from(e.cost_femto));
        if let Some(reported) = e.reported_cost_usd.and_then(usd_to_femto) {
            self.reported_calls = self.reported_calls.saturating_add(1);
            self.reported_cost_femto = self.reported_cost_femto.saturating_add(reported);
            self.reported_basis_femto = self
                .reported_basis_femto
                .saturating_add(u128::from(e.cost_femto));
        }
    }

    fn add_aggregate(&mut self, a: &DailyAggregate) {
        self.merge(&Tally {
            calls: a.calls,
            errors: a.errors,
            aborted: a.aborted,
            input_tokens: a.input_tokens,
            output_tokens: a.output_tokens,
            cost_femto: a.cost_femto,
            reported_calls: a.reported_calls,
            reported_cost_femto: a.reported_cost_femto,
            reported_basis_femto: a.reported_basis_femto,
        });
    }

    fn merge(&mut self, o: &Tally) {
        self.calls = self.calls.saturating_add(o.calls);
        self.errors = self.errors.saturating_add(o.errors);
        self.aborted = self.aborted.saturating_add(o.aborted);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cost_femto = self.cost_femto.saturating_add(o.cost_femto);
        self.reported_calls = self.reported_calls.saturating_add(o.reported_calls);
        self.reported_cost_femto = self
            .reported_cost_femto
            .saturating_add(o.reported_cost_femto);
        self.reported_basis_femto = self
            .reported_basis_femto
            .saturating_add(o.reported_basis_femto);
    }

    fn row(&self, period: Option<&str>, provider: Option<&str>, model: Option<&str>) -> UsageRow {
        let reported = self.reported_calls > 0;
        UsageRow {
            period: period.map(str::to_owned),
            provider: provider.map(str::to_owned),
            model: model.map(str::to_owned),
            calls: self.calls,
            errors: self.errors,
            aborted: self.aborted,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_femto: self.cost_femto,
            cost_usd: femto_to_usd(self.cost_femto),
            reported_cost_usd: reported.then(|| femto_to_usd(self.reported_cost_femto)),
            cost_difference_usd: reported
                .then(|| signed_femto_to_usd(self.reported_cost_femto, self.reported_basis_femto)),
        }
    }
}

/// The grain of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Period {
    /// One row per day (`2026-11-23`).
    Day,
    /// One row per month (`2026-11`).
    Month,
}

/// A report bound: an instant (ms since the epoch) or a date string.
///
/// Bounds are whole days, both inclusive: an instant selects the local day it falls on; a
/// string is `YYYY-MM-DD`, `YYYY-MM` (from its first day, or to its last) or an RFC 3339
/// timestamp (its day).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DateBound {
    /// Milliseconds since the epoch.
    At(f64),
    /// A date, month or timestamp.
    Date(String),
}

// A hand-written visitor rather than `#[serde(untagged)]` deserialization, which buffers the
// input and costs kilobytes of wasm (see `chat.rs`).
impl<'de> Deserialize<'de> for DateBound {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DateBound;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("milliseconds since the epoch or a date string")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> core::result::Result<DateBound, E> {
                Ok(DateBound::At(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> core::result::Result<DateBound, E> {
                Ok(DateBound::At(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> core::result::Result<DateBound, E> {
                Ok(DateBound::At(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> core::result::Result<DateBound, E> {
                Ok(DateBound::Date(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl DateBound {
    /// The first (`start`) or last day this bound names.
    fn day(&self, tz_offset_minutes: i32, start: bool) -> Result<i64> {
        let bad = || {
            ByokError::invalid_request(
                "a report bound must be ms since the epoch, YYYY-MM-DD, YYYY-MM or an RFC 3339 time",
            )
        };
        match self {
            DateBound::At(ms) => day_number(*ms, tz_offset_minutes).ok_or_else(bad),
            DateBound::Date(s) => {
                if let Some(day) = parse_day(s) {
                    return Ok(day);
                }
                if let Some((y, m)) = parse_month(s) {
                    let d = if start { 1 } else { days_in_month(y, m) };
                    return Ok(days_from_civil(y, m, d));
                }
                parse_rfc3339(s)
                    .and_then(|ms| day_number(ms, tz_offset_minutes))
                    .ok_or_else(bad)
            }
        }
    }
}

/// What `usageReport` is asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportQuery {
    /// Rows per day or per month.
    pub period: Period,
    /// The first day included; default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateBound>,
    /// The last day included; default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateBound>,
    /// Local time − UTC, minutes (−`getTimezoneOffset()`); default 0 (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz_offset_minutes: Option<i32>,
}

/// One line of a report: a period, provider and model (a row), a provider (`byProvider`), or
/// nothing (`totals`); the fields that do not apply are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRow {
    /// `2026-11-23` or `2026-11`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Calls, whatever their outcome.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Aborted calls.
    pub aborted: u64,
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
    /// Our cost, exact, femto-dollars (a string): add these, not `costUsd`, to sum exactly.
    #[serde(with = "femto_serde")]
    pub cost_femto: u128,
    /// Our cost, USD.
    pub cost_usd: f64,
    /// What gateways reported for the calls that carried a cost, USD; `null` when none did.
    pub reported_cost_usd: Option<f64>,
    /// Reported − ours over those same calls, USD; `null` when none carried a cost.
    pub cost_difference_usd: Option<f64>,
}

/// What `usageReport` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The grain of `rows`.
    pub period: Period,
    /// The first day included, `YYYY-MM-DD`, when bounded.
    pub from: Option<String>,
    /// The last day included, `YYYY-MM-DD`, when bounded.
    pub to: Option<String>,
    /// The offset days were cut at.
    pub tz_offset_minutes: i32,
    /// Per period, provider and model, in that order.
    pub rows: Vec<UsageRow>,
    /// Per provider, by id.
    pub by_provider: Vec<UsageRow>,
    /// Everything: the sum of `rows`.
    pub totals: UsageRow,
}

/// `usageReport`: per day or month, provider and model, from the raw entries of the last 30
/// days and the daily aggregates of older ones, each call counted once.
///
/// Raw entries are placed on their local day (`tzOffsetMinutes`); aggregates keep the UTC day
/// they were folded under, since their calls can no longer be split by hour. An entry that an
/// aggregate already counts (folded, its deletion not yet done) is skipped.
pub fn usage_report(
    entries: &[LedgerEntry],
    daily: &[DailyAggregate],
    query: &ReportQuery,
) -> Result<UsageReport> {
    let tz = query.tz_offset_minutes.unwrap_or(0);
    if tz.abs() > MAX_TZ_OFFSET_MINUTES {
        return Err(ByokError::invalid_request(
            "tzOffsetMinutes must be between -840 and 840",
        ));
    }
    let from = query.from.as_ref().map(|b| b.day(tz, true)).transpose()?;
    let to = query.to.as_ref().map(|b| b.day(tz, false)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ByokError::invalid_request(
                "the report's 'from' is after its 'to'",
            ));
        }
    }
    let in_range = |day: i64| from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t);
    let period_key = |day: i64| match query.period {
        Period::Day => format_day(day),
        Period::Month => format_month(day),
    };

    let mut rows: BTreeMap<(String, String, String), Tally> = BTreeMap::new();
    for agg in daily {
        let Some(day) = parse_day(&agg.day) else {
            continue;
        };
        if in_range(day) {
            rows.entry((period_key(day), agg.provider.clone(), agg.model.clone()))
                .or_default()
                .add_aggregate(agg);
        }
    }
    let index = AggregateIndex::new(daily);
    for e in entries {
        if index.covers(e) {
            continue;
        }
        let Some(day) = day_number(e.at, tz) else {
            continue;
        };
        if in_range(day) {
            rows.entry((period_key(day), e.provider.clone(), e.model.clone()))
                .or_default()
                .add_entry(e);
        }
    }

    let mut by_provider: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut totals = Tally::default();
    for ((_, provider, _), t) in &rows {
        by_provider.entry(provider).or_default().merge(t);
        totals.merge(t);
    }
    Ok(UsageReport {
        period: query.period,
        from: from.map(format_day),
        to: to.map(format_day),
        tz_offset_minutes: tz,
        rows: rows
            .iter()
            .map(|((p, prov, m), t)| t.row(Some(p), Some(prov), Some(m)))
            .collect(),
        by_provider: by_provider
            .iter()
            .map(|(p, t)| t.row(None, Some(p), None))
            .collect(),
        totals: totals.row(None, None, None),
    })
}

// ---------------------------------------------------------------------------------------------
// Retention.

/// What to write so that the stores keep to the retention rules.
///
/// Apply in this order, ideally in one IndexedDB transaction over both stores: put every
/// `upsertDaily` record, then delete `deleteEntryIds`, then delete `deleteDailyIds`. Any prefix
/// of that sequence, applied or applied twice, leaves the stores consistent: an entry is deleted
/// only after an aggregate covering it is written, and a covered entry is never counted again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPlan {
    /// Raw entries to delete (folded now, folded before, or too old to keep at all).
    pub delete_entry_ids: Vec<String>,
    /// Aggregates to put, whole (not deltas: putting one twice is harmless).
    pub upsert_daily: Vec<DailyAggregate>,
    /// Aggregates older than [`DAILY_RETENTION_DAYS`] to delete, by primary key.
    pub delete_daily_ids: Vec<String>,
}

impl RetentionPlan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.delete_entry_ids.is_empty()
            && self.upsert_daily.is_empty()
            && self.delete_daily_ids.is_empty()
    }
}

/// Plans retention at `now_ms`: raw entries older than 30 days are folded into their day's
/// aggregate and deleted; aggregates (and entries) older than 365 days are deleted.
///
/// `entries` may be all raw entries or only those older than the cutoff (the shell can read
/// just those through an index on `at`), in pages if it likes, as long as pages come in
/// `(at, id)` order. Entries with a time that is not a date are left alone.
pub fn plan_retention(
    entries: &[LedgerEntry],
    daily: &[DailyAggregate],
    now_ms: f64,
) -> RetentionPlan {
    let mut plan = RetentionPlan::default();
    let Some(today) = day_number(now_ms, 0) else {
        return plan;
    };
    let entry_cutoff = now_ms - RAW_RETENTION_DAYS as f64 * MS_PER_DAY;
    let oldest_day_kept = today - DAILY_RETENTION_DAYS;

    for agg in daily {
        if parse_day(&agg.day).is_some_and(|d| d < oldest_day_kept) {
            plan.delete_daily_ids.push(agg.id.clone());
        }
    }

    let mut old: Vec<&LedgerEntry> = entries.iter().filter(|e| e.at < entry_cutoff).collect();
    // Folding in (at, id) order makes each aggregate's watermark the last entry it took.
    old.sort_by(|a, b| a.at.total_cmp(&b.at).then_with(|| a.id.cmp(&b.id)));

    let index = AggregateIndex::new(daily);
    let mut changed: BTreeMap<String, DailyAggregate> = BTreeMap::new();
    let mut folded: BTreeSet<String> = BTreeSet::new();
    for e in old {
        let Some(day) = day_number(e.at, 0) else {
            continue;
        };
        if day < oldest_day_kept {
            plan.delete_entry_ids.push(e.id.clone());
            continue;
        }
        let day = format_day(day);
        let id = aggregate_id(&day, &e.provider, &e.model, e.key_id.as_deref());
        if !changed.contains_key(&id) {
            let start = match index.by_id.get(&id) {
                Some(existing) => DailyAggregate {
                    id: id.clone(),
                    ..(*existing).clone()
                },
                None => DailyAggregate::empty_for(&day, e),
            };
            changed.insert(id.clone(), start);
        }
        let Some(agg) = changed.get_mut(&id) else {
            continue;
        };
        // A fresh aggregate (no calls yet) has its watermark at `e` only as a placeholder.
        if agg.calls > 0 && agg.covers(e) {
            // Folded already: by this plan (a duplicate id) or by an earlier one whose
            // deletions did not all happen.
            plan.delete_entry_ids.push(e.id.clone());
            continue;
        }
        agg.fold(e);
        folded.insert(id);
        plan.delete_entry_ids.push(e.id.clone());
    }
    // Only aggregates that took an entry are written: one that merely covers leftovers of an
    // earlier plan is already stored as it is.
    plan.upsert_daily = changed
        .into_iter()
        .filter(|(id, _)| folded.contains(id))
        .map(|(_, agg)| agg)
        .collect();
    plan.delete_entry_ids.sort_unstable();
    plan.delete_entry_ids.dedup();
    plan.delete_daily_ids.sort_unstable();
    plan.delete_daily_ids.dedup();
    plan
}

/// Applies a plan to in-memory stores (the `session` vault mode keeps the ledger in memory;
/// tests use it too): the same puts and deletes, in the documented order.
pub fn apply_retention(
    entries: &mut Vec<LedgerEntry>,
    daily: &mut Vec<DailyAggregate>,
    plan: &RetentionPlan,
) {
    for agg in &plan.upsert_daily {
        match daily.iter_mut().find(|d| d.id == agg.id) {
            Some(slot) => slot.clone_from(agg),
            None => daily.push(agg.clone()),
        }
    }
    entries.retain(|e| plan.delete_entry_ids.binary_search(&e.id).is_err());
    daily.retain(|d| plan.delete_daily_ids.binary_search(&d.id).is_err());
}

#[cfg(test)]
mod tests;
