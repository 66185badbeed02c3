//! The pure core: no web-sys, no js-sys; everything here builds and tests natively.

pub mod audit;
pub mod base_url;
pub mod budget;
pub mod catalog;
pub mod chat;
pub mod collect;
pub mod cors;
pub mod cost;
pub mod embed;
pub mod error;
pub mod estimate;
pub mod eventstream;
pub mod keys;
pub mod ndjson;
pub mod protocol;
pub mod ratelimit;
pub mod retry;
pub mod sanitize;
pub mod sigv4;
pub mod sse;
pub mod usage;
pub mod vault_format;
