//! Spending limits: per provider or per key, daily and monthly, checked before a call leaves
//! the page.
//!
//! The user sets a [`BudgetSpec`] in USD; it is validated and stored as a [`Budget`] with its
//! limits in integer femto-dollars, like the ledger. Before a call the shell builds (or keeps up
//! to date) a [`SpentIndex`] from the ledger, estimates the call's cost
//! ([`crate::core::estimate`]) and asks [`check_budgets`]: a call that would pass a limit fails
//! with `BUDGET_EXCEEDED` before any request is sent.
//!
//! The boundary: a call is allowed when `spent + estimate ≤ limit`, refused when it is
//! greater. Reaching a limit exactly is still within it (a $5.00 budget can spend $5.00), and a
//! limit of 0 refuses every priced call while letting free ones (local servers) through.
//!
//! Days and months are local to the offset the index was built with (see
//! [`crate::core::usage::day_number`]). Spending already folded into daily aggregates counts in
//! the month of its UTC day: only the first day of a 31-day month can be folded before the
//! month ends, so only hours at a month's edge can land on the neighbouring month.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::catalog::printable_id;
use crate::core::cost::{femto_to_usd, format_cost};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::usage::{
    civil_from_days, day_number, femto_serde, parse_day, usd_to_femto, AggregateIndex,
    DailyAggregate, LedgerEntry, MAX_TZ_OFFSET_MINUTES,
};

/// The largest limit accepted, USD: far above any real budget, far below where femto-dollars
/// would lose their exactness in a report.
pub const MAX_LIMIT_USD: f64 = 1e9;
/// The longest provider or key id a scope may name.
const MAX_SCOPE_ID_LEN: usize = 256;

/// What a budget limits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "camelCase")]
pub enum BudgetScope {
    /// Every call to a provider: `{ kind: 'provider', id: 'openai' }`.
    Provider(String),
    /// Every call made with one stored key: `{ kind: 'key', id: keyId }`.
    Key(String),
}

impl BudgetScope {
    /// The id it names.
    fn id(&self) -> &str {
        match self {
            BudgetScope::Provider(id) | BudgetScope::Key(id) => id,
        }
    }

    /// Whether a call to `provider` with `key_id` falls under it.
    fn applies(&self, provider: &str, key_id: Option<&str>) -> bool {
        match self {
            BudgetScope::Provider(p) => p == provider,
            BudgetScope::Key(k) => key_id == Some(k.as_str()),
        }
    }

    fn describe(&self) -> String {
        match self {
            BudgetScope::Provider(p) => format!("provider {}", printable_id(p)),
            BudgetScope::Key(k) => format!("key {}", printable_id(k)),
        }
    }
}

/// Which window a limit covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BudgetPeriod {
    /// Today, local time.
    Daily,
    /// This calendar month, local time.
    Monthly,
}

impl BudgetPeriod {
    fn adjective(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "daily",
            BudgetPeriod::Monthly => "monthly",
        }
    }

    fn window(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "today",
            BudgetPeriod::Monthly => "this month",
        }
    }
}

/// A budget as `setBudget` takes it and the UI shows it: limits in USD, either may be absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetSpec {
    /// What it limits.
    pub scope: BudgetScope,
    /// The most that may be spent per day, USD.
    #[serde(default)]
    pub daily_usd: Option<f64>,
    /// The most that may be spent per calendar month, USD.
    #[serde(default)]
    pub monthly_usd: Option<f64>,
}

/// A budget as stored: one per scope, limits in femto-dollars (strings in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// The primary key, [`Budget::id_for`] its scope: setting a budget again replaces it.
    pub id: String,
    /// What it limits.
    pub scope: BudgetScope,
    /// The daily limit, femto-dollars.
    #[serde(default, with = "femto_serde::option")]
    pub daily_limit_femto: Option<u128>,
    /// The monthly limit, femto-dollars.
    #[serde(default, with = "femto_serde::option")]
    pub monthly_limit_femto: Option<u128>,
}

