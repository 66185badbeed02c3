use super::*;
use crate::core::error::ErrorCode;
use crate::core::usage::{CallKind, MS_PER_DAY};

/// SHA-256: the RustCrypto implementation natively (a dev-dependency there). The wasm32 build
/// of the tests only has to compile (they run natively), so it gets a stand-in.
#[cfg(not(target_arch = "wasm32"))]
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(target_arch = "wasm32")]
fn sha256(bytes: &[u8]) -> [u8; 32] {
    // FNV-1a over four lanes: not cryptographic, only distinct enough for the tests.
    let mut out = [0u8; 32];
    for (lane, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lane as u64;
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_be_bytes());
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_test_hash_is_sha256() {
    // FIPS 180-2, appendix B.1: SHA-256("abc").
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

const T0: f64 = 1_795_428_930_000.0;

fn events() -> Vec<AuditEvent> {
    use AuditEvent::*;
    vec![
        VaultCreated {
            mode: Mode::Passphrase,
        },
        Unlocked,
        KeyAdded {
            provider: "openai".into(),
            key_id: "k1".into(),
        },
        KeyValidated {
            provider: "openai".into(),
            key_id: Some("k1".into()),
            valid: true,
        },
        KeyValidated {
            provider: "anthropic".into(),
            key_id: None,
            valid: false,
        },
        KeyUsed {
            provider: "openai".into(),
            key_id: "k1".into(),
            model: "gpt-4o".into(),
        },
        BudgetChanged {
            budget_id: "provider:openai".into(),
        },
        BudgetRefused {
            provider: "openai".into(),
            key_id: Some("k1".into()),
            budget_id: "provider:openai".into(),
            limit: BudgetPeriod::Daily,
        },
        KeyRotated {
            provider: "openai".into(),
            key_id: "k1".into(),
        },
        BackupExported { keys: 3 },
        Locked {
            reason: LockReason::Idle,
        },
        UnlockFailed,
        Unlocked,
        PassphraseChanged,
        BackupImported { keys: 2 },
        KeyRemoved {
            provider: "openai".into(),
            key_id: "k1".into(),
        },
        Locked {
            reason: LockReason::Manual,
        },
    ]
}

fn chain(n: usize) -> Vec<AuditEntry> {
    let session = session_hash("page-7f3a", sha256);
    let evs = events();
    let mut log: Vec<AuditEntry> = Vec::with_capacity(n);
    for i in 0..n {
        let ev = evs[i % evs.len()].clone();
        let e = append(log.last(), ev, T0 + i as f64 * 1_000.0, &session, sha256);
        log.push(e);
    }
    log
}

#[test]
fn a_fresh_chain_verifies() {
    let log = chain(40);
    assert_eq!(log[0].seq, 0);
    assert_eq!(log[0].prev, GENESIS);
    for w in log.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert_eq!(w[1].prev, w[0].hash);
        assert_eq!(w[1].hash.len(), 64);
    }
    let r = verify(&log, None, sha256);
    assert_eq!(
        r,
        VerifyReport {
            ok: true,
            checked: 40,
            first_bad_seq: None,
            problem: None,
            last: Some(log[39].anchor()),
        }
    );
    assert_eq!(verify(&[], None, sha256).checked, 0);
    assert!(verify(&[], None, sha256).ok);
}

#[test]
fn the_hashed_bytes_are_a_fixed_format() {
    let draft = AuditDraft {
        seq: 7,
        at: 1_795_428_930_000.0,
        event: AuditEvent::KeyUsed {
            provider: "openai".into(),
            key_id: "k1".into(),
            model: "gpt-4o".into(),
        },
        session: "0123456789abcdef".into(),
        prev: GENESIS.into(),
    };
    let bytes = entry_bytes(&draft);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        format!(
            r#"{{"v":1,"seq":7,"at":1795428930000.0,"event":{{"type":"keyUsed","provider":"openai","keyId":"k1","model":"gpt-4o"}},"session":"0123456789abcdef","prev":"{GENESIS}"}}"#
        )
    );
    // The stepwise path of the browser (draft, bytes, digest, seal) gives what `append` gives.
    let sealed = draft.clone().seal(sha256(&bytes));
    assert_eq!(sealed.bytes(), bytes);
    let prev = AuditEntry {
        seq: 6,
        hash: GENESIS.into(),
        ..sealed.clone()
    };
    let appended = append(
        Some(&prev),
        draft.event.clone(),
        draft.at,
        &draft.session,
        sha256,
    );
    assert_eq!(appended, sealed);
    assert_eq!(
        next_draft(Some(&prev), draft.event.clone(), draft.at, &draft.session),
        draft
    );
    // And a stored entry survives a trip through JSON (IndexedDB) with the same bytes.
    let json = serde_json::to_string(&sealed).unwrap();
    let back: AuditEntry = serde_json::from_str(&json).unwrap();
    assert_eq!(back.bytes(), bytes);
}

