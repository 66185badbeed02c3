//! Azure OpenAI from the browser against the stand-in: deployment URLs with api-version, the
//! v1 path, the api-key header, and Azure's errors.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, send_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn azure_base(v1: bool) -> String {
    format!("{}/azure/openai{}", standin(), if v1 { "/v1" } else { "" })
}

fn request(key_id: &str, deployment: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"azure","model":"{deployment}","keyId":"{key_id}",
            "messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

async fn log_all(mark: f64) -> Array {
    let v = control(&format!("/__standin/log?provider=azure&since={mark}"), None).await;
    Array::from(&get(&v, "entries"))
}

#[wasm_bindgen_test]
async fn deployments_stream_with_api_version_and_api_key() {
    let r = ok(add_key_default(
        "azure".into(),
        KEY.into(),
        obj(&[("baseUrl", azure_base(false).into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let id = str_of(&r, "id");
    let mark = get(
        &control("/__standin/log?provider=azure", None).await,
        "last",
    )
    .as_f64()
    .unwrap_or(0.0);
    let out = ok(collect_stream(request(&id, "gpt-4o", "hello azure"), None)).await;
    assert!(str_of(&out, "content").contains("hello azure"));
    assert!(
        get(&out, "cost").as_f64().is_some(),
        "the catalog prices Azure's gpt-4o"
    );
    let post = log_all(mark)
        .await
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the chat request");
    assert!(str_of(&post, "path").contains("/deployments/gpt-4o/chat/completions"));
    let names: Vec<String> = Array::from(&get(&post, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect();
    assert!(names.contains(&"api-key".to_owned()), "{names:?}");
    assert!(!names.contains(&"authorization".to_owned()), "{names:?}");
}

#[wasm_bindgen_test]
async fn the_v1_path_works_too() {
    let r = ok(add_key_default(
        "azure".into(),
        KEY.into(),
        obj(&[("baseUrl", azure_base(true).into())]),
    ))
    .await;
    let id = str_of(&r, "id");
    let out = ok(send_chat(request(&id, "gpt-4o", "v1 path"))).await;
    assert!(str_of(&out, "content").contains("v1 path"));
}

#[wasm_bindgen_test]
async fn bad_keys_and_missing_base_urls_are_refused() {
    let r = ok(validate_key_default(
        "azure".into(),
        Some("ffffffffffffffffffffffffffffffff".into()),
        obj(&[("baseUrl", azure_base(false).into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    // Azure has no default endpoint: the user's resource URL is required.
    fails(
        validate_key_default("azure".into(), Some(KEY.into()), JsValue::UNDEFINED),
        "INVALID_REQUEST",
    )
    .await;
}
