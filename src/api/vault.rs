//! `Vault` and the module-level key calls of `shared/API.md` (on the default vault).

use super::convert::{decode, to_value};
use super::error::to_js;
use super::state::with_catalog;
use crate::core::audit::AuditEvent;
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::keys;
use crate::core::vault_format::{KeyRecord, Mode};
use crate::web::client::{self, Target};
use crate::web::vault::{CreateOptions, Status, Vault};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use zeroize::Zeroizing;

/// A JS Promise of a Rust future; errors become `BYOKError`s.
pub(crate) fn promise<F>(f: F) -> js_sys::Promise
where
    F: Future<Output = Result<JsValue>> + 'static,
{
    boxed_promise(Box::pin(async move { f.await.map_err(to_js) }))
}

/// One `future_to_promise` for every export: with a concrete future type per export, each
/// export inlined its whole state machine into its own copy of the executor glue (tens of
/// kilobytes over the module); behind `dyn` there is one copy.
#[inline(never)]
pub(crate) fn boxed_promise(
    f: std::pin::Pin<Box<dyn Future<Output = std::result::Result<JsValue, JsValue>>>>,
) -> js_sys::Promise {
    future_to_promise(f)
}

fn js<T: Serialize>(v: &T) -> Result<JsValue> {
    to_value(v).map_err(|_| ByokError::invalid_request("cannot encode a result"))
}

/// The encrypted key vault.
#[wasm_bindgen(js_name = Vault)]
pub struct VaultHandle {
    vault: Vault,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddOptions {
    label: Option<String>,
    base_url: Option<String>,
    validate: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValidateOptions {
    base_url: Option<String>,
}

/// `{ valid, id?, models?, error?, code? }` of addKey, validateKey and rotateKey.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct KeyCheck {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<ErrorCode>,
}

impl KeyCheck {
    fn failed(e: ByokError) -> Self {
        KeyCheck {
            valid: false,
            error: Some(e.message),
            code: Some(e.code),
            ..KeyCheck::default()
        }
    }
}

/// `StoredKey`: never the key itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey<'a> {
    id: &'a str,
    provider: &'a str,
    label: &'a str,
    key_prefix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<&'a str>,
    created_at: f64,
    last_used: Option<f64>,
    is_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotated_at: Option<f64>,
}

impl<'a> From<&'a KeyRecord> for StoredKey<'a> {
    fn from(r: &'a KeyRecord) -> Self {
        StoredKey {
            id: &r.id,
            provider: &r.provider,
            label: &r.label,
            key_prefix: &r.key_prefix,
            base_url: r.base_url.as_deref(),
            created_at: r.created_at,
            last_used: r.last_used,
            is_valid: r.is_valid,
            rotated_at: r.rotated_at,
        }
    }
}

/// Errors that belong to the key, answered inside `{ valid: false, ... }`; any other error
/// (locked vault, unknown provider, storage) rejects.
fn is_key_failure(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidApiKey
            | ErrorCode::InsufficientQuota
            | ErrorCode::RateLimited
            | ErrorCode::NetworkError
            | ErrorCode::CorsBlocked
            | ErrorCode::ProviderUnavailable
            | ErrorCode::ModelNotFound
    )
}

fn target(provider: &str, base_url: Option<&str>, key: &str) -> Result<Target> {
    with_catalog(|c| Target::new(c, provider, base_url, Zeroizing::new(key.trim().to_owned())))
}

/// Asks the provider about a key, recording the call in the ledger and a definite answer
/// (accepted, or refused as invalid) in the audit log.
async fn check_key(vault: &Vault, target: &Target, key_id: Option<&str>) -> Result<Vec<String>> {
    let catalog = with_catalog(|c| Ok(c.clone()))?;
    let result = client::validate(&catalog, target, None, &vault.meter(), key_id).await;
    let valid = match &result {
        Ok(_) => Some(true),
        Err(e) if e.code == ErrorCode::InvalidApiKey => Some(false),
        Err(_) => None,
    };
    if let Some(valid) = valid {
        vault
            .audit(AuditEvent::KeyValidated {
                provider: target.provider.id.clone(),
                key_id: key_id.map(str::to_owned),
                valid,
            })
            .await;
    }
    result
}

