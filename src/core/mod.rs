//! The pure core: no web-sys, no js-sys; everything here builds and tests natively.

pub mod base_url;
pub mod catalog;
pub mod chat;
pub mod collect;
pub mod cors;
pub mod cost;
pub mod embed;
pub mod error;
pub mod keys;
pub mod protocol;
pub mod retry;
pub mod sanitize;
pub mod sse;
pub mod vault_format;
