use super::*;
use crate::core::error::ErrorCode;
use serde_json::{json, Value};

const VAULT_ID: &str = "AAECAwQFBgcICQoLDA0ODw"; // new_id(&[0, 1, ..., 15])
const RECORD_ID: &str = "EBESExQVFhcYGRobHB0eHw"; // new_id(&[16, 17, ..., 31])

fn sealed(ct_len: usize) -> Sealed {
    Sealed {
        iv: B64(vec![7; IV_LEN]),
        ct: B64(vec![9; ct_len]),
    }
}

fn kdf() -> KdfParams {
    KdfParams::pbkdf2_sha256([5; SALT_LEN], MIN_ITERATIONS)
}

fn meta(mode: Mode) -> VaultMeta {
    VaultMeta {
        format: FORMAT_VERSION,
        vault_id: VAULT_ID.to_owned(),
        mode,
        created_at: 1_700_000_000_000.0,
        kdf: (mode == Mode::Passphrase).then(kdf),
        wrapped_key: sealed(WRAPPED_KEY_LEN),
        auto_lock_ms: 15 * 60 * 1000,
        updated_at: 1_700_000_000_500.0,
    }
}

fn record() -> KeyRecord {
    KeyRecord {
        format: FORMAT_VERSION,
        id: RECORD_ID.to_owned(),
        provider: "openai".to_owned(),
        label: "Work key".to_owned(),
        key_prefix: "sk-pr••••••••f456".to_owned(),
        base_url: Some("https://api.openai.com/v1".to_owned()),
        created_at: 1_700_000_000_000.0,
        last_used: Some(1_700_000_100_000.0),
        is_valid: true,
        rotated_at: None,
        history: vec![KeyEvent::new(1_700_000_000_000.0, EVENT_ADDED)],
        sealed: sealed(40),
    }
}

fn backup_key(secret: &str) -> BackupKey {
    BackupKey {
        provider: "anthropic".to_owned(),
        label: "Personal".to_owned(),
        base_url: None,
        created_at: 1_700_000_000_000.0,
        secret: Zeroizing::new(secret.to_owned()),
    }
}

fn backup_doc() -> BackupDoc {
    BackupDoc::new(1_700_000_000_000.0, kdf(), sealed(200))
}

/// Serializes `v`, lets `edit` change the JSON, and returns the text.
fn edited<T: Serialize>(v: &T, edit: impl FnOnce(&mut Value)) -> String {
    let mut j = serde_json::to_value(v).unwrap();
    edit(&mut j);
    j.to_string()
}

fn code_of<T: fmt::Debug>(r: Result<T>) -> ErrorCode {
    r.unwrap_err().code
}

// ---- B64 and ids ----

#[test]
fn b64_is_standard_padded_base64_and_debug_shows_only_the_length() {
    let b = B64(vec![0xfb, 0xff, 0x00, 0x01]);
    let j = serde_json::to_string(&b).unwrap();
    assert_eq!(j, "\"+/8AAQ==\"");
    assert_eq!(serde_json::from_str::<B64>(&j).unwrap(), b);
    assert_eq!(format!("{b:?}"), "B64(<4 bytes>)");
    for bad in [
        "\"-_8AAQ==\"",
        "\"+/8AAQ\"",
        "\"not base64!\"",
        "12",
        "null",
    ] {
        assert!(serde_json::from_str::<B64>(bad).is_err(), "{bad}");
    }
    let empty: B64 = serde_json::from_str("\"\"").unwrap();
    assert!(empty.is_empty());
}

#[test]
fn ids_are_22_chars_of_base64url_and_checked() {
    let bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(new_id(&bytes), VAULT_ID);
    let all_ones = new_id(&[0xff; 16]);
    assert_eq!(all_ones, "_____________________w");
    assert!(is_valid_id(&all_ones));
    assert!(is_valid_id(VAULT_ID));
    for bad in [
        "",
        "AAECAwQFBgcICQoLDA0OD",   // 21 chars
        "AAECAwQFBgcICQoLDA0ODwA", // 23 chars
        "AAECAwQFBgcICQoLDA0ODw==",
        "AAECAwQFBgcICQoLDA0O+w", // standard alphabet
        "AAECAwQFBgcICQoLDA0ODx", // non-zero trailing bits: not what new_id writes
        "AAECAwQFBgcICQoLDA0OD é",
    ] {
        assert!(!is_valid_id(bad), "{bad}");
    }
}