pub(crate) async fn add_key(
    vault: Vault,
    provider: String,
    api_key: String,
    options: JsValue,
) -> Result<JsValue> {
    let api_key = Zeroizing::new(api_key);
    let opts: AddOptions = decode_options(&options, "addKey options")?;
    if vault.status() != Status::Unlocked {
        return Err(locked_error());
    }
    if opts.label.as_ref().is_some_and(|l| l.chars().count() > 256) {
        return Err(ByokError::invalid_request(
            "a label has at most 256 characters",
        ));
    }
    let target = target(&provider, opts.base_url.as_deref(), &api_key)?;
    let format = with_catalog(|c| keys::check_format(c, &provider, &api_key))?;
    if !format.valid {
        return js(&KeyCheck {
            valid: false,
            error: format.error,
            code: Some(ErrorCode::InvalidApiKey),
            ..KeyCheck::default()
        });
    }
    let validate = opts.validate.unwrap_or(true);
    let models = if validate {
        match check_key(&vault, &target, None).await {
            Ok(m) => Some(m),
            Err(e) if is_key_failure(e.code) => return js(&KeyCheck::failed(e)),
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let custom_base = opts
        .base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .map(|_| target.base_url.clone());
    let record = vault
        .store_key(
            &provider,
            target.secret.as_str(),
            opts.label,
            custom_base,
            validate,
        )
        .await?;
    js(&KeyCheck {
        valid: true,
        id: Some(record.id),
        models,
        ..KeyCheck::default()
    })
}

pub(crate) async fn validate_key(
    vault: Vault,
    provider: String,
    api_key: Option<String>,
    options: JsValue,
) -> Result<JsValue> {
    let opts: ValidateOptions = decode_options(&options, "validateKey options")?;
    let (key, base_url, key_id) = match api_key.map(Zeroizing::new) {
        Some(k) => (k, opts.base_url, None),
        None => {
            let secret = vault.secret_for(&provider, None).await?;
            let base = opts.base_url.or(secret.record.base_url.clone());
            (secret.key, base, Some(secret.record.id.clone()))
        }
    };
    let target = target(&provider, base_url.as_deref(), &key)?;
    match check_key(&vault, &target, key_id.as_deref()).await {
        Ok(models) => js(&KeyCheck {
            valid: true,
            models: Some(models),
            ..KeyCheck::default()
        }),
        Err(e) if is_key_failure(e.code) => js(&KeyCheck::failed(e)),
        Err(e) => Err(e),
    }
}

fn decode_options<T: for<'de> Deserialize<'de> + Default>(v: &JsValue, what: &str) -> Result<T> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    decode(v, what)
}

#[wasm_bindgen(js_class = Vault)]
impl VaultHandle {
    /// `Vault.open(name?)`: the vault called `name` (default `'byok'`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Vault>")]
    pub fn open(name: Option<String>) -> js_sys::Promise {
        promise(async move {
            let vault = Vault::open(name.as_deref().unwrap_or("byok")).await?;
            Ok(VaultHandle { vault }.into())
        })
    }

    /// `'empty' | 'locked' | 'unlocked'`.
    #[wasm_bindgen(unchecked_return_type = "'empty' | 'locked' | 'unlocked'")]
    pub fn status(&self) -> String {
        self.vault.status().as_str().to_owned()
    }

    /// The vault's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.vault.name()
    }

    /// `'passphrase' | 'device' | 'session'`, or `null` before `create`.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "'passphrase' | 'device' | 'session' | null"
    )]
    pub fn mode(&self) -> JsValue {
        match self.vault.mode() {
            Some(Mode::Passphrase) => "passphrase".into(),
            Some(Mode::Device) => "device".into(),
            Some(Mode::Session) => "session".into(),
            None => JsValue::NULL,
        }
    }

    /// `create(passphrase)` or `create(null, { mode: 'device' | 'session', autoLockMs?, iterations? })`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn create(
        &self,
        passphrase: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "VaultCreateOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let passphrase = passphrase.map(Zeroizing::new);
            let opts: CreateOptions = decode_options(&options, "create options")?;
            vault
                .create(passphrase.as_deref().map(String::as_str), opts)
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `unlock(passphrase)`; `WRONG_PASSPHRASE` when it is wrong.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unlock(&self, passphrase: Option<String>) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let passphrase = passphrase.map(Zeroizing::new);
            vault
                .unlock(passphrase.as_deref().map(String::as_str))
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Forgets every key in memory at once (and locks the other tabs).
    pub fn lock(&self) {
        self.vault.lock();
    }

    /// Re-wraps the data key under a new passphrase.
    #[wasm_bindgen(js_name = changePassphrase, unchecked_return_type = "Promise<void>")]
    pub fn change_passphrase(
        &self,
        old_passphrase: String,
        new_passphrase: String,
    ) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let old = Zeroizing::new(old_passphrase);
            let new = Zeroizing::new(new_passphrase);
            vault.change_passphrase(&old, &new).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Checks a key (format, then the provider) and stores it only if valid.
    #[wasm_bindgen(js_name = addKey, unchecked_return_type = "Promise<KeyCheckResult>")]
    pub fn add_key(
        &self,
        provider: String,
        api_key: String,
        #[wasm_bindgen(unchecked_param_type = "AddKeyOptions")] options: JsValue,
    ) -> js_sys::Promise {
        promise(add_key(self.vault.clone(), provider, api_key, options))
    }

    /// Checks a key with its provider without storing it; with no key, the stored one.
    #[wasm_bindgen(js_name = validateKey, unchecked_return_type = "Promise<KeyCheckResult>")]
    pub fn validate_key(
        &self,
        provider: String,
        api_key: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "{ baseUrl?: string }")] options: JsValue,
    ) -> js_sys::Promise {
        promise(validate_key(self.vault.clone(), provider, api_key, options))
    }

    /// Every stored key, newest first, never in plain text.
    #[wasm_bindgen(js_name = listKeys, unchecked_return_type = "Promise<StoredKey[]>")]
    pub fn list_keys(&self) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let records = unlocked_records(&vault).await?;
            let list: Vec<StoredKey> = records.iter().map(StoredKey::from).collect();
            js(&list)
        })
    }

    /// Removes a stored key; `KEY_NOT_FOUND` if there is none with that id.
    #[wasm_bindgen(js_name = removeKey, unchecked_return_type = "Promise<void>")]
    pub fn remove_key(&self, id: String) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            vault.remove_key(&id).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Calls `listener({ status, event })` after every change: `created`, `unlocked`,
    /// `locked`, `passphrase-changed`, `keys-changed` (from this tab or another).
    pub fn subscribe(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "(change: { status: 'empty' | 'locked' | 'unlocked'; event: string }) => void"
        )]
        listener: js_sys::Function,
    ) {
        self.vault.subscribe(listener);
    }
}

