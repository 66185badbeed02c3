//! Values across the boundary. Rust → JavaScript goes through JSON text and `JSON.parse`, and
//! back through `JSON.stringify`: the serde_json code is in the module anyway (catalog, wire
//! protocols), so this adds no second set of serde visitors per type (serde-wasm-bindgen would
//! add one, tens of kilobytes over all request and result types), and the browser's native
//! JSON is fast.

use super::error::{to_js, JsResult};
use crate::core::error::ByokError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// A Rust value as a plain JavaScript value (objects, arrays, numbers, strings, null).
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> JsResult<JsValue> {
    let text = serde_json::to_string(v)
        .map_err(|e| to_js(ByokError::invalid_request(format!("cannot encode: {e}"))))?;
    js_sys::JSON::parse(&text)
        .map_err(|_| to_js(ByokError::invalid_request("cannot encode a result")))
}

/// JSON text of a JavaScript value, as `JSON.stringify` gives it.
pub fn to_json_text(v: &JsValue, what: &str) -> JsResult<String> {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            to_js(ByokError::invalid_request(format!(
                "{what} must be a plain JSON-compatible object"
            )))
        })
}

/// A JavaScript value decoded into a Rust type; errors name the field, never quote values.
pub fn from_value<T: DeserializeOwned>(v: &JsValue, what: &str) -> JsResult<T> {
    decode(v, what).map_err(to_js)
}

/// [`from_value`] with the error still a Rust one, for use inside async exports.
pub fn decode<T: DeserializeOwned>(v: &JsValue, what: &str) -> crate::core::error::Result<T> {
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            ByokError::invalid_request(format!("{what} must be a plain JSON-compatible object"))
        })?;
    serde_json::from_str(&text).map_err(|e| ByokError::from_decode(what, &e.to_string()))
}
