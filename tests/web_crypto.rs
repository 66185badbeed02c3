//! `web::crypto` through real WebCrypto in headless Chromium: known-answer tests (each vector's
//! source beside it), key properties (non-extractable means `exportKey` rejects), tampering with
//! every input of an authenticated operation, and the KDF bounds.
#![cfg(target_arch = "wasm32")]

use byok::core::error::{ByokError, ErrorCode};
use byok::core::vault_format::{
    data_key_aad, key_record_aad, KdfParams, Sealed, B64, IV_LEN, MAX_BACKUP_LEN, MAX_ITERATIONS,
    MIN_ITERATIONS, SALT_LEN,
};
use byok::web::crypto::*;
use js_sys::Reflect;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{CryptoKey, SubtleCrypto};

wasm_bindgen_test_configure!(run_in_browser);

const VAULT_ID: &str = "AAECAwQFBgcICQoLDA0ODw";
const RECORD_ID: &str = "EBESExQVFhcYGRobHB0eHw";
const PASS: &str = "correct horse battery staple";

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn subtle() -> SubtleCrypto {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    Reflect::get(&crypto, &"subtle".into())
        .unwrap()
        .unchecked_into()
}

/// Whether `crypto.subtle.exportKey('raw', k)` rejects.
async fn export_rejects(k: &CryptoKey) -> bool {
    let p = subtle().export_key("raw", k).unwrap();
    JsFuture::from(p).await.is_err()
}

async fn export_raw(k: &CryptoKey) -> Vec<u8> {
    let p = subtle().export_key("raw", k).unwrap();
    let buf = JsFuture::from(p).await.expect("exportable");
    js_sys::Uint8Array::new(&buf).to_vec()
}

fn usages(k: &CryptoKey) -> Vec<String> {
    let mut u: Vec<String> = k.usages().iter().filter_map(|v| v.as_string()).collect();
    u.sort();
    u
}

fn now_ms() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let now: js_sys::Function = Reflect::get(&perf, &"now".into()).unwrap().unchecked_into();
    now.call0(&perf).unwrap().as_f64().unwrap()
}

fn kdf(salt_byte: u8) -> KdfParams {
    KdfParams::pbkdf2_sha256([salt_byte; SALT_LEN], MIN_ITERATIONS)
}

#[track_caller]
fn assert_code<T>(r: Result<T, ByokError>, code: ErrorCode, case: &str) -> ByokError {
    match r {
        Ok(_) => panic!("{case}: expected {code}, got success"),
        Err(e) => {
            assert_eq!(e.code, code, "{case}: {}", e.message);
            assert!(
                !e.message.contains(PASS),
                "{case}: message leaks the passphrase"
            );
            e
        }
    }
}

// ---- known answers ----

struct Pbkdf2Kat {
    password: &'static [u8],
    salt: &'static [u8],
    iterations: u32,
    dk: &'static str,
}