// ---- KDF settings ----

#[test]
fn kdf_bounds_are_inclusive() {
    assert!(kdf().check().is_ok());
    let mut k = kdf();
    k.iterations = MAX_ITERATIONS;
    assert!(k.check().is_ok());
    assert_eq!(DEFAULT_ITERATIONS, MIN_ITERATIONS);
}

#[test]
fn kdf_check_refuses_each_violation() {
    type Edit = fn(&mut KdfParams);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "sha1",
            |k| k.algorithm = "PBKDF2-SHA1".into(),
            "unknown algorithm",
        ),
        (
            "lowercase",
            |k| k.algorithm = "pbkdf2-sha256".into(),
            "unknown algorithm",
        ),
        ("empty alg", |k| k.algorithm.clear(), "unknown algorithm"),
        (
            "too few",
            |k| k.iterations = MIN_ITERATIONS - 1,
            "below the minimum",
        ),
        ("zero", |k| k.iterations = 0, "below the minimum"),
        (
            "too many",
            |k| k.iterations = MAX_ITERATIONS + 1,
            "above the maximum",
        ),
        ("u32 max", |k| k.iterations = u32::MAX, "above the maximum"),
        ("short salt", |k| k.salt.0.truncate(31), "salt"),
        ("long salt", |k| k.salt.0.push(0), "salt"),
        ("no salt", |k| k.salt.0.clear(), "salt"),
    ];
    for (name, edit, why) in cases {
        let mut k = kdf();
        edit(&mut k);
        let e = k.check().unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed, "{name}");
        assert!(e.message.contains("corrupt or was tampered with"), "{name}");
        assert!(e.message.contains(why), "{name}: {}", e.message);
    }
}

#[test]
fn kdf_json_shape() {
    let j = serde_json::to_value(kdf()).unwrap();
    assert_eq!(j["algorithm"], "PBKDF2-SHA256");
    assert_eq!(j["iterations"], 600_000);
    assert_eq!(j["salt"].as_str().unwrap().len(), 44);
}

// ---- Sealed ----

#[test]
fn sealed_check_bounds() {
    for ok in [TAG_LEN, 40, MAX_SEALED_LEN] {
        assert!(sealed(ok).check().is_ok(), "{ok}");
    }
    let cases: &[(&str, Sealed)] = &[
        (
            "no iv",
            Sealed {
                iv: B64(vec![]),
                ..sealed(40)
            },
        ),
        (
            "short iv",
            Sealed {
                iv: B64(vec![0; 11]),
                ..sealed(40)
            },
        ),
        (
            "long iv",
            Sealed {
                iv: B64(vec![0; 13]),
                ..sealed(40)
            },
        ),
        ("no tag", sealed(TAG_LEN - 1)),
        ("empty", sealed(0)),
        ("too large", sealed(MAX_SEALED_LEN + 1)),
    ];
    for (name, s) in cases {
        let e = s.check().unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed, "{name}");
    }
    assert!(sealed(MAX_SEALED_LEN + 1)
        .check_within(MAX_BACKUP_LEN)
        .is_ok());
    assert!(sealed(100).check_within(99).is_err());
}

// ---- VaultMeta ----

#[test]
fn vault_meta_round_trips_in_both_stored_modes() {
    for mode in [Mode::Passphrase, Mode::Device] {
        let m = meta(mode);
        let json = m.to_json().unwrap();
        assert_eq!(VaultMeta::parse(&json).unwrap(), m);
    }
}

