//! Persistence of the vault: IndexedDB through rexie, or memory for session vaults.
//!
//! rexie is a thin layer over `idb` in maintenance mode: its errors say only "idb error", it has
//! no upgrade callback (stores are declared per schema version in its builder) and it keeps
//! IndexedDB's auto-commit. So it stays behind this small type, every error becomes
//! `STORAGE_FAILED` with the DOMException name, and nothing awaits anything but IndexedDB inside
//! a transaction (WebCrypto work is done before one is opened; an await on anything else would
//! let IndexedDB commit the transaction early).

use crate::core::error::{ByokError, ErrorCode, Result};
use rexie::{Direction, Index, KeyRange, ObjectStore, Rexie, TransactionMode};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::CryptoKey;

/// The schema version.
/// - 1: `meta` (the vault record) and `keys` (one record per key), both keyed by `id`.
/// - 2: adds the usage and audit stores of [`Table`]. Records of version 1 are unchanged, so
///   the upgrade only creates stores.
///
/// A new version must declare every store again in [`IdbStore::open`]: idb's upgrade deletes
/// the stores a version does not declare.
pub const SCHEMA_VERSION: u32 = 2;

const META: &str = "meta";
const KEYS: &str = "keys";
const META_ID: &str = "vault";

/// The stores of usage and audit records (schema version 2). Every record holds its primary
/// key and a `json` body (what the `core` types serialize to), plus the fields an index needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Ledger entries, keyed by `id`, indexed by `at` (ms since the epoch).
    Ledger,
    /// Daily aggregates of pruned ledger entries, keyed by `id`.
    Daily,
    /// Audit entries, keyed by `seq` (a number), so IndexedDB returns them in chain order and
    /// `add` refuses a second entry with the same number (two tabs appending at once).
    Audit,
    /// Settings (budgets, rate limits, the audit key and anchor), keyed by `id`.
    Settings,
}

impl Table {
    /// The object store's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Ledger => "ledger",
            Table::Daily => "daily",
            Table::Audit => "audit",
            Table::Settings => "settings",
        }
    }
}

/// The index of ledger entries by time.
const LEDGER_AT: &str = "at";

/// One write of a transaction built with [`IdbStore::apply`].
#[derive(Clone)]
pub enum Op {
    /// Adds or replaces a record.
    Put(Table, JsValue),
    /// Adds a record; fails (`ConstraintError`) if its key exists.
    Add(Table, JsValue),
    /// Deletes the record with this key.
    Delete(Table, JsValue),
    /// Deletes every record whose (numeric) key is at most this one.
    DeleteUpTo(Table, f64),
}

impl Op {
    fn table(&self) -> Table {
        match self {
            Op::Put(t, _) | Op::Add(t, _) | Op::Delete(t, _) | Op::DeleteUpTo(t, _) => *t,
        }
    }
}

/// Where a vault's usage and audit records live: its IndexedDB database, or, for a session
/// vault (which persists nothing), this page's memory.
#[derive(Clone)]
pub enum UsageStore {
    /// The vault's database.
    Idb(IdbStore),
    /// Memory, for as long as the page lives.
    Memory(Rc<RefCell<MemTables>>),
}

/// The usage stores in memory: each table's records by key, in IndexedDB's key order
/// (numbers before strings).
#[derive(Default)]
pub struct MemTables {
    tables: [BTreeMap<MemKey, JsValue>; 4],
}

#[derive(Clone, Debug, PartialEq)]
enum MemKey {
    Num(f64),
    Str(String),
}

impl Eq for MemKey {}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        match (self, other) {
            (MemKey::Num(a), MemKey::Num(b)) => a.total_cmp(b),
            (MemKey::Num(_), MemKey::Str(_)) => core::cmp::Ordering::Less,
            (MemKey::Str(_), MemKey::Num(_)) => core::cmp::Ordering::Greater,
            (MemKey::Str(a), MemKey::Str(b)) => a.cmp(b),
        }
    }
}

