//! The vault through its JavaScript exports, in headless Chromium, against the stand-in:
//! modes, passphrases, keys, tampering, reloads, storage scans, tabs and idle lock.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::vault::VaultHandle;
use common::*;
use js_sys::{Array, Promise};
use rexie::{Rexie, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const PASS: &str = "correct horse battery staple";

async fn open(name: &str) -> VaultHandle {
    let v = ok(VaultHandle::open(Some(name.to_owned()))).await;
    // The handle crosses the boundary as a JS object; take it back as Rust.
    VaultHandle::try_from_js(v)
}

trait FromJs {
    fn try_from_js(v: JsValue) -> Self;
}

impl FromJs for VaultHandle {
    fn try_from_js(v: JsValue) -> Self {
        use wasm_bindgen::convert::TryFromJsValue;
        <VaultHandle as TryFromJsValue>::try_from_js_value(v).expect("a Vault")
    }
}

async fn passphrase_vault(name: &str) -> VaultHandle {
    let v = open(name).await;
    assert_eq!(v.status(), "empty");
    ok(v.create(Some(PASS.into()), JsValue::UNDEFINED)).await;
    assert_eq!(v.status(), "unlocked");
    v
}

fn add_opts(validate: bool) -> JsValue {
    obj(&[
        ("baseUrl", openai_base().into()),
        ("validate", validate.into()),
        ("label", "work".into()),
    ])
}

async fn add(v: &VaultHandle, key: &str) -> JsValue {
    ok(v.add_key("openai".into(), key.into(), add_opts(true))).await
}

async fn list(v: &VaultHandle) -> Array {
    ok(v.list_keys()).await.unchecked_into()
}

/// Every record of every store of a vault database, as JSON text.
async fn dump_database(name: &str) -> String {
    let db = vault_db(name).await;
    let mut out = String::new();
    for store_name in db.store_names() {
        let tx = db
            .transaction(&[&store_name], TransactionMode::ReadOnly)
            .unwrap();
        let store = tx.store(&store_name).unwrap();
        for v in store.get_all(None, None).await.unwrap() {
            out.push_str(&stringify(&v));
            out.push('\n');
        }
    }
    db.close();
    out
}

/// Changes one key record (or the vault record) in place, as an attacker with disk access could.
async fn tamper(name: &str, store_name: &str, id: &str, edit: impl Fn(&mut serde_json::Value)) {
    let db = vault_db(name).await;
    let tx = db
        .transaction(&[store_name], TransactionMode::ReadWrite)
        .unwrap();
    let store = tx.store(store_name).unwrap();
    let value = store.get(id.into()).await.unwrap().expect("record exists");
    let mut json: serde_json::Value = serde_json::from_str(&str_of(&value, "json")).unwrap();
    edit(&mut json);
    js_sys::Reflect::set(&value, &"json".into(), &json.to_string().into()).unwrap();
    store.put(&value, None).await.unwrap();
    tx.done().await.unwrap();
    db.close();
}

fn flip_b64(v: &mut serde_json::Value, byte: usize) {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    let mut bytes = e.decode(v.as_str().unwrap()).unwrap();
    let i = byte.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    *v = e.encode(bytes).into();
}

#[wasm_bindgen_test]
async fn passphrase_lifecycle_and_wrong_passphrase() {
    let name = unique("life");
    let v = passphrase_vault(&name).await;
    assert_eq!(v.mode().as_string().as_deref(), Some("passphrase"));
    v.lock();
    assert_eq!(v.status(), "locked");
    fails(
        v.unlock(Some("not the passphrase".into())),
        "WRONG_PASSPHRASE",
    )
    .await;
    assert_eq!(v.status(), "locked");
    ok(v.unlock(Some(PASS.into()))).await;
    assert_eq!(v.status(), "unlocked");
    // A second create is refused, a short passphrase too.
    fails(
        v.create(Some(PASS.into()), JsValue::UNDEFINED),
        "INVALID_REQUEST",
    )
    .await;
    let other = open(&unique("short")).await;
    fails(
        other.create(Some("short".into()), JsValue::UNDEFINED),
        "INVALID_REQUEST",
    )
    .await;
    // Reopening finds the vault locked.
    let again = open(&name).await;
    assert_eq!(again.status(), "locked");
}

#[wasm_bindgen_test]
async fn add_list_validate_remove_against_the_standin() {
    let v = passphrase_vault(&unique("keys")).await;
    let r = add(&v, GOOD_KEY).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let id = str_of(&r, "id");
    assert_eq!(id.len(), 22, "a random id: {id}");
    let models: Array = get(&r, "models").unchecked_into();
    assert!(models
        .iter()
        .any(|m| m.as_string().as_deref() == Some("gpt-4o")));

    let keys = list(&v).await;
    assert_eq!(keys.length(), 1);
    let k = keys.get(0);
    assert_eq!(str_of(&k, "provider"), "openai");
    assert_eq!(str_of(&k, "label"), "work");
    assert_eq!(str_of(&k, "keyPrefix"), "sk-pr••••••••0000");
    assert_eq!(str_of(&k, "baseUrl"), openai_base());
    assert_eq!(get(&k, "isValid").as_bool(), Some(true));
    assert!(!stringify(&keys).contains("standinVALID"));

    // A key the provider refuses is reported, not stored, and never echoed.
    let bad = "sk-proj-standinUNKNOWNkey111111111111111111";
    let r = add(&v, bad).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert!(
        !str_of(&r, "error").contains("UNKNOWNkey"),
        "{}",
        str_of(&r, "error")
    );
    assert_eq!(list(&v).await.length(), 1);

    // A malformed key fails before any request reaches the provider.
    let mark = log_mark().await;
    let r = add(&v, "sk-x").await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert_eq!(log_since(mark).await.length(), 0);

    // validateKey with and without a key.
    let r = ok(v.validate_key(
        "openai".into(),
        Some(GOOD_KEY.into()),
        obj(&[("baseUrl", openai_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true));
    let r = ok(v.validate_key("openai".into(), None, JsValue::UNDEFINED)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));

    ok(v.remove_key(id.clone())).await;
    assert_eq!(list(&v).await.length(), 0);
    fails(v.remove_key(id), "KEY_NOT_FOUND").await;
}

#[wasm_bindgen_test]
async fn a_locked_vault_refuses_key_calls() {
    let v = passphrase_vault(&unique("locked")).await;
    v.lock();
    fails(
        v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false)),
        "VAULT_LOCKED",
    )
    .await;
    fails(v.list_keys(), "VAULT_LOCKED").await;
    fails(
        v.validate_key("openai".into(), None, JsValue::UNDEFINED),
        "VAULT_LOCKED",
    )
    .await;
}

#[wasm_bindgen_test]
async fn unsafe_base_urls_are_refused() {
    let v = passphrase_vault(&unique("urls")).await;
    for url in [
        "http://example.com/v1",
        "https://user:pw@example.com",
        "ftp://x",
    ] {
        let opts = obj(&[("baseUrl", url.into()), ("validate", false.into())]);
        fails(
            v.add_key("openai".into(), GOOD_KEY.into(), opts),
            "INVALID_REQUEST",
        )
        .await;
    }
}

#[wasm_bindgen_test]
async fn change_passphrase_rewraps_only_the_data_key() {
    let name = unique("change");
    let v = passphrase_vault(&name).await;
    add(&v, GOOD_KEY).await;
    let before = dump_database(&name).await;
    fails(
        v.change_passphrase("wrong one!".into(), "new passphrase 2".into()),
        "WRONG_PASSPHRASE",
    )
    .await;
    ok(v.change_passphrase(PASS.into(), "new passphrase 2".into())).await;
    let after = dump_database(&name).await;
    // Key records are untouched; only the vault record changed.
    let key_lines = |dump: &str| {
        dump.lines()
            .filter(|l| l.contains("\"k_"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(key_lines(&before), key_lines(&after));
    assert_ne!(before, after);
    v.lock();
    fails(v.unlock(Some(PASS.into())), "WRONG_PASSPHRASE").await;
    ok(v.unlock(Some("new passphrase 2".into()))).await;
    let r = ok(v.validate_key("openai".into(), None, JsValue::UNDEFINED)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true));
}

#[wasm_bindgen_test]
async fn nothing_stored_holds_a_key_in_plain_text() {
    let name = unique("scan");
    let v = passphrase_vault(&name).await;
    add(&v, GOOD_KEY).await;
    let dump = dump_database(&name).await;
    assert!(!dump.is_empty());
    for needle in [GOOD_KEY, "standinVALIDkey", PASS] {
        assert!(!dump.contains(needle), "{needle} found in IndexedDB");
    }
    let global = js_sys::global();
    for storage in ["localStorage", "sessionStorage"] {
        let s = get(&global, storage);
        let len = get(&s, "length").as_f64().unwrap_or(0.0) as u32;
        let key_fn: js_sys::Function = get(&s, "key").unchecked_into();
        let get_fn: js_sys::Function = get(&s, "getItem").unchecked_into();
        for i in 0..len {
            let k = key_fn.call1(&s, &i.into()).unwrap();
            let item = get_fn
                .call1(&s, &k)
                .unwrap()
                .as_string()
                .unwrap_or_default();
            assert!(!item.contains("standinVALIDkey"), "{storage} holds a key");
        }
    }
}

#[wasm_bindgen_test]
async fn tampered_records_fail_cleanly_and_spare_the_others() {
    let name = unique("tamper");
    let v = passphrase_vault(&name).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(str_of(
            &ok(v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await,
            "id",
        ));
    }
    // Flip a byte of the IV, of the ciphertext, of the tag; re-point the base URL; change the
    // provider; each record alone fails, the untouched one still opens.
    tamper(&name, "keys", &ids[0], |j| {
        flip_b64(&mut j["sealed"]["iv"], 0)
    })
    .await;
    tamper(&name, "keys", &ids[1], |j| {
        flip_b64(&mut j["sealed"]["ct"], 0)
    })
    .await;
    tamper(&name, "keys", &ids[2], |j| {
        flip_b64(&mut j["sealed"]["ct"], 10_000)
    })
    .await;
    tamper(&name, "keys", &ids[3], |j| {
        j["baseUrl"] = "https://attacker.example/v1".into()
    })
    .await;
    tamper(&name, "keys", &ids[4], |j| j["provider"] = "xai".into()).await;
    for (i, id) in ids.iter().enumerate().take(5) {
        let provider = if i == 4 { "xai" } else { "openai" };
        let req = json(&format!(
            r#"{{"provider":"{provider}","model":"gpt-4o","keyId":"{id}","messages":[{{"role":"user","content":"hi"}}]}}"#
        ));
        let e = fails(v.send_chat(req), "DECRYPTION_FAILED").await;
        assert!(!str_of(&e, "message").contains("standin"));
    }
    let req = json(&format!(
        r#"{{"provider":"openai","model":"gpt-4o","keyId":"{}","messages":[{{"role":"user","content":"hi"}}]}}"#,
        ids[5]
    ));
    // The untouched key still works (its base URL is the stand-in's).
    let r = ok(v.send_chat(req)).await;
    assert!(str_of(&r, "content").contains("hi"));
}

#[wasm_bindgen_test]
async fn swapped_records_fail() {
    let name = unique("swap");
    let v = passphrase_vault(&name).await;
    let a = str_of(
        &ok(v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await,
        "id",
    );
    let b = str_of(
        &ok(v.add_key(
            "openai".into(),
            "sk-proj-standinWHOLEkey0000000000000000000000".into(),
            add_opts(false),
        ))
        .await,
        "id",
    );
    // Read both sealed boxes, then write each into the other record.
    let dump = dump_database(&name).await;
    let sealed_of = |id: &str| -> serde_json::Value {
        // The key's own record (the audit log names key ids too).
        let line = dump
            .lines()
            .find(|l| l.contains(id) && l.contains("sealed"))
            .unwrap();
        let outer: serde_json::Value = serde_json::from_str(line).unwrap();
        let inner: serde_json::Value =
            serde_json::from_str(outer["json"].as_str().unwrap()).unwrap();
        inner["sealed"].clone()
    };
    let (sa, sb) = (sealed_of(&a), sealed_of(&b));
    tamper(&name, "keys", &a, |j| j["sealed"] = sb.clone()).await;
    tamper(&name, "keys", &b, |j| j["sealed"] = sa.clone()).await;
    for id in [&a, &b] {
        let req = json(&format!(
            r#"{{"provider":"openai","model":"gpt-4o","keyId":"{id}","messages":[{{"role":"user","content":"hi"}}]}}"#
        ));
        fails(v.send_chat(req), "DECRYPTION_FAILED").await;
    }
}

#[wasm_bindgen_test]
async fn tampered_vault_records_are_refused() {
    // Salt, wrapped-key IV and tag, iteration count below the floor or above the cap,
    // unknown format version: unlock fails with a clean error, never hangs or panics.
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "salt",
            Box::new(|j| flip_b64(&mut j["kdf"]["salt"], 3)),
            &["WRONG_PASSPHRASE", "DECRYPTION_FAILED"],
        ),
        (
            "iv",
            Box::new(|j| flip_b64(&mut j["wrappedKey"]["iv"], 0)),
            &["WRONG_PASSPHRASE", "DECRYPTION_FAILED"],
        ),
        (
            "tag",
            Box::new(|j| flip_b64(&mut j["wrappedKey"]["ct"], 10_000)),
            &["WRONG_PASSPHRASE", "DECRYPTION_FAILED"],
        ),
        (
            "vault id",
            Box::new(|j| j["vaultId"] = "AAAAAAAAAAAAAAAAAAAAAA".into()),
            &["WRONG_PASSPHRASE", "DECRYPTION_FAILED"],
        ),
        (
            "few iterations",
            Box::new(|j| j["kdf"]["iterations"] = 1000.into()),
            &["DECRYPTION_FAILED"],
        ),
        (
            "huge iterations",
            Box::new(|j| j["kdf"]["iterations"] = 4_000_000_000u64.into()),
            &["DECRYPTION_FAILED"],
        ),
        (
            "format",
            Box::new(|j| j["format"] = 99.into()),
            &["DECRYPTION_FAILED"],
        ),
    ];
    for (what, edit, codes) in cases {
        let name = unique("vtamper");
        let v = passphrase_vault(&name).await;
        v.lock();
        tamper(&name, "meta", "vault", |j| edit(j)).await;
        // The refusal may come at open (the record does not parse) or at unlock.
        let e = match wait(VaultHandle::open(Some(name.clone()))).await {
            Err(e) => e,
            Ok(handle) => {
                let reopened = VaultHandle::try_from_js(handle);
                let p: Promise = reopened.unlock(Some(PASS.into()));
                wait(p).await.expect_err(what)
            }
        };
        let code = str_of(&e, "code");
        assert!(
            codes.contains(&code.as_str()),
            "{what}: {code} {}",
            str_of(&e, "message")
        );
    }
}

#[wasm_bindgen_test]
async fn device_mode_reopens_unlocked_and_its_keys_never_leave() {
    let name = unique("device");
    let v = open(&name).await;
    ok(v.create(None, obj(&[("mode", "device".into())]))).await;
    assert_eq!(v.status(), "unlocked");
    ok(v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await;
    drop(v);

    // Reload: a new handle opens the same database and unlocks without a passphrase.
    let again = open(&name).await;
    assert_eq!(again.status(), "unlocked");
    assert_eq!(list(&again).await.length(), 1);

    // Every CryptoKey stored in IndexedDB is non-extractable and exportKey rejects.
    let db = vault_db(&name).await;
    let tx = db
        .transaction(&["meta"], TransactionMode::ReadOnly)
        .unwrap();
    let meta = tx
        .store("meta")
        .unwrap()
        .get("vault".into())
        .await
        .unwrap()
        .unwrap();
    let key = get(&meta, "deviceKey");
    assert!(
        key.is_instance_of::<web_sys::CryptoKey>(),
        "a CryptoKey is stored"
    );
    assert_eq!(get(&key, "extractable").as_bool(), Some(false));
    let subtle = get(&get(&js_sys::global(), "crypto"), "subtle");
    let export: js_sys::Function = get(&subtle, "exportKey").unchecked_into();
    let p: Promise = export
        .call2(&subtle, &"raw".into(), &key)
        .unwrap()
        .unchecked_into();
    assert!(wait(p).await.is_err(), "exportKey must reject");
    db.close();
}

#[wasm_bindgen_test]
async fn session_mode_writes_nothing_and_forgets_at_lock() {
    let name = unique("session");
    let v = open(&name).await;
    ok(v.create(None, obj(&[("mode", "session".into())]))).await;
    ok(v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await;
    assert_eq!(list(&v).await.length(), 1);
    let dump = dump_database(&name).await;
    assert!(dump.trim().is_empty(), "a session vault wrote: {dump}");
    v.lock();
    assert_eq!(v.status(), "empty");
}

#[wasm_bindgen_test]
async fn idle_time_locks_the_vault() {
    let v = open(&unique("idle")).await;
    ok(v.create(Some(PASS.into()), obj(&[("autoLockMs", 150.into())]))).await;
    assert_eq!(v.status(), "unlocked");
    sleep(400).await;
    assert_eq!(v.status(), "locked");
}

#[wasm_bindgen_test]
async fn two_tabs_share_lock_and_keys() {
    let name = unique("tabs");
    let a = passphrase_vault(&name).await;
    let b = open(&name).await;
    ok(b.unlock(Some(PASS.into()))).await;
    ok(a.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await;
    ok(b.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await;
    assert_eq!(list(&a).await.length(), 2);
    assert_eq!(list(&b).await.length(), 2);
    a.lock();
    // BroadcastChannel delivers asynchronously.
    for _ in 0..50 {
        if b.status() == "locked" {
            break;
        }
        sleep(10).await;
    }
    assert_eq!(b.status(), "locked");
}

async fn newer_schema(name: &str) -> Rexie {
    Rexie::builder(&format!("byok-vault:{name}"))
        .version(byok::web::store::SCHEMA_VERSION + 1)
        .add_object_store(rexie::ObjectStore::new("meta").key_path("id"))
        .add_object_store(rexie::ObjectStore::new("keys").key_path("id"))
        .build()
        .await
        .expect("the newer schema opens")
}

#[wasm_bindgen_test]
async fn indexeddb_refusals_are_storage_failed_and_lose_nothing() {
    let name = unique("refused");
    let v = passphrase_vault(&name).await;
    ok(v.add_key("openai".into(), GOOD_KEY.into(), add_opts(false))).await;
    let before = dump_database(&name).await;
    drop(v);
    // Another tab upgraded the database to a version this build does not know: opening it
    // again is refused by IndexedDB (VersionError).
    // (idb deletes undeclared stores on upgrade: the newer schema declares both.)
    let newer = newer_schema(&name).await;
    newer.close();
    let e = fails(VaultHandle::open(Some(name.clone())), "STORAGE_FAILED").await;
    assert!(
        str_of(&e, "message").contains("IndexedDB"),
        "{}",
        str_of(&e, "message")
    );
    // Nothing stored was lost.
    let db = Rexie::builder(&format!("byok-vault:{name}"))
        .version(byok::web::store::SCHEMA_VERSION + 1)
        .build()
        .await
        .unwrap();
    let tx = db
        .transaction(&["keys"], TransactionMode::ReadOnly)
        .unwrap();
    let keys = tx.store("keys").unwrap().get_all(None, None).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(before.contains(&stringify(&keys[0])));
    db.close();
}