#[test]
fn vault_meta_json_is_camel_case_with_lowercase_mode() {
    let j: Value = serde_json::from_str(&meta(Mode::Passphrase).to_json().unwrap()).unwrap();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "format",
        "vaultId",
        "mode",
        "createdAt",
        "kdf",
        "wrappedKey",
        "autoLockMs",
        "updatedAt",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(j["mode"], "passphrase");
    assert_eq!(j["format"], 1);
    let d: Value = serde_json::from_str(&meta(Mode::Device).to_json().unwrap()).unwrap();
    assert_eq!(d["mode"], "device");
    assert!(d.get("kdf").is_none(), "device mode writes no kdf");
}

#[test]
fn vault_meta_refusals() {
    let p = meta(Mode::Passphrase);
    let d = meta(Mode::Device);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "format 0",
            edited(&p, |j| j["format"] = json!(0)),
            "unknown format 0",
        ),
        (
            "no format",
            edited(&p, |j| drop(j.as_object_mut().unwrap().remove("format"))),
            "format",
        ),
        (
            "string format",
            edited(&p, |j| j["format"] = json!("1")),
            "corrupt",
        ),
        (
            "passphrase, no kdf",
            edited(&p, |j| drop(j.as_object_mut().unwrap().remove("kdf"))),
            "no key-derivation",
        ),
        (
            "passphrase, null kdf",
            edited(&p, |j| j["kdf"] = Value::Null),
            "no key-derivation",
        ),
        (
            "device with kdf",
            edited(&d, |j| j["kdf"] = serde_json::to_value(kdf()).unwrap()),
            "device vault has",
        ),
        (
            "session",
            edited(&d, |j| j["mode"] = json!("session")),
            "session vault is never stored",
        ),
        (
            "unknown mode",
            edited(&d, |j| j["mode"] = json!("cloud")),
            "corrupt",
        ),
        (
            "low iterations",
            edited(&p, |j| j["kdf"]["iterations"] = json!(1000)),
            "below the minimum",
        ),
        (
            "huge iterations",
            edited(&p, |j| j["kdf"]["iterations"] = json!(4_000_000_000u32)),
            "above the maximum",
        ),
        (
            "short salt",
            edited(&p, |j| j["kdf"]["salt"] = json!("AAAA")),
            "salt",
        ),
        (
            "bad vault id",
            edited(&p, |j| j["vaultId"] = json!("vault-1")),
            "vault id",
        ),
        (
            "wrapped key too short",
            edited(&p, |j| {
                j["wrappedKey"]["ct"] = json!(STANDARD.encode([0u8; 32]))
            }),
            "wrapped data key",
        ),
        (
            "wrapped key bad iv",
            edited(&p, |j| {
                j["wrappedKey"]["iv"] = json!(STANDARD.encode([0u8; 16]))
            }),
            "IV",
        ),
        (
            "negative time",
            edited(&p, |j| j["createdAt"] = json!(-1.0)),
            "createdAt",
        ),
        (
            "unknown field",
            edited(&p, |j| j["extra"] = json!(true)),
            "unknown field",
        ),
        ("not an object", "[1]".to_owned(), "corrupt"),
        ("not json", "{".to_owned(), "corrupt"),
        ("too large", " ".repeat(MAX_RECORD_LEN + 1), "larger than"),
    ];
    for (name, json, why) in cases {
        let e = VaultMeta::parse(&json).unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed, "{name}: {}", e.message);
        assert!(e.message.contains(why), "{name}: {}", e.message);
    }
}

#[test]
fn vault_meta_from_a_newer_byok_is_refused_as_newer_whatever_its_shape() {
    for json in [
        edited(&meta(Mode::Device), |j| j["format"] = json!(2)),
        r#"{"format": 7, "everything": ["else", "changed"]}"#.to_owned(),
    ] {
        let e = VaultMeta::parse(&json).unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed);
        assert!(
            e.message.contains("written by a newer version of byok"),
            "{}",
            e.message
        );
    }
}

#[test]
fn vault_meta_check_catches_what_json_cannot_carry() {
    let mut m = meta(Mode::Device);
    m.updated_at = f64::NAN;
    assert_eq!(code_of(m.check()), ErrorCode::DecryptionFailed);
    // Writing what could not be read back is refused, as a write-side failure.
    assert_eq!(code_of(m.to_json()), ErrorCode::EncryptionFailed);
    let mut m = meta(Mode::Device);
    m.format = 2;
    assert_eq!(code_of(m.to_json()), ErrorCode::EncryptionFailed);
}

