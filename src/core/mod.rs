//! The pure core: no web-sys, no js-sys; everything here builds and tests natively.

pub mod catalog;
pub mod chat;
pub mod cost;
pub mod error;
pub mod keys;
pub mod sanitize;
pub mod sse;
