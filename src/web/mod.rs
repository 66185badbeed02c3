//! The browser shell (wasm32 only): the one place that touches WebCrypto, IndexedDB and fetch.
//! Everything is reached through the global scope (`js_sys::global()`), never `window`, so
//! byok runs in a page, a Web Worker and a Service Worker alike.

pub mod client;
pub mod crypto;
pub mod fetch;
pub mod meter;
pub mod sign;
pub mod store;
pub mod vault;