// ---- KeyRecord ----

#[test]
fn key_record_round_trips_and_uses_camel_case() {
    let r = record();
    let json = r.to_json().unwrap();
    assert_eq!(KeyRecord::parse(&json).unwrap(), r);
    let j: Value = serde_json::from_str(&json).unwrap();
    for k in [
        "keyPrefix",
        "baseUrl",
        "createdAt",
        "lastUsed",
        "isValid",
        "history",
        "sealed",
    ] {
        assert!(j.get(k).is_some(), "{k}");
    }
    assert!(j.get("rotatedAt").is_none(), "None is omitted");
    // Optional fields may be absent or null.
    let minimal = edited(&r, |j| {
        let o = j.as_object_mut().unwrap();
        o.remove("baseUrl");
        o.remove("lastUsed");
        o.remove("history");
        o.insert("rotatedAt".into(), Value::Null);
    });
    let m = KeyRecord::parse(&minimal).unwrap();
    assert_eq!((m.base_url, m.last_used, m.rotated_at), (None, None, None));
    assert!(m.history.is_empty());
}

#[test]
fn key_record_refusals() {
    let r = record();
    let long_label = "é".repeat(MAX_LABEL_LEN + 1);
    let history: Vec<Value> = (0..=MAX_HISTORY)
        .map(|i| json!({"at": i as f64, "event": "validated"}))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "newer",
            edited(&r, |j| j["format"] = json!(2)),
            "newer version",
        ),
        (
            "format 0",
            edited(&r, |j| j["format"] = json!(0)),
            "unknown format",
        ),
        (
            "provider-derived id",
            edited(&r, |j| j["id"] = json!("openai")),
            "record id",
        ),
        (
            "empty provider",
            edited(&r, |j| j["provider"] = json!("")),
            "provider",
        ),
        (
            "odd provider",
            edited(&r, |j| j["provider"] = json!("Open AI")),
            "provider",
        ),
        (
            "long provider",
            edited(&r, |j| j["provider"] = json!("a".repeat(65))),
            "provider",
        ),
        (
            "long label",
            edited(&r, |j| j["label"] = json!(long_label)),
            "label",
        ),
        (
            "long prefix",
            edited(&r, |j| j["keyPrefix"] = json!("x".repeat(65))),
            "keyPrefix",
        ),
        (
            "long url",
            edited(&r, |j| {
                j["baseUrl"] = json!(format!("https://{}", "a".repeat(2048)))
            }),
            "baseUrl",
        ),
        (
            "bad time",
            edited(&r, |j| j["lastUsed"] = json!(-5)),
            "lastUsed",
        ),
        (
            "unknown event",
            edited(&r, |j| j["history"][0]["event"] = json!("exported")),
            "history event",
        ),
        (
            "history too long",
            edited(&r, |j| j["history"] = json!(history)),
            "history entries",
        ),
        (
            "bad iv",
            edited(&r, |j| j["sealed"]["iv"] = json!("AAAA")),
            "IV",
        ),
        (
            "no tag",
            edited(&r, |j| j["sealed"]["ct"] = json!("AAAA")),
            "authentication tag",
        ),
        (
            "ct too large",
            edited(&r, |j| {
                j["sealed"]["ct"] = json!(STANDARD.encode(vec![0u8; MAX_SEALED_LEN + 1]))
            }),
            "larger than",
        ),
        (
            "bad base64",
            edited(&r, |j| j["sealed"]["ct"] = json!("***")),
            "base64",
        ),
        (
            "missing sealed",
            edited(&r, |j| drop(j.as_object_mut().unwrap().remove("sealed"))),
            "sealed",
        ),
        (
            "unknown field",
            edited(&r, |j| j["secret"] = json!("sk-live")),
            "unknown field",
        ),
        ("too large", " ".repeat(MAX_RECORD_LEN + 1), "larger than"),
    ];
    for (name, json, why) in cases {
        let e = KeyRecord::parse(&json).unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed, "{name}: {}", e.message);
        assert!(e.message.contains(why), "{name}: {}", e.message);
    }
}

