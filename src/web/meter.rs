//! The usage ledger, budgets, rate limits and audit log of one vault, kept in the vault's own
//! IndexedDB database beside its keys (schema version 2; see [`crate::web::store::Table`]), or
//! for a session vault, which persists nothing, in memory.
//!
//! The logic is `core`'s (`usage`, `budget`, `ratelimit`, `audit`); this is its storage and
//! clock. What it keeps never includes a key, a prompt, a response or a passphrase.
//!
//! One [`Meter`] per database per page (a registry of weak handles), so every vault handle of a
//! page shares the rate limiter's buckets and the audit chain's head. Audit appends run one at
//! a time (a small lock); another tab appending at the same moment makes IndexedDB refuse the
//! second entry with the same sequence number (`add`), and the loser re-reads the head and
//! tries again, so the chain never forks.

use crate::core::audit::{self, Anchor, AuditEntry, AuditEvent, ComplianceReport, VerifyReport};
use crate::core::budget::{self, Budget, BudgetSpec, BudgetStatus, SpentIndex};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::ratelimit::{Decision, LimitKey, Limiter, RateLimitSetting};
use crate::core::usage::{
    self, CallKind, CallStatus, DailyAggregate, LedgerEntry, ReportQuery, UsageReport, MS_PER_DAY,
};
use crate::web::crypto;
use crate::web::store::{self, IdbStore, Op, Table, UsageStore};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

const SETTING_BUDGETS: &str = "budgets";
const SETTING_LIMITS: &str = "rateLimits";
const SETTING_AUDIT_KEY: &str = "auditKey";
const SETTING_ANCHOR: &str = "auditAnchor";
/// How often an append that loses a race with another tab tries again.
const APPEND_TRIES: u32 = 4;

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The page's offset from UTC in minutes (east positive), for "today" and "this month".
pub fn local_tz_offset_minutes() -> i32 {
    // getTimezoneOffset is UTC minus local; the reports take local minus UTC.
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

fn corrupt(what: &str) -> ByokError {
    ByokError::new(
        ErrorCode::StorageFailed,
        format!("a stored {what} record is unreadable"),
    )
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|_| ByokError::new(ErrorCode::StorageFailed, "cannot encode a record"))
}

thread_local! {
    /// The hashed id of this page's session, made once per page.
    static SESSION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Live meters by database name.
    static METERS: RefCell<BTreeMap<String, Weak<Shared>>> = const { RefCell::new(BTreeMap::new()) };
}

/// The `session` field of audit entries: SHA-256 of a random per-page id, cut short. The id
/// itself is never stored, so entries of one page can be told apart but not traced further.
async fn session_hash() -> Result<String> {
    if let Some(s) = SESSION.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let id = audit::hex(&crypto::random_bytes(16)?);
    let digest = crypto::sha256(id.as_bytes()).await?;
    let hash = audit::session_hash(&id, |_| digest);
    SESSION.with(|s| *s.borrow_mut() = Some(hash.clone()));
    Ok(hash)
}

/// A lock for async work: each holder waits for the previous one's promise. Its guard
/// releases on drop, so a future dropped half-way never leaves the lock held.
#[derive(Default)]
struct Lock {
    tail: RefCell<Option<js_sys::Promise>>,
}