fn mem_key(v: &JsValue) -> Option<MemKey> {
    v.as_f64()
        .map(MemKey::Num)
        .or_else(|| v.as_string().map(MemKey::Str))
}

fn slot(t: Table) -> usize {
    match t {
        Table::Ledger => 0,
        Table::Daily => 1,
        Table::Audit => 2,
        Table::Settings => 3,
    }
}

fn key_of(t: Table, record: &JsValue) -> Result<MemKey> {
    let name = if t == Table::Audit { "seq" } else { "id" };
    field(record, name)
        .as_ref()
        .and_then(mem_key)
        .ok_or_else(|| ByokError::new(ErrorCode::StorageFailed, "a record has no key"))
}

impl MemTables {
    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        // Check first, then write: all or nothing, as a transaction.
        for op in ops {
            if let Op::Add(t, v) = op {
                if self.tables[slot(*t)].contains_key(&key_of(*t, v)?) {
                    return Err(ByokError::new(
                        ErrorCode::StorageFailed,
                        "IndexedDB refused to write the usage records: ConstraintError",
                    ));
                }
            }
        }
        for op in ops {
            let map = &mut self.tables[slot(op.table())];
            match op {
                Op::Put(t, v) | Op::Add(t, v) => {
                    map.insert(key_of(*t, v)?, v.clone());
                }
                Op::Delete(_, k) => {
                    if let Some(k) = mem_key(k) {
                        map.remove(&k);
                    }
                }
                Op::DeleteUpTo(_, upper) => {
                    map.retain(|k, _| !matches!(k, MemKey::Num(n) if *n <= *upper));
                }
            }
        }
        Ok(())
    }
}

impl UsageStore {
    /// A store in memory.
    pub fn memory() -> UsageStore {
        UsageStore::Memory(Rc::new(RefCell::new(MemTables::default())))
    }

    /// Runs `ops` all or none.
    pub async fn apply(&self, ops: &[Op]) -> Result<()> {
        match self {
            UsageStore::Idb(db) => db.apply(ops).await,
            UsageStore::Memory(m) => m.borrow_mut().apply(ops),
        }
    }

    /// Every record of `table`, in key order.
    pub async fn all(&self, table: Table) -> Result<Vec<JsValue>> {
        match self {
            UsageStore::Idb(db) => db.all(table).await,
            UsageStore::Memory(m) => Ok(m.borrow().tables[slot(table)].values().cloned().collect()),
        }
    }

    /// The ledger entries made at or after `at_ms`.
    pub async fn ledger_since(&self, at_ms: f64) -> Result<Vec<JsValue>> {
        match self {
            UsageStore::Idb(db) => db.ledger_since(at_ms).await,
            UsageStore::Memory(m) => Ok(m.borrow().tables[slot(Table::Ledger)]
                .values()
                .filter(|v| {
                    field(v, "at")
                        .and_then(|a| a.as_f64())
                        .is_some_and(|a| a >= at_ms)
                })
                .cloned()
                .collect()),
        }
    }

    /// The record of `table` with this key.
    pub async fn get(&self, table: Table, key: &JsValue) -> Result<Option<JsValue>> {
        match self {
            UsageStore::Idb(db) => db.get(table, key).await,
            UsageStore::Memory(m) => {
                Ok(mem_key(key).and_then(|k| m.borrow().tables[slot(table)].get(&k).cloned()))
            }
        }
    }

    /// The record of `table` with the greatest key.
    pub async fn last(&self, table: Table) -> Result<Option<JsValue>> {
        match self {
            UsageStore::Idb(db) => db.last(table).await,
            UsageStore::Memory(m) => {
                Ok(m.borrow().tables[slot(table)].values().next_back().cloned())
            }
        }
    }