#[test]
fn decode_errors_do_not_quote_values() {
    let json = edited(&record(), |j| j["isValid"] = json!("sk-proj-secretvalue"));
    let e = KeyRecord::parse(&json).unwrap_err();
    assert!(!e.message.contains("secretvalue"), "{}", e.message);
}

#[test]
fn history_keeps_the_latest_fifty() {
    let mut r = record();
    r.history.clear();
    for i in 0..(MAX_HISTORY + 10) {
        r.push_event(i as f64, EVENT_VALIDATED);
    }
    assert_eq!(r.history.len(), MAX_HISTORY);
    assert_eq!(r.history.first().map(|e| e.at), Some(10.0));
    assert_eq!(
        r.history.last().map(|e| e.at),
        Some((MAX_HISTORY + 9) as f64)
    );
    let json = r.to_json().unwrap();
    assert_eq!(KeyRecord::parse(&json).unwrap().history.len(), MAX_HISTORY);
}

#[test]
fn every_event_kind_is_accepted() {
    let mut r = record();
    for (i, e) in [
        EVENT_ADDED,
        EVENT_VALIDATED,
        EVENT_ROTATED,
        EVENT_INVALIDATED,
    ]
    .into_iter()
    .enumerate()
    {
        r.push_event(i as f64, e);
    }
    assert!(r.check().is_ok());
}

// ---- associated data ----

#[test]
fn key_record_aad_changes_with_every_bound_field() {
    let base = key_record_aad(VAULT_ID, RECORD_ID, "openai", None);
    let variants: &[(&str, Vec<u8>)] = &[
        (
            "vault",
            key_record_aad(RECORD_ID, RECORD_ID, "openai", None),
        ),
        ("record", key_record_aad(VAULT_ID, VAULT_ID, "openai", None)),
        (
            "provider",
            key_record_aad(VAULT_ID, RECORD_ID, "openai-compatible", None),
        ),
        (
            "url set",
            key_record_aad(
                VAULT_ID,
                RECORD_ID,
                "openai",
                Some("https://api.openai.com/v1"),
            ),
        ),
        (
            "empty url",
            key_record_aad(VAULT_ID, RECORD_ID, "openai", Some("")),
        ),
        (
            "other url",
            key_record_aad(
                VAULT_ID,
                RECORD_ID,
                "openai",
                Some("https://evil.example/v1"),
            ),
        ),
        ("data key", data_key_aad(VAULT_ID)),
    ];
    let mut all = vec![base.clone()];
    for (name, v) in variants {
        assert_ne!(v, &base, "{name}");
        assert!(!all.contains(v), "{name} collides");
        all.push(v.clone());
    }
    // Deterministic.
    assert_eq!(base, key_record_aad(VAULT_ID, RECORD_ID, "openai", None));
    assert!(base.starts_with(b"byok/aad/v1"));
}

#[test]
fn aad_is_unambiguous_across_field_boundaries() {
    assert_ne!(
        key_record_aad("ab", "c", "p", None),
        key_record_aad("a", "bc", "p", None)
    );
    assert_ne!(
        key_record_aad("v", "r", "p", Some("")),
        key_record_aad("v", "r", "p", None)
    );
    // A provider ending in bytes that look like a base-URL field must not collide with one.
    let mut tricky = String::from("p");
    tricky.push('\u{1}');
    assert_ne!(
        key_record_aad("v", "r", &tricky, None),
        key_record_aad("v", "r", "p", None)
    );
    assert_ne!(data_key_aad("a"), data_key_aad("b"));
    assert_ne!(data_key_aad(""), data_key_aad("\0"));
}

#[test]
fn record_aad_method_matches_the_function() {
    let r = record();
    assert_eq!(
        r.aad(VAULT_ID),
        key_record_aad(
            VAULT_ID,
            RECORD_ID,
            "openai",
            Some("https://api.openai.com/v1")
        )
    );
}