#[wasm_bindgen(js_class = Vault)]
impl VaultHandle {
    /// `rotateKey(id, newApiKey)`: checks the new key with the provider, then replaces the old
    /// one in one write, keeping id, label and history.
    #[wasm_bindgen(js_name = rotateKey, unchecked_return_type = "Promise<KeyCheckResult>")]
    pub fn rotate_key(&self, id: String, new_api_key: String) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let new_key = Zeroizing::new(new_api_key);
            let record = find_record(&vault, &id).await?;
            let format = with_catalog(|c| keys::check_format(c, &record.provider, &new_key))?;
            if !format.valid {
                return js(&KeyCheck {
                    valid: false,
                    error: format.error,
                    code: Some(ErrorCode::InvalidApiKey),
                    ..KeyCheck::default()
                });
            }
            let target = target(&record.provider, record.base_url.as_deref(), &new_key)?;
            let models = match check_key(&vault, &target, Some(&record.id)).await {
                Ok(m) => m,
                Err(e) if is_key_failure(e.code) => return js(&KeyCheck::failed(e)),
                Err(e) => return Err(e),
            };
            vault
                .replace_secret(&record, target.secret.as_str())
                .await?;
            js(&KeyCheck {
                valid: true,
                id: Some(record.id),
                models: Some(models),
                ..KeyCheck::default()
            })
        })
    }

    /// `revalidateKeys()`: asks each key's provider again and updates `isValid`; resolves to
    /// `[{ id, valid, error?, code? }]`.
    #[wasm_bindgen(js_name = revalidateKeys, unchecked_return_type = "Promise<Array<KeyCheckResult & { id: string }>>")]
    pub fn revalidate_keys(&self) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let mut out = Vec::new();
            for mut record in unlocked_records(&vault).await? {
                let outcome = match vault.open_record(&record).await {
                    Ok(secret) => {
                        match target(&record.provider, record.base_url.as_deref(), &secret.key) {
                            Ok(t) => check_key(&vault, &t, Some(&record.id)).await.map(|_| ()),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                };
                let mut check = match outcome {
                    Ok(()) => KeyCheck {
                        valid: true,
                        ..KeyCheck::default()
                    },
                    Err(e) => KeyCheck::failed(e),
                };
                // Only a definite answer about the key changes isValid; being offline does not.
                let definite = check.valid
                    || matches!(
                        check.code,
                        Some(ErrorCode::InvalidApiKey | ErrorCode::DecryptionFailed)
                    );
                if definite && check.code != Some(ErrorCode::DecryptionFailed) {
                    record.is_valid = check.valid;
                    record.push_event(
                        js_sys::Date::now(),
                        if check.valid {
                            crate::core::vault_format::EVENT_VALIDATED
                        } else {
                            crate::core::vault_format::EVENT_INVALIDATED
                        },
                    );
                    vault.update_record(&record).await?;
                }
                check.id = Some(record.id.clone());
                out.push(check);
            }
            js(&out)
        })
    }

    /// `exportBackup(passphrase)`: a JSON document with every key, sealed with `passphrase`
    /// (PBKDF2-SHA256, fresh salt) for `Vault.importBackup` on another device or browser.
    #[wasm_bindgen(js_name = exportBackup, unchecked_return_type = "Promise<BackupDocument>")]
    pub fn export_backup(&self, passphrase: String) -> js_sys::Promise {
        let vault = self.vault.clone();
        promise(async move {
            let passphrase = Zeroizing::new(passphrase);
            if vault.status() != Status::Unlocked {
                return Err(locked_error());
            }
            let doc = vault.export_backup(&passphrase).await?;
            js_sys::JSON::parse(&doc).map_err(|_| {
                ByokError::new(ErrorCode::EncryptionFailed, "cannot encode the backup")
            })
        })
    }

    /// `Vault.importBackup(doc, passphrase, { name? })`: restores a backup into the vault
    /// `name` (default `'byok'`). An empty vault is created with the backup's passphrase; a
    /// locked one is unlocked with it. A backup that does not open is refused whole.
    /// Resolves to `{ vault, imported }`.
    #[wasm_bindgen(js_name = importBackup, unchecked_return_type = "Promise<{ vault: Vault; imported: number }>")]
    pub fn import_backup(
        #[wasm_bindgen(unchecked_param_type = "BackupDocument | string")] doc: JsValue,
        passphrase: String,
        #[wasm_bindgen(unchecked_param_type = "{ name?: string }")] options: JsValue,
    ) -> js_sys::Promise {
        promise(async move {
            let passphrase = Zeroizing::new(passphrase);
            let opts: ImportOptions = decode_options(&options, "importBackup options")?;
            let text = match doc.as_string() {
                Some(t) => t,
                None => js_sys::JSON::stringify(&doc)
                    .ok()
                    .and_then(|s| s.as_string())
                    .ok_or_else(|| ByokError::invalid_request("this is not a byok backup"))?,
            };
            // Refuse a malformed or foreign document before creating anything.
            crate::core::vault_format::BackupDoc::parse(&text)?;
            let vault = Vault::open(opts.name.as_deref().unwrap_or("byok")).await?;
            match vault.status() {
                Status::Empty => {
                    vault
                        .create(Some(&passphrase), CreateOptions::default())
                        .await?
                }
                Status::Locked => vault.unlock(Some(&passphrase)).await?,
                Status::Unlocked => {}
            }
            let imported = vault.import_backup(&text, &passphrase).await?;
            let out = js_sys::Object::new();
            let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &k.into(), &v);
            set("vault", VaultHandle { vault }.into())
                .and_then(|_| set("imported", JsValue::from(imported as u32)))
                .map_err(|_| ByokError::invalid_request("cannot encode the result"))?;
            Ok(out.into())
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ImportOptions {
    name: Option<String>,
}

fn locked_error() -> ByokError {
    ByokError::new(
        ErrorCode::VaultLocked,
        "the vault is locked: unlock it first",
    )
}

async fn unlocked_records(vault: &Vault) -> Result<Vec<KeyRecord>> {
    if vault.status() != Status::Unlocked {
        return Err(locked_error());
    }
    vault.records().await
}

async fn find_record(vault: &Vault, id: &str) -> Result<KeyRecord> {
    unlocked_records(vault)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ByokError::new(ErrorCode::KeyNotFound, "no stored key has that id"))
}

impl VaultHandle {
    /// The vault behind the handle.
    pub fn inner(&self) -> Vault {
        self.vault.clone()
    }
}

thread_local! {
    static DEFAULT_VAULT: RefCell<Option<Vault>> = const { RefCell::new(None) };
}

/// The default vault of the module-level calls: `'byok'`, created in device mode when new.
pub(crate) async fn default_vault() -> Result<Vault> {
    if let Some(v) = DEFAULT_VAULT.with(|d| d.borrow().clone()) {
        return Ok(v);
    }
    let vault = Vault::open("byok").await?;
    if vault.status() == Status::Empty {
        vault
            .create(
                None,
                CreateOptions {
                    mode: Some(Mode::Device),
                    ..CreateOptions::default()
                },
            )
            .await?;
    }
    DEFAULT_VAULT.with(|d| *d.borrow_mut() = Some(vault.clone()));
    Ok(vault)
}

/// `addKey(provider, apiKey, options?)` on the default vault.
#[wasm_bindgen(js_name = addKey, unchecked_return_type = "Promise<KeyCheckResult>")]
pub fn add_key_default(
    provider: String,
    api_key: String,
    #[wasm_bindgen(unchecked_param_type = "AddKeyOptions")] options: JsValue,
) -> js_sys::Promise {
    promise(async move { add_key(default_vault().await?, provider, api_key, options).await })
}

/// `validateKey(provider, apiKey?, options?)` on the default vault.
#[wasm_bindgen(js_name = validateKey, unchecked_return_type = "Promise<KeyCheckResult>")]
pub fn validate_key_default(
    provider: String,
    api_key: Option<String>,
    #[wasm_bindgen(unchecked_param_type = "{ baseUrl?: string }")] options: JsValue,
) -> js_sys::Promise {
    // The default vault keeps the ledger entry of the check even when the key is not stored.
    promise(async move { validate_key(default_vault().await?, provider, api_key, options).await })
}