#[wasm_bindgen_test]
async fn pbkdf2_sha256_known_answers() {
    let kats = [
        // RFC 7914 §11, first PBKDF2-HMAC-SHA256 vector.
        Pbkdf2Kat {
            password: b"passwd",
            salt: b"salt",
            iterations: 1,
            dk:
                "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05 f9 41 85 21 6d de 04 65 e6 8b 9d 57
                 c2 0d ac bc 49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31 7c 71 b8 45 b1 e3 0b d5
                 09 11 20 41 d3 a1 97 83",
        },
        // RFC 7914 §11, second PBKDF2-HMAC-SHA256 vector.
        Pbkdf2Kat {
            password: b"Password",
            salt: b"NaCl",
            iterations: 80_000,
            dk:
                "4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9 64 1a 44 18 d0 4c 04 14 ae ff 08 87
                 6b 34 ab 56 a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17 6a 27 2b de bb a1 d0 78
                 47 8f 62 b3 97 f3 3c 8d",
        },
        // RFC 6070's inputs with HMAC-SHA256, as published in the Stack Overflow answer
        // "PBKDF2-HMAC-SHA2 test vectors" (stackoverflow.com/q/5130513) and reused by many
        // libraries' tests; also checked against Python's hashlib.pbkdf2_hmac while writing this.
        Pbkdf2Kat {
            password: b"password",
            salt: b"salt",
            iterations: 1,
            dk: "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
        },
        Pbkdf2Kat {
            password: b"password",
            salt: b"salt",
            iterations: 2,
            dk: "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
        },
        Pbkdf2Kat {
            password: b"password",
            salt: b"salt",
            iterations: 4096,
            dk: "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
        },
        Pbkdf2Kat {
            password: b"passwordPASSWORDpassword",
            salt: b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            iterations: 4096,
            dk: "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
        },
        Pbkdf2Kat {
            password: b"pass\0word",
            salt: b"sa\0lt",
            iterations: 4096,
            dk: "89b69d0516f829893c696226650a8687",
        },
    ];
    for (i, k) in kats.iter().enumerate() {
        let want = hex(k.dk);
        let bits = (want.len() * 8) as u32;
        let got = pbkdf2_sha256_bits(k.password, k.salt, k.iterations, bits)
            .await
            .expect("derives");
        assert_eq!(&got[..], &want[..], "PBKDF2 vector {i}");
    }
}

