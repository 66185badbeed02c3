//! Helpers shared by the browser tests: promises, property access, the stand-in's address,
//! its control API, and unique vault names.
#![allow(dead_code)]

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The stand-in's base URL, fixed when the tests were built (scripts/with-standin.mjs).
pub fn standin() -> &'static str {
    option_env!("BYOK_STANDIN_URL")
        .unwrap_or("http://127.0.0.1:18787")
        .trim_end_matches('/')
}

/// The OpenAI base URL on the stand-in.
pub fn openai_base() -> String {
    format!("{}/openai/v1", standin())
}

/// A key the stand-in accepts.
pub const GOOD_KEY: &str = "sk-proj-standinVALIDkey0000000000000000000000";

/// Awaits a promise.
pub async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Awaits a promise that must resolve.
pub async fn ok(p: Promise) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => v,
        Err(e) => panic!("rejected: {} {}", str_of(&e, "code"), str_of(&e, "message")),
    }
}

/// Awaits a promise that must reject with a BYOKError of `code`; returns the error.
pub async fn fails(p: Promise, code: &str) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => panic!(
            "resolved instead of failing with {code}: {:?}",
            js_sys::JSON::stringify(&v)
        ),
        Err(e) => {
            assert!(e.is_instance_of::<js_sys::Error>(), "not an Error");
            assert_eq!(
                str_of(&e, "code"),
                code,
                "message: {}",
                str_of(&e, "message")
            );
            e
        }
    }
}

/// `v[key]`.
pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `v[key]` as a string ("" when absent).
pub fn str_of(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_default()
}

/// A JSON value from text.
pub fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).expect("test JSON parses")
}

/// `JSON.stringify(v)`.
pub fn stringify(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// A fresh random name, so tests never share a vault.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// An object from pairs.
pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).expect("settable");
    }
    o.into()
}

/// fetch() a stand-in control URL with an optional JSON body; returns the parsed JSON.
pub async fn control(path: &str, body: Option<&str>) -> JsValue {
    let global = js_sys::global();
    let fetch: js_sys::Function = Reflect::get(&global, &"fetch".into())
        .unwrap()
        .unchecked_into();
    let init = match body {
        Some(b) => obj(&[
            ("method", "POST".into()),
            ("body", b.into()),
            (
                "headers",
                obj(&[("content-type", "application/json".into())]),
            ),
        ]),
        None => obj(&[]),
    };
    let url = format!("{}{}", standin(), path);
    let resp = wait(
        fetch
            .call2(&global, &url.into(), &init)
            .unwrap()
            .unchecked_into(),
    )
    .await
    .expect("stand-in control reachable");
    let text_fn: js_sys::Function = get(&resp, "json").unchecked_into();
    wait(text_fn.call0(&resp).unwrap().unchecked_into())
        .await
        .expect("control answer is JSON")
}

/// The stand-in's log entries after sequence number `since`.
pub async fn log_since(since: f64) -> Array {
    let v = control(
        &format!("/__standin/log?provider=openai&since={since}"),
        None,
    )
    .await;
    let entries = if v.is_instance_of::<Array>() {
        v
    } else {
        get(&v, "entries")
    };
    entries.unchecked_into()
}

/// The stand-in's latest sequence number.
pub async fn log_mark() -> f64 {
    let v = control("/__standin/log?provider=openai", None).await;
    let last = get(&v, "last");
    if let Some(n) = last.as_f64() {
        return n;
    }
    let entries: Array = if v.is_instance_of::<Array>() {
        v.unchecked_into()
    } else {
        get(&v, "entries").unchecked_into()
    };
    entries
        .iter()
        .filter_map(|e| get(&e, "seq").as_f64())
        .fold(0.0, f64::max)
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let st: js_sys::Function = Reflect::get(&global, &"setTimeout".into())
            .unwrap()
            .unchecked_into();
        st.call2(&global, &resolve, &ms.into()).unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// Reads a streamChat iterator to the end; returns the chunks, or the error it threw.
pub async fn drain(iter: &JsValue) -> (Vec<JsValue>, Option<JsValue>) {
    let next: js_sys::Function = get(iter, "next").unchecked_into();
    let mut chunks = Vec::new();
    loop {
        let p: Promise = next.call0(iter).unwrap().unchecked_into();
        match wait(p).await {
            Ok(r) if get(&r, "done").as_bool() == Some(true) => return (chunks, None),
            Ok(r) => chunks.push(get(&r, "value")),
            Err(e) => return (chunks, Some(e)),
        }
    }
}

/// The text of a stream's `content` chunks, joined.
pub fn content_of(chunks: &[JsValue]) -> String {
    chunks
        .iter()
        .filter(|c| str_of(c, "type") == "content")
        .map(|c| str_of(c, "delta"))
        .collect()
}

/// A vault's IndexedDB database, opened at the current schema version (no upgrade), for tests
/// that read or edit storage directly.
pub async fn vault_db(name: &str) -> rexie::Rexie {
    rexie::Rexie::builder(&format!("byok-vault:{name}"))
        .version(byok::web::store::SCHEMA_VERSION)
        .build()
        .await
        .expect("the vault database opens")
}
