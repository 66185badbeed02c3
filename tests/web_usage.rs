//! The usage ledger, reports, budgets, rate limits and the audit log, in headless Chromium
//! against the stand-in: every call counted exactly once, reports that add up, refusals
//! before the network, Retry-After honoured, tampering detected, no secret stored.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::vault::VaultHandle;
use common::*;
use js_sys::{Array, Function};
use rexie::{ObjectStore, Rexie, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn open(name: &str) -> VaultHandle {
    use wasm_bindgen::convert::TryFromJsValue;
    let v = ok(VaultHandle::open(Some(name.to_owned()))).await;
    <VaultHandle as TryFromJsValue>::try_from_js_value(v).expect("a Vault")
}

/// A new device vault of its own, so that its ledger holds only this test's calls.
async fn device_vault(prefix: &str) -> (VaultHandle, String) {
    let name = unique(prefix);
    let v = open(&name).await;
    ok(v.create(None, json(r#"{"mode":"device"}"#))).await;
    (v, name)
}

async fn add(v: &VaultHandle, key: &str, validate: bool) -> String {
    let opts = obj(&[
        ("baseUrl", openai_base().into()),
        ("validate", validate.into()),
    ]);
    let r = ok(v.add_key("openai".into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

fn request(key_id: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"openai","model":"gpt-4o","keyId":"{key_id}",
            "settings":{{"maxTokens":50}},
            "messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

/// Registers a stand-in key with a behaviour; returns the key.
async fn behaviour_key(behaviour: &str) -> String {
    let key = format!(
        "sk-proj-{}standin0000000000000000",
        unique("usage").replace('-', "")
    );
    let body = format!(r#"{{"provider":"openai","key":"{key}","behaviour":{behaviour}}}"#);
    control("/__standin/keys", Some(&body)).await;
    key
}

/// The raw records of one store of a vault's database.
async fn records(name: &str, store: &str) -> Vec<JsValue> {
    let db = vault_db(name).await;
    let tx = db.transaction(&[store], TransactionMode::ReadOnly).unwrap();
    let out = tx.store(store).unwrap().get_all(None, None).await.unwrap();
    drop(tx);
    db.close();
    out
}

/// Writes raw records into one store of a vault's database (a test editing storage).
async fn put_records(name: &str, store: &str, values: &[JsValue], deletes: &[JsValue]) {
    let db = vault_db(name).await;
    let tx = db
        .transaction(&[store], TransactionMode::ReadWrite)
        .unwrap();
    let s = tx.store(store).unwrap();
    for v in values {
        s.put(v, None).await.unwrap();
    }
    for k in deletes {
        s.delete(k.clone()).await.unwrap();
    }
    tx.done().await.unwrap();
    db.close();
}

/// POST requests the stand-in saw since `mark` (not counting CORS preflights).
async fn posts_since(mark: f64) -> usize {
    log_since(mark)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST")
        .count()
}

fn ledger_entries(raw: &[JsValue]) -> Vec<JsValue> {
    raw.iter().map(|r| json(&str_of(r, "json"))).collect()
}

fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key).as_f64().unwrap_or(f64::NAN)
}

async fn settle() {
    // Writes of streams let go mid-way are spawned; give them a moment.
    sleep(100).await;
}

#[wasm_bindgen_test]
async fn every_call_is_counted_exactly_once() {
    let (v, name) = device_vault("ledger").await;
    let good = add(&v, GOOD_KEY, true).await; // 1: a validation
    let mark = log_mark().await;

    // 2: sendChat, 3: collectStream, 4: a streamed chat read to the end.
    let sent = ok(v.send_chat(request(&good, "one"))).await;
    let collected = ok(v.collect_stream(request(&good, "two"), None)).await;
    let (chunks, err) = drain(&v.stream_chat(request(&good, "three"))).await;
    assert!(err.is_none());
    let done = chunks.last().unwrap();
    assert_eq!(str_of(done, "type"), "done");

    // 5: a stream the page stops reading (break → return()).
    let slow = add(&v, "sk-proj-slow100-standin-0000000000000", false).await;
    let iter = v.stream_chat(request(&slow, "stop early"));
    let next: Function = get(&iter, "next").unchecked_into();
    ok(next.call0(&iter).unwrap().unchecked_into()).await;
    let ret: Function = get(&iter, "return").unchecked_into();
    ok(ret.call0(&iter).unwrap().unchecked_into()).await;

    // 6: a stream aborted by its signal.
    let controller = web_sys::AbortController::new().unwrap();
    let req = request(&slow, "abort me");
    js_sys::Reflect::set(&req, &"signal".into(), &controller.signal()).unwrap();
    let iter = v.stream_chat(req);
    let next: Function = get(&iter, "next").unchecked_into();
    ok(next.call0(&iter).unwrap().unchecked_into()).await;
    controller.abort();
    fails(
        next.call0(&iter).unwrap().unchecked_into(),
        "STREAM_ABORTED",
    )
    .await;

    // 7: a stream that breaks off; 8: a refused key; 9: 500, 503, then success (two retries).
    let cut = add(&v, "sk-proj-truncate3-standin-0000000000", false).await;
    let (_, err) = drain(&v.stream_chat(request(&cut, "cut"))).await;
    assert_eq!(str_of(&err.unwrap(), "code"), "NETWORK_ERROR");
    let revoked = add(&v, "sk-proj-revoked-standin-00000000000000", false).await;
    fails(v.send_chat(request(&revoked, "no")), "INVALID_API_KEY").await;
    // A key of this test's own: the stand-in counts the 5xx answers per key.
    let flaky = add(&v, &behaviour_key(r#"{"status5xx":2}"#).await, false).await;
    ok(v.send_chat(request(&flaky, "again"))).await;
    // 10: an embedding.
    let emb = ok(v.embed(json(&format!(
        r#"{{"provider":"openai","model":"text-embedding-3-small","keyId":"{good}","input":["a","b"]}}"#
    ))))
    .await;
    // Not a call: refused before the network (bad request), so not in the ledger.
    fails(
        v.send_chat(json(&format!(
            r#"{{"provider":"openai","model":"gpt-4o","keyId":"{good}","messages":[]}}"#
        ))),
        "INVALID_REQUEST",
    )
    .await;
    settle().await;

    let entries = ledger_entries(&records(&name, "ledger").await);
    assert_eq!(
        entries.len(),
        10,
        "{}",
        stringify(&Array::from_iter(entries.iter()))
    );
    let posts_and_gets = log_since(mark).await.length();
    assert!(posts_and_gets >= 10, "the stand-in saw every call");
    let count = |f: &dyn Fn(&JsValue) -> bool| entries.iter().filter(|e| f(e)).count();
    assert_eq!(count(&|e| str_of(e, "kind") == "validate"), 1);
    assert_eq!(count(&|e| str_of(e, "kind") == "chat"), 3);
    assert_eq!(count(&|e| str_of(e, "kind") == "stream"), 5);
    assert_eq!(count(&|e| str_of(e, "kind") == "embed"), 1);
    assert_eq!(count(&|e| str_of(e, "status") == "aborted"), 2);
    assert_eq!(count(&|e| str_of(e, "status") == "error"), 2);
    assert_eq!(count(&|e| str_of(e, "status") == "ok"), 6);
    assert_eq!(
        count(&|e| num(e, "retries") == 2.0),
        1,
        "the flaky call retried twice"
    );
    assert_eq!(count(&|e| str_of(e, "errorCode") == "INVALID_API_KEY"), 1);
    // The ledger's tokens are the ones the calls reported.
    let sum_in: f64 = entries.iter().map(|e| num(e, "inputTokens")).sum();
    let reported_in = num(&get(&sent, "usage"), "inputTokens")
        + num(&get(&collected, "usage"), "inputTokens")
        + num(&get(done, "usage"), "inputTokens")
        + num(&get(&emb, "usage"), "inputTokens");
    assert!(sum_in >= reported_in, "{sum_in} < {reported_in}");

    // The report agrees with the ledger.
    let report = ok(v.usage_report(json(r#"{"period":"day"}"#))).await;
    let totals = get(&report, "totals");
    assert_eq!(num(&totals, "calls"), 10.0);
    assert_eq!(num(&totals, "errors"), 2.0);
    assert_eq!(num(&totals, "aborted"), 2.0);
    let cost: f64 = entries
        .iter()
        .map(|e| str_of(e, "costFemto").parse::<f64>().unwrap())
        .sum();
    assert!((num(&totals, "costUsd") - cost / 1e15).abs() < 1e-12);
    assert!(num(&totals, "costUsd") > 0.0);

    // The compliance report counts the same calls and the key uses.
    let c = ok(v.compliance_report()).await;
    assert_eq!(num(&c, "calls"), 10.0);
    assert_eq!(num(&c, "succeeded"), 6.0);
    assert_eq!(num(&get(&c, "errorTypes"), "INVALID_API_KEY"), 1.0);
    assert_eq!(
        num(&c, "keyUses"),
        9.0,
        "every call but the validation used a stored key"
    );
}

fn ledger_record(id: &str, at: f64, model: &str, input: u64, cost_femto: u64) -> JsValue {
    let entry = format!(
        r#"{{"id":"{id}","at":{at},"provider":"openai","model":"{model}","kind":"chat",
            "inputTokens":{input},"outputTokens":10,"costFemto":"{cost_femto}","status":"ok",
            "durationMs":5,"retries":0}}"#
    );
    obj(&[
        ("id", id.into()),
        ("at", at.into()),
        ("json", stringify(&json(&entry)).into()),
    ])
}

#[wasm_bindgen_test]
async fn reports_per_day_and_month_add_up_and_old_entries_fold_into_days() {
    let (v, name) = device_vault("report").await;
    let day = 86_400_000.0;
    // Calls on fixed UTC days: two in January 2026, one in February, and two today; the
    // January ones are older than 30 days and fold into daily aggregates.
    let jan5 = 1_767_571_200_000.0; // 2026-01-05T00:00:00Z
    let now = js_sys::Date::now();
    let seeded = [
        ledger_record("a", jan5 + 3_600_000.0, "gpt-4o", 100, 1_000_000_000_000),
        ledger_record("b", jan5 + 2.0 * day, "gpt-4o-mini", 200, 2_000_000_000_000),
        ledger_record("c", jan5 + 30.0 * day, "gpt-4o", 300, 3_000_000_000_000),
        ledger_record("d", now - 60_000.0, "gpt-4o", 400, 4_000_000_000_000),
        ledger_record("e", now - 30_000.0, "gpt-4o-mini", 500, 5_000_000_000_000),
    ];
    put_records(&name, "ledger", &seeded, &[]).await;

    let utc = r#""tzOffsetMinutes":0"#;
    let days = ok(v.usage_report(json(&format!(r#"{{"period":"day",{utc}}}"#)))).await;
    let months = ok(v.usage_report(json(&format!(r#"{{"period":"month",{utc}}}"#)))).await;
    for r in [&days, &months] {
        let totals = get(r, "totals");
        assert_eq!(num(&totals, "calls"), 5.0);
        assert_eq!(num(&totals, "inputTokens"), 1500.0);
        assert!((num(&totals, "costUsd") - 0.015).abs() < 1e-12);
        let rows: Array = get(r, "rows").unchecked_into();
        let by_rows: f64 = rows.iter().map(|row| num(&row, "calls")).sum();
        let by_provider: Array = get(r, "byProvider").unchecked_into();
        let by_prov: f64 = by_provider.iter().map(|row| num(&row, "calls")).sum();
        assert_eq!(by_rows, 5.0);
        assert_eq!(by_prov, 5.0);
    }
    // Months: January holds a and b, February c.
    let rows: Array = get(&months, "rows").unchecked_into();
    let jan: f64 = rows
        .iter()
        .filter(|r| str_of(r, "period") == "2026-01")
        .map(|r| num(&r, "inputTokens"))
        .sum();
    assert_eq!(jan, 300.0);
    let days_rows: Array = get(&days, "rows").unchecked_into();
    assert!(days_rows
        .iter()
        .any(|r| str_of(&r, "period") == "2026-01-05" && num(&r, "calls") == 1.0));
    // A range: January only.
    let jan_only = ok(v.usage_report(json(&format!(
        r#"{{"period":"day","from":"2026-01","to":"2026-01",{utc}}}"#
    ))))
    .await;
    assert_eq!(num(&get(&jan_only, "totals"), "calls"), 2.0);

    // Retention ran: the three old entries are daily aggregates now, the two recent stay raw,
    // and the report did not change.
    let raw = ledger_entries(&records(&name, "ledger").await);
    assert_eq!(raw.len(), 2, "{}", stringify(&Array::from_iter(raw.iter())));
    assert_eq!(records(&name, "daily").await.len(), 3);
    let again = ok(v.usage_report(json(&format!(r#"{{"period":"month",{utc}}}"#)))).await;
    assert_eq!(
        stringify(&get(&again, "rows")),
        stringify(&get(&months, "rows"))
    );
    // Reports work with the vault locked, as they do offline.
    v.lock();
    let locked = ok(v.usage_report(json(r#"{"period":"month"}"#))).await;
    assert_eq!(num(&get(&locked, "totals"), "calls"), 5.0);
    fails(
        v.usage_report(json(r#"{"period":"week"}"#)),
        "INVALID_REQUEST",
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_budget_refuses_before_any_request_reaches_the_provider() {
    let (v, _) = device_vault("budget").await;
    let id = add(&v, GOOD_KEY, false).await;
    // A daily budget below one call's estimate.
    let b = ok(v.set_budget(json(r#"{"provider":"openai","dailyUsd":0.0001}"#))).await;
    assert_eq!(Array::from(&get(&b, "budgets")).length(), 1);
    let mark = log_mark().await;
    let e = fails(v.send_chat(request(&id, "too dear")), "BUDGET_EXCEEDED").await;
    assert!(
        str_of(&e, "message").contains("daily budget"),
        "{}",
        str_of(&e, "message")
    );
    let (_, err) = drain(&v.stream_chat(request(&id, "too dear"))).await;
    assert_eq!(str_of(&err.unwrap(), "code"), "BUDGET_EXCEEDED");
    assert_eq!(
        log_since(mark).await.length(),
        0,
        "nothing reached the stand-in"
    );

    // A per-key budget applies to that key; raising the provider's lets the call go.
    ok(v.set_budget(json(r#"{"provider":"openai","dailyUsd":5}"#))).await;
    ok(v.set_budget(json(&format!(r#"{{"keyId":"{id}","monthlyUsd":0}}"#)))).await;
    fails(v.send_chat(request(&id, "still no")), "BUDGET_EXCEEDED").await;
    ok(v.set_budget(json(&format!(r#"{{"keyId":"{id}"}}"#)))).await; // removed
    ok(v.send_chat(request(&id, "now yes"))).await;
    assert_eq!(posts_since(mark).await, 1);
    let status = ok(v.budgets()).await;
    let rows: Array = get(&status, "status").unchecked_into();
    let daily = rows.get(0);
    assert!(num(&daily, "spentUsd") > 0.0 && num(&daily, "remainingUsd") < 5.0);
    fails(
        v.set_budget(json(r#"{"provider":"openai","keyId":"x","dailyUsd":1}"#)),
        "INVALID_REQUEST",
    )
    .await;
    fails(
        v.set_budget(json(r#"{"provider":"openai","dailyUsd":-1}"#)),
        "INVALID_REQUEST",
    )
    .await;

    // The refusals are in the audit log and the compliance report.
    let c = ok(v.compliance_report()).await;
    assert_eq!(num(&c, "budgetRefusals"), 3.0);
    let log: Array = ok(v.audit_log(Some(500))).await.unchecked_into();
    assert!(log
        .iter()
        .any(|e| str_of(&get(&e, "event"), "type") == "budgetRefused"));
}

#[wasm_bindgen_test]
async fn the_rate_limiter_honours_retry_after_and_shows_its_waits() {
    let (v, _) = device_vault("ratelimit").await;
    let events = Array::new();
    let sink = events.clone();
    let listener = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        sink.push(&e);
    });
    v.subscribe(listener.as_ref().unchecked_ref::<Function>().clone());
    listener.forget();

    // The first request gets 429 with Retry-After: 1 s (exposed to the page), then success.
    let key = behaviour_key(
        r#"{"rateLimit":1,"retryAfter":1,"exposeHeaders":["retry-after","x-ratelimit-remaining-requests","x-ratelimit-reset-requests"]}"#,
    )
    .await;
    let id = add(&v, &key, false).await;
    let t0 = js_sys::Date::now();
    let (chunks, err) = drain(&v.stream_chat(request(&id, "patience"))).await;
    assert!(err.is_none(), "{err:?}");
    let waited = js_sys::Date::now() - t0;
    assert!(waited >= 1000.0, "the retry came after {waited} ms");
    let first = &chunks[0];
    assert_eq!(str_of(first, "type"), "wait", "the wait is the first chunk");
    assert_eq!(str_of(first, "reason"), "retryAfter");
    assert!((900.0..=1100.0).contains(&num(first, "waitMs")));
    assert_eq!(str_of(chunks.last().unwrap(), "type"), "done");
    assert!(events.iter().any(|e| str_of(&e, "event") == "wait"));

    // A user limit of one call per minute: the next call would wait ~60 s, longer than this
    // caller allows, so it fails at once with RATE_LIMITED and its wait, before the network.
    ok(v.set_rate_limit(json(&format!(
        r#"{{"provider":"openai","keyId":"{id}","requestsPerMinute":1}}"#
    ))))
    .await;
    let limits: Array = ok(v.rate_limits()).await.unchecked_into();
    assert_eq!(num(&limits.get(0), "requestsPerMinute"), 1.0);
    let mark = log_mark().await;
    let quick = |p: &str| {
        let r = request(&id, p);
        js_sys::Reflect::set(&r, &"maxWaitMs".into(), &500.into()).unwrap();
        r
    };
    ok(v.send_chat(quick("first"))).await;
    let e = fails(v.send_chat(quick("second")), "RATE_LIMITED").await;
    assert!(num(&e, "retryAfterMs") > 50_000.0, "{}", stringify(&e));
    assert_eq!(posts_since(mark).await, 1, "the second call never went out");
    // Removing the limit lets calls go again.
    ok(v.set_rate_limit(json(&format!(r#"{{"provider":"openai","keyId":"{id}"}}"#)))).await;
    ok(v.send_chat(quick("third"))).await;
}

#[wasm_bindgen_test]
async fn editing_removing_or_reordering_audit_entries_is_detected() {
    let (v, name) = device_vault("audit").await;
    let id = add(&v, GOOD_KEY, true).await;
    ok(v.send_chat(request(&id, "audited"))).await;
    ok(v.remove_key(id.clone())).await;
    let report = ok(v.verify_audit_log()).await;
    assert_eq!(
        get(&report, "ok").as_bool(),
        Some(true),
        "{}",
        stringify(&report)
    );
    let entries = records(&name, "audit").await;
    // created, validated, added, used, removed.
    assert!(entries.len() >= 5, "{}", entries.len());
    let types: Vec<String> = entries
        .iter()
        .map(|r| str_of(&get(&json(&str_of(r, "json")), "event"), "type"))
        .collect();
    for t in [
        "vaultCreated",
        "keyValidated",
        "keyAdded",
        "keyUsed",
        "keyRemoved",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
    }

    let verify = || async { ok(v.verify_audit_log()).await };
    let original = entries[2].clone();
    // Edit one field of one entry's JSON.
    let text = str_of(&original, "json");
    let edited = text.replacen("\"at\":", "\"at\":1", 1);
    assert_ne!(edited, text);
    let tampered = obj(&[("seq", get(&original, "seq")), ("json", edited.into())]);
    put_records(&name, "audit", &[tampered], &[]).await;
    let r = verify().await;
    assert_eq!(get(&r, "ok").as_bool(), Some(false));
    assert_eq!(num(&r, "firstBadSeq"), 2.0, "{}", stringify(&r));
    // Put back: intact again.
    put_records(&name, "audit", std::slice::from_ref(&original), &[]).await;
    assert_eq!(get(&verify().await, "ok").as_bool(), Some(true));
    // Garbage in place of the JSON.
    let garbage = obj(&[("seq", get(&original, "seq")), ("json", "{".into())]);
    put_records(&name, "audit", &[garbage], &[]).await;
    assert_eq!(get(&verify().await, "ok").as_bool(), Some(false));
    put_records(&name, "audit", std::slice::from_ref(&original), &[]).await;
    // Swap two entries' contents (reorder).
    let (a, b) = (entries[1].clone(), entries[3].clone());
    let swap_a = obj(&[("seq", get(&a, "seq")), ("json", get(&b, "json"))]);
    let swap_b = obj(&[("seq", get(&b, "seq")), ("json", get(&a, "json"))]);
    put_records(&name, "audit", &[swap_a, swap_b], &[]).await;
    assert_eq!(get(&verify().await, "ok").as_bool(), Some(false));
    put_records(&name, "audit", &[a, b], &[]).await;
    assert_eq!(get(&verify().await, "ok").as_bool(), Some(true));
    // Remove one from the middle.
    put_records(&name, "audit", &[], &[get(&original, "seq")]).await;
    let r = verify().await;
    assert_eq!(get(&r, "ok").as_bool(), Some(false));
    assert!(
        str_of(&r, "problem").contains("missing"),
        "{}",
        stringify(&r)
    );
    put_records(&name, "audit", &[original], &[]).await;
    assert_eq!(get(&verify().await, "ok").as_bool(), Some(true));
    // A whole entry recomputed with plain SHA-256 would not pass either: the chain is keyed
    // with a non-extractable HMAC key, which this test (like an attacker editing storage)
    // cannot use to make a matching hash; dropping the key breaks every entry.
    put_records(&name, "settings", &[], &["auditKey".into()]).await;
    let fresh = open(&name).await;
    let r = ok(fresh.verify_audit_log()).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(false), "{}", stringify(&r));
}

#[wasm_bindgen_test]
async fn no_secret_prompt_or_answer_is_in_the_ledger_or_audit_stores() {
    let (v, name) = device_vault("secrets").await;
    let id = add(&v, GOOD_KEY, true).await;
    let prompt = "my-private-prompt-words";
    let r = ok(v.send_chat(request(&id, prompt))).await;
    let answer = str_of(&r, "content");
    assert!(answer.contains(prompt), "the stand-in echoes the prompt");
    ok(v.set_budget(json(r#"{"provider":"openai","dailyUsd":5}"#))).await;
    ok(v.export_backup("a backup passphrase".into())).await;
    for store in ["ledger", "daily", "audit", "settings"] {
        for rec in records(&name, store).await {
            let text = stringify(&rec);
            assert!(!text.contains(GOOD_KEY), "the key is in {store}");
            assert!(
                !text.contains(&GOOD_KEY[8..24]),
                "part of the key is in {store}"
            );
            assert!(!text.contains(prompt), "the prompt is in {store}");
            assert!(
                !text.contains("backup passphrase"),
                "the passphrase is in {store}"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn a_version_1_database_upgrades_with_its_keys() {
    // A vault made now, its records copied into a database of schema version 1 (meta and keys
    // only), as a page of the previous release left it.
    let (v, name) = device_vault("v1src").await;
    add(&v, GOOD_KEY, false).await;
    let meta = records(&name, "meta").await;
    let keys = records(&name, "keys").await;
    let old = unique("v1");
    let db = Rexie::builder(&format!("byok-vault:{old}"))
        .version(1)
        .add_object_store(ObjectStore::new("meta").key_path("id"))
        .add_object_store(ObjectStore::new("keys").key_path("id"))
        .build()
        .await
        .unwrap();
    let tx = db
        .transaction(&["meta", "keys"], TransactionMode::ReadWrite)
        .unwrap();
    for m in &meta {
        tx.store("meta").unwrap().put(m, None).await.unwrap();
    }
    for k in &keys {
        tx.store("keys").unwrap().put(k, None).await.unwrap();
    }
    tx.done().await.unwrap();
    db.close();

    let upgraded = open(&old).await;
    assert_eq!(upgraded.status(), "unlocked");
    let list: Array = ok(upgraded.list_keys()).await.unchecked_into();
    assert_eq!(list.length(), 1);
    let id = str_of(&list.get(0), "id");
    ok(upgraded.send_chat(request(&id, "after the upgrade"))).await;
    assert_eq!(records(&old, "ledger").await.len(), 1);
}

#[wasm_bindgen_test]
async fn vault_events_are_audited_with_a_hashed_session_and_nothing_secret() {
    let name = unique("events");
    let v = open(&name).await;
    let pass = "correct horse battery staple";
    ok(v.create(Some(pass.into()), JsValue::UNDEFINED)).await;
    let id = add(&v, GOOD_KEY, false).await;
    ok(v.change_passphrase(pass.into(), "another long passphrase".into())).await;
    v.lock();
    fails(v.unlock(Some(pass.into())), "WRONG_PASSPHRASE").await;
    ok(v.unlock(Some("another long passphrase".into()))).await;
    let backup = ok(v.export_backup("a backup passphrase".into())).await;
    ok(v.remove_key(id)).await;
    settle().await;

    let log: Array = ok(v.audit_log(None)).await.unchecked_into();
    let types: Vec<String> = log
        .iter()
        .map(|e| str_of(&get(&e, "event"), "type"))
        .collect();
    let want = [
        "vaultCreated",
        "keyAdded",
        "passphraseChanged",
        "locked",
        "unlockFailed",
        "unlocked",
        "backupExported",
        "keyRemoved",
    ];
    let mut at = 0;
    for w in want {
        at += types[at..]
            .iter()
            .position(|t| t == w)
            .unwrap_or_else(|| panic!("{w} missing or out of order in {types:?}"));
    }
    let session = str_of(&log.get(0), "session");
    assert_eq!(session.len(), 16);
    assert!(
        log.iter().all(|e| str_of(&e, "session") == session),
        "one page, one session"
    );
    let text = stringify(&log);
    assert!(!text.contains(pass) && !text.contains("another long") && !text.contains(GOOD_KEY));
    let backup = match backup.as_string() {
        Some(t) => json(&t),
        None => backup,
    };
    let ct = str_of(&get(&backup, "sealed"), "ct");
    assert!(ct.len() > 40, "{}", stringify(&backup));
    assert!(
        !text.contains(&ct[..40]),
        "the sealed backup is not in the log"
    );
    let c = ok(v.compliance_report()).await;
    assert_eq!(num(&c, "unlockFailures"), 1.0);
    assert_eq!(
        get(&ok(v.verify_audit_log()).await, "ok").as_bool(),
        Some(true)
    );
}

#[wasm_bindgen_test]
async fn a_session_vault_meters_in_memory_and_writes_nothing() {
    let name = unique("session");
    let v = open(&name).await;
    ok(v.create(None, json(r#"{"mode":"session"}"#))).await;
    let id = add(&v, GOOD_KEY, true).await;
    ok(v.send_chat(request(&id, "in memory"))).await;
    let report = ok(v.usage_report(json(r#"{"period":"day"}"#))).await;
    assert_eq!(
        num(&get(&report, "totals"), "calls"),
        2.0,
        "the check and the chat"
    );
    let log: Array = ok(v.audit_log(None)).await.unchecked_into();
    assert!(log.length() >= 3);
    assert_eq!(
        get(&ok(v.verify_audit_log()).await, "ok").as_bool(),
        Some(true)
    );
    for store in ["ledger", "daily", "audit", "settings", "keys", "meta"] {
        assert!(
            records(&name, store).await.is_empty(),
            "{store} was written"
        );
    }
}

#[wasm_bindgen_test]
async fn a_gateway_reported_cost_is_kept_beside_ours_and_the_difference_shown() {
    let (v, name) = device_vault("reported").await;
    // The stand-in puts usage.cost in its answers, as OpenRouter and LiteLLM do.
    let key = behaviour_key(r#"{"reportedCost":0.25}"#).await;
    let id = add(&v, &key, false).await;
    ok(v.send_chat(request(&id, "what did it cost"))).await;
    let (chunks, err) = drain(&v.stream_chat(request(&id, "and streamed"))).await;
    assert!(err.is_none());
    assert_eq!(str_of(chunks.last().unwrap(), "type"), "done");
    let entries = ledger_entries(&records(&name, "ledger").await);
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| num(e, "reportedCostUsd") == 0.25));
    let report = ok(v.usage_report(json(r#"{"period":"month"}"#))).await;
    let totals = get(&report, "totals");
    assert_eq!(num(&totals, "reportedCostUsd"), 0.5);
    let ours = num(&totals, "costUsd");
    assert!(ours > 0.0);
    assert!((num(&totals, "costDifferenceUsd") - (0.5 - ours)).abs() < 1e-9);
}

#[wasm_bindgen_test]
async fn calls_started_together_cannot_pass_a_budget_together() {
    let (v, _) = device_vault("inflight").await;
    let id = add(&v, GOOD_KEY, false).await;
    // One call's estimate (about 10 input and 50 output tokens of gpt-4o: ~$0.0005) fits the
    // limit, two do not. Both start before either is written to the ledger.
    ok(v.set_budget(json(r#"{"provider":"openai","dailyUsd":0.0008}"#))).await;
    let a = v.send_chat(request(&id, "first"));
    let b = v.send_chat(request(&id, "second"));
    let (ra, rb) = (wait(a).await, wait(b).await);
    let refused = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(e) if str_of(e, "code") == "BUDGET_EXCEEDED"))
        .count();
    assert_eq!(refused, 1, "{ra:?} {rb:?}");
    assert!(ra.is_ok() || rb.is_ok());
}
