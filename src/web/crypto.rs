//! WebCrypto, reached through the global scope's `crypto` (page, Web Worker or Service Worker).
//!
//! The one place byok encrypts: PBKDF2-SHA256 for passphrases, AES-256-GCM (128-bit tag, a fresh
//! random 12-byte IV per operation) for wrapping the data key and sealing API keys, plus SHA-256
//! and HMAC-SHA256 for the audit log and SigV4. What goes in and comes out, and which associated
//! data binds it, is [`crate::core::vault_format`]'s business.
//!
//! Key handles stay in the browser's key store: the wrapping keys and the long-lived data key
//! are non-extractable, so neither JavaScript nor this module can read their bytes. Failures
//! while sealing are `ENCRYPTION_FAILED`, while opening `DECRYPTION_FAILED`; messages carry the
//! DOMException name, never key material.
//!
//! Byte buffers cross into JavaScript in one of two ways. Where web-sys takes `&[u8]`, the glue
//! passes a view of wasm memory, which WebCrypto copies synchronously, so no copy is left in the
//! JavaScript heap. Where it wants an object (`importKey`), a `Uint8Array` copy is made and
//! zeroed as soon as the call has taken its own copy. Results holding secrets are zeroed on the
//! JavaScript side after being copied into a [`Zeroizing`] buffer.

use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::vault_format::{KdfParams, Sealed, B64, IV_LEN, MAX_BACKUP_LEN, TAG_LEN};
use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Crypto, CryptoKey, SubtleCrypto};
use zeroize::Zeroizing;

/// `getRandomValues` refuses more than this many bytes per call.
const RANDOM_CHUNK: usize = 65_536;

/// The largest ciphertext `open` accepts: a backup is the largest thing byok seals, and key
/// records are held to their own, smaller bound when parsed.
const MAX_CT_LEN: usize = MAX_BACKUP_LEN;

const ENC: ErrorCode = ErrorCode::EncryptionFailed;
const DEC: ErrorCode = ErrorCode::DecryptionFailed;

/// The name of a thrown DOMException or Error, if it is a plain identifier; anything else is
/// not repeated, in case it came from somewhere that echoes input.
fn js_error_name(e: &JsValue) -> String {
    Reflect::get(e, &JsValue::from_str("name"))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|n| !n.is_empty() && n.len() <= 40 && n.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn failed(code: ErrorCode, what: &str, e: &JsValue) -> ByokError {
    let name = js_error_name(e);
    let hint = match (code, name.as_str()) {
        (ErrorCode::DecryptionFailed, "OperationError") => {
            ": wrong key, or the data was changed since it was sealed"
        }
        _ => "",
    };
    ByokError::new(code, format!("WebCrypto could not {what} ({name}){hint}"))
}

/// Awaits a WebCrypto promise, mapping a synchronous throw and a rejection alike.
async fn call(
    p: core::result::Result<Promise, JsValue>,
    code: ErrorCode,
    what: &str,
) -> Result<JsValue> {
    let p = p.map_err(|e| failed(code, what, &e))?;
    JsFuture::from(p).await.map_err(|e| failed(code, what, &e))
}

fn global_crypto(code: ErrorCode) -> Result<Crypto> {
    let c = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .ok()
        .filter(JsValue::is_object)
        .ok_or_else(|| ByokError::new(code, "WebCrypto is not available in this context"))?;
    // Checked to be an object above; `Crypto` exists under that name in every scope byok runs in,
    // but an unchecked cast avoids depending on the global class binding.
    Ok(c.unchecked_into())
}

fn subtle(code: ErrorCode) -> Result<SubtleCrypto> {
    let crypto = global_crypto(code)?;
    // `crypto.subtle` is undefined outside a secure context (plain http, other than localhost).
    Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .ok()
        .filter(JsValue::is_object)
        .map(JsCast::unchecked_into)
        .ok_or_else(|| {
            ByokError::new(
                code,
                "WebCrypto is not available: byok needs a secure context (https or localhost)",
            )
        })
}

/// A plain object with the given properties, for WebCrypto's algorithm dictionaries.
fn object(code: ErrorCode, props: &[(&str, &JsValue)]) -> Result<Object> {
    let o = Object::new();
    for (k, v) in props {
        Reflect::set(&o, &JsValue::from_str(k), v)
            .map_err(|e| failed(code, "build its parameters", &e))?;
    }
    Ok(o)
}

fn usages(list: &[&str]) -> Array {
    list.iter().map(|u| JsValue::from_str(u)).collect()
}

fn aes_gcm_params(code: ErrorCode, iv: &[u8], aad: &[u8]) -> Result<Object> {
    object(
        code,
        &[
            ("name", &JsValue::from_str("AES-GCM")),
            ("iv", &Uint8Array::from(iv).into()),
            ("additionalData", &Uint8Array::from(aad).into()),
            ("tagLength", &JsValue::from(128u32)),
        ],
    )
}

fn aes_256(code: ErrorCode) -> Result<Object> {
    object(
        code,
        &[
            ("name", &JsValue::from_str("AES-GCM")),
            ("length", &JsValue::from(256u32)),
        ],
    )
}

/// The bytes of an `ArrayBuffer` result that holds no secret.
fn buffer_bytes(v: &JsValue, code: ErrorCode, what: &str) -> Result<Vec<u8>> {
    v.dyn_ref::<ArrayBuffer>()
        .map(|b| Uint8Array::new(b).to_vec())
        .ok_or_else(|| ByokError::new(code, format!("WebCrypto could not {what} (no data)")))
}

/// The bytes of an `ArrayBuffer` result that holds a secret: copied into a wiped-on-drop buffer,
/// then zeroed on the JavaScript side rather than left for the garbage collector.
fn secret_buffer_bytes(v: &JsValue, code: ErrorCode, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let buf = v
        .dyn_ref::<ArrayBuffer>()
        .ok_or_else(|| ByokError::new(code, format!("WebCrypto could not {what} (no data)")))?;
    let view = Uint8Array::new(buf);
    let out = Zeroizing::new(view.to_vec());
    view.fill(0, 0, view.length());
    Ok(out)
}

fn digest_32(bytes: Vec<u8>, code: ErrorCode, what: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| ByokError::new(code, format!("WebCrypto could not {what} (wrong length)")))
}