fn limit_femto(name: &str, usd: Option<f64>) -> Result<Option<u128>> {
    let Some(usd) = usd else {
        return Ok(None);
    };
    if !(0.0..=MAX_LIMIT_USD).contains(&usd) {
        return Err(ByokError::invalid_request(format!(
            "{name} must be a finite number of USD from 0 to 1,000,000,000"
        )));
    }
    usd_to_femto(usd)
        .map(Some)
        .ok_or_else(|| ByokError::invalid_request(format!("{name} must be a number of USD")))
}

impl Budget {
    /// Validates a spec: the scope names a non-empty id, and each limit is finite, at least 0
    /// and at most [`MAX_LIMIT_USD`]. A spec without limits is valid (it limits nothing).
    pub fn new(spec: &BudgetSpec) -> Result<Budget> {
        let id = spec.scope.id();
        if id.is_empty() || id.len() > MAX_SCOPE_ID_LEN {
            return Err(ByokError::invalid_request(
                "a budget's scope must name a provider or key id (1 to 256 characters)",
            ));
        }
        Ok(Budget {
            id: Budget::id_for(&spec.scope),
            scope: spec.scope.clone(),
            daily_limit_femto: limit_femto("dailyUsd", spec.daily_usd)?,
            monthly_limit_femto: limit_femto("monthlyUsd", spec.monthly_usd)?,
        })
    }

    /// The primary key of the budget of a scope: `provider:openai`, `key:<id>`.
    pub fn id_for(scope: &BudgetScope) -> String {
        match scope {
            BudgetScope::Provider(p) => format!("provider:{p}"),
            BudgetScope::Key(k) => format!("key:{k}"),
        }
    }

    /// The budget back in USD, for the UI.
    pub fn spec(&self) -> BudgetSpec {
        BudgetSpec {
            scope: self.scope.clone(),
            daily_usd: self.daily_limit_femto.map(femto_to_usd),
            monthly_usd: self.monthly_limit_femto.map(femto_to_usd),
        }
    }

    /// The limit of one period, femto-dollars.
    pub fn limit(&self, period: BudgetPeriod) -> Option<u128> {
        match period {
            BudgetPeriod::Daily => self.daily_limit_femto,
            BudgetPeriod::Monthly => self.monthly_limit_femto,
        }
    }
}

/// What has been spent today and this month, per provider and per key, femto-dollars: derived
/// from the ledger and its aggregates, kept in memory and updated call by call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpentIndex {
    day: i64,
    month: (i64, u32),
    tz_offset_minutes: i32,
    today: BTreeMap<BudgetScope, u128>,
    this_month: BTreeMap<BudgetScope, u128>,
}

fn month_of(day: i64) -> (i64, u32) {
    let (y, m, _) = civil_from_days(day);
    (y, m)
}

impl SpentIndex {
    /// Sums the calls of today and of this month at `now_ms` (local to `tz_offset_minutes`,
    /// local time − UTC): raw entries by their local day, aggregates by their UTC day, entries
    /// already folded into an aggregate once. Every call counts, failed and aborted ones too:
    /// the tokens they used are billed.
    pub fn build(
        entries: &[LedgerEntry],
        daily: &[DailyAggregate],
        now_ms: f64,
        tz_offset_minutes: i32,
    ) -> Result<SpentIndex> {
        if tz_offset_minutes.abs() > MAX_TZ_OFFSET_MINUTES {
            return Err(ByokError::invalid_request(
                "tzOffsetMinutes must be between -840 and 840",
            ));
        }
        let day = day_number(now_ms, tz_offset_minutes)
            .ok_or_else(|| ByokError::invalid_request("the clock is not a date"))?;
        let mut index = SpentIndex {
            day,
            month: month_of(day),
            tz_offset_minutes,
            ..SpentIndex::default()
        };
        for agg in daily {
            if let Some(d) = parse_day(&agg.day) {
                index.add(d, &agg.provider, agg.key_id.as_deref(), agg.cost_femto);
            }
        }
        let folded = AggregateIndex::new(daily);
        for e in entries {
            if !folded.covers(e) {
                index.record(e);
            }
        }
        Ok(index)
    }

