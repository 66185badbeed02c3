//! The key vault: state (empty, locked, unlocked), the key hierarchy, and the records.
//!
//! passphrase → PBKDF2-SHA256 → wrapping key (non-extractable) → data key (AES-256-GCM,
//! non-extractable once unwrapped) → one sealed record per API key, its associated data binding
//! vault id, record id, provider and base URL. In device mode a random non-extractable key kept
//! in IndexedDB takes the passphrase's place; in session mode nothing is written at all.
//!
//! The record layouts and checks are pure (`core::vault_format`); this file does the WebCrypto
//! and IndexedDB work in the order DESIGN.md asks: all crypto first, then one transaction.

use crate::core::audit::{AuditEvent, LockReason};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::keys;
use crate::core::vault_format::{self as vf, KdfParams, KeyRecord, Mode, VaultMeta, B64};
use crate::web::crypto;
use crate::web::meter::Meter;
use crate::web::store::{IdbStore, MemoryStore, Store, StoredMeta};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use zeroize::Zeroizing;

/// How long a passphrase or session vault stays unlocked without use, by default.
pub const DEFAULT_AUTO_LOCK_MS: u64 = 15 * 60 * 1000;
/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// `status()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No vault yet.
    Empty,
    /// A vault whose data key is not in memory.
    Locked,
    /// Keys can be used.
    Unlocked,
}

impl Status {
    /// The string of `shared/API.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Empty => "empty",
            Status::Locked => "locked",
            Status::Unlocked => "unlocked",
        }
    }
}

/// Options of `create`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOptions {
    /// `passphrase` (default with a passphrase), `device` or `session`.
    pub mode: Option<Mode>,
    /// Idle time before the vault locks itself; 0 turns it off.
    pub auto_lock_ms: Option<u64>,
    /// PBKDF2 iterations, at least 600,000.
    pub iterations: Option<u32>,
}

/// A key in the clear, only ever inside the module, wiped on drop.
pub struct Secret {
    /// The record it came from.
    pub record: KeyRecord,
    /// The key.
    pub key: Zeroizing<String>,
}

struct Inner {
    name: String,
    store: Store,
    meta: Option<VaultMeta>,
    device_key: Option<CryptoKey>,
    data_key: Option<CryptoKey>,
    timer: Option<i32>,
    lock_closure: Option<Closure<dyn FnMut()>>,
    channel: Option<web_sys::BroadcastChannel>,
    channel_closure: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    listeners: Vec<js_sys::Function>,
    meter: Meter,
}

/// A vault. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct Vault {
    inner: Rc<RefCell<Inner>>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn random_id() -> Result<String> {
    let bytes = crypto::random_bytes(16)?;
    let mut arr = [0u8; 16];
    arr.copy_from_slice(&bytes[..16.min(bytes.len())]);
    Ok(vf::new_id(&arr))
}

fn locked() -> ByokError {
    ByokError::new(
        ErrorCode::VaultLocked,
        "the vault is locked: unlock it first",
    )
}