/// `importKey('raw', ...)`, with the JavaScript copy of the key bytes zeroed once WebCrypto has
/// taken its own (which it does before returning the promise).
async fn import_raw(
    code: ErrorCode,
    bytes: &[u8],
    algorithm: &Object,
    extractable: bool,
    key_usages: &[&str],
    what: &str,
) -> Result<CryptoKey> {
    let subtle = subtle(code)?;
    let data = Uint8Array::from(bytes);
    let p =
        subtle.import_key_with_object("raw", &data, algorithm, extractable, &usages(key_usages));
    data.fill(0, 0, data.length());
    Ok(call(p, code, what).await?.unchecked_into())
}

/// `n` bytes from the browser's CSPRNG (`crypto.getRandomValues`), in chunks of at most 65,536
/// bytes, the most one call may fill.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let crypto = global_crypto(ENC)?;
    let mut out = vec![0u8; n];
    for chunk in out.chunks_mut(RANDOM_CHUNK) {
        crypto
            .get_random_values_with_u8_array(chunk)
            .map_err(|e| failed(ENC, "produce random bytes", &e))?;
    }
    Ok(out)
}

/// The key that wraps a passphrase vault's data key: PBKDF2-SHA256 over the passphrase with the
/// record's salt and iteration count, to a **non-extractable** AES-256-GCM key usable only for
/// `wrapKey` and `unwrapKey`.
///
/// The settings are checked first ([`KdfParams::check`]): a record asking for too few or too
/// many iterations, or with a malformed salt, is refused with `DECRYPTION_FAILED` before any work.
/// A WebCrypto failure after that (in practice: no WebCrypto here) is `ENCRYPTION_FAILED`, as for
/// every key-making call; a wrong passphrase does not fail here but in [`unwrap_data_key`].
pub async fn derive_wrapping_key(passphrase: &str, kdf: &KdfParams) -> Result<CryptoKey> {
    derive_from_passphrase(passphrase, kdf, &["wrapKey", "unwrapKey"]).await
}

/// Like [`derive_wrapping_key`], but for sealing data directly (usages `encrypt`, `decrypt`):
/// encrypted backups, which carry their own salt and hold no data key to wrap.
pub async fn derive_sealing_key(passphrase: &str, kdf: &KdfParams) -> Result<CryptoKey> {
    derive_from_passphrase(passphrase, kdf, &["encrypt", "decrypt"]).await
}

async fn derive_from_passphrase(
    passphrase: &str,
    kdf: &KdfParams,
    key_usages: &[&str],
) -> Result<CryptoKey> {
    kdf.check()?;
    let what = "derive a key from the passphrase";
    let pbkdf2 = object(ENC, &[("name", &JsValue::from_str("PBKDF2"))])?;
    let base = import_raw(
        ENC,
        passphrase.as_bytes(),
        &pbkdf2,
        false,
        &["deriveKey"],
        what,
    )
    .await?;
    let params = pbkdf2_params(kdf.salt.as_slice(), kdf.iterations)?;
    let p = subtle(ENC)?.derive_key_with_object_and_object(
        &params,
        &base,
        &aes_256(ENC)?,
        false,
        &usages(key_usages),
    );
    Ok(call(p, ENC, what).await?.unchecked_into())
}

