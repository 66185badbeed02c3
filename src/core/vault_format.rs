//! The vault's stored records, the associated data that binds them, and the checks that every
//! record passes before any of it is trusted. No crypto happens here: `web::crypto` does the
//! WebCrypto calls; this module decides what bytes go in and what a well-formed record is.
//!
//! Key hierarchy (see `shared/DESIGN.md`): a passphrase runs through PBKDF2-SHA256 ([`KdfParams`])
//! to a non-extractable wrapping key, or a device key is kept in IndexedDB; that key wraps a
//! random AES-256 data key ([`VaultMeta::wrapped_key`]); each API key is sealed under the data key
//! ([`KeyRecord::sealed`]) with associated data from [`key_record_aad`].
//!
//! Everything read back from storage goes through a `parse` (or `check`, for values that
//! arrived another way) which refuses unknown format versions, out-of-range KDF settings and
//! malformed ciphertext before any of it reaches WebCrypto: a tampered record must fail fast
//! and cleanly, never hang the tab or panic. Refusals of stored records are
//! [`ErrorCode::DecryptionFailed`]; refusals of a backup document handed in by the caller are
//! [`ErrorCode::InvalidRequest`] when it is not a byok backup at all. Unknown fields are refused
//! as well: a change of shape is a new format version, never a silent extension.

use crate::core::error::{ByokError, ErrorCode, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use core::fmt;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The format version written into every stored record. Readers refuse any other value.
pub const FORMAT_VERSION: u32 = 1;
/// The fewest PBKDF2 iterations accepted (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const MIN_ITERATIONS: u32 = 600_000;
/// The most PBKDF2 iterations accepted, so that a record edited to ask for billions cannot hang
/// the tab.
pub const MAX_ITERATIONS: u32 = 5_000_000;
/// The iteration count new vaults and backups are written with.
pub const DEFAULT_ITERATIONS: u32 = MIN_ITERATIONS;
/// Length of a PBKDF2 salt, in bytes.
pub const SALT_LEN: usize = 32;
/// Length of an AES-GCM IV, in bytes (the 96-bit size GCM is designed for).
pub const IV_LEN: usize = 12;
/// Length of an AES-GCM authentication tag, in bytes (128 bits, the only size byok uses).
pub const TAG_LEN: usize = 16;
/// Length of the raw AES-256 data key, in bytes.
pub const DATA_KEY_LEN: usize = 32;
/// Length of the data key once wrapped: the key plus its tag.
pub const WRAPPED_KEY_LEN: usize = DATA_KEY_LEN + TAG_LEN;
/// The largest ciphertext (tag included) a key record may hold: API keys are short, and a bound
/// keeps a tampered record from making us decrypt megabytes.
pub const MAX_SEALED_LEN: usize = 64 * 1024;
/// The longest secret that can be sealed into a key record.
pub const MAX_SECRET_LEN: usize = MAX_SEALED_LEN - TAG_LEN;
/// The largest stored record, as JSON text, that `parse` reads.
pub const MAX_RECORD_LEN: usize = 256 * 1024;
/// The one key-derivation algorithm byok knows.
pub const KDF_PBKDF2_SHA256: &str = "PBKDF2-SHA256";
/// Length of a vault or record id: 16 random bytes in unpadded base64url.
pub const ID_LEN: usize = 22;
/// The most events a key record remembers; older ones are dropped first.
pub const MAX_HISTORY: usize = 50;
/// The longest provider id accepted in a record.
pub const MAX_PROVIDER_LEN: usize = 64;
/// The longest label, in characters.
pub const MAX_LABEL_LEN: usize = 256;
/// The longest stored display prefix, in characters.
pub const MAX_KEY_PREFIX_LEN: usize = 64;
/// The longest base URL, in bytes.
pub const MAX_BASE_URL_LEN: usize = 2048;
/// The `format` field of a backup document.
pub const BACKUP_FORMAT: &str = "byok-backup";
/// The backup document version this build writes and reads.
pub const BACKUP_VERSION: u32 = 1;
/// The largest backup document (and the largest backup plaintext) accepted, in bytes.
pub const MAX_BACKUP_LEN: usize = 2 * 1024 * 1024;
/// The most keys one backup may carry.
pub const MAX_BACKUP_KEYS: usize = 1_000;

/// History event (stored in [`KeyEvent::event`]): the key was added.
pub const EVENT_ADDED: &str = "added";
/// The provider accepted the key.
pub const EVENT_VALIDATED: &str = "validated";
/// The key was replaced by a new one.
pub const EVENT_ROTATED: &str = "rotated";
/// The provider refused the key.
pub const EVENT_INVALIDATED: &str = "invalidated";
const EVENTS: [&str; 4] = [
    EVENT_ADDED,
    EVENT_VALIDATED,
    EVENT_ROTATED,
    EVENT_INVALIDATED,
];

// Domain-separation label of every associated-data string. A new layout gets a new label, so
// bytes built for one layout can never be mistaken for another's.
const AAD_LABEL: &[u8] = b"byok/aad/v1";

fn corrupt(what: &str, why: impl fmt::Display) -> ByokError {
    ByokError::new(
        ErrorCode::DecryptionFailed,
        format!("{what} is corrupt or was tampered with ({why})"),
    )
}

/// A serde error as a `DECRYPTION_FAILED`, keeping where and why but not the quoted values.
fn corrupt_decode(what: &str, e: &serde_json::Error) -> ByokError {
    let context = format!("{what} is corrupt or was tampered with");
    let mut err = ByokError::from_decode(&context, &e.to_string());
    err.code = ErrorCode::DecryptionFailed;
    err
}

fn check_time(what: &str, field: &str, t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(corrupt(what, format_args!("`{field}` is not a time")))
    }
}