#[test]
fn batch_digests_verify_like_the_hash_function() {
    let log = chain(25);
    let digests: Vec<[u8; 32]> = log.iter().map(|e| sha256(&e.bytes())).collect();
    assert_eq!(
        verify_digests(&log, None, &digests),
        verify(&log, None, sha256)
    );
    let r = verify_digests(&log, None, &digests[..24]);
    assert!(!r.ok);
    assert!(r.problem.unwrap().contains("24 digests"));
}

fn tampered(f: impl Fn(&mut Vec<AuditEntry>)) -> VerifyReport {
    let mut log = chain(20);
    f(&mut log);
    verify(&log, None, sha256)
}

#[test]
fn every_kind_of_tampering_is_found() {
    type Case = (&'static str, fn(&mut Vec<AuditEntry>), u64, &'static str);
    let cases: &[Case] = &[
        (
            "edit an event",
            |l| {
                l[5].event = EventJson::of(&AuditEvent::KeyUsed {
                    provider: "openai".into(),
                    key_id: "k2".into(),
                    model: "gpt-4o".into(),
                })
            },
            5,
            "does not match its hash",
        ),
        (
            "edit a time",
            |l| l[8].at += 1.0,
            8,
            "does not match its hash",
        ),
        (
            "edit a session",
            |l| l[3].session = "ffffffffffffffff".into(),
            3,
            "does not match its hash",
        ),
        (
            "edit an event and recompute its hash",
            |l| {
                l[4].event = EventJson::of(&AuditEvent::Unlocked);
                l[4].hash = hex(&sha256(&l[4].bytes()));
            },
            5,
            "does not follow on",
        ),
        (
            "remove an entry",
            |l| {
                l.remove(9);
            },
            10,
            "entry 9 is missing (found 10 in its place)",
        ),
        (
            "remove an entry and renumber the rest",
            |l| {
                l.remove(9);
                for e in l.iter_mut().skip(9) {
                    e.seq -= 1;
                }
            },
            9,
            "does not follow on",
        ),
        (
            "remove the head",
            |l| {
                l.drain(..3);
            },
            3,
            "no anchor",
        ),
        (
            "insert a forged entry",
            |l| {
                let forged = append(
                    Some(&l[6]),
                    AuditEvent::Unlocked,
                    l[6].at + 1.0,
                    &l[6].session.clone(),
                    sha256,
                );
                l.insert(7, forged);
            },
            7,
            "entry 7 comes where 8 should",
        ),
        (
            "reorder two entries",
            |l| l.swap(11, 12),
            12,
            "entry 11 is missing (found 12 in its place): entries were removed or reordered",
        ),
        (
            "reorder two entries and swap their numbers",
            |l| {
                l.swap(11, 12);
                let s = l[11].seq;
                l[11].seq = l[12].seq;
                l[12].seq = s;
            },
            11,
            "does not follow on",
        ),
        (
            "duplicate an entry",
            |l| {
                let copy = l[2].clone();
                l.insert(3, copy);
            },
            2,
            "entry 2 comes where 3 should",
        ),
        (
            "replace a hash with garbage",
            |l| l[0].hash = "not hex".into(),
            0,
            "does not match its hash",
        ),
    ];
    for (name, f, bad_seq, phrase) in cases {
        let r = tampered(f);
        assert!(!r.ok, "{name}");
        assert_eq!(r.first_bad_seq, Some(*bad_seq), "{name}: {r:?}");
        let problem = r.problem.unwrap_or_default();
        assert!(problem.contains(phrase), "{name}: {problem}");
    }
    // Dropping the newest entries leaves a valid but shorter chain: the report's `last` is
    // what a copy of the head kept elsewhere would be compared with.
    let r = tampered(|l| l.truncate(15));
    assert!(r.ok);
    assert_eq!(r.last.map(|a| a.seq), Some(14));
}