    /// How many records `table` holds.
    pub async fn count(&self, table: Table) -> Result<u32> {
        match self {
            UsageStore::Idb(db) => db.count(table).await,
            UsageStore::Memory(m) => {
                Ok(u32::try_from(m.borrow().tables[slot(table)].len()).unwrap_or(u32::MAX))
            }
        }
    }
}

/// The vault record as stored: its JSON, and in device mode the non-extractable device key,
/// which IndexedDB keeps by structured clone (it never exists as bytes outside the browser).
#[derive(Clone)]
pub struct StoredMeta {
    /// `VaultMeta` as JSON.
    pub json: String,
    /// The device key of a device-mode vault.
    pub device_key: Option<CryptoKey>,
}

/// Where a vault keeps its records.
#[derive(Clone)]
pub enum Store {
    /// A vault that persists, in an IndexedDB database of its own.
    Idb(IdbStore),
    /// A session vault: nothing is written anywhere.
    Memory(MemoryStore),
}

/// The IndexedDB database of one vault.
#[derive(Clone)]
pub struct IdbStore {
    db: Rc<Connection>,
}

/// Closes the connection when the last handle goes: an open connection that nobody uses would
/// block another tab's schema upgrade until garbage collection.
struct Connection(Option<Rexie>);

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            db.close();
        }
    }
}

impl Connection {
    /// The database; `None` only inside `drop`, so this never fails in practice, but a failure
    /// would be a storage error, not a panic.
    fn get(&self) -> Result<&Rexie> {
        self.0
            .as_ref()
            .ok_or_else(|| ByokError::new(ErrorCode::StorageFailed, "the vault database is closed"))
    }
}

/// Records in memory, for session vaults.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Rc<RefCell<MemoryInner>>,
}

#[derive(Default)]
struct MemoryInner {
    meta: Option<StoredMeta>,
    keys: BTreeMap<String, String>,
}

/// The database name of the vault called `name`.
pub fn database_name(name: &str) -> String {
    format!("byok-vault:{name}")
}

fn storage_error(what: &str, e: rexie::Error) -> ByokError {
    // The idb error's text names the DOMException (QuotaExceededError, VersionError, ...);
    // it never holds record contents.
    let detail = match &e {
        rexie::Error::IdbError(inner) => inner.to_string(),
        other => other.to_string(),
    };
    ByokError::new(
        ErrorCode::StorageFailed,
        format!("IndexedDB refused to {what}: {detail}"),
    )
}

fn record(id: &str, json: &str) -> Result<JsValue> {
    let obj = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&obj, &k.into(), v);
    set("id", &id.into())
        .and_then(|_| set("json", &json.into()))
        .map_err(|_| ByokError::new(ErrorCode::StorageFailed, "cannot build a record"))?;
    Ok(obj.into())
}

fn meta_value(m: &StoredMeta) -> Result<JsValue> {
    let v = record(META_ID, &m.json)?;
    if let Some(k) = &m.device_key {
        js_sys::Reflect::set(&v, &"deviceKey".into(), k).map_err(|_| {
            ByokError::new(ErrorCode::StorageFailed, "cannot build the vault record")
        })?;
    }
    Ok(v)
}

fn field(v: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(v, &name.into())
        .ok()
        .filter(|x| !x.is_undefined() && !x.is_null())
}

fn json_of(v: &JsValue) -> Result<String> {
    field(v, "json").and_then(|j| j.as_string()).ok_or_else(|| {
        ByokError::new(
            ErrorCode::DecryptionFailed,
            "a stored vault record is corrupt (no JSON body)",
        )
    })
}