fn check_len_at_most(what: &str, field: &str, len: usize, max: usize) -> Result<()> {
    if len <= max {
        Ok(())
    } else {
        Err(corrupt(
            what,
            format_args!("`{field}` is longer than {max}"),
        ))
    }
}

/// Refuses stored text before parsing it when it is larger than any record byok writes.
fn check_size(what: &str, len: usize, max: usize) -> Result<()> {
    if len <= max {
        Ok(())
    } else {
        Err(corrupt(what, format_args!("larger than {max} bytes")))
    }
}

/// Refuses any format but [`FORMAT_VERSION`], with a message that says what to do about a newer one.
fn check_format(what: &str, format: u32) -> Result<()> {
    if format == FORMAT_VERSION {
        Ok(())
    } else if format > FORMAT_VERSION {
        Err(ByokError::new(
            ErrorCode::DecryptionFailed,
            format!(
                "{what} was written by a newer version of byok (format {format}); \
                 update byok to open it"
            ),
        ))
    } else {
        Err(corrupt(what, format_args!("unknown format {format}")))
    }
}

/// Reads only `format` first, so that a record from a newer byok, whose other fields may have
/// changed shape, is refused as newer rather than as corrupt.
fn probe_format(what: &str, json: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Probe {
        format: u32,
    }
    let probe: Probe = serde_json::from_str(json).map_err(|e| corrupt_decode(what, &e))?;
    check_format(what, probe.format)
}

/// Bytes that serialize as standard, padded base64 text: salts, IVs and ciphertexts.
///
/// `Debug` shows only the length, so that a `B64` holding anything sensitive never leaks into logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl B64 {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        B64(v)
    }
}

impl From<&[u8]> for B64 {
    fn from(v: &[u8]) -> Self {
        B64(v.to_vec())
    }
}

impl AsRef<[u8]> for B64 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for B64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64(<{} bytes>)", self.0.len())
    }
}

impl Serialize for B64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = B64;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("standard base64 text")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> core::result::Result<B64, E> {
                // Nothing byok stores is this large; refuse before allocating for it.
                if v.len() > MAX_BACKUP_LEN.div_ceil(3) * 4 {
                    return Err(E::custom("base64 text too long"));
                }
                STANDARD
                    .decode(v)
                    .map(B64)
                    .map_err(|_| E::custom("invalid base64"))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// How a vault protects its data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A key derived from the user's passphrase with PBKDF2 wraps the data key.
    Passphrase,
    /// A random non-extractable key kept in IndexedDB wraps the data key.
    Device,
    /// Nothing is persisted; keys live in memory only. Never appears in a stored record.
    Session,
}

