//! `usageReport`, `setBudget`, `budgets`, `setRateLimit`, `rateLimits`, `verifyAuditLog`,
//! `auditLog` and `complianceReport`, at module level (default vault) and on a vault. All of
//! them work offline and with the vault locked: nothing they read or write is secret.

use super::convert::{decode, to_value};
use super::vault::{default_vault, promise, VaultHandle};
use crate::core::budget::{BudgetInput, BudgetSpec};
use crate::core::error::{ByokError, Result};
use crate::core::ratelimit::{RateLimitSetting, RateLimitSpec};
use crate::core::usage::ReportQuery;
use crate::web::vault::Vault;
use serde::Serialize;
use std::future::Future;
use wasm_bindgen::prelude::*;

/// How many audit entries `auditLog()` gives without a limit.
const DEFAULT_AUDIT_LIMIT: usize = 100;

fn js<T: Serialize>(v: &T) -> Result<JsValue> {
    to_value(v).map_err(|_| ByokError::invalid_request("cannot encode a result"))
}

/// Runs `f` on the vault, or on the default vault.
fn on<F, Fut>(vault: Option<Vault>, f: F) -> js_sys::Promise
where
    F: FnOnce(Vault) -> Fut + 'static,
    Fut: Future<Output = Result<JsValue>> + 'static,
{
    promise(async move {
        let vault = match vault {
            Some(v) => v,
            None => default_vault().await?,
        };
        f(vault).await
    })
}

fn usage_report(vault: Option<Vault>, query: JsValue) -> js_sys::Promise {
    on(vault, move |v| async move {
        let q: ReportQuery = decode(&query, "usageReport query")?;
        js(&v.meter().usage_report(q).await?)
    })
}

/// The budgets with their specs in USD and what is spent and left.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Budgets {
    budgets: Vec<BudgetSpec>,
    status: Vec<crate::core::budget::BudgetStatus>,
}

async fn budgets_of(v: &Vault) -> Result<JsValue> {
    let meter = v.meter();
    let budgets = meter.budgets().await?.iter().map(|b| b.spec()).collect();
    js(&Budgets {
        budgets,
        status: meter.budget_status().await?,
    })
}

fn set_budget(vault: Option<Vault>, input: JsValue) -> js_sys::Promise {
    on(vault, move |v| async move {
        let spec = decode::<BudgetInput>(&input, "setBudget argument")?.into_spec()?;
        v.meter().set_budget(&spec).await?;
        budgets_of(&v).await
    })
}

fn set_rate_limit(vault: Option<Vault>, input: JsValue) -> js_sys::Promise {
    on(vault, move |v| async move {
        let spec: RateLimitSpec = decode(&input, "setRateLimit argument")?;
        let settings = v.meter().set_rate_limit(&spec.into()).await?;
        js(&flat(settings))
    })
}

fn flat(settings: Vec<RateLimitSetting>) -> Vec<RateLimitSpec> {
    settings.into_iter().map(RateLimitSpec::from).collect()
}

fn audit_log(vault: Option<Vault>, limit: Option<u32>) -> js_sys::Promise {
    on(vault, move |v| async move {
        let limit = limit.map_or(DEFAULT_AUDIT_LIMIT, |n| n as usize);
        js(&v.meter().audit_log(limit).await?)
    })
}

/// `usageReport({ period: 'day' | 'month', from?, to?, tzOffsetMinutes? })` of the default
/// vault: rows per period, provider and model, per provider, and totals.
#[wasm_bindgen(js_name = usageReport, unchecked_return_type = "Promise<UsageReport>")]
pub fn usage_report_default(
    #[wasm_bindgen(unchecked_param_type = "UsageQuery")] query: JsValue,
) -> js_sys::Promise {
    usage_report(None, query)
}

/// `setBudget({ provider | keyId, dailyUsd?, monthlyUsd? })` on the default vault; both limits
/// left out removes the budget. Resolves to `budgets()`.
#[wasm_bindgen(js_name = setBudget, unchecked_return_type = "Promise<Budgets>")]
pub fn set_budget_default(
    #[wasm_bindgen(unchecked_param_type = "BudgetInput")] input: JsValue,
) -> js_sys::Promise {
    set_budget(None, input)
}

/// `budgets()` of the default vault: each budget, and what is spent and left today and this
/// month.
#[wasm_bindgen(js_name = budgets, unchecked_return_type = "Promise<Budgets>")]
pub fn budgets_default() -> js_sys::Promise {
    on(None, |v| async move { budgets_of(&v).await })
}