#[test]
fn backup_aad_changes_with_every_header_field() {
    let k = kdf();
    let base = backup_aad(BACKUP_FORMAT, 1, 1000.0, &k);
    let with = |f: fn(&mut KdfParams)| {
        let mut k = kdf();
        f(&mut k);
        backup_aad(BACKUP_FORMAT, 1, 1000.0, &k)
    };
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("format", backup_aad("byok-backup2", 1, 1000.0, &k)),
        ("version", backup_aad(BACKUP_FORMAT, 2, 1000.0, &k)),
        ("created", backup_aad(BACKUP_FORMAT, 1, 1000.5, &k)),
        ("created -0", backup_aad(BACKUP_FORMAT, 1, -0.0, &k)),
        ("algorithm", with(|k| k.algorithm = "PBKDF2-SHA512".into())),
        ("iterations", with(|k| k.iterations += 1)),
        ("salt", with(|k| k.salt.0[0] ^= 1)),
    ];
    let mut all = vec![base.clone()];
    for (name, v) in variants {
        assert_ne!(v, base, "{name}");
        assert!(!all.contains(&v), "{name} collides");
        all.push(v);
    }
    let doc = backup_doc();
    assert_eq!(
        doc.aad(),
        backup_aad(BACKUP_FORMAT, 1, doc.created_at, &doc.kdf)
    );
    assert!(!all.contains(&data_key_aad(VAULT_ID)));
}

// ---- backups ----

#[test]
fn backup_doc_round_trips_and_allows_large_ciphertexts() {
    let mut doc = backup_doc();
    doc.sealed = sealed(MAX_SEALED_LEN * 4);
    let json = doc.to_json().unwrap();
    assert_eq!(BackupDoc::parse(&json).unwrap(), doc);
    let j: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["format"], "byok-backup");
    assert_eq!(j["version"], 1);
    assert!(j.get("createdAt").is_some());
}

#[test]
fn backup_doc_refusals() {
    let doc = backup_doc();
    use ErrorCode::{DecryptionFailed as Dec, InvalidRequest as Inv};
    let cases: Vec<(&str, String, ErrorCode, &str)> = vec![
        ("not json", "hello".into(), Inv, "not a byok backup"),
        (
            "other format",
            edited(&doc, |j| j["format"] = json!("bitwarden")),
            Inv,
            "not a byok backup",
        ),
        (
            "no format",
            edited(&doc, |j| drop(j.as_object_mut().unwrap().remove("format"))),
            Inv,
            "not a byok backup",
        ),
        (
            "newer",
            edited(&doc, |j| j["version"] = json!(2)),
            Inv,
            "newer version of byok",
        ),
        (
            "version 0",
            edited(&doc, |j| j["version"] = json!(0)),
            Inv,
            "unsupported backup version",
        ),
        (
            "too large",
            " ".repeat(MAX_BACKUP_LEN + 1),
            Inv,
            "larger than",
        ),
        (
            "unknown field",
            edited(&doc, |j| j["note"] = json!("hi")),
            Inv,
            "unknown field",
        ),
        (
            "missing sealed",
            edited(&doc, |j| drop(j.as_object_mut().unwrap().remove("sealed"))),
            Inv,
            "sealed",
        ),
        (
            "low iterations",
            edited(&doc, |j| j["kdf"]["iterations"] = json!(1)),
            Dec,
            "below the minimum",
        ),
        (
            "high iterations",
            edited(&doc, |j| j["kdf"]["iterations"] = json!(MAX_ITERATIONS + 1)),
            Dec,
            "above the maximum",
        ),
        (
            "bad salt",
            edited(&doc, |j| j["kdf"]["salt"] = json!("AAAA")),
            Dec,
            "salt",
        ),
        (
            "bad iv",
            edited(&doc, |j| j["sealed"]["iv"] = json!("AAAA")),
            Dec,
            "IV",
        ),
        (
            "no tag",
            edited(&doc, |j| j["sealed"]["ct"] = json!("")),
            Dec,
            "authentication tag",
        ),
        (
            "bad time",
            edited(&doc, |j| j["createdAt"] = json!(-3)),
            Dec,
            "createdAt",
        ),
    ];
    for (name, json, code, why) in cases {
        let e = BackupDoc::parse(&json).unwrap_err();
        assert_eq!(e.code, code, "{name}: {}", e.message);
        assert!(e.message.contains(why), "{name}: {}", e.message);
    }
}