impl Mode {
    /// The mode as JavaScript names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Passphrase => "passphrase",
            Mode::Device => "device",
            Mode::Session => "session",
        }
    }
}

/// The key-derivation settings stored with a passphrase vault or a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KdfParams {
    /// Always [`KDF_PBKDF2_SHA256`].
    pub algorithm: String,
    /// The PBKDF2 iteration count, in `[MIN_ITERATIONS, MAX_ITERATIONS]`.
    pub iterations: u32,
    /// The random salt, [`SALT_LEN`] bytes.
    pub salt: B64,
}

impl KdfParams {
    /// PBKDF2-SHA256 settings with the given salt and iteration count.
    pub fn pbkdf2_sha256(salt: [u8; SALT_LEN], iterations: u32) -> Self {
        KdfParams {
            algorithm: KDF_PBKDF2_SHA256.to_owned(),
            iterations,
            salt: B64(salt.to_vec()),
        }
    }

    /// Refuses an unknown algorithm, an iteration count outside `[MIN, MAX]`, or a salt that is
    /// not [`SALT_LEN`] bytes: each means the record was not written by byok as it stands.
    pub fn check(&self) -> Result<()> {
        const WHAT: &str = "the key-derivation settings";
        if self.algorithm != KDF_PBKDF2_SHA256 {
            return Err(corrupt(WHAT, "unknown algorithm"));
        }
        if self.iterations < MIN_ITERATIONS {
            return Err(corrupt(
                WHAT,
                format_args!(
                    "{} iterations is below the minimum of {MIN_ITERATIONS}",
                    self.iterations
                ),
            ));
        }
        if self.iterations > MAX_ITERATIONS {
            return Err(corrupt(
                WHAT,
                format_args!(
                    "{} iterations is above the maximum of {MAX_ITERATIONS}",
                    self.iterations
                ),
            ));
        }
        if self.salt.len() != SALT_LEN {
            return Err(corrupt(
                WHAT,
                format_args!("the salt is not {SALT_LEN} bytes"),
            ));
        }
        Ok(())
    }
}

/// An AES-256-GCM ciphertext with its IV. `ct` ends with the 16-byte tag, as WebCrypto returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The IV, [`IV_LEN`] bytes, fresh for every seal.
    pub iv: B64,
    /// Ciphertext followed by the tag.
    pub ct: B64,
}

impl Sealed {
    /// The checks of a key record's ciphertext: a 12-byte IV, room for the tag, at most
    /// [`MAX_SEALED_LEN`] bytes.
    pub fn check(&self) -> Result<()> {
        self.check_within(MAX_SEALED_LEN)
    }

    /// The same checks with another size bound (a backup is larger than a key record).
    pub fn check_within(&self, max_ct_len: usize) -> Result<()> {
        const WHAT: &str = "the sealed data";
        if self.iv.len() != IV_LEN {
            return Err(corrupt(WHAT, format_args!("the IV is not {IV_LEN} bytes")));
        }
        if self.ct.len() < TAG_LEN {
            return Err(corrupt(WHAT, "shorter than its authentication tag"));
        }
        if self.ct.len() > max_ct_len {
            return Err(corrupt(
                WHAT,
                format_args!("larger than {max_ct_len} bytes"),
            ));
        }
        Ok(())
    }
}

/// A new vault or record id from 16 random bytes: 22 characters of unpadded base64url.
/// Randomness is the caller's (WebCrypto's `getRandomValues`), so that this module stays pure.
pub fn new_id(random16: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random16)
}

/// Whether `id` is what [`new_id`] produces (and so safe to bind, log or use as a store key).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && URL_SAFE_NO_PAD
            .decode(id)
            .is_ok_and(|bytes| bytes.len() == 16)
}