impl IdbStore {
    /// Opens (creating or upgrading) the database of vault `name`.
    pub async fn open(name: &str) -> Result<Self> {
        let db = Rexie::builder(&database_name(name))
            .version(SCHEMA_VERSION)
            .add_object_store(ObjectStore::new(META).key_path("id"))
            .add_object_store(ObjectStore::new(KEYS).key_path("id"))
            .add_object_store(
                ObjectStore::new(Table::Ledger.name())
                    .key_path("id")
                    .add_index(Index::new(LEDGER_AT, "at")),
            )
            .add_object_store(ObjectStore::new(Table::Daily.name()).key_path("id"))
            .add_object_store(ObjectStore::new(Table::Audit.name()).key_path("seq"))
            .add_object_store(ObjectStore::new(Table::Settings.name()).key_path("id"))
            .build()
            .await
            .map_err(|e| storage_error("open the vault database", e))?;
        Ok(IdbStore {
            db: Rc::new(Connection(Some(db))),
        })
    }

    async fn get_meta(&self) -> Result<Option<StoredMeta>> {
        let tx = self
            .db
            .get()?
            .transaction(&[META], TransactionMode::ReadOnly)
            .map_err(|e| storage_error("read the vault", e))?;
        let store = tx
            .store(META)
            .map_err(|e| storage_error("read the vault", e))?;
        let value = store
            .get(META_ID.into())
            .await
            .map_err(|e| storage_error("read the vault", e))?;
        let Some(v) = value else { return Ok(None) };
        Ok(Some(StoredMeta {
            json: json_of(&v)?,
            device_key: field(&v, "deviceKey").and_then(|k| k.dyn_into::<CryptoKey>().ok()),
        }))
    }

    async fn create_meta(&self, meta: &StoredMeta) -> Result<()> {
        let value = meta_value(meta)?;
        let tx = self
            .db
            .get()?
            .transaction(&[META], TransactionMode::ReadWrite)
            .map_err(|e| storage_error("create the vault", e))?;
        let store = tx
            .store(META)
            .map_err(|e| storage_error("create the vault", e))?;
        store.add(&value, None).await.map_err(|e| {
            let mut err = storage_error("create the vault", e);
            err.message
                .push_str(" (was it created in another tab? reopen it)");
            err
        })?;
        tx.done()
            .await
            .map_err(|e| storage_error("commit the vault", e))?;
        Ok(())
    }