    /// Counts a call just recorded, if it falls today or this month.
    pub fn record(&mut self, entry: &LedgerEntry) {
        if let Some(d) = day_number(entry.at, self.tz_offset_minutes) {
            let cost = u128::from(entry.cost_femto);
            self.add(d, &entry.provider, entry.key_id.as_deref(), cost);
        }
    }

    fn add(&mut self, day: i64, provider: &str, key_id: Option<&str>, femto: u128) {
        let mut scopes = vec![BudgetScope::Provider(provider.to_owned())];
        if let Some(k) = key_id {
            scopes.push(BudgetScope::Key(k.to_owned()));
        }
        for scope in scopes {
            if day == self.day {
                let slot = self.today.entry(scope.clone()).or_default();
                *slot = slot.saturating_add(femto);
            }
            if month_of(day) == self.month {
                let slot = self.this_month.entry(scope).or_default();
                *slot = slot.saturating_add(femto);
            }
        }
    }

    /// Spent under `scope` in `period` as of `now_ms`: 0 once the day (or month) the index was
    /// built for is over, so a page left open past midnight starts the new day afresh.
    pub fn spent(&self, scope: &BudgetScope, period: BudgetPeriod, now_ms: f64) -> u128 {
        let Some(today) = day_number(now_ms, self.tz_offset_minutes) else {
            return 0;
        };
        let (current, map) = match period {
            BudgetPeriod::Daily => (today == self.day, &self.today),
            BudgetPeriod::Monthly => (month_of(today) == self.month, &self.this_month),
        };
        if current {
            map.get(scope).copied().unwrap_or(0)
        } else {
            0
        }
    }
}

/// Which limit a call would pass, and by how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetExceeded {
    /// The budget's id.
    pub budget_id: String,
    /// Its scope.
    pub scope: BudgetScope,
    /// Which of its limits.
    pub period: BudgetPeriod,
    /// Spent in the period so far, femto-dollars.
    #[serde(with = "femto_serde")]
    pub spent_femto: u128,
    /// The limit, femto-dollars.
    #[serde(with = "femto_serde")]
    pub limit_femto: u128,
    /// The call's estimated cost, femto-dollars.
    #[serde(with = "femto_serde")]
    pub estimate_femto: u128,
}

/// USD for a message; `format_cost` refuses only amounts of 10¹⁵ USD and more.
fn usd_text(femto: u128) -> String {
    format_cost(femto_to_usd(femto)).unwrap_or_else(|_| String::from("over $10^15"))
}

impl BudgetExceeded {
    /// The `BUDGET_EXCEEDED` error for it, naming the provider of the refused call.
    pub fn to_error(&self, provider: &str) -> ByokError {
        ByokError::new(
            ErrorCode::BudgetExceeded,
            format!(
                "this call would pass the {} budget of {}: {} spent {} + {} estimated for this call > {} limit",
                self.period.adjective(),
                self.scope.describe(),
                usd_text(self.spent_femto),
                self.period.window(),
                usd_text(self.estimate_femto),
                usd_text(self.limit_femto),
            ),
        )
        .with_provider(provider)
    }
}

/// The first limit a call to `provider` with `key_id`, estimated at `estimate_femto`, would
/// pass: budgets in the order given, the daily limit of each before its monthly one.
pub fn find_exceeded(
    budgets: &[Budget],
    spent: &SpentIndex,
    provider: &str,
    key_id: Option<&str>,
    estimate_femto: u128,
    now_ms: f64,
) -> Option<BudgetExceeded> {
    for budget in budgets.iter().filter(|b| b.scope.applies(provider, key_id)) {
        for period in [BudgetPeriod::Daily, BudgetPeriod::Monthly] {
            let Some(limit) = budget.limit(period) else {
                continue;
            };
            let so_far = spent.spent(&budget.scope, period, now_ms);
            if so_far.saturating_add(estimate_femto) > limit {
                return Some(BudgetExceeded {
                    budget_id: budget.id.clone(),
                    scope: budget.scope.clone(),
                    period,
                    spent_femto: so_far,
                    limit_femto: limit,
                    estimate_femto,
                });
            }
        }
    }
    None
}