struct Guard(Option<js_sys::Function>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

impl Lock {
    async fn acquire(&self) -> Guard {
        let mut release = None;
        let mine = js_sys::Promise::new(&mut |resolve, _| release = Some(resolve));
        let before = self.tail.borrow_mut().replace(mine);
        if let Some(before) = before {
            // It only ever resolves.
            let _ = JsFuture::from(before).await;
        }
        Guard(release)
    }
}

struct Shared {
    db: UsageStore,
    lock: Lock,
    /// The newest audit entry: `None` until read, then `Some(None)` for an empty log.
    head: RefCell<Option<Option<AuditEntry>>>,
    audit_key: RefCell<Option<CryptoKey>>,
    /// Audit entries stored, as far as this page knows (for rotation).
    audit_count: Cell<Option<u32>>,
    limiter: RefCell<Limiter>,
    limits_loaded: Cell<bool>,
    pruned: Cell<bool>,
    /// Calls of this page that passed their budget check and are not in the ledger yet, with
    /// their estimates: counted by later checks, so calls started together cannot pass a
    /// limit together.
    pending: RefCell<Vec<Pending>>,
}

struct Pending {
    id: String,
    provider: String,
    key_id: Option<String>,
    femto: u64,
}

impl Shared {
    fn new(db: UsageStore) -> Shared {
        Shared {
            db,
            lock: Lock::default(),
            head: RefCell::new(None),
            audit_key: RefCell::new(None),
            audit_count: Cell::new(None),
            limiter: RefCell::new(Limiter::new()),
            limits_loaded: Cell::new(false),
            pruned: Cell::new(false),
            pending: RefCell::new(Vec::new()),
        }
    }
}

/// The ledger, budgets, limiter and audit log of one vault database.
#[derive(Clone)]
pub struct Meter {
    shared: Rc<Shared>,
}

/// The start of a call's bookkeeping, completed by [`Meter::finish`].
#[derive(Clone, Debug)]
pub struct CallStart {
    /// The ledger entry's id.
    pub id: String,
    /// When it started.
    pub at: f64,
    /// Provider id.
    pub provider: String,
    /// Model id ("" for a validation).
    pub model: String,
    /// The stored key's id, if one was used.
    pub key_id: Option<String>,
    /// Which call.
    pub kind: CallKind,
}

/// How a call ended, for the ledger.
#[derive(Clone, Debug, Default)]
pub struct CallEnd {
    /// Tokens read, as far as known.
    pub input_tokens: u64,
    /// Tokens written, as far as known.
    pub output_tokens: u64,
    /// Our cost, femto-dollars.
    pub cost_femto: u64,
    /// The gateway's own cost, USD.
    pub reported_cost_usd: Option<f64>,
    /// The error, if it failed or was aborted.
    pub error: Option<ErrorCode>,
    /// Retries made.
    pub retries: u32,
}

impl Meter {
    /// The meter of the vault database `name`, sharing the page's state with every other
    /// handle of that database.
    pub fn for_database(name: &str, db: &IdbStore) -> Meter {
        METERS.with(|m| {
            let mut map = m.borrow_mut();
            if let Some(shared) = map.get(name).and_then(Weak::upgrade) {
                return Meter { shared };
            }
            map.retain(|_, w| w.strong_count() > 0);
            let shared = Rc::new(Shared::new(UsageStore::Idb(db.clone())));
            map.insert(name.to_owned(), Rc::downgrade(&shared));
            Meter { shared }
        })
    }

    /// A meter that keeps everything in memory, for a session vault (which persists nothing).
    pub fn in_memory() -> Meter {
        Meter {
            shared: Rc::new(Shared::new(UsageStore::memory())),
        }
    }

    fn db(&self) -> &UsageStore {
        &self.shared.db
    }

    // -----------------------------------------------------------------------------------------
    // The audit log.

    async fn audit_key(&self, create: bool) -> Result<Option<CryptoKey>> {
        let cached = self.shared.audit_key.borrow().clone();
        if let Some(k) = cached {
            if create {
                return Ok(Some(k));
            }
            // Verification reads the stored key afresh: a key removed or replaced in storage
            // must show, not hide behind this page's copy.
            *self.shared.audit_key.borrow_mut() = None;
        }
        let id = JsValue::from_str(SETTING_AUDIT_KEY);
        for _ in 0..2 {
            if let Some(v) = self.db().get(Table::Settings, &id).await? {
                let key = store::record_field(&v, "key")
                    .and_then(|k| k.dyn_into::<CryptoKey>().ok())
                    .ok_or_else(|| corrupt("audit key"))?;
                *self.shared.audit_key.borrow_mut() = Some(key.clone());
                return Ok(Some(key));
            }
            if !create {
                return Ok(None);
            }
            let key = crypto::generate_audit_key().await?;
            let obj = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&obj, &"id".into(), &id);
            let _ = js_sys::Reflect::set(&obj, &"key".into(), &key);
            match self
                .db()
                .apply(&[Op::Add(Table::Settings, obj.into())])
                .await
            {
                Ok(()) => {
                    *self.shared.audit_key.borrow_mut() = Some(key.clone());
                    return Ok(Some(key));
                }
                // Another tab made one first: use theirs.
                Err(e) if store::is_constraint_error(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(corrupt("audit key"))
    }

    async fn head(&self) -> Result<Option<AuditEntry>> {
        if let Some(h) = self.shared.head.borrow().clone() {
            return Ok(h);
        }
        let head = match self.db().last(Table::Audit).await? {
            None => None,
            Some(v) => Some(parse_audit(&v)?),
        };
        *self.shared.head.borrow_mut() = Some(head.clone());
        Ok(head)
    }

    /// Appends `event` to the audit log, in the same transaction as `with`.
    async fn append(&self, event: AuditEvent, with: &[Op]) -> Result<()> {
        let _guard = self.shared.lock.acquire().await;
        let key = self
            .audit_key(true)
            .await?
            .ok_or_else(|| corrupt("audit key"))?;
        let session = session_hash().await?;
        let mut tries = 0;
        loop {
            tries += 1;
            let head = self.head().await?;
            let draft = audit::next_draft(head.as_ref(), event.clone(), now_ms(), &session);
            let digest = crypto::hmac_with_key(&key, &audit::entry_bytes(&draft)).await?;
            let entry = draft.seal(digest);
            let record = store::json_record(
                "seq",
                &JsValue::from_f64(entry.seq as f64),
                &to_json(&entry)?,
                &[],
            )?;
            let mut ops: Vec<Op> = with.to_vec();
            ops.push(Op::Add(Table::Audit, record));
            match self.db().apply(&ops).await {
                Ok(()) => {
                    *self.shared.head.borrow_mut() = Some(Some(entry));
                    break;
                }
                Err(e) if store::is_constraint_error(&e) && tries < APPEND_TRIES => {
                    // Another tab appended first: chain onto its entry.
                    *self.shared.head.borrow_mut() = None;
                }
                Err(e) => return Err(e),
            }
        }
        let count = match self.shared.audit_count.get() {
            Some(n) => n.saturating_add(1),
            None => self.db().count(Table::Audit).await?,
        };
        self.shared.audit_count.set(Some(count));
        if count as usize > audit::MAX_ENTRIES {
            self.rotate(&key).await?;
        }
        Ok(())
    }

    /// Records a security event. A failure to write it is returned; callers whose own work
    /// succeeded report it rather than undo that work.
    pub async fn audit(&self, event: AuditEvent) -> Result<()> {
        self.append(event, &[]).await
    }

    /// Drops the oldest entries past [`audit::MAX_ENTRIES`], keeping [`audit::KEEP_ENTRIES`]
    /// and an anchor to chain across the cut. A log that does not verify is not rotated: the
    /// evidence of tampering is kept.
    async fn rotate(&self, key: &CryptoKey) -> Result<()> {
        let (entries, anchor) = self.audit_entries_raw().await?;
        let Ok(entries) = entries.into_iter().collect::<Result<Vec<_>>>() else {
            return Ok(());
        };
        let digests = digests_of(&entries, key).await?;
        if !audit::verify_digests(&entries, anchor.as_ref(), &digests).ok {
            return Ok(());
        }
        let Some(plan) = audit::plan_rotation(&entries) else {
            return Ok(());
        };
        let anchor =
            store::json_record("id", &SETTING_ANCHOR.into(), &to_json(&plan.anchor)?, &[])?;
        self.db()
            .apply(&[
                Op::Put(Table::Settings, anchor),
                Op::DeleteUpTo(Table::Audit, plan.delete_through_seq as f64),
            ])
            .await?;
        self.shared.audit_count.set(None);
        Ok(())
    }

    async fn anchor(&self) -> Result<Option<Anchor>> {
        match self
            .db()
            .get(Table::Settings, &SETTING_ANCHOR.into())
            .await?
        {
            None => Ok(None),
            Some(v) => store::json_body(&v)
                .and_then(|j| serde_json::from_str(&j).ok())
                .map(Some)
                .ok_or_else(|| corrupt("audit anchor")),
        }
    }

    /// Every stored audit entry in order (unreadable ones as errors, in place), and the anchor.
    async fn audit_entries_raw(&self) -> Result<(Vec<Result<AuditEntry>>, Option<Anchor>)> {
        let values = self.db().all(Table::Audit).await?;
        let entries = values.iter().map(parse_audit).collect();
        Ok((entries, self.anchor().await?))
    }

    /// `verifyAuditLog()`: checks every entry's hash and its link to the one before.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let _guard = self.shared.lock.acquire().await;
        let (raw, anchor) = match self.audit_entries_raw().await {
            Ok(x) => x,
            Err(e) if e.code == ErrorCode::StorageFailed && e.message.contains("anchor") => {
                return Ok(bad_report(0, 0, "the rotation anchor was edited", None));
            }
            Err(e) => return Err(e),
        };
        let mut entries = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            match r {
                Ok(e) => entries.push(e),
                Err(_) => {
                    let seq = entries.last().map_or(0, |e: &AuditEntry| e.seq + 1);
                    let last = entries.last().map(AuditEntry::anchor);
                    return Ok(bad_report(
                        i as u64,
                        seq,
                        &format!("the entry after {i} intact ones is unreadable: it was edited"),
                        last,
                    ));
                }
            }
        }
        let key = match self.audit_key(false).await {
            Ok(Some(k)) => k,
            Ok(None) if entries.is_empty() && anchor.is_none() => {
                return Ok(audit::verify_digests(&[], None, &[]));
            }
            _ => {
                return Ok(bad_report(
                    0,
                    entries.first().map_or(0, |e| e.seq),
                    "the audit key is missing or was replaced: no entry can be checked",
                    None,
                ))
            }
        };
        let digests = digests_of(&entries, &key).await?;
        Ok(audit::verify_digests(&entries, anchor.as_ref(), &digests))
    }

    /// The newest audit entries, newest last (at most `limit`).
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let values = self.db().all(Table::Audit).await?;
        let skip = values.len().saturating_sub(limit);
        values[skip..].iter().map(parse_audit).collect()
    }

    // -----------------------------------------------------------------------------------------
    // The ledger.

    /// A call's bookkeeping begins: its id and start time.
    pub fn start(
        &self,
        provider: &str,
        model: &str,
        key_id: Option<&str>,
        kind: CallKind,
    ) -> Result<CallStart> {
        Ok(CallStart {
            id: audit::hex(&crypto::random_bytes(12)?),
            at: now_ms(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: key_id.map(str::to_owned),
            kind,
        })
    }

    /// Writes a finished call to the ledger, with a "key used" audit entry when a stored key
    /// was used, in one transaction: a page closed mid-call leaves nothing half-written.
    pub async fn finish(&self, call: &CallStart, end: &CallEnd) -> Result<()> {
        let status = match end.error {
            None => CallStatus::Ok,
            Some(ErrorCode::StreamAborted) => CallStatus::Aborted,
            Some(_) => CallStatus::Error,
        };
        let entry = LedgerEntry {
            id: call.id.clone(),
            at: call.at,
            provider: call.provider.clone(),
            model: call.model.clone(),
            key_id: call.key_id.clone(),
            kind: call.kind,
            input_tokens: end.input_tokens,
            output_tokens: end.output_tokens,
            cost_femto: end.cost_femto,
            reported_cost_usd: end.reported_cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
            status,
            error_code: end.error,
            duration_ms: (now_ms() - call.at).max(0.0) as u64,
            retries: end.retries,
        };
        let record = store::json_record(
            "id",
            &entry.id.as_str().into(),
            &to_json(&entry)?,
            &[("at", &JsValue::from_f64(entry.at))],
        )?;
        let op = Op::Put(Table::Ledger, record);
        let used = call
            .key_id
            .as_ref()
            .filter(|_| call.kind != CallKind::Validate)
            .map(|key_id| AuditEvent::KeyUsed {
                provider: call.provider.clone(),
                key_id: key_id.clone(),
                model: call.model.clone(),
            });
        let written = match used {
            Some(event) => match self.append(event, std::slice::from_ref(&op)).await {
                Ok(()) => Ok(()),
                // The call happened: its cost is kept even if the audit entry cannot be.
                Err(_) => self.db().apply(&[op]).await,
            },
            None => self.db().apply(&[op]).await,
        };
        self.release(&call.id);
        if !self.shared.pruned.get() {
            let _ = self.prune().await;
        }
        written
    }

    async fn ledger(&self, since: Option<f64>) -> Result<Vec<LedgerEntry>> {
        let values = match since {
            Some(at) => self.db().ledger_since(at).await?,
            None => self.db().all(Table::Ledger).await?,
        };
        // An unreadable entry is left out of sums rather than failing every report.
        Ok(values
            .iter()
            .filter_map(|v| store::json_body(v).and_then(|j| serde_json::from_str(&j).ok()))
            .collect())
    }

    async fn daily(&self) -> Result<Vec<DailyAggregate>> {
        let values = self.db().all(Table::Daily).await?;
        Ok(values
            .iter()
            .filter_map(|v| store::json_body(v).and_then(|j| serde_json::from_str(&j).ok()))
            .collect())
    }

    /// Retention: raw entries older than 30 days fold into daily aggregates, aggregates older
    /// than a year go; one transaction. Gives back the records as they are after it.
    pub async fn prune(&self) -> Result<(Vec<LedgerEntry>, Vec<DailyAggregate>)> {
        self.shared.pruned.set(true);
        let mut entries = self.ledger(None).await?;
        let mut daily = self.daily().await?;
        let plan = usage::plan_retention(&entries, &daily, now_ms());
        if plan.is_empty() {
            return Ok((entries, daily));
        }
        let mut ops = Vec::new();
        for id in &plan.delete_entry_ids {
            ops.push(Op::Delete(Table::Ledger, id.as_str().into()));
        }
        for agg in &plan.upsert_daily {
            let rec = store::json_record("id", &agg.id.as_str().into(), &to_json(agg)?, &[])?;
            ops.push(Op::Put(Table::Daily, rec));
        }
        for id in &plan.delete_daily_ids {
            ops.push(Op::Delete(Table::Daily, id.as_str().into()));
        }
        self.db().apply(&ops).await?;
        usage::apply_retention(&mut entries, &mut daily, &plan);
        Ok((entries, daily))
    }

    /// `usageReport(query)`; the page's time zone unless the query names one.
    pub async fn usage_report(&self, mut query: ReportQuery) -> Result<UsageReport> {
        if query.tz_offset_minutes.is_none() {
            query.tz_offset_minutes = Some(local_tz_offset_minutes());
        }
        // Pruning reads every record anyway: the report is made from what it leaves.
        let (entries, daily) = match self.prune().await {
            Ok(records) => records,
            // Storage refused the pruning write: report from the records as they are.
            Err(_) => (self.ledger(None).await?, self.daily().await?),
        };
        usage::usage_report(&entries, &daily, &query)
    }

    /// `complianceReport()`.
    pub async fn compliance_report(&self) -> Result<ComplianceReport> {
        let entries = self.ledger(None).await?;
        let daily = self.daily().await?;
        let audit: Vec<AuditEntry> = self
            .db()
            .all(Table::Audit)
            .await?
            .iter()
            .filter_map(|v| parse_audit(v).ok())
            .collect();
        Ok(audit::compliance_report(&audit, &entries, &daily))
    }

    // -----------------------------------------------------------------------------------------
    // Budgets.

    /// The budgets set.
    pub async fn budgets(&self) -> Result<Vec<Budget>> {
        match self
            .db()
            .get(Table::Settings, &SETTING_BUDGETS.into())
            .await?
        {
            None => Ok(Vec::new()),
            Some(v) => store::json_body(&v)
                .and_then(|j| serde_json::from_str(&j).ok())
                .ok_or_else(|| corrupt("budget")),
        }
    }

    /// Sets, changes or removes a budget; the change is audited in the same transaction.
    pub async fn set_budget(&self, spec: &BudgetSpec) -> Result<Vec<Budget>> {
        let mut budgets = self.budgets().await.unwrap_or_default();
        budget::set_budget(&mut budgets, spec)?;
        let rec = store::json_record("id", &SETTING_BUDGETS.into(), &to_json(&budgets)?, &[])?;
        let op = Op::Put(Table::Settings, rec);
        let event = AuditEvent::BudgetChanged {
            budget_id: Budget::id_for(&spec.scope),
        };
        if self.append(event, std::slice::from_ref(&op)).await.is_err() {
            self.db().apply(&[op]).await?;
        }
        Ok(budgets)
    }

    async fn spent(&self) -> Result<SpentIndex> {
        let now = now_ms();
        // A month and a day back covers "this month" in any time zone.
        let entries = self.ledger(Some(now - 32.0 * MS_PER_DAY)).await?;
        let daily = self.daily().await?;
        SpentIndex::build(&entries, &daily, now, local_tz_offset_minutes())
    }

    /// Refuses, before the network, a call whose estimated cost would pass a budget; a call
    /// let through is reserved (as `call`) until [`Meter::finish`] writes it. Reads the ledger
    /// afresh, so spending in other tabs counts too, and adds this page's calls in flight.
    pub async fn check_budget(&self, call: &CallStart, estimate_femto: u128) -> Result<()> {
        let (provider, key_id) = (call.provider.as_str(), call.key_id.as_deref());
        let budgets = self.budgets().await?;
        let mut over = None;
        if !budgets.is_empty() {
            let mut spent = self.spent().await?;
            // No await from here to the reservation: no other check of this page can slip
            // between them.
            let now = now_ms();
            for p in self.shared.pending.borrow().iter() {
                spent.record(&in_flight(p, now));
            }
            over = budget::find_exceeded(&budgets, &spent, provider, key_id, estimate_femto, now);
        }
        let Some(over) = over else {
            self.shared.pending.borrow_mut().push(Pending {
                id: call.id.clone(),
                provider: provider.to_owned(),
                key_id: key_id.map(str::to_owned),
                femto: u64::try_from(estimate_femto).unwrap_or(u64::MAX),
            });
            return Ok(());
        };
        let _ = self
            .audit(AuditEvent::BudgetRefused {
                provider: provider.to_owned(),
                key_id: key_id.map(str::to_owned),
                budget_id: over.budget_id.clone(),
                limit: over.period,
            })
            .await;
        Err(over.to_error(provider))
    }

    /// Drops a call's reservation (it was written, or never went out).
    pub fn release(&self, call_id: &str) {
        self.shared.pending.borrow_mut().retain(|p| p.id != call_id);
    }

    /// Each budget's limits with what is spent and left today and this month.
    pub async fn budget_status(&self) -> Result<Vec<BudgetStatus>> {
        let budgets = self.budgets().await?;
        let spent = self.spent().await?;
        Ok(budget::remaining(&budgets, &spent, now_ms()))
    }

    // -----------------------------------------------------------------------------------------
    // Rate limits.

    async fn load_limits(&self) -> Result<()> {
        if self.shared.limits_loaded.get() {
            return Ok(());
        }
        let settings: Vec<RateLimitSetting> = match self
            .db()
            .get(Table::Settings, &SETTING_LIMITS.into())
            .await?
        {
            None => Vec::new(),
            Some(v) => store::json_body(&v)
                .and_then(|j| serde_json::from_str(&j).ok())
                .ok_or_else(|| corrupt("rate limit"))?,
        };
        self.shared.limiter.borrow_mut().set_limits(&settings)?;
        self.shared.limits_loaded.set(true);
        Ok(())
    }

    /// Sets (or with no limit, removes) a rate limit, and keeps it.
    pub async fn set_rate_limit(
        &self,
        setting: &RateLimitSetting,
    ) -> Result<Vec<RateLimitSetting>> {
        self.load_limits().await?;
        let key = LimitKey::new(&setting.provider, setting.key_id.as_deref());
        let mut trial = self.shared.limiter.borrow().clone();
        trial.set_limit(&key, Some(setting.limit))?;
        let settings = trial.settings();
        let rec = store::json_record("id", &SETTING_LIMITS.into(), &to_json(&settings)?, &[])?;
        self.db().apply(&[Op::Put(Table::Settings, rec)]).await?;
        *self.shared.limiter.borrow_mut() = trial;
        Ok(settings)
    }

    /// The rate limits set.
    pub async fn rate_limits(&self) -> Result<Vec<RateLimitSetting>> {
        self.load_limits().await?;
        Ok(self.shared.limiter.borrow().settings())
    }

    /// May a call for `key` needing about `tokens` go now?
    pub async fn acquire(&self, key: &LimitKey, tokens: u64) -> Result<Decision> {
        self.load_limits().await?;
        Ok(self
            .shared
            .limiter
            .borrow_mut()
            .acquire(key, now_ms(), tokens))
    }

    /// Feeds the provider's rate-limit headers of an answer to the limiter.
    pub fn observe_headers(&self, key: &LimitKey, get: impl Fn(&str) -> Option<String>) {
        self.shared
            .limiter
            .borrow_mut()
            .observe_headers(key, get, now_ms());
    }

    /// A provider's Retry-After: later calls for `key` wait it out too.
    pub fn observe_retry_after(&self, key: &LimitKey, ms: u64) {
        self.shared
            .limiter
            .borrow_mut()
            .observe_retry_after(key, ms, now_ms());
    }
}

/// A reserved call as a ledger entry, for the spent index.
fn in_flight(p: &Pending, now: f64) -> LedgerEntry {
    LedgerEntry {
        id: p.id.clone(),
        at: now,
        provider: p.provider.clone(),
        model: String::new(),
        key_id: p.key_id.clone(),
        kind: CallKind::Chat,
        input_tokens: 0,
        output_tokens: 0,
        cost_femto: p.femto,
        reported_cost_usd: None,
        status: CallStatus::Ok,
        error_code: None,
        duration_ms: 0,
        retries: 0,
    }
}

fn parse_audit(v: &JsValue) -> Result<AuditEntry> {
    store::json_body(v)
        .and_then(|j| serde_json::from_str(&j).ok())
        .ok_or_else(|| corrupt("audit"))
}

async fn digests_of(entries: &[AuditEntry], key: &CryptoKey) -> Result<Vec<[u8; 32]>> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        out.push(crypto::hmac_with_key(key, &e.bytes()).await?);
    }
    Ok(out)
}

fn bad_report(checked: u64, seq: u64, problem: &str, last: Option<Anchor>) -> VerifyReport {
    VerifyReport {
        ok: false,
        checked,
        first_bad_seq: Some(seq),
        problem: Some(problem.to_owned()),
        last,
    }
}
