//! The `#[wasm_bindgen]` exports of `shared/API.md` (wasm32 only): names and conversions, no
//! logic. camelCase toward JavaScript, snake_case inside Rust.

pub mod catalog;
pub mod chat;
mod convert;
pub mod error;
mod state;
mod types;
pub mod usage;
pub mod vault;