impl Vault {
    /// Opens the vault called `name`, reading its record if it exists. A device-mode vault
    /// unlocks at once (its key is the browser's own).
    pub async fn open(name: &str) -> Result<Vault> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(ByokError::invalid_request(
                "a vault name is 1 to 128 printable characters",
            ));
        }
        let idb = IdbStore::open(name).await?;
        let meter = Meter::for_database(name, &idb);
        let store = Store::Idb(idb);
        let stored = store.get_meta().await?;
        let (meta, device_key) = match stored {
            Some(StoredMeta { json, device_key }) => (Some(VaultMeta::parse(&json)?), device_key),
            None => (None, None),
        };
        let vault = Vault {
            inner: Rc::new(RefCell::new(Inner {
                name: name.to_owned(),
                store,
                meta,
                device_key,
                data_key: None,
                timer: None,
                lock_closure: None,
                channel: None,
                channel_closure: None,
                listeners: Vec::new(),
                meter,
            })),
        };
        vault.listen_to_other_tabs();
        if vault.mode() == Some(Mode::Device) {
            vault.unlock_device().await?;
        }
        Ok(vault)
    }

    /// The vault's name.
    pub fn name(&self) -> String {
        self.inner.borrow().name.clone()
    }

    /// The usage ledger, budgets, rate limits and audit log of this vault.
    pub fn meter(&self) -> Meter {
        self.inner.borrow().meter.clone()
    }

    /// Writes a security event to the audit log. The operation it records has happened
    /// already, so a failure to log it is told to listeners (`audit-failed`) rather than
    /// undoing it.
    pub async fn audit(&self, event: AuditEvent) {
        if self.meter().audit(event).await.is_err() {
            self.emit("audit-failed");
        }
    }

    /// `empty`, `locked` or `unlocked`.
    pub fn status(&self) -> Status {
        let inner = self.inner.borrow();
        match (&inner.meta, &inner.data_key) {
            (None, _) => Status::Empty,
            (Some(_), None) => Status::Locked,
            (Some(_), Some(_)) => Status::Unlocked,
        }
    }

    /// The protection mode, once created.
    pub fn mode(&self) -> Option<Mode> {
        self.inner.borrow().meta.as_ref().map(|m| m.mode)
    }

    /// Calls `f` with the new status after every change (lock, unlock, keys changed); `f`
    /// receives `{ status, event }`.
    pub fn subscribe(&self, f: js_sys::Function) {
        self.inner.borrow_mut().listeners.push(f);
    }

    /// Tells listeners `{ status, event, detail }`: events that carry data (a wait).
    pub fn emit_with(&self, event: &str, detail: &JsValue) {
        self.tell(event, Some(detail));
    }

    fn emit(&self, event: &str) {
        self.tell(event, None);
    }

    fn tell(&self, event: &str, detail: Option<&JsValue>) {
        let listeners = self.inner.borrow().listeners.clone();
        let status = self.status().as_str();
        for f in listeners {
            let obj = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&obj, &"status".into(), &status.into());
            let _ = js_sys::Reflect::set(&obj, &"event".into(), &event.into());
            if let Some(d) = detail {
                let _ = js_sys::Reflect::set(&obj, &"detail".into(), d);
            }
            // A listener's own failure must not break the vault operation that triggered it.
            let _ = f.call1(&JsValue::NULL, &obj);
        }
    }

    /// `create(passphrase, options)`: an empty vault becomes unlocked.
    pub async fn create(&self, passphrase: Option<&str>, options: CreateOptions) -> Result<()> {
        if self.status() != Status::Empty {
            return Err(ByokError::invalid_request(
                "this vault already exists: unlock it, or open another name",
            ));
        }
        let mode = match (options.mode, passphrase) {
            (Some(Mode::Passphrase), None) | (None, None) => {
                return Err(ByokError::invalid_request(
                    "a passphrase vault needs a passphrase; for none, choose mode 'device' or 'session'",
                ))
            }
            (Some(Mode::Device | Mode::Session), Some(_)) => {
                return Err(ByokError::invalid_request(
                    "device and session vaults take no passphrase (pass null)",
                ))
            }
            (Some(m), _) => m,
            (None, Some(_)) => Mode::Passphrase,
        };
        let vault_id = random_id()?;
        let aad = vf::data_key_aad(&vault_id);
        let (wrapping, kdf, device_key) = match mode {
            Mode::Passphrase => {
                let pass = passphrase.unwrap_or_default();
                check_passphrase(pass)?;
                let kdf = KdfParams {
                    algorithm: String::from("PBKDF2-SHA256"),
                    iterations: options.iterations.unwrap_or(vf::MIN_ITERATIONS),
                    salt: B64(crypto::random_bytes(vf::SALT_LEN)?),
                };
                kdf.check()?;
                (
                    crypto::derive_wrapping_key(pass, &kdf).await?,
                    Some(kdf),
                    None,
                )
            }
            Mode::Device | Mode::Session => {
                let k = crypto::generate_device_key().await?;
                (k.clone(), None, Some(k))
            }
        };
        let fresh = crypto::generate_data_key().await?;
        let wrapped = crypto::wrap_key(&fresh, &wrapping, &aad).await?;
        drop(fresh);
        // The extractable copy is gone; only this non-extractable one is kept.
        let data_key = crypto::unwrap_data_key(&wrapped, &wrapping, &aad, false).await?;
        let now = now_ms();
        let meta = VaultMeta {
            format: vf::FORMAT_VERSION,
            vault_id,
            mode,
            created_at: now,
            kdf,
            wrapped_key: wrapped,
            auto_lock_ms: options.auto_lock_ms.unwrap_or(match mode {
                Mode::Device => 0,
                _ => DEFAULT_AUTO_LOCK_MS,
            }),
            updated_at: now,
        };
        if mode == Mode::Session {
            // Nothing of a session vault touches storage: its ledger and audit log too live
            // in memory, for as long as the page.
            let mut inner = self.inner.borrow_mut();
            inner.store = Store::Memory(MemoryStore::default());
            inner.meter = Meter::in_memory();
        }
        if mode != Mode::Session {
            let store = self.inner.borrow().store.clone();
            let stored = StoredMeta {
                json: meta.to_json()?,
                device_key: if mode == Mode::Device {
                    device_key.clone()
                } else {
                    None
                },
            };
            store.create_meta(&stored).await?;
        }
        {
            let mut inner = self.inner.borrow_mut();
            inner.meta = Some(meta);
            inner.device_key = device_key;
            inner.data_key = Some(data_key);
        }
        self.touch();
        self.audit(AuditEvent::VaultCreated { mode }).await;
        self.emit("created");
        Ok(())
    }

    async fn unlock_device(&self) -> Result<()> {
        let (meta, device_key) = {
            let inner = self.inner.borrow();
            (inner.meta.clone(), inner.device_key.clone())
        };
        let (Some(meta), Some(device_key)) = (meta, device_key) else {
            return Err(ByokError::new(
                ErrorCode::DecryptionFailed,
                "the device key of this vault is missing from IndexedDB",
            ));
        };
        let aad = vf::data_key_aad(&meta.vault_id);
        let data_key = crypto::unwrap_data_key(&meta.wrapped_key, &device_key, &aad, false).await?;
        self.inner.borrow_mut().data_key = Some(data_key);
        self.audit(AuditEvent::Unlocked).await;
        self.emit("unlocked");
        Ok(())
    }

    /// `unlock(passphrase)`: a locked vault becomes unlocked; a wrong passphrase is
    /// `WRONG_PASSPHRASE`. Device vaults unlock without one.
    pub async fn unlock(&self, passphrase: Option<&str>) -> Result<()> {
        // Re-read the record: another tab may have changed the passphrase.
        self.reload_meta().await?;
        match self.status() {
            Status::Empty => {
                return Err(ByokError::invalid_request(
                    "there is no vault to unlock yet",
                ))
            }
            Status::Unlocked => {
                self.touch();
                return Ok(());
            }
            Status::Locked => {}
        }
        if self.mode() == Some(Mode::Device) {
            return self.unlock_device().await;
        }
        let pass = passphrase.ok_or_else(|| {
            ByokError::new(
                ErrorCode::WrongPassphrase,
                "this vault needs its passphrase",
            )
        })?;
        let meta = self.meta()?;
        let data_key = match unwrap_with_passphrase(&meta, pass, false).await {
            Ok(k) => k,
            Err(e) => {
                if e.code == ErrorCode::WrongPassphrase {
                    self.audit(AuditEvent::UnlockFailed).await;
                }
                return Err(e);
            }
        };
        self.inner.borrow_mut().data_key = Some(data_key);
        self.touch();
        self.audit(AuditEvent::Unlocked).await;
        self.emit("unlocked");
        Ok(())
    }

    async fn reload_meta(&self) -> Result<()> {
        let store = self.inner.borrow().store.clone();
        if let Store::Memory(_) = store {
            return Ok(());
        }
        if let Some(stored) = store.get_meta().await? {
            let meta = VaultMeta::parse(&stored.json)?;
            let mut inner = self.inner.borrow_mut();
            inner.meta = Some(meta);
            if stored.device_key.is_some() {
                inner.device_key = stored.device_key;
            }
        }
        Ok(())
    }

    fn meta(&self) -> Result<VaultMeta> {
        self.inner
            .borrow()
            .meta
            .clone()
            .ok_or_else(|| ByokError::invalid_request("there is no vault yet: create one first"))
    }

    /// `lock()`: forgets the data key at once; a session vault forgets everything. Other tabs
    /// of the same origin lock too.
    pub fn lock(&self) {
        self.lock_for(LockReason::Manual);
    }

    fn lock_for(&self, reason: LockReason) {
        if self.status() == Status::Unlocked {
            let vault = self.clone();
            wasm_bindgen_futures::spawn_local(async move {
                vault.audit(AuditEvent::Locked { reason }).await;
            });
        }
        self.lock_here();
        let channel = self.inner.borrow().channel.clone();
        if let Some(c) = channel {
            let _ = c.post_message(&"lock".into());
        }
    }

    fn lock_here(&self) {
        let was_unlocked = self.status() == Status::Unlocked;
        {
            let mut inner = self.inner.borrow_mut();
            inner.data_key = None;
            if let Some(t) = inner.timer.take() {
                clear_timeout(t);
            }
            if let Store::Memory(_) = inner.store {
                inner.store.clear_memory();
                inner.meta = None;
                inner.device_key = None;
            }
        }
        if was_unlocked {
            self.emit("locked");
        }
    }

    fn listen_to_other_tabs(&self) {
        let name = format!("byok-vault:{}", self.name());
        let Ok(channel) = web_sys::BroadcastChannel::new(&name) else {
            return;
        };
        let weak = Rc::downgrade(&self.inner);
        let closure =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let Some(inner) = weak.upgrade() else { return };
                let vault = Vault { inner };
                match e.data().as_string().as_deref() {
                    Some("lock") => vault.lock_here(),
                    Some("keys") => vault.emit("keys-changed"),
                    _ => {}
                }
            });
        channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        inner.channel = Some(channel);
        inner.channel_closure = Some(closure);
    }

    fn announce_keys_changed(&self) {
        let channel = self.inner.borrow().channel.clone();
        if let Some(c) = channel {
            let _ = c.post_message(&"keys".into());
        }
        self.emit("keys-changed");
    }

    /// Re-arms the idle timer: any use of an unlocked vault counts as activity.
    fn touch(&self) {
        let ms = self
            .inner
            .borrow()
            .meta
            .as_ref()
            .map_or(0, |m| m.auto_lock_ms);
        let old = self.inner.borrow_mut().timer.take();
        if let Some(t) = old {
            clear_timeout(t);
        }
        if ms == 0 || self.status() != Status::Unlocked {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                Vault { inner }.lock_for(LockReason::Idle);
            }
        });
        let id = set_timeout(closure.as_ref().unchecked_ref(), ms);
        let mut inner = self.inner.borrow_mut();
        inner.timer = id;
        inner.lock_closure = Some(closure);
    }

    fn data_key(&self) -> Result<CryptoKey> {
        let key = self.inner.borrow().data_key.clone().ok_or_else(locked)?;
        self.touch();
        Ok(key)
    }

    /// `changePassphrase(old, new)`: re-wraps only the data key, in one write, so a page killed
    /// midway leaves a vault that opens with exactly one of the two.
    pub async fn change_passphrase(&self, old: &str, new: &str) -> Result<()> {
        self.reload_meta().await?;
        let meta = self.meta()?;
        if meta.mode != Mode::Passphrase {
            return Err(ByokError::invalid_request(
                "only a passphrase vault has a passphrase to change",
            ));
        }
        check_passphrase(new)?;
        let extractable = unwrap_with_passphrase(&meta, old, true).await?;
        let kdf = KdfParams {
            algorithm: String::from("PBKDF2-SHA256"),
            iterations: meta
                .kdf
                .as_ref()
                .map_or(vf::MIN_ITERATIONS, |k| k.iterations.max(vf::MIN_ITERATIONS)),
            salt: B64(crypto::random_bytes(vf::SALT_LEN)?),
        };
        let wrapping = crypto::derive_wrapping_key(new, &kdf).await?;
        let aad = vf::data_key_aad(&meta.vault_id);
        let wrapped = crypto::wrap_key(&extractable, &wrapping, &aad).await?;
        drop(extractable);
        let data_key = crypto::unwrap_data_key(&wrapped, &wrapping, &aad, false).await?;
        let next = VaultMeta {
            kdf: Some(kdf),
            wrapped_key: wrapped,
            updated_at: now_ms(),
            ..meta
        };
        let store = self.inner.borrow().store.clone();
        store
            .write(
                Some(&StoredMeta {
                    json: next.to_json()?,
                    device_key: None,
                }),
                &[],
                &[],
            )
            .await?;
        {
            let mut inner = self.inner.borrow_mut();
            inner.meta = Some(next);
            inner.data_key = Some(data_key);
        }
        self.touch();
        self.audit(AuditEvent::PassphraseChanged).await;
        self.emit("passphrase-changed");
        Ok(())
    }

    /// Every key record that parses, newest first. Records that do not parse are skipped
    /// here and reported by [`Vault::verify_records`].
    pub async fn records(&self) -> Result<Vec<KeyRecord>> {
        let store = self.inner.borrow().store.clone();
        let mut records: Vec<KeyRecord> = store
            .keys()
            .await?
            .iter()
            .filter_map(|json| KeyRecord::parse(json).ok())
            .collect();
        records.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        Ok(records)
    }

    /// Seals a new key and stores its record; the key was checked by the caller.
    pub async fn store_key(
        &self,
        provider: &str,
        key: &str,
        label: Option<String>,
        base_url: Option<String>,
        validated: bool,
    ) -> Result<KeyRecord> {
        let record = self
            .seal_record(provider, key, label, base_url, validated, now_ms())
            .await?;
        self.put_records(&[&record]).await?;
        self.audit(AuditEvent::KeyAdded {
            provider: record.provider.clone(),
            key_id: record.id.clone(),
        })
        .await;
        self.announce_keys_changed();
        Ok(record)
    }

    /// A new sealed record, not yet written.
    async fn seal_record(
        &self,
        provider: &str,
        key: &str,
        label: Option<String>,
        base_url: Option<String>,
        validated: bool,
        created_at: f64,
    ) -> Result<KeyRecord> {
        let data_key = self.data_key()?;
        let meta = self.meta()?;
        let id = random_id()?;
        let aad = vf::key_record_aad(&meta.vault_id, &id, provider, base_url.as_deref());
        let sealed = crypto::seal(&data_key, &aad, key.as_bytes()).await?;
        let now = now_ms();
        let mut record = KeyRecord {
            format: vf::FORMAT_VERSION,
            label: label.unwrap_or_else(|| default_label(provider)),
            id,
            provider: provider.to_owned(),
            key_prefix: keys::format_key_display(key),
            base_url,
            created_at,
            last_used: None,
            is_valid: true,
            rotated_at: None,
            history: Vec::new(),
            sealed,
        };
        record.push_event(now, vf::EVENT_ADDED);
        if validated {
            record.push_event(now, vf::EVENT_VALIDATED);
        }
        Ok(record)
    }

    /// `exportBackup(passphrase)`: every key, sealed under a key derived from `passphrase` with
    /// a fresh salt. A record that does not open fails the export (nothing is left out silently).
    pub async fn export_backup(&self, passphrase: &str) -> Result<String> {
        check_passphrase(passphrase)?;
        let mut keys_out = Vec::new();
        for record in self.records().await? {
            let secret = self.open_record(&record).await?;
            keys_out.push(vf::BackupKey {
                provider: record.provider.clone(),
                label: record.label.clone(),
                base_url: record.base_url.clone(),
                created_at: record.created_at,
                secret: secret.key,
            });
        }
        let count = keys_out.len();
        let payload = vf::BackupPayload { keys: keys_out }.to_json()?;
        let mut salt = [0u8; vf::SALT_LEN];
        salt.copy_from_slice(&crypto::random_bytes(vf::SALT_LEN)?);
        let kdf = KdfParams::pbkdf2_sha256(salt, vf::MIN_ITERATIONS);
        let key = crypto::derive_sealing_key(passphrase, &kdf).await?;
        let created_at = now_ms();
        let aad = vf::backup_aad(vf::BACKUP_FORMAT, vf::BACKUP_VERSION, created_at, &kdf);
        let sealed = crypto::seal(&key, &aad, &payload).await?;
        let doc = vf::BackupDoc::new(created_at, kdf, sealed).to_json()?;
        self.audit(AuditEvent::BackupExported {
            keys: u32::try_from(count).unwrap_or(u32::MAX),
        })
        .await;
        Ok(doc)
    }

    /// Adds every key of a backup, all in one write; a backup that does not open (wrong
    /// passphrase, any byte changed) is refused whole and nothing is written.
    pub async fn import_backup(&self, doc: &str, passphrase: &str) -> Result<usize> {
        if self.status() != Status::Unlocked {
            return Err(locked());
        }
        let doc = vf::BackupDoc::parse(doc)?;
        let key = crypto::derive_sealing_key(passphrase, &doc.kdf).await?;
        let plain = crypto::open(&key, &doc.aad(), &doc.sealed)
            .await
            .map_err(|_| {
                ByokError::new(
                    ErrorCode::WrongPassphrase,
                    "the backup did not open: wrong passphrase, or the backup was altered",
                )
            })?;
        let payload = vf::BackupPayload::parse(&plain)?;
        let mut records = Vec::with_capacity(payload.keys.len());
        for k in &payload.keys {
            records.push(
                self.seal_record(
                    &k.provider,
                    &k.secret,
                    Some(k.label.clone()),
                    k.base_url.clone(),
                    false,
                    k.created_at,
                )
                .await?,
            );
        }
        let refs: Vec<&KeyRecord> = records.iter().collect();
        self.put_records(&refs).await?;
        self.audit(AuditEvent::BackupImported {
            keys: u32::try_from(records.len()).unwrap_or(u32::MAX),
        })
        .await;
        self.announce_keys_changed();
        Ok(records.len())
    }

    async fn put_records(&self, records: &[&KeyRecord]) -> Result<()> {
        let jsons: Vec<(String, String)> = records
            .iter()
            .map(|r| Ok((r.id.clone(), r.to_json()?)))
            .collect::<Result<_>>()?;
        let puts: Vec<(&str, &str)> = jsons
            .iter()
            .map(|(i, j)| (i.as_str(), j.as_str()))
            .collect();
        let store = self.inner.borrow().store.clone();
        store.write(None, &puts, &[]).await
    }

    /// Updates record metadata (last use, validity, history) without touching the secret.
    pub async fn update_record(&self, record: &KeyRecord) -> Result<()> {
        self.put_records(&[record]).await
    }

    /// Opens a record: the key in the clear. A record moved, swapped, re-pointed or edited is
    /// `DECRYPTION_FAILED`.
    pub async fn open_record(&self, record: &KeyRecord) -> Result<Secret> {
        let data_key = self.data_key()?;
        let meta = self.meta()?;
        let aad = vf::key_record_aad(
            &meta.vault_id,
            &record.id,
            &record.provider,
            record.base_url.as_deref(),
        );
        let bytes = crypto::open(&data_key, &aad, &record.sealed)
            .await
            .map_err(|_| {
                ByokError::new(
                    ErrorCode::DecryptionFailed,
                    format!(
                        "the stored key '{}' is corrupt or was tampered with",
                        crate::core::catalog::printable_id(&record.label)
                    ),
                )
                .with_provider(&record.provider)
            })?;
        let key = String::from_utf8(bytes.to_vec())
            .map_err(|_| ByokError::new(ErrorCode::DecryptionFailed, "a stored key is not text"))?;
        Ok(Secret {
            record: record.clone(),
            key: Zeroizing::new(key),
        })
    }

    /// The key for a call: by id, or the newest valid key of the provider.
    pub async fn secret_for(&self, provider: &str, key_id: Option<&str>) -> Result<Secret> {
        if self.status() != Status::Unlocked {
            return Err(locked());
        }
        let records = self.records().await?;
        let record = match key_id {
            Some(id) => records.into_iter().find(|r| r.id == id).ok_or_else(|| {
                ByokError::new(ErrorCode::KeyNotFound, "no stored key has that id")
            })?,
            None => records
                .into_iter()
                .find(|r| r.provider == provider && r.is_valid)
                .ok_or_else(|| {
                    ByokError::new(
                        ErrorCode::KeyNotFound,
                        format!("no valid key is stored for {provider}"),
                    )
                    .with_provider(provider)
                })?,
        };
        if record.provider != provider {
            return Err(ByokError::invalid_request(format!(
                "key {} belongs to {}, not {provider}",
                record.id, record.provider
            )));
        }
        self.open_record(&record).await
    }

    /// `removeKey(id)`.
    pub async fn remove_key(&self, id: &str) -> Result<()> {
        if self.status() != Status::Unlocked {
            return Err(locked());
        }
        let store = self.inner.borrow().store.clone();
        let provider = self
            .records()
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| r.provider)
            .ok_or_else(|| ByokError::new(ErrorCode::KeyNotFound, "no stored key has that id"))?;
        store.write(None, &[], &[id]).await?;
        self.audit(AuditEvent::KeyRemoved {
            provider,
            key_id: id.to_owned(),
        })
        .await;
        self.announce_keys_changed();
        Ok(())
    }

    /// Replaces the secret of a record in one write, keeping id, label and history.
    pub async fn replace_secret(&self, record: &KeyRecord, new_key: &str) -> Result<KeyRecord> {
        let data_key = self.data_key()?;
        let meta = self.meta()?;
        let aad = vf::key_record_aad(
            &meta.vault_id,
            &record.id,
            &record.provider,
            record.base_url.as_deref(),
        );
        let sealed = crypto::seal(&data_key, &aad, new_key.as_bytes()).await?;
        let now = now_ms();
        let mut next = KeyRecord {
            sealed,
            key_prefix: keys::format_key_display(new_key),
            rotated_at: Some(now),
            is_valid: true,
            ..record.clone()
        };
        next.push_event(now, vf::EVENT_ROTATED);
        self.put_records(&[&next]).await?;
        self.audit(AuditEvent::KeyRotated {
            provider: next.provider.clone(),
            key_id: next.id.clone(),
        })
        .await;
        self.announce_keys_changed();
        Ok(next)
    }

    /// The vault id (for associated data of backups and audit later).
    pub fn vault_id(&self) -> Option<String> {
        self.inner
            .borrow()
            .meta
            .as_ref()
            .map(|m| m.vault_id.clone())
    }
}