/// `setRateLimit({ provider, keyId?, requestsPerMinute?, tokensPerMinute? })` on the default
/// vault; neither limit removes it. Resolves to `rateLimits()`.
#[wasm_bindgen(js_name = setRateLimit, unchecked_return_type = "Promise<RateLimitSpec[]>")]
pub fn set_rate_limit_default(
    #[wasm_bindgen(unchecked_param_type = "RateLimitSpec")] input: JsValue,
) -> js_sys::Promise {
    set_rate_limit(None, input)
}

/// `rateLimits()` of the default vault.
#[wasm_bindgen(js_name = rateLimits, unchecked_return_type = "Promise<RateLimitSpec[]>")]
pub fn rate_limits_default() -> js_sys::Promise {
    on(None, |v| async move {
        js(&flat(v.meter().rate_limits().await?))
    })
}

/// `verifyAuditLog()` of the default vault: `{ ok, checked, firstBadSeq, problem, last }`.
#[wasm_bindgen(js_name = verifyAuditLog, unchecked_return_type = "Promise<AuditVerification>")]
pub fn verify_audit_log_default() -> js_sys::Promise {
    on(None, |v| async move { js(&v.meter().verify().await?) })
}

/// `auditLog(limit?)` of the default vault: the newest entries, oldest first.
#[wasm_bindgen(js_name = auditLog, unchecked_return_type = "Promise<AuditEntry[]>")]
pub fn audit_log_default(limit: Option<u32>) -> js_sys::Promise {
    audit_log(None, limit)
}

/// `complianceReport()` of the default vault.
#[wasm_bindgen(js_name = complianceReport, unchecked_return_type = "Promise<ComplianceReport>")]
pub fn compliance_report_default() -> js_sys::Promise {
    on(None, |v| async move {
        js(&v.meter().compliance_report().await?)
    })
}

#[wasm_bindgen(js_class = Vault)]
impl VaultHandle {
    /// `vault.usageReport(query)`.
    #[wasm_bindgen(js_name = usageReport, unchecked_return_type = "Promise<UsageReport>")]
    pub fn usage_report(
        &self,
        #[wasm_bindgen(unchecked_param_type = "UsageQuery")] query: JsValue,
    ) -> js_sys::Promise {
        usage_report(Some(self.inner()), query)
    }

    /// `vault.setBudget(input)`.
    #[wasm_bindgen(js_name = setBudget, unchecked_return_type = "Promise<Budgets>")]
    pub fn set_budget(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BudgetInput")] input: JsValue,
    ) -> js_sys::Promise {
        set_budget(Some(self.inner()), input)
    }

    /// `vault.budgets()`.
    #[wasm_bindgen(js_name = budgets, unchecked_return_type = "Promise<Budgets>")]
    pub fn budgets(&self) -> js_sys::Promise {
        on(Some(self.inner()), |v| async move { budgets_of(&v).await })
    }

    /// `vault.setRateLimit(input)`.
    #[wasm_bindgen(js_name = setRateLimit, unchecked_return_type = "Promise<RateLimitSpec[]>")]
    pub fn set_rate_limit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RateLimitSpec")] input: JsValue,
    ) -> js_sys::Promise {
        set_rate_limit(Some(self.inner()), input)
    }

    /// `vault.rateLimits()`.
    #[wasm_bindgen(js_name = rateLimits, unchecked_return_type = "Promise<RateLimitSpec[]>")]
    pub fn rate_limits(&self) -> js_sys::Promise {
        on(Some(self.inner()), |v| async move {
            js(&flat(v.meter().rate_limits().await?))
        })
    }

    /// `vault.verifyAuditLog()`.
    #[wasm_bindgen(js_name = verifyAuditLog, unchecked_return_type = "Promise<AuditVerification>")]
    pub fn verify_audit_log(&self) -> js_sys::Promise {
        on(Some(self.inner()), |v| async move {
            js(&v.meter().verify().await?)
        })
    }

    /// `vault.auditLog(limit?)`.
    #[wasm_bindgen(js_name = auditLog, unchecked_return_type = "Promise<AuditEntry[]>")]
    pub fn audit_log(&self, limit: Option<u32>) -> js_sys::Promise {
        audit_log(Some(self.inner()), limit)
    }

    /// `vault.complianceReport()`.
    #[wasm_bindgen(js_name = complianceReport, unchecked_return_type = "Promise<ComplianceReport>")]
    pub fn compliance_report(&self) -> js_sys::Promise {
        on(Some(self.inner()), |v| async move {
            js(&v.meter().compliance_report().await?)
        })
    }
}