    async fn write(
        &self,
        meta: Option<&StoredMeta>,
        puts: &[(&str, &str)],
        deletes: &[&str],
    ) -> Result<()> {
        let mut stores = Vec::new();
        if meta.is_some() {
            stores.push(META);
        }
        if !puts.is_empty() || !deletes.is_empty() {
            stores.push(KEYS);
        }
        if stores.is_empty() {
            return Ok(());
        }
        // Build every value before the transaction opens: nothing but IndexedDB requests may be
        // awaited while it is open.
        let meta_value = meta.map(meta_value).transpose()?;
        let key_values: Vec<JsValue> = puts
            .iter()
            .map(|(id, json)| record(id, json))
            .collect::<Result<_>>()?;
        let tx = self
            .db
            .get()?
            .transaction(&stores, TransactionMode::ReadWrite)
            .map_err(|e| storage_error("write the vault", e))?;
        if let Some(v) = meta_value {
            let store = tx
                .store(META)
                .map_err(|e| storage_error("write the vault", e))?;
            store
                .put(&v, None)
                .await
                .map_err(|e| storage_error("write the vault", e))?;
        }
        if !key_values.is_empty() || !deletes.is_empty() {
            let store = tx
                .store(KEYS)
                .map_err(|e| storage_error("write a key", e))?;
            for v in &key_values {
                store
                    .put(v, None)
                    .await
                    .map_err(|e| storage_error("write a key", e))?;
            }
            for id in deletes {
                store
                    .delete((*id).into())
                    .await
                    .map_err(|e| storage_error("remove a key", e))?;
            }
        }
        tx.done()
            .await
            .map_err(|e| storage_error("commit the vault", e))?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<String>> {
        let tx = self
            .db
            .get()?
            .transaction(&[KEYS], TransactionMode::ReadOnly)
            .map_err(|e| storage_error("list keys", e))?;
        let store = tx.store(KEYS).map_err(|e| storage_error("list keys", e))?;
        let values = store
            .get_all(None, None)
            .await
            .map_err(|e| storage_error("list keys", e))?;
        // A record without a JSON body is skipped here and reported by the vault as corrupt
        // when it is asked for by id: one bad record must not hide the others.
        Ok(values.iter().filter_map(|v| json_of(v).ok()).collect())
    }

    /// Runs `ops` in one readwrite transaction: all of them or none.
    pub async fn apply(&self, ops: &[Op]) -> Result<()> {
        let mut names: Vec<&str> = Vec::new();
        for op in ops {
            let t = op.table();
            if !names.contains(&t.name()) {
                names.push(t.name());
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let what = "write the usage records";
        let tx = self
            .db
            .get()?
            .transaction(&names, TransactionMode::ReadWrite)
            .map_err(|e| storage_error(what, e))?;
        for op in ops {
            let store = tx
                .store(op.table().name())
                .map_err(|e| storage_error(what, e))?;
            let done = match op {
                Op::Put(_, v) => store.put(v, None).await.map(drop),
                Op::Add(_, v) => store.add(v, None).await.map(drop),
                Op::Delete(_, k) => store.delete(k.clone()).await,
                Op::DeleteUpTo(_, upper) => store.delete(up_to(*upper)?).await,
            };
            if let Err(e) = done {
                // Dropping the transaction without `done` would let IndexedDB commit what
                // came before: abort it so that the ops stay all or nothing.
                let _ = tx.abort().await;
                return Err(storage_error(what, e));
            }
        }
        tx.done()
            .await
            .map_err(|e| storage_error("commit the usage records", e))?;
        Ok(())
    }

    /// Every record of `table`, in key order.
    pub async fn all(&self, table: Table) -> Result<Vec<JsValue>> {
        self.read(table, None).await
    }

    /// A read-only transaction on one table, and that table. The transaction is returned so
    /// that it lives as long as the reads.
    fn reader(&self, table: Table, what: &str) -> Result<(rexie::Transaction, rexie::Store)> {
        let tx = self
            .db
            .get()?
            .transaction(&[table.name()], TransactionMode::ReadOnly)
            .map_err(|e| storage_error(what, e))?;
        let store = tx.store(table.name()).map_err(|e| storage_error(what, e))?;
        Ok((tx, store))
    }

    /// The ledger entries made at or after `at_ms`, by the `at` index.
    pub async fn ledger_since(&self, at_ms: f64) -> Result<Vec<JsValue>> {
        let what = "read the usage ledger";
        let range = KeyRange::lower_bound(&JsValue::from_f64(at_ms), Some(false))
            .map_err(|e| storage_error(what, e.into()))?;
        let (_tx, store) = self.reader(Table::Ledger, what)?;
        let index = store.index(LEDGER_AT).map_err(|e| storage_error(what, e))?;
        index
            .get_all(Some(range), None)
            .await
            .map_err(|e| storage_error(what, e))
    }

    async fn read(&self, table: Table, range: Option<KeyRange>) -> Result<Vec<JsValue>> {
        let what = "read the usage records";
        let (_tx, store) = self.reader(table, what)?;
        store
            .get_all(range, None)
            .await
            .map_err(|e| storage_error(what, e))
    }

    /// The record of `table` with this key.
    pub async fn get(&self, table: Table, key: &JsValue) -> Result<Option<JsValue>> {
        let what = "read a setting";
        let (_tx, store) = self.reader(table, what)?;
        store
            .get(key.clone())
            .await
            .map_err(|e| storage_error(what, e))
    }

    /// The record of `table` with the greatest key (the newest audit entry).
    pub async fn last(&self, table: Table) -> Result<Option<JsValue>> {
        let what = "read the newest record";
        let (_tx, store) = self.reader(table, what)?;
        let found = store
            .scan(None, Some(1), None, Some(Direction::Prev))
            .await
            .map_err(|e| storage_error(what, e))?;
        Ok(found.into_iter().next().map(|(_, v)| v))
    }

    /// How many records `table` holds.
    pub async fn count(&self, table: Table) -> Result<u32> {
        let what = "count records";
        let (_tx, store) = self.reader(table, what)?;
        store.count(None).await.map_err(|e| storage_error(what, e))
    }
}

/// A record `{ <key_field>: key, json, ...extra }`.
pub fn json_record(
    key_field: &str,
    key: &JsValue,
    json: &str,
    extra: &[(&str, &JsValue)],
) -> Result<JsValue> {
    let obj = js_sys::Object::new();
    let bad = |_| ByokError::new(ErrorCode::StorageFailed, "cannot build a record");
    js_sys::Reflect::set(&obj, &key_field.into(), key).map_err(bad)?;
    js_sys::Reflect::set(&obj, &"json".into(), &json.into()).map_err(bad)?;
    for (k, v) in extra {
        js_sys::Reflect::set(&obj, &(*k).into(), v).map_err(bad)?;
    }
    Ok(obj.into())
}

/// The `json` body of a record, if it has one.
pub fn json_body(v: &JsValue) -> Option<String> {
    field(v, "json").and_then(|j| j.as_string())
}

/// A field of a record (`undefined` and `null` read as absent).
pub fn record_field(v: &JsValue, name: &str) -> Option<JsValue> {
    field(v, name)
}

/// A key range of every key up to `upper`, inclusive (for deleting the head of the audit log).
fn up_to(upper: f64) -> Result<JsValue> {
    KeyRange::upper_bound(&JsValue::from_f64(upper), Some(false))
        .map(JsValue::from)
        .map_err(|e| storage_error("build a key range", e.into()))
}

/// Whether a storage error is IndexedDB's `ConstraintError` (an `add` whose key exists).
pub fn is_constraint_error(e: &ByokError) -> bool {
    e.code == ErrorCode::StorageFailed && e.message.contains("ConstraintError")
}

impl Store {
    /// The vault record, if the vault exists.
    pub async fn get_meta(&self) -> Result<Option<StoredMeta>> {
        match self {
            Store::Idb(s) => s.get_meta().await,
            Store::Memory(m) => Ok(m.inner.borrow().meta.clone()),
        }
    }

    /// Writes the record of a new vault; fails if one exists already (another tab created it
    /// first), so two tabs can never both create a data key and lose each other's keys.
    pub async fn create_meta(&self, meta: &StoredMeta) -> Result<()> {
        match self {
            Store::Idb(s) => s.create_meta(meta).await,
            Store::Memory(m) => {
                m.inner.borrow_mut().meta = Some(meta.clone());
                Ok(())
            }
        }
    }

    /// Every key record's JSON.
    pub async fn keys(&self) -> Result<Vec<String>> {
        match self {
            Store::Idb(s) => s.keys().await,
            Store::Memory(m) => Ok(m.inner.borrow().keys.values().cloned().collect()),
        }
    }

    /// Writes, all or nothing: the vault record (if given), key records, and key deletions.
    pub async fn write(
        &self,
        meta: Option<&StoredMeta>,
        puts: &[(&str, &str)],
        deletes: &[&str],
    ) -> Result<()> {
        match self {
            Store::Idb(s) => s.write(meta, puts, deletes).await,
            Store::Memory(m) => {
                let mut inner = m.inner.borrow_mut();
                if let Some(meta) = meta {
                    inner.meta = Some(meta.clone());
                }
                for (id, json) in puts {
                    inner.keys.insert((*id).to_owned(), (*json).to_owned());
                }
                for id in deletes {
                    inner.keys.remove(*id);
                }
                Ok(())
            }
        }
    }

    /// Forgets everything a memory store holds (a session vault at lock).
    pub fn clear_memory(&self) {
        if let Store::Memory(m) = self {
            *m.inner.borrow_mut() = MemoryInner::default();
        }
    }
}
