//! # byok: bring your own key, in the browser
//!
//! A library compiled to WebAssembly that lets a web app use large language models with the
//! user's own API keys: keys are validated with their provider, encrypted with WebCrypto and
//! kept in IndexedDB; calls go from the browser straight to the provider.
//!
//! Three layers, so that everything that can be plain Rust is tested natively:
//! - [`core`]: plain Rust (catalog, key rules, costs, request checks, wire protocols, stream
//!   decoders); builds and tests with `cargo test`.
//! - `web` (wasm32 only): WebCrypto, IndexedDB and fetch.
//! - `api` (wasm32 only): the `#[wasm_bindgen]` exports of `shared/API.md`, no logic.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
pub mod api;
