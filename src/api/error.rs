//! `ByokError` → a JavaScript `BYOKError` (a real `Error` subclass, defined in
//! `js/byok_error.js` because a Rust export cannot extend `Error`).

use crate::core::error::ByokError;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/byok_error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(
        code: &str,
        message: &str,
        provider: Option<String>,
        status: Option<u16>,
        retry_after_ms: Option<f64>,
    ) -> JsValue;

    /// The `BYOKError` class itself, for `instanceof` checks in tests.
    #[wasm_bindgen(thread_local_v2, js_name = BYOKError)]
    pub static BYOK_ERROR_CLASS: JsValue;

    /// `BYOK_ERROR_CODES`, as the package exports it.
    #[wasm_bindgen(thread_local_v2, js_name = BYOK_ERROR_CODES)]
    pub static BYOK_ERROR_CODES: JsValue;
}

/// Converts an error for JavaScript.
pub fn to_js(e: ByokError) -> JsValue {
    make_error(
        e.code.as_str(),
        &e.message,
        e.provider,
        e.status,
        e.retry_after_ms.map(|ms| ms as f64),
    )
}

/// The result type of exports: errors are `BYOKError` objects.
pub type JsResult<T> = Result<T, JsValue>;

/// `?` on a core result inside an export.
pub trait IntoJs<T> {
    /// Maps the error to a `BYOKError`.
    fn js(self) -> JsResult<T>;
}

impl<T> IntoJs<T> for crate::core::error::Result<T> {
    fn js(self) -> JsResult<T> {
        self.map_err(to_js)
    }
}