fn pbkdf2_params(salt: &[u8], iterations: u32) -> Result<Object> {
    object(
        ENC,
        &[
            ("name", &JsValue::from_str("PBKDF2")),
            ("hash", &JsValue::from_str("SHA-256")),
            ("salt", &Uint8Array::from(salt).into()),
            ("iterations", &JsValue::from(iterations)),
        ],
    )
}

/// A random device key for device-mode vaults: AES-256-GCM, **non-extractable**, usable only for
/// `wrapKey` and `unwrapKey`. IndexedDB stores the handle; its bytes are never readable.
pub async fn generate_device_key() -> Result<CryptoKey> {
    let p = subtle(ENC)?.generate_key_with_object(
        &aes_256(ENC)?,
        false,
        &usages(&["wrapKey", "unwrapKey"]),
    );
    Ok(call(p, ENC, "generate a device key")
        .await?
        .unchecked_into())
}

/// A new random AES-256-GCM data key (usages `encrypt`, `decrypt`).
///
/// It is **extractable**, only because `wrapKey` needs that: callers wrap it at once with
/// [`wrap_key`], drop this handle, and work from then on with the non-extractable copy that
/// [`unwrap_data_key`] (`extractable = false`) returns.
pub async fn generate_data_key() -> Result<CryptoKey> {
    let p = subtle(ENC)?.generate_key_with_object(
        &aes_256(ENC)?,
        true,
        &usages(&["encrypt", "decrypt"]),
    );
    Ok(call(p, ENC, "generate a data key").await?.unchecked_into())
}

/// Wraps `key` (raw format) under `wrapping` with AES-256-GCM, `aad` as associated data and a
/// fresh random IV.
pub async fn wrap_key(key: &CryptoKey, wrapping: &CryptoKey, aad: &[u8]) -> Result<Sealed> {
    let what = "wrap the data key";
    let iv = random_bytes(IV_LEN)?;
    let params = aes_gcm_params(ENC, &iv, aad)?;
    let p = subtle(ENC)?.wrap_key_with_object("raw", key, wrapping, &params);
    let ct = buffer_bytes(&call(p, ENC, what).await?, ENC, what)?;
    Ok(Sealed {
        iv: B64(iv),
        ct: B64(ct),
    })
}

/// Unwraps a data key wrapped by [`wrap_key`], as an AES-256-GCM key for `encrypt` and
/// `decrypt`.
///
/// Pass `extractable = false` for the key the vault keeps. `true` is only for re-wrapping it
/// under a new passphrase: unwrap, [`wrap_key`] under the new key, drop. Any failure (wrong
/// wrapping key, changed ciphertext, IV or associated data) is `DECRYPTION_FAILED`; the vault
/// layer reports `WRONG_PASSPHRASE` where it knows that is the cause.
pub async fn unwrap_data_key(
    sealed: &Sealed,
    wrapping: &CryptoKey,
    aad: &[u8],
    extractable: bool,
) -> Result<CryptoKey> {
    sealed.check()?;
    let params = aes_gcm_params(DEC, sealed.iv.as_slice(), aad)?;
    let p = subtle(DEC)?.unwrap_key_with_u8_array_and_object_and_str(
        "raw",
        sealed.ct.as_slice(),
        wrapping,
        &params,
        "AES-GCM",
        extractable,
        &usages(&["encrypt", "decrypt"]),
    );
    Ok(call(p, DEC, "unwrap the data key").await?.unchecked_into())
}

/// Seals `plaintext` under `key` with AES-256-GCM (128-bit tag), a fresh random IV and `aad` as
/// associated data.
pub async fn seal(key: &CryptoKey, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
    let iv = random_bytes(IV_LEN)?;
    seal_with_iv(key, &iv, aad, plaintext).await
}

