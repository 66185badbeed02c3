//! The audit log: an append-only, hash-chained record of security events.
//!
//! Each [`AuditEntry`] holds a sequence number, a time, an [`AuditEvent`], a hashed session id,
//! the hash of the entry before it (`prev`) and its own hash over all of that. Changing,
//! removing, inserting or reordering any entry breaks the chain at that point, and
//! [`verify`] says where. What the log never holds: a key, a prompt, a response, a passphrase.
//! Events name providers, key ids (the vault's random ids, not keys), models and counts.
//!
//! The hash function is passed in (`impl Fn(&[u8]) -> [u8; 32]`, SHA-256): the browser computes
//! it with WebCrypto, which is asynchronous, so the steps are also offered apart:
//! [`next_draft`] → [`entry_bytes`] → digest in JavaScript → [`AuditDraft::seal`]; and for
//! verification, [`AuditEntry::bytes`] of every entry, all digested at once
//! (`Promise.all`), then [`verify_digests`]. The function may also be keyed (HMAC-SHA-256 with a
//! key from the vault): an unkeyed chain shows every accidental or partial edit, but someone
//! able to rewrite the whole store could recompute every hash after their edit; a keyed one
//! they could not.
//!
//! The bytes hashed are a fixed, versioned serialization ([`entry_bytes`]): the JSON of
//! `{"v":1,"seq":…,"at":…,"event":{…},"session":"…","prev":"…"}` in exactly that field order,
//! serde_json's output being deterministic for these types (no maps, shortest round-trip
//! floats).
//!
//! Rotation ([`plan_rotation`]): past [`MAX_ENTRIES`] entries the oldest are dropped, keeping the
//! newest [`KEEP_ENTRIES`], and an [`Anchor`] (sequence number and hash of the last dropped
//! entry) is stored apart, so verification chains across the cut: the first kept entry's `prev`
//! must be the anchor's hash. A log that starts past sequence 0 without an anchor has lost its
//! head. Losing the newest entries (the tail) cannot be seen from the log alone: compare
//! [`VerifyReport::last`] with a copy kept elsewhere for that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::budget::BudgetPeriod;
use crate::core::usage::{
    parse_day, AggregateIndex, CallStatus, DailyAggregate, LedgerEntry, MS_PER_DAY,
};
use crate::core::vault_format::Mode;

/// Past this many entries, the log is rotated.
pub const MAX_ENTRIES: usize = 10_000;
/// How many entries a rotation keeps.
pub const KEEP_ENTRIES: usize = 5_000;
/// Hex digits of the hashed session id kept (64 bits: enough to tell a page's entries apart,
/// too few to matter should the id ever be guessable).
pub const SESSION_HEX_LEN: usize = 16;
/// The `prev` of the first entry of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The version of the hashed serialization.
const FORMAT_VERSION: u32 = 1;

/// Why the vault locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LockReason {
    /// `vault.lock()`.
    Manual,
    /// The idle timeout.
    Idle,
}

/// A security event. Never a key, a prompt, a response or a passphrase.
///
/// Only written, never read back as this type: stored entries keep their event as the JSON
/// text that was hashed ([`EventJson`]). serde's code to read an internally tagged enum back
/// weighed some 50 KB of wasm, and verification needs the exact bytes anyway.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum AuditEvent {
    /// A vault was created.
    VaultCreated {
        /// Its protection mode.
        mode: Mode,
    },
    /// The vault was unlocked.
    Unlocked,
    /// An unlock failed (wrong passphrase).
    UnlockFailed,
    /// The vault was locked.
    Locked {
        /// Why.
        reason: LockReason,
    },
    /// A key was stored.
    KeyAdded {
        /// Provider id.
        provider: String,
        /// The stored key's id.
        key_id: String,
    },
    /// A key was checked with its provider.
    KeyValidated {
        /// Provider id.
        provider: String,
        /// The stored key's id; absent when the key checked was not (yet) stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        /// Whether the provider accepted it.
        valid: bool,
    },
    /// A key was removed.
    KeyRemoved {
        /// Provider id.
        provider: String,
        /// The removed key's id.
        key_id: String,
    },
    /// A key was used for a call.
    KeyUsed {
        /// Provider id.
        provider: String,
        /// The key's id.
        key_id: String,
        /// The model called.
        model: String,
    },
    /// A key was replaced by a new one under the same id.
    KeyRotated {
        /// Provider id.
        provider: String,
        /// The key's id.
        key_id: String,
    },
    /// The passphrase was changed.
    PassphraseChanged,
    /// A backup was exported.
    BackupExported {
        /// How many keys it holds.
        keys: u32,
    },
    /// A backup was imported.
    BackupImported {
        /// How many keys it brought.
        keys: u32,
    },
    /// A budget was set, changed or removed.
    BudgetChanged {
        /// The budget's id (`provider:openai`, `key:<id>`).
        budget_id: String,
    },
    /// A call was refused before the network because it would pass a budget.
    BudgetRefused {
        /// Provider id.
        provider: String,
        /// The key's id, when a stored key was to be used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        /// The budget's id.
        budget_id: String,
        /// Which of its limits.
        limit: BudgetPeriod,
    },
}