/// Whether `id` looks like a catalog provider id: lowercase ASCII letters, digits and `-`.
fn is_valid_provider(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PROVIDER_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The vault's one metadata record: its id, how it is protected, and the wrapped data key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultMeta {
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub format: u32,
    /// The vault's random id ([`new_id`]), bound into every record's associated data.
    pub vault_id: String,
    /// How the data key is protected. Never [`Mode::Session`] in a stored record.
    pub mode: Mode,
    /// Creation time, in milliseconds since the Unix epoch.
    pub created_at: f64,
    /// The key-derivation settings: present in passphrase mode, absent in device mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfParams>,
    /// The data key, wrapped with AES-GCM under the passphrase or device key, with
    /// [`data_key_aad`] as associated data.
    pub wrapped_key: Sealed,
    /// Idle time before the vault locks itself, in milliseconds (0: never).
    pub auto_lock_ms: u64,
    /// Last change (passphrase change, auto-lock setting), in milliseconds since the Unix epoch.
    pub updated_at: f64,
}

impl VaultMeta {
    const WHAT: &'static str = "the vault record";

    /// Reads a stored vault record, refusing anything this build did not or could not write.
    pub fn parse(json: &str) -> Result<VaultMeta> {
        check_size(Self::WHAT, json.len(), MAX_RECORD_LEN)?;
        probe_format(Self::WHAT, json)?;
        let meta: VaultMeta =
            serde_json::from_str(json).map_err(|e| corrupt_decode(Self::WHAT, &e))?;
        meta.check()?;
        Ok(meta)
    }

    /// The checks `parse` makes, for a record that arrived already decoded.
    pub fn check(&self) -> Result<()> {
        let what = Self::WHAT;
        check_format(what, self.format)?;
        if !is_valid_id(&self.vault_id) {
            return Err(corrupt(what, "the vault id is malformed"));
        }
        match (self.mode, &self.kdf) {
            (Mode::Passphrase, Some(kdf)) => kdf.check()?,
            (Mode::Passphrase, None) => {
                return Err(corrupt(
                    what,
                    "a passphrase vault has no key-derivation settings",
                ))
            }
            (Mode::Device, None) => {}
            (Mode::Device, Some(_)) => {
                return Err(corrupt(what, "a device vault has key-derivation settings"))
            }
            (Mode::Session, _) => {
                return Err(corrupt(what, "a session vault is never stored"));
            }
        }
        self.wrapped_key.check()?;
        if self.wrapped_key.ct.len() != WRAPPED_KEY_LEN {
            return Err(corrupt(
                what,
                format_args!("the wrapped data key is not {WRAPPED_KEY_LEN} bytes"),
            ));
        }
        check_time(what, "createdAt", self.created_at)?;
        check_time(what, "updatedAt", self.updated_at)
    }

    /// The record as JSON for storage, after the same checks a reader makes (so that byok never
    /// writes what it would refuse to read). A failure is `ENCRYPTION_FAILED`.
    pub fn to_json(&self) -> Result<String> {
        self.check().map_err(writing)?;
        serde_json::to_string(self).map_err(|_| writing_failed(Self::WHAT))
    }
}

fn writing(mut e: ByokError) -> ByokError {
    e.code = ErrorCode::EncryptionFailed;
    e.message = format!(
        "refusing to write a record byok could not read back: {}",
        e.message
    );
    e
}

fn writing_failed(what: &str) -> ByokError {
    ByokError::new(
        ErrorCode::EncryptionFailed,
        format!("{what} could not be serialized"),
    )
}

/// One entry of a key's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyEvent {
    /// When, in milliseconds since the Unix epoch.
    pub at: f64,
    /// One of [`EVENT_ADDED`], [`EVENT_VALIDATED`], [`EVENT_ROTATED`], [`EVENT_INVALIDATED`].
    pub event: String,
}

impl KeyEvent {
    /// An event of the given kind (one of the `EVENT_*` constants) at `at`.
    pub fn new(at: f64, event: &str) -> Self {
        KeyEvent {
            at,
            event: event.to_owned(),
        }
    }
}