/// Opens what [`seal`] sealed. The IV and length are checked first; a wrong key, or any changed
/// byte of IV, ciphertext, tag or associated data, is `DECRYPTION_FAILED`.
pub async fn open(key: &CryptoKey, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>> {
    let what = "open the sealed data";
    sealed.check_within(MAX_CT_LEN)?;
    let params = aes_gcm_params(DEC, sealed.iv.as_slice(), aad)?;
    let p = subtle(DEC)?.decrypt_with_object_and_u8_array(&params, key, sealed.ct.as_slice());
    secret_buffer_bytes(&call(p, DEC, what).await?, DEC, what)
}

/// SHA-256 of `data`.
pub async fn sha256(data: &[u8]) -> Result<[u8; 32]> {
    let what = "hash";
    let p = subtle(ENC)?.digest_with_str_and_u8_array("SHA-256", data);
    digest_32(
        buffer_bytes(&call(p, ENC, what).await?, ENC, what)?,
        ENC,
        what,
    )
}

/// HMAC-SHA256 of `data` under `key` (imported raw, non-extractable, for this one call).
/// WebCrypto refuses an empty key.
pub async fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32]> {
    let what = "compute an HMAC";
    let alg = object(
        ENC,
        &[
            ("name", &JsValue::from_str("HMAC")),
            ("hash", &JsValue::from_str("SHA-256")),
        ],
    )?;
    let k = import_raw(ENC, key, &alg, false, &["sign"], what).await?;
    let p = subtle(ENC)?.sign_with_str_and_u8_array("HMAC", &k, data);
    digest_32(
        buffer_bytes(&call(p, ENC, what).await?, ENC, what)?,
        ENC,
        what,
    )
}

/// A random HMAC-SHA256 key for the audit chain: **non-extractable**, usable only to `sign`.
/// IndexedDB keeps the handle; no script can read its bytes, so an entry edited in storage
/// cannot be given a matching hash by anyone without this origin's code running.
pub async fn generate_audit_key() -> Result<CryptoKey> {
    let alg = object(
        ENC,
        &[
            ("name", &JsValue::from_str("HMAC")),
            ("hash", &JsValue::from_str("SHA-256")),
            ("length", &JsValue::from_f64(256.0)),
        ],
    )?;
    let p = subtle(ENC)?.generate_key_with_object(&alg, false, &usages(&["sign"]));
    Ok(call(p, ENC, "generate the audit key")
        .await?
        .unchecked_into())
}

/// HMAC-SHA256 of `data` under a key handle (the audit key).
pub async fn hmac_with_key(key: &CryptoKey, data: &[u8]) -> Result<[u8; 32]> {
    let what = "compute an HMAC";
    let p = subtle(ENC)?.sign_with_str_and_u8_array("HMAC", key, data);
    digest_32(
        buffer_bytes(&call(p, ENC, what).await?, ENC, what)?,
        ENC,
        what,
    )
}

/// PBKDF2-HMAC-SHA256 straight to bits, with no bounds on the iteration count: for known-answer
/// tests only, which need counts far below [`crate::core::vault_format::MIN_ITERATIONS`].
#[doc(hidden)]
pub async fn pbkdf2_sha256_bits(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    bits: u32,
) -> Result<Zeroizing<Vec<u8>>> {
    let what = "derive bits";
    let pbkdf2 = object(ENC, &[("name", &JsValue::from_str("PBKDF2"))])?;
    let base = import_raw(ENC, password, &pbkdf2, false, &["deriveBits"], what).await?;
    let params = pbkdf2_params(salt, iterations)?;
    let p = subtle(ENC)?.derive_bits_with_object(&params, &base, bits);
    secret_buffer_bytes(&call(p, ENC, what).await?, ENC, what)
}

/// Imports raw bytes as an AES-GCM key usable for every AES-GCM operation: for known-answer and
/// tamper tests only.
#[doc(hidden)]
pub async fn import_aes_key_raw(bytes: &[u8], extractable: bool) -> Result<CryptoKey> {
    let alg = object(ENC, &[("name", &JsValue::from_str("AES-GCM"))])?;
    import_raw(
        ENC,
        bytes,
        &alg,
        extractable,
        &["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        "import an AES key",
    )
    .await
}

/// [`seal`] with a caller-chosen IV: for known-answer tests only. Reusing an IV under one key
/// destroys GCM's security.
#[doc(hidden)]
pub async fn seal_with_iv(
    key: &CryptoKey,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed> {
    let what = "seal the data";
    if plaintext.len() > MAX_CT_LEN - TAG_LEN {
        return Err(ByokError::new(
            ENC,
            format!("refusing to seal more than {} bytes", MAX_CT_LEN - TAG_LEN),
        ));
    }
    let params = aes_gcm_params(ENC, iv, aad)?;
    let p = subtle(ENC)?.encrypt_with_object_and_u8_array(&params, key, plaintext);
    let ct = buffer_bytes(&call(p, ENC, what).await?, ENC, what)?;
    Ok(Sealed {
        iv: B64(iv.to_vec()),
        ct: B64(ct),
    })
}