/// An entry before its hash: what [`entry_bytes`] serializes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct AuditDraft {
    /// 0 for the first entry ever, then one more each time.
    pub seq: u64,
    /// When, ms since the epoch.
    pub at: f64,
    /// What happened.
    pub event: AuditEvent,
    /// The hashed session id ([`session_hash`]).
    pub session: String,
    /// The hash of the entry before, hex; [`GENESIS`] for the first.
    pub prev: String,
}

/// An event as the JSON text that was hashed (`{"type":"keyUsed",…}`), kept verbatim: read
/// and written back as raw JSON, so a stored entry hashes to exactly the bytes it was sealed
/// with, and any edit of the text shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventJson(String);

impl EventJson {
    /// The JSON text of an event.
    pub fn of(event: &AuditEvent) -> EventJson {
        // Serializing plain structs and strings cannot fail (see `canonical`).
        EventJson(serde_json::to_string(event).unwrap_or_default())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The event's `type` (`keyUsed`, `unlockFailed`, …), if the text is an event at all.
    pub fn kind(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: String,
        }
        serde_json::from_str::<Kind>(&self.0).ok().map(|k| k.kind)
    }
}

impl Serialize for EventJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => Err(serde::ser::Error::custom("an audit event is not JSON")),
        }
    }
}

impl<'de> Deserialize<'de> for EventJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        Ok(EventJson(raw.get().to_owned()))
    }
}

/// An entry as stored (primary key `seq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// 0 for the first entry ever, then one more each time.
    pub seq: u64,
    /// When, ms since the epoch.
    pub at: f64,
    /// What happened, as the JSON text that was hashed.
    pub event: EventJson,
    /// The hashed session id.
    pub session: String,
    /// The hash of the entry before, hex.
    pub prev: String,
    /// The hash of this entry's [`entry_bytes`], hex.
    pub hash: String,
}

/// Where the kept log joins what rotation dropped: the last dropped entry's `seq` and `hash`.
/// Stored apart from the entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    /// The last dropped entry's sequence number.
    pub seq: u64,
    /// Its hash, hex.
    pub hash: String,
}

/// The fixed layout that is hashed. Field order is part of the format.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u32,
    seq: u64,
    at: f64,
    event: &'a EventJson,
    session: &'a str,
    prev: &'a str,
}

fn canonical(seq: u64, at: f64, event: &EventJson, session: &str, prev: &str) -> Vec<u8> {
    let c = Canonical {
        v: FORMAT_VERSION,
        seq,
        at,
        event,
        session,
        prev,
    };
    // Serializing plain structs, strings and numbers to a Vec cannot fail (serde_json fails
    // only on maps with non-string keys and on I/O errors).
    serde_json::to_vec(&c).unwrap_or_default()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out
}

/// The session field: hex of the hash of the page's random session id, cut to
/// [`SESSION_HEX_LEN`] digits. The id itself is never stored.
pub fn session_hash(page_session_id: &str, hash_fn: impl Fn(&[u8]) -> [u8; 32]) -> String {
    let mut h = hex(&hash_fn(page_session_id.as_bytes()));
    h.truncate(SESSION_HEX_LEN);
    h
}

/// The bytes to hash for an entry: see the module docs for the layout.
pub fn entry_bytes(draft: &AuditDraft) -> Vec<u8> {
    canonical(
        draft.seq,
        draft.at,
        &EventJson::of(&draft.event),
        &draft.session,
        &draft.prev,
    )
}

impl AuditDraft {
    /// The entry, given the digest of [`entry_bytes`] of this draft.
    pub fn seal(self, digest: [u8; 32]) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            at: self.at,
            event: EventJson::of(&self.event),
            session: self.session,
            prev: self.prev,
            hash: hex(&digest),
        }
    }
}

impl AuditEntry {
    /// The bytes its hash covers (everything but the hash), as [`entry_bytes`] gives them.
    pub fn bytes(&self) -> Vec<u8> {
        canonical(self.seq, self.at, &self.event, &self.session, &self.prev)
    }