/// One stored API key: what the dashboard lists in the clear, and the key itself, sealed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRecord {
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub format: u32,
    /// The record's random id ([`new_id`]), never derived from the provider.
    pub id: String,
    /// The catalog provider id.
    pub provider: String,
    /// The user's label for the key.
    pub label: String,
    /// The masked display form (`formatKeyDisplay`), never more of the key.
    pub key_prefix: String,
    /// The base URL the key is sent to, when not the provider's default. Bound into the
    /// associated data: a record edited to point elsewhere fails to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// When the key was added, in milliseconds since the Unix epoch.
    pub created_at: f64,
    /// When the key was last used for a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<f64>,
    /// Whether the provider accepted the key when last asked.
    pub is_valid: bool,
    /// When the key was last rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<f64>,
    /// Recent events, oldest first, at most [`MAX_HISTORY`].
    #[serde(default)]
    pub history: Vec<KeyEvent>,
    /// The API key, sealed under the data key with [`key_record_aad`].
    pub sealed: Sealed,
}

impl KeyRecord {
    const WHAT: &'static str = "the key record";

    /// Reads a stored key record, refusing anything this build did not or could not write.
    pub fn parse(json: &str) -> Result<KeyRecord> {
        check_size(Self::WHAT, json.len(), MAX_RECORD_LEN)?;
        probe_format(Self::WHAT, json)?;
        let rec: KeyRecord =
            serde_json::from_str(json).map_err(|e| corrupt_decode(Self::WHAT, &e))?;
        rec.check()?;
        Ok(rec)
    }

    /// The checks `parse` makes, for a record that arrived already decoded.
    pub fn check(&self) -> Result<()> {
        let what = Self::WHAT;
        check_format(what, self.format)?;
        if !is_valid_id(&self.id) {
            return Err(corrupt(what, "the record id is malformed"));
        }
        if !is_valid_provider(&self.provider) {
            return Err(corrupt(what, "the provider id is malformed"));
        }
        check_len_at_most(what, "label", self.label.chars().count(), MAX_LABEL_LEN)?;
        check_len_at_most(
            what,
            "keyPrefix",
            self.key_prefix.chars().count(),
            MAX_KEY_PREFIX_LEN,
        )?;
        if let Some(url) = &self.base_url {
            check_len_at_most(what, "baseUrl", url.len(), MAX_BASE_URL_LEN)?;
        }
        check_time(what, "createdAt", self.created_at)?;
        if let Some(t) = self.last_used {
            check_time(what, "lastUsed", t)?;
        }
        if let Some(t) = self.rotated_at {
            check_time(what, "rotatedAt", t)?;
        }
        if self.history.len() > MAX_HISTORY {
            return Err(corrupt(
                what,
                format_args!("more than {MAX_HISTORY} history entries"),
            ));
        }
        for e in &self.history {
            check_time(what, "history.at", e.at)?;
            if !EVENTS.contains(&e.event.as_str()) {
                return Err(corrupt(what, "unknown history event"));
            }
        }
        self.sealed.check()
    }

    /// Appends an event, dropping the oldest ones beyond [`MAX_HISTORY`].
    pub fn push_event(&mut self, at: f64, event: &str) {
        self.history.push(KeyEvent::new(at, event));
        if self.history.len() > MAX_HISTORY {
            let excess = self.history.len() - MAX_HISTORY;
            self.history.drain(..excess);
        }
    }

    /// The associated data this record's key is sealed with, inside vault `vault_id`.
    pub fn aad(&self, vault_id: &str) -> Vec<u8> {
        key_record_aad(vault_id, &self.id, &self.provider, self.base_url.as_deref())
    }

    /// The record as JSON for storage, after the same checks a reader makes. A failure is
    /// `ENCRYPTION_FAILED`.
    pub fn to_json(&self) -> Result<String> {
        self.check().map_err(writing)?;
        serde_json::to_string(self).map_err(|_| writing_failed(Self::WHAT))
    }
}

/// Associated-data builder: a fixed label, then each field tagged, and length-prefixed with a
/// 64-bit big-endian length, so that no two different field lists give the same bytes.
struct Aad(Vec<u8>);