#[test]
fn rotation_keeps_the_chain_verifiable() {
    let mut log = chain(MAX_ENTRIES);
    assert_eq!(plan_rotation(&log), None);
    let session = log[0].session.clone();
    log.push(append(
        log.last(),
        AuditEvent::Unlocked,
        T0,
        &session,
        sha256,
    ));
    let plan = plan_rotation(&log).unwrap();
    assert_eq!(plan.delete_through_seq, 5_000);
    assert_eq!(plan.anchor, log[5_000].anchor());
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["deleteThroughSeq"], 5_000);
    assert_eq!(json["anchor"]["hash"], log[5_000].hash);

    let kept: Vec<AuditEntry> = log
        .iter()
        .filter(|e| e.seq > plan.delete_through_seq)
        .cloned()
        .collect();
    assert_eq!(kept.len(), KEEP_ENTRIES);
    let r = verify(&kept, Some(&plan.anchor), sha256);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.checked, KEEP_ENTRIES as u64);
    // Without the anchor the cut looks like what it would be without one: a lost head.
    let r = verify(&kept, None, sha256);
    assert_eq!(r.first_bad_seq, Some(5_001));
    assert!(r.problem.unwrap().contains("no anchor"));
    // A wrong anchor, or one entry more dropped, is found.
    let wrong = Anchor {
        seq: 5_000,
        hash: log[4_999].hash.clone(),
    };
    let r = verify(&kept, Some(&wrong), sha256);
    assert!(r.problem.unwrap().contains("rotation anchor"));
    let r = verify(&kept[1..], Some(&plan.anchor), sha256);
    assert_eq!(r.first_bad_seq, Some(5_002));
    // Nothing left after an anchor: entries were removed.
    let r = verify(&[], Some(&plan.anchor), sha256);
    assert!(!r.ok);
    assert_eq!(r.first_bad_seq, Some(5_001));

    // The log goes on after the cut, and rotates again.
    let mut log = kept;
    for i in 0..5_001 {
        let e = append(
            log.last(),
            AuditEvent::Locked {
                reason: LockReason::Idle,
            },
            T0 + f64::from(i),
            &session,
            sha256,
        );
        log.push(e);
    }
    let plan2 = plan_rotation(&log).unwrap();
    assert_eq!(plan2.delete_through_seq, 10_001);
    let kept: Vec<AuditEntry> = log
        .into_iter()
        .filter(|e| e.seq > plan2.delete_through_seq)
        .collect();
    assert!(verify(&kept, Some(&plan2.anchor), sha256).ok);
}