/// `Ok` when the call fits every budget that applies to it, else `BUDGET_EXCEEDED` saying
/// which limit, what was spent, the limit and the estimate, with the provider set.
pub fn check_budgets(
    budgets: &[Budget],
    spent: &SpentIndex,
    provider: &str,
    key_id: Option<&str>,
    estimate_femto: u128,
    now_ms: f64,
) -> Result<()> {
    match find_exceeded(budgets, spent, provider, key_id, estimate_femto, now_ms) {
        Some(exceeded) => Err(exceeded.to_error(provider)),
        None => Ok(()),
    }
}

/// Where one limit stands, for the UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    /// The budget's id.
    pub budget_id: String,
    /// Its scope.
    pub scope: BudgetScope,
    /// Which limit.
    pub period: BudgetPeriod,
    /// The limit, USD.
    pub limit_usd: f64,
    /// Spent in the period so far, USD.
    pub spent_usd: f64,
    /// What is left, USD; 0 once the limit is reached or passed.
    pub remaining_usd: f64,
    /// The same three, exact, femto-dollars.
    #[serde(with = "femto_serde")]
    pub limit_femto: u128,
    /// Spent so far, femto-dollars.
    #[serde(with = "femto_serde")]
    pub spent_femto: u128,
    /// What is left, femto-dollars.
    #[serde(with = "femto_serde")]
    pub remaining_femto: u128,
}

/// Every limit of every budget with what is spent and what remains as of `now_ms`.
pub fn remaining(budgets: &[Budget], spent: &SpentIndex, now_ms: f64) -> Vec<BudgetStatus> {
    let mut out = Vec::new();
    for budget in budgets {
        for period in [BudgetPeriod::Daily, BudgetPeriod::Monthly] {
            let Some(limit) = budget.limit(period) else {
                continue;
            };
            let so_far = spent.spent(&budget.scope, period, now_ms);
            let left = limit.saturating_sub(so_far);
            out.push(BudgetStatus {
                budget_id: budget.id.clone(),
                scope: budget.scope.clone(),
                period,
                limit_usd: femto_to_usd(limit),
                spent_usd: femto_to_usd(so_far),
                remaining_usd: femto_to_usd(left),
                limit_femto: limit,
                spent_femto: so_far,
                remaining_femto: left,
            });
        }
    }
    out
}

/// Most budgets kept: enough for every provider and key of a vault.
pub const MAX_BUDGETS: usize = 512;

/// `setBudget`'s argument as pages write it: `{ provider | keyId, dailyUsd?, monthlyUsd? }`.
/// A limit left out or `null` is no limit; with both left out the budget is removed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetInput {
    /// A provider id: the budget covers every key of it.
    #[serde(default)]
    pub provider: Option<String>,
    /// A stored key's id: the budget covers that key alone.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The daily limit, USD.
    #[serde(default)]
    pub daily_usd: Option<f64>,
    /// The monthly limit, USD.
    #[serde(default)]
    pub monthly_usd: Option<f64>,
}

impl BudgetInput {
    /// The spec, if exactly one of `provider` and `keyId` is given.
    pub fn into_spec(self) -> Result<BudgetSpec> {
        let scope = match (self.provider, self.key_id) {
            (Some(p), None) => BudgetScope::Provider(p),
            (None, Some(k)) => BudgetScope::Key(k),
            _ => {
                return Err(ByokError::invalid_request(
                    "a budget names either a provider or a keyId",
                ))
            }
        };
        Ok(BudgetSpec {
            scope,
            daily_usd: self.daily_usd,
            monthly_usd: self.monthly_usd,
        })
    }
}

/// Sets, replaces or (with no limit at all) removes the budget of `spec`'s scope in `budgets`.
pub fn set_budget(budgets: &mut Vec<Budget>, spec: &BudgetSpec) -> Result<()> {
    let budget = Budget::new(spec)?;
    budgets.retain(|b| b.id != budget.id);
    if budget.daily_limit_femto.is_none() && budget.monthly_limit_femto.is_none() {
        return Ok(());
    }
    if budgets.len() >= MAX_BUDGETS {
        return Err(ByokError::invalid_request(format!(
            "at most {MAX_BUDGETS} budgets can be set"
        )));
    }
    budgets.push(budget);
    budgets.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(())
}

#[cfg(test)]
mod tests;