fn default_label(provider: &str) -> String {
    format!("{provider} key")
}

fn check_passphrase(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ByokError::invalid_request(format!(
            "a passphrase has at least {MIN_PASSPHRASE_CHARS} characters"
        )));
    }
    if p.len() > 4096 {
        return Err(ByokError::invalid_request(
            "a passphrase has at most 4096 bytes",
        ));
    }
    Ok(())
}

async fn unwrap_with_passphrase(
    meta: &VaultMeta,
    passphrase: &str,
    extractable: bool,
) -> Result<CryptoKey> {
    let kdf = meta.kdf.as_ref().ok_or_else(|| {
        ByokError::new(
            ErrorCode::DecryptionFailed,
            "the vault record has no KDF parameters",
        )
    })?;
    let wrapping = crypto::derive_wrapping_key(passphrase, kdf).await?;
    let aad = vf::data_key_aad(&meta.vault_id);
    crypto::unwrap_data_key(&meta.wrapped_key, &wrapping, &aad, extractable)
        .await
        .map_err(|_| ByokError::new(ErrorCode::WrongPassphrase, "wrong passphrase"))
}

fn set_timeout(f: &js_sys::Function, ms: u64) -> Option<i32> {
    let global = js_sys::global();
    let st = js_sys::Reflect::get(&global, &"setTimeout".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    st.call2(&global, f, &JsValue::from_f64(ms as f64))
        .ok()?
        .as_f64()
        .map(|v| v as i32)
}

fn clear_timeout(id: i32) {
    let global = js_sys::global();
    if let Some(ct) = js_sys::Reflect::get(&global, &"clearTimeout".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    {
        let _ = ct.call1(&global, &JsValue::from(id));
    }
}
