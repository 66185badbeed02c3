//! The module's one catalog, shared by every export. WebAssembly here is single-threaded, so a
//! thread-local `RefCell` is the whole synchronisation story.

use crate::core::catalog::Catalog;
use crate::core::error::Result;
use std::cell::RefCell;

thread_local! {
    static CATALOG: RefCell<Result<Catalog>> = RefCell::new(Catalog::embedded());
}

/// Runs `f` with the current catalog.
pub fn with_catalog<T>(f: impl FnOnce(&Catalog) -> Result<T>) -> Result<T> {
    CATALOG.with(|c| match &*c.borrow() {
        Ok(catalog) => f(catalog),
        Err(e) => Err(e.clone()),
    })
}

/// Runs `f` with the current catalog, for changing it.
pub fn with_catalog_mut<T>(f: impl FnOnce(&mut Catalog) -> Result<T>) -> Result<T> {
    CATALOG.with(|c| match &mut *c.borrow_mut() {
        Ok(catalog) => f(catalog),
        Err(e) => Err(e.clone()),
    })
}