#[test]
fn sessions_are_hashed_and_short() {
    let s = session_hash("page-session-0b9c2f", sha256);
    assert_eq!(s.len(), SESSION_HEX_LEN);
    assert!(s
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert!(!s.contains("page"));
    assert_eq!(s, session_hash("page-session-0b9c2f", sha256));
    assert_ne!(s, session_hash("page-session-0b9c2e", sha256));
    #[cfg(not(target_arch = "wasm32"))]
    assert_eq!(session_hash("abc", sha256), "ba7816bf8f01cfea");
}

#[test]
fn events_serialize_as_tagged_objects() {
    let table: &[(AuditEvent, &str)] = &[
        (AuditEvent::Unlocked, r#"{"type":"unlocked"}"#),
        (
            AuditEvent::VaultCreated { mode: Mode::Device },
            r#"{"type":"vaultCreated","mode":"device"}"#,
        ),
        (
            AuditEvent::KeyValidated {
                provider: "google".into(),
                key_id: None,
                valid: false,
            },
            r#"{"type":"keyValidated","provider":"google","valid":false}"#,
        ),
        (
            AuditEvent::BudgetRefused {
                provider: "openai".into(),
                key_id: None,
                budget_id: "provider:openai".into(),
                limit: BudgetPeriod::Monthly,
            },
            r#"{"type":"budgetRefused","provider":"openai","budgetId":"provider:openai","limit":"monthly"}"#,
        ),
        (
            AuditEvent::BackupExported { keys: 4 },
            r#"{"type":"backupExported","keys":4}"#,
        ),
    ];
    for (event, json) in table {
        assert_eq!(serde_json::to_string(event).unwrap(), *json);
    }
    for event in events() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<AuditEvent>(&json).unwrap(), event);
    }
    // A record that tries to smuggle in more is refused.
    assert!(serde_json::from_str::<AuditEvent>(
        r#"{"type":"keyAdded","provider":"openai","keyId":"k","apiKey":"sk-..."}"#
    )
    .is_err());
    assert!(serde_json::from_str::<AuditEvent>(r#"{"type":"somethingElse"}"#).is_err());
}

fn ledger_entry(
    id: &str,
    at: f64,
    provider: &str,
    status: CallStatus,
    code: Option<ErrorCode>,
) -> LedgerEntry {
    LedgerEntry {
        id: id.into(),
        at,
        provider: provider.into(),
        model: "m".into(),
        key_id: Some("k1".into()),
        kind: CallKind::Chat,
        input_tokens: 3,
        output_tokens: 4,
        cost_femto: 5,
        reported_cost_usd: None,
        status,
        error_code: code,
        duration_ms: 6,
        retries: 1,
    }
}

#[test]
fn compliance_report_counts_each_call_once() {
    let now = T0;
    let old = now - 40.0 * MS_PER_DAY;
    let ledger = vec![
        ledger_entry(
            "a",
            old,
            "openai",
            CallStatus::Error,
            Some(ErrorCode::RateLimited),
        ),
        ledger_entry("b", old + 1.0, "openai", CallStatus::Ok, None),
        ledger_entry("c", now, "openai", CallStatus::Ok, None),
        ledger_entry(
            "d",
            now,
            "anthropic",
            CallStatus::Aborted,
            Some(ErrorCode::StreamAborted),
        ),
        ledger_entry(
            "e",
            now,
            "anthropic",
            CallStatus::Error,
            Some(ErrorCode::RateLimited),
        ),
    ];
    // Fold the two old ones; leave them stored too (deletion interrupted).
    let plan = crate::core::usage::plan_retention(&ledger, &[], now);
    assert_eq!(plan.upsert_daily.len(), 1);
    let audit = chain(17);
    let r = compliance_report(&audit, &ledger, &plan.upsert_daily);
    assert_eq!(r.calls, 5);
    assert_eq!(r.succeeded, 2);
    assert_eq!(r.errors, 2);
    assert_eq!(r.aborted, 1);
    assert_eq!(r.success_rate, Some(0.4));
    assert_eq!(r.by_provider.get("openai"), Some(&3));
    assert_eq!(r.by_provider.get("anthropic"), Some(&2));
    assert_eq!(r.error_types.get("RATE_LIMITED"), Some(&2));
    assert_eq!(r.error_types.get("STREAM_ABORTED"), Some(&1));
    assert_eq!(r.unlock_failures, 1);
    assert_eq!(r.budget_refusals, 1);
    assert_eq!(r.key_uses, 1);
    assert_eq!(r.audit_entries, 17);
    let day_start = (old / MS_PER_DAY).floor() * MS_PER_DAY;
    assert_eq!(r.from, Some(day_start));
    assert_eq!(r.to, Some(T0 + 16_000.0));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["successRate"], 0.4);
    assert_eq!(json["byProvider"]["openai"], 3);
    assert_eq!(json["errorTypes"]["RATE_LIMITED"], 2);
    assert_eq!(json["unlockFailures"], 1);

    let empty = compliance_report(&[], &[], &[]);
    assert_eq!(empty.success_rate, None);
    assert_eq!(empty.from, None);
}

/// Every field name, at any depth, of a JSON value; the values of free-form maps (whose keys
/// are data: provider ids, error codes) are not descended into by name.
fn field_names(v: &serde_json::Value, out: &mut Vec<String>) {
    const MAPS: [&str; 3] = ["byProvider", "errorTypes", "errorCodes"];
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                if MAPS.contains(&k.as_str()) && v.is_object() {
                    let values_are_counts = v
                        .as_object()
                        .is_some_and(|m| m.values().all(serde_json::Value::is_u64));
                    assert!(values_are_counts, "{k}: {v}");
                } else {
                    field_names(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| field_names(i, out)),
        _ => {}
    }
}

#[test]
fn no_stored_or_returned_type_has_a_secret_bearing_field() {
    use crate::core::budget::{self, Budget, BudgetScope, BudgetSpec, SpentIndex};
    use crate::core::ratelimit::{Decision, LimitKey, RateLimit, RateLimitSetting, WaitReason};
    use crate::core::usage::{self, Period, ReportQuery};

    let now = T0;
    let mut ledger = Vec::new();
    for (i, code) in [
        None,
        Some(ErrorCode::InvalidApiKey),
        Some(ErrorCode::StreamAborted),
    ]
    .into_iter()
    .enumerate()
    {
        let status = match code {
            None => CallStatus::Ok,
            Some(ErrorCode::StreamAborted) => CallStatus::Aborted,
            Some(_) => CallStatus::Error,
        };
        let mut e = ledger_entry(
            &format!("e{i}"),
            now - 40.0 * MS_PER_DAY,
            "openai",
            status,
            code,
        );
        e.reported_cost_usd = Some(0.001);
        ledger.push(e.clone());
        e.id = format!("f{i}");
        e.at = now;
        ledger.push(e);
    }
    let plan = usage::plan_retention(&ledger, &[], now);
    let report = usage::usage_report(
        &ledger,
        &plan.upsert_daily,
        &ReportQuery {
            period: Period::Day,
            from: Some(usage::DateBound::At(0.0)),
            to: None,
            tz_offset_minutes: Some(60),
        },
    )
    .unwrap();
    let budgets = vec![Budget::new(&BudgetSpec {
        scope: BudgetScope::Key("k1".into()),
        daily_usd: Some(0.0),
        monthly_usd: Some(1.0),
    })
    .unwrap()];
    let spent = SpentIndex::build(&ledger, &plan.upsert_daily, now, 0).unwrap();
    let exceeded = budget::find_exceeded(&budgets, &spent, "openai", Some("k1"), 1, now).unwrap();
    let statuses = budget::remaining(&budgets, &spent, now);
    let setting = RateLimitSetting {
        provider: "openai".into(),
        key_id: Some("k1".into()),
        limit: RateLimit {
            requests_per_minute: Some(1),
            tokens_per_minute: Some(2),
        },
    };
    let log = chain(events().len());
    let rotation = RotationPlan {
        delete_through_seq: 1,
        anchor: log[1].anchor(),
    };
    let draft = next_draft(log.last(), AuditEvent::Unlocked, now, "s");
    let estimate = crate::core::estimate::Estimate {
        input_tokens: 1,
        output_tokens: 2,
        cost_femto: 3,
    };

    let values = vec![
        serde_json::to_value(&ledger).unwrap(),
        serde_json::to_value(&plan).unwrap(),
        serde_json::to_value(&report).unwrap(),
        serde_json::to_value(&budgets).unwrap(),
        serde_json::to_value(budgets[0].spec()).unwrap(),
        serde_json::to_value(&exceeded).unwrap(),
        serde_json::to_value(&statuses).unwrap(),
        serde_json::to_value(&setting).unwrap(),
        serde_json::to_value(LimitKey::new("openai", Some("k1"))).unwrap(),
        serde_json::to_value(Decision::Wait {
            ms: 1,
            reason: WaitReason::RetryAfter,
        })
        .unwrap(),
        serde_json::to_value(&log).unwrap(),
        serde_json::to_value(&draft).unwrap(),
        serde_json::to_value(&rotation).unwrap(),
        serde_json::to_value(verify(&log, None, sha256)).unwrap(),
        serde_json::to_value(compliance_report(&log, &ledger, &plan.upsert_daily)).unwrap(),
        serde_json::to_value(estimate).unwrap(),
    ];
    let mut names = Vec::new();
    for v in &values {
        field_names(v, &mut names);
    }
    names.sort();
    names.dedup();
    // Names that look close to a secret but hold an id or a count.
    const ALLOWED: [&str; 7] = [
        "keyId",
        "keys",
        "keyUses",
        "inputTokens",
        "outputTokens",
        "tokensPerMinute",
        "type",
    ];
    const FORBIDDEN: [&str; 12] = [
        "key",
        "secret",
        "prompt",
        "content",
        "passphrase",
        "password",
        "token",
        "message",
        "response",
        "text",
        "auth",
        "credential",
    ];
    for name in &names {
        if ALLOWED.contains(&name.as_str()) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        assert!(
            !FORBIDDEN.iter().any(|f| lower.contains(f)),
            "field '{name}' looks like it could hold a secret"
        );
    }
    // The test did see the types it claims to cover.
    for expected in [
        "keyId",
        "costFemto",
        "foldedThroughAt",
        "hash",
        "prev",
        "session",
        "scope",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} not seen");
    }
}

#[test]
fn stored_events_are_read_back_verbatim_so_any_edit_of_their_text_shows() {
    let log = chain(3);
    let json = serde_json::to_string(&log[1]).unwrap();
    let back: AuditEntry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, log[1]);
    assert_eq!(back.event.kind().as_deref(), log[1].event.kind().as_deref());
    // The same event with a space added still parses, but no longer hashes the same.
    let spaced = json.replacen("{\"type\"", "{ \"type\"", 1);
    assert_ne!(spaced, json);
    let edited: AuditEntry = serde_json::from_str(&spaced).unwrap();
    let mut tampered = log.clone();
    tampered[1] = edited;
    let r = verify(&tampered, None, sha256);
    assert!(!r.ok);
    assert_eq!(r.first_bad_seq, Some(1));
    assert_eq!(
        EventJson::of(&AuditEvent::Unlocked).kind().as_deref(),
        Some("unlocked")
    );
}