struct GcmKat {
    case: u32,
    key: &'static str,
    iv: &'static str,
    aad: &'static str,
    pt: &'static str,
    ct: &'static str,
    tag: &'static str,
}

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", the NIST-submitted spec,
// Appendix B test cases 13–16 (256-bit keys; 16 has associated data, 13–15 have none).
// Cross-checked against OpenSSL (Python `cryptography`'s AESGCM) while writing this.
const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV15: &str = "cafebabefacedbaddecaf888";
const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const P16: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_KATS: [GcmKat; 4] = [
    GcmKat {
        case: 13,
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        aad: "",
        pt: "",
        ct: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    GcmKat {
        case: 14,
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        aad: "",
        pt: "00000000000000000000000000000000",
        ct: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    GcmKat {
        case: 15,
        key: K15,
        iv: IV15,
        aad: "",
        pt: P15,
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    GcmKat {
        case: 16,
        key: K15,
        iv: IV15,
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        pt: P16,
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

#[wasm_bindgen_test]
async fn aes_256_gcm_known_answers_seal_and_open() {
    for k in &GCM_KATS {
        let case = k.case;
        let key = import_aes_key_raw(&hex(k.key), false)
            .await
            .expect("import");
        let (iv, aad, pt) = (hex(k.iv), hex(k.aad), hex(k.pt));
        let mut want = hex(k.ct);
        want.extend(hex(k.tag));

        let sealed = seal_with_iv(&key, &iv, &aad, &pt).await.expect("seal");
        assert_eq!(sealed.iv.as_slice(), &iv[..], "case {case}");
        assert_eq!(sealed.ct.as_slice(), &want[..], "case {case}");

        let opened = open(&key, &aad, &sealed).await.expect("open");
        assert_eq!(&opened[..], &pt[..], "case {case}");

        // The same vector with its last tag byte changed must not open.
        let mut bad = sealed.clone();
        if let Some(b) = bad.ct.0.last_mut() {
            *b ^= 0x80;
        }
        assert_code(
            open(&key, &aad, &bad).await,
            ErrorCode::DecryptionFailed,
            "tag",
        );
    }
}

#[wasm_bindgen_test]
async fn sha256_known_answers() {
    // FIPS 180-2 Appendix B.1 ("abc") and the well-known digest of the empty string.
    let kats: [(&[u8], &str); 2] = [
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    for (input, want) in kats {
        assert_eq!(sha256(input).await.unwrap().to_vec(), hex(want));
    }
}

#[wasm_bindgen_test]
async fn hmac_sha256_known_answers() {
    // RFC 4231 §4.2 (test case 1), §4.3 (test case 2), §4.5 (test case 4).
    let case4_key: Vec<u8> = (0x01..=0x19).collect();
    let kats: [(&str, Vec<u8>, Vec<u8>, &str); 3] = [
        (
            "RFC 4231 case 1",
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "RFC 4231 case 2",
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "RFC 4231 case 4",
            case4_key,
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
    ];
    for (name, key, data, want) in kats {
        assert_eq!(
            hmac_sha256(&key, &data).await.unwrap().to_vec(),
            hex(want),
            "{name}"
        );
    }
    // WebCrypto refuses an empty HMAC key: a clean error, not a panic.
    assert_code(
        hmac_sha256(&[], b"x").await,
        ErrorCode::EncryptionFailed,
        "empty key",
    );
}

// ---- randomness ----

#[wasm_bindgen_test]
fn random_bytes_fills_any_length_in_chunks() {
    for n in [0usize, 1, IV_LEN, 32, 65_536, 65_537, 200_000] {
        let b = random_bytes(n).expect("random");
        assert_eq!(b.len(), n);
        if n >= 32 {
            // The tail is filled too: the last chunk is not left at zero.
            let tail = &b[n - 32..];
            assert!(tail.iter().any(|&x| x != 0), "{n}: tail all zero");
        }
    }
    assert_ne!(random_bytes(32).unwrap(), random_bytes(32).unwrap());
}

// ---- keys: properties and round trips ----

#[wasm_bindgen_test]
async fn long_lived_keys_are_not_extractable() {
    let derived = derive_wrapping_key(PASS, &kdf(1)).await.expect("derive");
    let device = generate_device_key().await.expect("device key");
    let data = generate_data_key().await.expect("data key");
    let aad = data_key_aad(VAULT_ID);
    let wrapped = wrap_key(&data, &device, &aad).await.expect("wrap");
    let unwrapped = unwrap_data_key(&wrapped, &device, &aad, false)
        .await
        .expect("unwrap");

    for (name, k, want_usages) in [
        ("derived", &derived, ["unwrapKey", "wrapKey"]),
        ("device", &device, ["unwrapKey", "wrapKey"]),
        ("unwrapped", &unwrapped, ["decrypt", "encrypt"]),
    ] {
        assert!(!k.extractable(), "{name}: extractable");
        assert!(export_rejects(k).await, "{name}: exportKey resolved");
        assert_eq!(usages(k), want_usages, "{name}");
        assert_eq!(k.type_(), "secret");
    }
    // The freshly generated data key is extractable, only so that it can be wrapped.
    assert!(data.extractable());
    assert_eq!(usages(&data), ["decrypt", "encrypt"]);
}

#[wasm_bindgen_test]
async fn wrap_then_unwrap_gives_back_the_same_key() {
    // A known raw key: unwrapping it extractable (the re-wrap path) shows the exact bytes.
    let raw: Vec<u8> = (0u8..32).collect();
    let data = import_aes_key_raw(&raw, true).await.unwrap();
    let device = generate_device_key().await.unwrap();
    let aad = data_key_aad(VAULT_ID);
    let wrapped = wrap_key(&data, &device, &aad).await.unwrap();
    assert_eq!(wrapped.iv.len(), IV_LEN);
    assert_eq!(wrapped.ct.len(), 48, "32-byte key plus 16-byte tag");

    let again = unwrap_data_key(&wrapped, &device, &aad, true)
        .await
        .unwrap();
    assert!(again.extractable());
    assert_eq!(export_raw(&again).await, raw);

    // And the non-extractable copy opens what the original sealed, and the other way round.
    let kept = unwrap_data_key(&wrapped, &device, &aad, false)
        .await
        .unwrap();
    let rec_aad = key_record_aad(VAULT_ID, RECORD_ID, "openai", None);
    let s1 = seal(&data, &rec_aad, b"sk-proj-abc").await.unwrap();
    assert_eq!(
        &open(&kept, &rec_aad, &s1).await.unwrap()[..],
        b"sk-proj-abc"
    );
    let s2 = seal(&kept, &rec_aad, b"sk-proj-def").await.unwrap();
    assert_eq!(
        &open(&data, &rec_aad, &s2).await.unwrap()[..],
        b"sk-proj-def"
    );

    // A second wrap uses a fresh IV.
    let wrapped2 = wrap_key(&data, &device, &aad).await.unwrap();
    assert_ne!(wrapped.iv, wrapped2.iv);
    assert_ne!(wrapped.ct, wrapped2.ct);
}

#[wasm_bindgen_test]
async fn seal_uses_a_fresh_iv_every_time() {
    let key = import_aes_key_raw(&[7; 32], false).await.unwrap();
    let a = seal(&key, b"aad", b"same plaintext").await.unwrap();
    let b = seal(&key, b"aad", b"same plaintext").await.unwrap();
    assert_ne!(a.iv, b.iv);
    assert_ne!(a.ct, b.ct);
    assert_eq!(a.ct.len(), b"same plaintext".len() + 16);
    // Empty plaintext and large plaintext both round-trip.
    for pt in [Vec::new(), vec![0x5a; 100_000]] {
        let s = seal(&key, b"", &pt).await.unwrap();
        assert_eq!(&open(&key, b"", &s).await.unwrap()[..], &pt[..]);
    }
}

// ---- the passphrase path ----

#[wasm_bindgen_test]
async fn passphrase_wrong_or_salt_tampered_fails_cleanly() {
    let settings = kdf(3);
    let aad = data_key_aad(VAULT_ID);
    let right = derive_wrapping_key(PASS, &settings).await.unwrap();
    let data = generate_data_key().await.unwrap();
    let wrapped = wrap_key(&data, &right, &aad).await.unwrap();
    assert!(unwrap_data_key(&wrapped, &right, &aad, false).await.is_ok());

    let wrong = derive_wrapping_key("correct horse battery stapler", &settings)
        .await
        .unwrap();
    let e = assert_code(
        unwrap_data_key(&wrapped, &wrong, &aad, false).await,
        ErrorCode::DecryptionFailed,
        "wrong passphrase",
    );
    assert!(e.message.contains("OperationError"), "{}", e.message);

    // Salt tampered in the stored record: the derived key differs, so the unwrap fails.
    let mut salted = settings.clone();
    salted.salt.0[SALT_LEN - 1] ^= 1;
    let tampered = derive_wrapping_key(PASS, &salted).await.unwrap();
    assert_code(
        unwrap_data_key(&wrapped, &tampered, &aad, false).await,
        ErrorCode::DecryptionFailed,
        "salt",
    );
}

#[wasm_bindgen_test]
async fn kdf_settings_out_of_bounds_are_refused_before_any_work() {
    let mut cases: Vec<(&str, KdfParams)> = Vec::new();
    let mut k = kdf(4);
    k.iterations = MIN_ITERATIONS - 1;
    cases.push(("one below the minimum", k));
    let mut k = kdf(4);
    k.iterations = 1;
    cases.push(("one iteration", k));
    let mut k = kdf(4);
    k.iterations = MAX_ITERATIONS + 1;
    cases.push(("one above the cap", k));
    let mut k = kdf(4);
    k.iterations = u32::MAX;
    cases.push(("u32::MAX", k));
    let mut k = kdf(4);
    k.salt = B64(vec![4; 16]);
    cases.push(("short salt", k));
    let mut k = kdf(4);
    k.algorithm = "PBKDF2-SHA1".into();
    cases.push(("other algorithm", k));

    for (name, k) in cases {
        let t0 = now_ms();
        let r = derive_wrapping_key(PASS, &k).await;
        let elapsed = now_ms() - t0;
        assert_code(r, ErrorCode::DecryptionFailed, name);
        // Even the minimum count takes far longer than this; the refusal comes first.
        assert!(elapsed < 50.0, "{name}: took {elapsed} ms");
    }
}

#[wasm_bindgen_test]
async fn derive_with_the_minimum_iterations_completes() {
    // Warm up WebCrypto so the measurement is of PBKDF2 alone.
    let _ = pbkdf2_sha256_bits(b"x", b"y", 1, 256).await.unwrap();
    let t0 = now_ms();
    let k = derive_wrapping_key(PASS, &kdf(5)).await.expect("derive");
    let elapsed = now_ms() - t0;
    assert!(!k.extractable());
    console_log!("PBKDF2-SHA256 with {MIN_ITERATIONS} iterations: {elapsed:.0} ms");
    assert!(elapsed < 30_000.0, "took {elapsed} ms");
}

/// The worst a tampered record can make us do: the cap. Slow, so run it on request with
/// `-- --include-ignored`.
#[wasm_bindgen_test]
#[ignore]
async fn derive_at_the_iteration_cap_completes() {
    let mut k = kdf(6);
    k.iterations = MAX_ITERATIONS;
    let t0 = now_ms();
    derive_wrapping_key(PASS, &k).await.expect("derive");
    let elapsed = now_ms() - t0;
    console_log!("PBKDF2-SHA256 with {MAX_ITERATIONS} iterations: {elapsed:.0} ms");
}

// ---- tampering ----

fn flipped(s: &Sealed, edit: impl FnOnce(&mut Sealed)) -> Sealed {
    let mut s = s.clone();
    edit(&mut s);
    s
}

/// Every way a stored `Sealed` can be damaged, with the name of each.
fn damaged(s: &Sealed) -> Vec<(&'static str, Sealed)> {
    vec![
        ("IV byte", flipped(s, |s| s.iv.0[0] ^= 1)),
        ("last IV byte", flipped(s, |s| s.iv.0[IV_LEN - 1] ^= 0x80)),
        ("ciphertext byte", flipped(s, |s| s.ct.0[0] ^= 1)),
        (
            "tag byte",
            flipped(s, |s| {
                let n = s.ct.len();
                s.ct.0[n - 1] ^= 1
            }),
        ),
        (
            "first tag byte",
            flipped(s, |s| {
                let n = s.ct.len();
                s.ct.0[n - 16] ^= 1
            }),
        ),
        ("truncated", flipped(s, |s| s.ct.0.truncate(s.ct.len() - 1))),
        ("extended", flipped(s, |s| s.ct.0.push(0))),
        ("short IV", flipped(s, |s| s.iv.0.truncate(IV_LEN - 1))),
        ("long IV", flipped(s, |s| s.iv.0.push(0))),
        ("no tag", flipped(s, |s| s.ct.0.truncate(15))),
        ("empty", flipped(s, |s| s.ct.0.clear())),
    ]
}

#[wasm_bindgen_test]
async fn tampered_sealed_keys_fail_to_open() {
    let key = generate_data_key().await.unwrap();
    let aad = key_record_aad(VAULT_ID, RECORD_ID, "openai", None);
    let sealed = seal(&key, &aad, b"sk-proj-abc123def456").await.unwrap();
    assert!(open(&key, &aad, &sealed).await.is_ok());

    for (name, bad) in damaged(&sealed) {
        assert_code(
            open(&key, &aad, &bad).await,
            ErrorCode::DecryptionFailed,
            name,
        );
    }

    // Associated data: a flipped byte, and each way a record can be moved or re-pointed.
    let mut flipped_aad = aad.clone();
    flipped_aad[aad.len() - 1] ^= 1;
    let other_aads = [
        ("AAD byte", flipped_aad),
        ("no AAD", Vec::new()),
        (
            "other vault",
            key_record_aad(RECORD_ID, RECORD_ID, "openai", None),
        ),
        (
            "swapped record",
            key_record_aad(VAULT_ID, VAULT_ID, "openai", None),
        ),
        (
            "other provider",
            key_record_aad(VAULT_ID, RECORD_ID, "openai-compatible", None),
        ),
        (
            "re-pointed base URL",
            key_record_aad(
                VAULT_ID,
                RECORD_ID,
                "openai",
                Some("https://evil.example/v1"),
            ),
        ),
    ];
    for (name, other) in other_aads {
        assert_code(
            open(&key, &other, &sealed).await,
            ErrorCode::DecryptionFailed,
            name,
        );
    }

    // Another key opens nothing.
    let other_key = generate_data_key().await.unwrap();
    assert_code(
        open(&other_key, &aad, &sealed).await,
        ErrorCode::DecryptionFailed,
        "other key",
    );
}

#[wasm_bindgen_test]
async fn tampered_wrapped_keys_fail_to_unwrap() {
    let device = generate_device_key().await.unwrap();
    let data = generate_data_key().await.unwrap();
    let aad = data_key_aad(VAULT_ID);
    let wrapped = wrap_key(&data, &device, &aad).await.unwrap();

    for (name, bad) in damaged(&wrapped) {
        assert_code(
            unwrap_data_key(&bad, &device, &aad, false).await,
            ErrorCode::DecryptionFailed,
            name,
        );
    }
    let mut flipped_aad = aad.clone();
    flipped_aad[0] ^= 1;
    for (name, other) in [
        ("AAD byte", flipped_aad),
        ("other vault", data_key_aad(RECORD_ID)),
        ("no AAD", Vec::new()),
    ] {
        assert_code(
            unwrap_data_key(&wrapped, &device, &other, false).await,
            ErrorCode::DecryptionFailed,
            name,
        );
    }
    let other_device = generate_device_key().await.unwrap();
    assert_code(
        unwrap_data_key(&wrapped, &other_device, &aad, false).await,
        ErrorCode::DecryptionFailed,
        "other device key",
    );
}

#[wasm_bindgen_test]
async fn oversized_ciphertext_is_refused_before_webcrypto() {
    let key = import_aes_key_raw(&[9; 32], false).await.unwrap();
    let huge = Sealed {
        iv: B64(vec![0; IV_LEN]),
        ct: B64(vec![0; MAX_BACKUP_LEN + 1]),
    };
    let e = assert_code(
        open(&key, b"", &huge).await,
        ErrorCode::DecryptionFailed,
        "huge",
    );
    assert!(e.message.contains("larger than"), "{}", e.message);
    assert_code(
        seal_with_iv(&key, &[0; IV_LEN], b"", &vec![0; MAX_BACKUP_LEN]).await,
        ErrorCode::EncryptionFailed,
        "too large to seal",
    );
}

#[wasm_bindgen_test]
async fn keys_used_for_the_wrong_purpose_fail_cleanly() {
    // A wrapping key cannot encrypt, a data key cannot wrap: WebCrypto's InvalidAccessError
    // comes back as a ByokError, not a panic.
    let device = generate_device_key().await.unwrap();
    assert_code(
        seal(&device, b"", b"x").await,
        ErrorCode::EncryptionFailed,
        "seal with a wrapping key",
    );
    let data = generate_data_key().await.unwrap();
    let other = generate_data_key().await.unwrap();
    assert_code(
        wrap_key(&other, &data, b"").await,
        ErrorCode::EncryptionFailed,
        "wrap with a data key",
    );
    // A non-extractable key cannot be wrapped.
    let kept = import_aes_key_raw(&[1; 32], false).await.unwrap();
    assert_code(
        wrap_key(&kept, &device, b"").await,
        ErrorCode::EncryptionFailed,
        "wrap a non-extractable key",
    );
}