impl Aad {
    fn new(purpose: &str) -> Self {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(AAD_LABEL);
        let mut aad = Aad(out);
        aad.bytes(purpose.as_bytes());
        aad
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u64).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    fn opt(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
        }
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

/// The associated data of the wrapped data key: binds it to its vault, so that a wrapped key
/// copied into another vault's record (same passphrase or not) fails to unwrap.
pub fn data_key_aad(vault_id: &str) -> Vec<u8> {
    Aad::new("data-key").bytes(vault_id.as_bytes()).finish()
}

/// The associated data of a sealed API key: binds vault, record id, provider and base URL, so
/// that a record moved to another vault, swapped with another record, relabelled as another
/// provider or re-pointed at another server fails to open instead of sending the key elsewhere.
pub fn key_record_aad(
    vault_id: &str,
    record_id: &str,
    provider: &str,
    base_url: Option<&str>,
) -> Vec<u8> {
    Aad::new("key-record")
        .bytes(vault_id.as_bytes())
        .bytes(record_id.as_bytes())
        .bytes(provider.as_bytes())
        .opt(base_url.map(str::as_bytes))
        .finish()
}

/// The associated data of a backup: binds every header field (format, version, creation time,
/// KDF settings), so that editing any of them, such as lowering the iteration count, breaks
/// authentication.
pub fn backup_aad(format: &str, version: u32, created_at: f64, kdf: &KdfParams) -> Vec<u8> {
    Aad::new("backup")
        .bytes(format.as_bytes())
        .bytes(&version.to_be_bytes())
        .bytes(&created_at.to_bits().to_be_bytes())
        .bytes(kdf.algorithm.as_bytes())
        .bytes(&kdf.iterations.to_be_bytes())
        .bytes(kdf.salt.as_slice())
        .finish()
}

/// An exported backup: a readable header and the keys, sealed under a key derived from the
/// backup passphrase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupDoc {
    /// Always [`BACKUP_FORMAT`].
    pub format: String,
    /// Always [`BACKUP_VERSION`] when written by this build.
    pub version: u32,
    /// When the backup was made, in milliseconds since the Unix epoch.
    pub created_at: f64,
    /// How the sealing key is derived from the backup passphrase.
    pub kdf: KdfParams,
    /// The JSON of a [`BackupPayload`], sealed with [`BackupDoc::aad`] as associated data.
    pub sealed: Sealed,
}

impl BackupDoc {
    /// A new backup document header around `sealed`, in this build's format and version.
    pub fn new(created_at: f64, kdf: KdfParams, sealed: Sealed) -> Self {
        BackupDoc {
            format: BACKUP_FORMAT.to_owned(),
            version: BACKUP_VERSION,
            created_at,
            kdf,
            sealed,
        }
    }

    /// The associated data of this document's header (see [`backup_aad`]).
    pub fn aad(&self) -> Vec<u8> {
        backup_aad(&self.format, self.version, self.created_at, &self.kdf)
    }

    /// Reads a backup document handed in by the caller. Something that is not a byok backup,
    /// is too large or comes from a newer byok is `INVALID_REQUEST`; a backup whose KDF settings
    /// or ciphertext are out of bounds is `DECRYPTION_FAILED`, as a tampered one would be.
    pub fn parse(json: &str) -> Result<BackupDoc> {
        if json.len() > MAX_BACKUP_LEN {
            return Err(ByokError::invalid_request(format!(
                "the backup is larger than {MAX_BACKUP_LEN} bytes"
            )));
        }
        #[derive(Deserialize)]
        struct Probe {
            format: String,
            version: u32,
        }
        let not_backup = || ByokError::invalid_request("this is not a byok backup");
        let probe: Probe = serde_json::from_str(json).map_err(|_| not_backup())?;
        if probe.format != BACKUP_FORMAT {
            return Err(not_backup());
        }
        if probe.version > BACKUP_VERSION {
            return Err(ByokError::invalid_request(format!(
                "the backup was written by a newer version of byok (version {}); \
                 update byok to import it",
                probe.version
            )));
        }
        let doc: BackupDoc = serde_json::from_str(json)
            .map_err(|e| ByokError::from_decode("the backup is malformed", &e.to_string()))?;
        doc.check()?;
        Ok(doc)
    }