    /// The anchor that stands for this entry once rotation drops it.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The next entry to write after `prev` (the newest stored entry, or `None` for a new log),
/// not yet hashed.
pub fn next_draft(
    prev: Option<&AuditEntry>,
    event: AuditEvent,
    at: f64,
    session_hash: &str,
) -> AuditDraft {
    let (seq, prev) = match prev {
        Some(p) => (p.seq.saturating_add(1), p.hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    AuditDraft {
        seq,
        at,
        event,
        session: session_hash.to_owned(),
        prev,
    }
}

/// The next entry after `prev`, hashed: [`next_draft`], [`entry_bytes`], `hash_fn`, seal.
pub fn append(
    prev: Option<&AuditEntry>,
    event: AuditEvent,
    at: f64,
    session_hash: &str,
    hash_fn: impl Fn(&[u8]) -> [u8; 32],
) -> AuditEntry {
    let draft = next_draft(prev, event, at, session_hash);
    let digest = hash_fn(&entry_bytes(&draft));
    draft.seal(digest)
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Whether the whole log checks out.
    pub ok: bool,
    /// Entries checked and found intact before the first problem (all of them when `ok`).
    pub checked: u64,
    /// The `seq` of the stored entry where the chain breaks (for a missing entry, the one
    /// found in its place).
    pub first_bad_seq: Option<u64>,
    /// What is wrong there, for people.
    pub problem: Option<String>,
    /// The newest intact entry, to compare with a copy of the head kept elsewhere.
    pub last: Option<Anchor>,
}

impl VerifyReport {
    fn bad(checked: u64, seq: u64, problem: String, last: Option<Anchor>) -> Self {
        VerifyReport {
            ok: false,
            checked,
            first_bad_seq: Some(seq),
            problem: Some(problem),
            last,
        }
    }
}

/// Checks a log: `entries` as stored, in `seq` order, with the anchor of the last rotation if
/// there was one. Finds the first edited entry (its hash no longer matches), removed one (a
/// gap in `seq`, or a `prev` that does not match), inserted or reordered one (a `seq` out of
/// turn, or a `prev` that does not match), and a head cut off without an anchor.
pub fn verify(
    entries: &[AuditEntry],
    anchor: Option<&Anchor>,
    hash_fn: impl Fn(&[u8]) -> [u8; 32],
) -> VerifyReport {
    let digests: Vec<[u8; 32]> = entries.iter().map(|e| hash_fn(&e.bytes())).collect();
    verify_digests(entries, anchor, &digests)
}

/// [`verify`] with the digests computed beforehand: `digests[i]` is the hash of
/// `entries[i].bytes()`, so that the browser can hash every entry at once.
pub fn verify_digests(
    entries: &[AuditEntry],
    anchor: Option<&Anchor>,
    digests: &[[u8; 32]],
) -> VerifyReport {
    let (mut expected_seq, mut expected_prev) = match anchor {
        Some(a) => (a.seq.saturating_add(1), a.hash.as_str()),
        None => (0, GENESIS),
    };
    if digests.len() != entries.len() {
        return VerifyReport::bad(
            0,
            expected_seq,
            format!(
                "{} digests were given for {} entries",
                digests.len(),
                entries.len()
            ),
            None,
        );
    }
    if entries.is_empty() {
        if let Some(a) = anchor {
            // Rotation always keeps entries: an anchor with nothing after it means they went.
            return VerifyReport::bad(
                0,
                expected_seq,
                format!(
                    "the log is empty although it was rotated after entry {}: its entries were removed",
                    a.seq
                ),
                None,
            );
        }
    }
    let mut last: Option<Anchor> = None;
    let mut checked = 0u64;
    for (entry, digest) in entries.iter().zip(digests) {
        let seq = entry.seq;
        if seq != expected_seq {
            let problem = if checked == 0 && anchor.is_none() {
                format!(
                    "the log starts at entry {seq} and there is no anchor: entries were removed from its head"
                )
            } else if checked == 0 {
                format!(
                    "the log should go on at entry {expected_seq} after the rotation anchor but starts at {seq}"
                )
            } else if seq > expected_seq {
                format!(
                    "entry {expected_seq} is missing (found {seq} in its place): entries were removed or reordered"
                )
            } else {
                format!(
                    "entry {seq} comes where {expected_seq} should: entries were inserted or reordered"
                )
            };
            return VerifyReport::bad(checked, seq, problem, last);
        }
        if entry.prev != expected_prev {
            let problem = if checked == 0 && anchor.is_some() {
                format!("entry {seq} does not follow on from the rotation anchor")
            } else {
                format!(
                    "entry {seq} does not follow on from the entry before it: an entry was removed, inserted or edited"
                )
            };
            return VerifyReport::bad(checked, seq, problem, last);
        }
        if hex(digest) != entry.hash {
            return VerifyReport::bad(
                checked,
                seq,
                format!("entry {seq} does not match its hash: it was edited"),
                last,
            );
        }
        expected_seq = seq.saturating_add(1);
        expected_prev = &entry.hash;
        checked += 1;
        last = Some(entry.anchor());
    }
    VerifyReport {
        ok: true,
        checked,
        first_bad_seq: None,
        problem: None,
        last,
    }
}

/// What a rotation does: delete every entry up to `deleteThroughSeq` and store `anchor` in
/// place of the previous one, in one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPlan {
    /// Entries with `seq` up to this one (included) are dropped.
    pub delete_through_seq: u64,
    /// The anchor to store.
    pub anchor: Anchor,
}

/// The rotation due for `entries` (in `seq` order): `None` while there are at most
/// [`MAX_ENTRIES`], else drop all but the newest [`KEEP_ENTRIES`].
///
/// Verify before rotating: what rotation drops can no longer be checked, so a broken chain in
/// it would be buried rather than reported.
pub fn plan_rotation(entries: &[AuditEntry]) -> Option<RotationPlan> {
    if entries.len() <= MAX_ENTRIES {
        return None;
    }
    let last_dropped = entries.get(entries.len() - KEEP_ENTRIES - 1)?;
    Some(RotationPlan {
        delete_through_seq: last_dropped.seq,
        anchor: last_dropped.anchor(),
    })
}

/// What `complianceReport()` returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReport {
    /// Calls in the ledger (raw entries and daily aggregates, each call once).
    pub calls: u64,
    /// Calls that completed.
    pub succeeded: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Calls the caller aborted.
    pub aborted: u64,
    /// `succeeded / calls`, from 0 to 1; `null` without calls.
    pub success_rate: Option<f64>,
    /// Calls per provider id.
    pub by_provider: BTreeMap<String, u64>,
    /// Failed and aborted calls per error code (`RATE_LIMITED`, `STREAM_ABORTED`, ...).
    pub error_types: BTreeMap<String, u64>,
    /// Failed unlocks in the audit log.
    pub unlock_failures: u64,
    /// Calls refused by a budget, from the audit log.
    pub budget_refusals: u64,
    /// Key uses in the audit log.
    pub key_uses: u64,
    /// Audit entries read.
    pub audit_entries: u64,
    /// The earliest time covered (ms since the epoch; a day's start for aggregates).
    pub from: Option<f64>,
    /// The latest time covered.
    pub to: Option<f64>,
}

/// `complianceReport()`: call counts, success rate, provider distribution and error types from
/// the ledger (raw entries and aggregates, each call once), and security counts from the
/// audit log.
pub fn compliance_report(
    audit: &[AuditEntry],
    ledger: &[LedgerEntry],
    daily: &[DailyAggregate],
) -> ComplianceReport {
    let mut r = ComplianceReport::default();
    let times = audit
        .iter()
        .map(|e| e.at)
        .chain(ledger.iter().map(|e| e.at))
        .chain(
            daily
                .iter()
                .filter_map(|a| parse_day(&a.day))
                .map(|day| day as f64 * MS_PER_DAY),
        )
        .filter(|at| at.is_finite());
    for at in times {
        r.from = Some(r.from.map_or(at, |f| f.min(at)));
        r.to = Some(r.to.map_or(at, |t| t.max(at)));
    }

    fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
        let slot = map.entry(key.to_owned()).or_default();
        *slot = slot.saturating_add(n);
    }
    for a in daily {
        r.calls = r.calls.saturating_add(a.calls);
        r.errors = r.errors.saturating_add(a.errors);
        r.aborted = r.aborted.saturating_add(a.aborted);
        bump(&mut r.by_provider, &a.provider, a.calls);
        for (code, n) in &a.error_codes {
            bump(&mut r.error_types, code, *n);
        }
    }
    let folded = AggregateIndex::new(daily);
    for e in ledger.iter().filter(|e| !folded.covers(e)) {
        r.calls = r.calls.saturating_add(1);
        match e.status {
            CallStatus::Ok => {}
            CallStatus::Error => r.errors = r.errors.saturating_add(1),
            CallStatus::Aborted => r.aborted = r.aborted.saturating_add(1),
        }
        bump(&mut r.by_provider, &e.provider, 1);
        if let Some(code) = e.error_code {
            bump(&mut r.error_types, code.as_str(), 1);
        }
    }
    r.succeeded = r.calls.saturating_sub(r.errors).saturating_sub(r.aborted);
    r.success_rate = (r.calls > 0).then(|| r.succeeded as f64 / r.calls as f64);

    for e in audit {
        r.audit_entries += 1;
        match e.event.kind().as_deref() {
            Some("unlockFailed") => r.unlock_failures += 1,
            Some("budgetRefused") => r.budget_refusals += 1,
            Some("keyUsed") => r.key_uses += 1,
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests;