#[test]
fn backup_payload_round_trips_in_a_buffer_that_never_grew() {
    let mut with_url = backup_key("sk-proj-abc\"def\\ghi\u{1}");
    with_url.base_url = Some("http://localhost:11434".into());
    let p = BackupPayload {
        keys: vec![backup_key("sk-ant-api03-xyz"), with_url],
    };
    let bytes = p.to_json().unwrap();
    assert_eq!(
        bytes.capacity(),
        bytes.len(),
        "sized exactly, no reallocation"
    );
    let back = BackupPayload::parse(&bytes).unwrap();
    assert_eq!(back, p);
    let j: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(j["keys"][1]["baseUrl"], "http://localhost:11434");
    assert_eq!(j["keys"][0]["createdAt"], 1_700_000_000_000.0);
    assert!(
        BackupPayload::parse(&BackupPayload::default().to_json().unwrap())
            .unwrap()
            .keys
            .is_empty()
    );
}

#[test]
fn backup_debug_is_redacted() {
    let p = BackupPayload {
        keys: vec![backup_key("sk-ant-api03-SECRET")],
    };
    let shown = format!("{p:?} {:?}", p.keys[0]);
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("<redacted>"));
    assert!(shown.contains("anthropic"));
}

#[test]
fn backup_payload_refusals_never_quote_the_secret() {
    let one = |edit: fn(&mut Value)| {
        let p = BackupPayload {
            keys: vec![backup_key("sk-SECRET-1")],
        };
        edited(&p, |j| edit(&mut j["keys"][0])).into_bytes()
    };
    let many = BackupPayload {
        keys: (0..=MAX_BACKUP_KEYS).map(|_| backup_key("k")).collect(),
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty secret", one(|k| k["secret"] = json!("")), "empty"),
        (
            "bad provider",
            one(|k| k["provider"] = json!("sk-SECRET-1")),
            "provider",
        ),
        (
            "wrong type",
            one(|k| k["label"] = json!(["sk-SECRET-1"])),
            "malformed",
        ),
        (
            "unknown field",
            one(|k| k["apiKey"] = json!("sk-SECRET-1")),
            "malformed",
        ),
        (
            "missing secret",
            one(|k| drop(k.as_object_mut().unwrap().remove("secret"))),
            "malformed",
        ),
        (
            "huge secret",
            one(|k| k["secret"] = json!("s".repeat(MAX_SECRET_LEN + 1))),
            "secret",
        ),
        (
            "too many",
            serde_json::to_vec(&many).unwrap(),
            "more than 1000 keys",
        ),
        ("not json", b"sk-SECRET-1".to_vec(), "malformed"),
        ("too large", vec![b' '; MAX_BACKUP_LEN + 1], "larger than"),
    ];
    for (name, bytes, why) in cases {
        let e = BackupPayload::parse(&bytes).unwrap_err();
        assert_eq!(e.code, ErrorCode::DecryptionFailed, "{name}");
        assert!(e.message.contains(why), "{name}: {}", e.message);
        assert!(!e.message.contains("SECRET"), "{name}: {}", e.message);
    }
    assert_eq!(code_of(many.to_json()), ErrorCode::EncryptionFailed);
}

#[test]
fn backup_payload_at_the_key_limit_is_accepted() {
    let p = BackupPayload {
        keys: (0..MAX_BACKUP_KEYS).map(|_| backup_key("sk-x")).collect(),
    };
    let bytes = p.to_json().unwrap();
    assert_eq!(
        BackupPayload::parse(&bytes).unwrap().keys.len(),
        MAX_BACKUP_KEYS
    );
}