    /// The checks `parse` makes after decoding.
    pub fn check(&self) -> Result<()> {
        const WHAT: &str = "the backup";
        if self.format != BACKUP_FORMAT {
            return Err(ByokError::invalid_request("this is not a byok backup"));
        }
        if self.version != BACKUP_VERSION {
            return Err(ByokError::invalid_request(format!(
                "unsupported backup version {}",
                self.version
            )));
        }
        check_time(WHAT, "createdAt", self.created_at)?;
        self.kdf.check()?;
        self.sealed.check_within(MAX_BACKUP_LEN)
    }

    /// The document as JSON, after the checks a reader makes. A failure is `ENCRYPTION_FAILED`.
    pub fn to_json(&self) -> Result<String> {
        self.check().map_err(writing)?;
        serde_json::to_string(self).map_err(|_| writing_failed("the backup"))
    }
}

/// The plaintext inside a backup: the keys with what is needed to store them again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPayload {
    /// The keys, at most [`MAX_BACKUP_KEYS`].
    pub keys: Vec<BackupKey>,
}

/// One key in a backup. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupKey {
    /// The catalog provider id.
    pub provider: String,
    /// The user's label.
    pub label: String,
    /// The base URL, when not the provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// When the key was first added, in milliseconds since the Unix epoch.
    pub created_at: f64,
    /// The API key itself, wiped from memory when dropped.
    #[serde(with = "secret_string")]
    pub secret: Zeroizing<String>,
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupKey")
            .field("provider", &self.provider)
            .field("label", &self.label)
            .field("base_url", &self.base_url)
            .field("created_at", &self.created_at)
            .field("secret", &"<redacted>")
            .finish()
    }
}

// zeroize's own serde support is not enabled; this moves the decoded String straight into a
// Zeroizing wrapper, without a second copy.
mod secret_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(d).map(Zeroizing::new)
    }
}

impl BackupKey {
    fn check(&self) -> Result<()> {
        const WHAT: &str = "the backup's contents";
        if !is_valid_provider(&self.provider) {
            return Err(corrupt(WHAT, "a provider id is malformed"));
        }
        check_len_at_most(WHAT, "label", self.label.chars().count(), MAX_LABEL_LEN)?;
        if let Some(url) = &self.base_url {
            check_len_at_most(WHAT, "baseUrl", url.len(), MAX_BASE_URL_LEN)?;
        }
        check_time(WHAT, "createdAt", self.created_at)?;
        if self.secret.is_empty() {
            return Err(corrupt(WHAT, "a key is empty"));
        }
        check_len_at_most(WHAT, "secret", self.secret.len(), MAX_SECRET_LEN)
    }
}

/// Counts bytes without keeping them, to size the buffer a secret-bearing JSON is written into.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BackupPayload {
    const WHAT: &'static str = "the backup's contents";

    /// Reads the decrypted payload. Its plaintext holds secrets, so errors say only what is
    /// wrong, never where or with which value.
    pub fn parse(plaintext: &[u8]) -> Result<BackupPayload> {
        check_size(Self::WHAT, plaintext.len(), MAX_BACKUP_LEN)?;
        let payload: BackupPayload =
            serde_json::from_slice(plaintext).map_err(|_| corrupt(Self::WHAT, "malformed"))?;
        payload.check()?;
        Ok(payload)
    }

    /// The checks `parse` makes after decoding.
    pub fn check(&self) -> Result<()> {
        if self.keys.len() > MAX_BACKUP_KEYS {
            return Err(corrupt(
                Self::WHAT,
                format_args!("more than {MAX_BACKUP_KEYS} keys"),
            ));
        }
        self.keys.iter().try_for_each(BackupKey::check)
    }

    /// The payload as JSON bytes, in a buffer that is wiped when dropped. The size is measured
    /// first so the buffer never grows, since each reallocation would leave a copy of the keys
    /// behind in freed memory.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.check().map_err(writing)?;
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, self).map_err(|_| writing_failed(Self::WHAT))?;
        if counter.0 > MAX_BACKUP_LEN {
            return Err(ByokError::new(
                ErrorCode::EncryptionFailed,
                format!("the backup would be larger than {MAX_BACKUP_LEN} bytes"),
            ));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(counter.0));
        serde_json::to_writer(&mut *out, self).map_err(|_| writing_failed(Self::WHAT))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
