//! The catalog exports, run in headless Chromium (`wasm-pack test --headless --chrome`): what a
//! page sees through the JavaScript boundary, errors included.
#![cfg(target_arch = "wasm32")]

use byok::api::catalog::*;
use byok::api::error::{BYOK_ERROR_CLASS, BYOK_ERROR_CODES};
use js_sys::{Array, Object, Reflect, RegExp};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).expect("property readable")
}

fn assert_byok_error(e: &JsValue, code: &str) {
    assert!(e.is_instance_of::<js_sys::Error>(), "a real Error");
    let class_proto = BYOK_ERROR_CLASS.with(|c| get(c, "prototype"));
    let proto: JsValue = Object::get_prototype_of(e).into();
    assert_eq!(proto, class_proto, "a BYOKError");
    assert_eq!(get(e, "code").as_string().as_deref(), Some(code));
    assert_eq!(get(e, "name").as_string().as_deref(), Some("BYOKError"));
    assert!(get(e, "message").as_string().is_some_and(|m| !m.is_empty()));
}

#[wasm_bindgen_test]
fn list_providers_has_the_api_shape() {
    let list: Array = list_providers().unwrap().dyn_into().unwrap();
    let ids: Vec<String> = list
        .iter()
        .map(|p| get(&p, "id").as_string().unwrap())
        .collect();
    for id in [
        "openai",
        "anthropic",
        "google",
        "xai",
        "mistral",
        "cohere",
        "azure",
        "bedrock",
        "vertex",
        "ollama",
        "lmstudio",
        "vllm",
        "openai-compatible",
    ] {
        assert!(ids.iter().any(|x| x == id), "{id} missing");
    }
    for p in list.iter() {
        for field in [
            "id",
            "name",
            "displayName",
            "baseUrl",
            "keyFormat",
            "features",
            "models",
        ] {
            assert!(!get(&p, field).is_undefined(), "{field}");
        }
        // The pattern is a working JavaScript RegExp that accepts the provider's example.
        let kf = get(&p, "keyFormat");
        let re = RegExp::new(&get(&kf, "pattern").as_string().unwrap(), "u");
        assert!(
            re.test(&get(&kf, "example").as_string().unwrap()),
            "{:?}",
            get(&p, "id")
        );
        assert!(get(&p, "models").is_instance_of::<Array>());
    }
}

#[wasm_bindgen_test]
fn models_carry_prices_as_numbers() {
    let models: Array = get_provider_models("openai").unwrap().dyn_into().unwrap();
    let gpt4o = models
        .iter()
        .find(|m| get(m, "id").as_string().as_deref() == Some("gpt-4o"))
        .expect("gpt-4o listed");
    assert_eq!(get(&gpt4o, "inputCostPer1k").as_f64(), Some(0.0025));
    assert_eq!(get(&gpt4o, "outputCostPer1k").as_f64(), Some(0.01));
    assert_eq!(get(&gpt4o, "contextWindow").as_f64(), Some(128_000.0));
    assert_byok_error(
        &get_provider_models("nope").unwrap_err(),
        "UNSUPPORTED_PROVIDER",
    );
}

#[wasm_bindgen_test]
fn cost_and_formatting_as_the_api_states() {
    assert_eq!(
        calculate_cost("openai", "gpt-4o", 1000.0, 500.0).unwrap(),
        0.0075
    );
    assert_eq!(format_cost(0.0075).unwrap(), "$0.0075");
    assert_eq!(format_cost(1234.5).unwrap(), "$1,234.50");
    assert_eq!(
        format_key_display("sk-proj-abc123def456"),
        "sk-pr••••••••f456"
    );
    assert_byok_error(
        &calculate_cost("openai", "no-such-model", 1.0, 1.0).unwrap_err(),
        "MODEL_NOT_FOUND",
    );
    assert_byok_error(
        &calculate_cost("nope", "gpt-4o", 1.0, 1.0).unwrap_err(),
        "UNSUPPORTED_PROVIDER",
    );
    assert_byok_error(
        &calculate_cost("openai", "gpt-4o", -1.0, 1.0).unwrap_err(),
        "INVALID_REQUEST",
    );
    assert_byok_error(&format_cost(f64::NAN).unwrap_err(), "INVALID_REQUEST");
}

#[wasm_bindgen_test]
fn error_details_reach_javascript() {
    let e = calculate_cost("openai", "no-such-model", 1.0, 1.0).unwrap_err();
    assert_eq!(get(&e, "provider").as_string().as_deref(), Some("openai"));
    assert!(get(&e, "status").is_undefined());
}

#[wasm_bindgen_test]
fn validate_key_format_answers_valid_and_error() {
    let ok = validate_key_format("openai", "sk-proj-abcdefghijklmnopqrstuvwxyz012345").unwrap();
    assert_eq!(get(&ok, "valid").as_bool(), Some(true));
    assert!(get(&ok, "error").is_undefined());
    let bad = validate_key_format("anthropic", "sk-proj-abcdefghijklmnopqrstuvwxyz").unwrap();
    assert_eq!(get(&bad, "valid").as_bool(), Some(false));
    let msg = get(&bad, "error").as_string().unwrap();
    assert!(msg.contains("sk-ant-"), "{msg}");
    assert!(
        !msg.contains("abcdefghij"),
        "the message quotes the key: {msg}"
    );
    assert_byok_error(
        &validate_key_format("nope", "x").unwrap_err(),
        "UNSUPPORTED_PROVIDER",
    );
}

#[wasm_bindgen_test]
fn update_catalog_takes_litellm_json_as_text_or_object() {
    let text = r#"{"gpt-4o-catalog-test": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "max_input_tokens": 1000}}"#;
    let summary = update_catalog(JsValue::from_str(text)).unwrap();
    assert_eq!(get(&summary, "modelsAdded").as_f64(), Some(1.0));
    assert_eq!(
        calculate_cost("openai", "gpt-4o-catalog-test", 1000.0, 1000.0).unwrap(),
        0.003
    );
    let obj = js_sys::JSON::parse(
        r#"{"gpt-4o-catalog-test": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 2e-06, "output_cost_per_token": 2e-06}}"#,
    )
    .unwrap();
    let summary = update_catalog(obj).unwrap();
    assert_eq!(get(&summary, "modelsUpdated").as_f64(), Some(1.0));
    assert_eq!(
        calculate_cost("openai", "gpt-4o-catalog-test", 1000.0, 1000.0).unwrap(),
        0.004
    );
    assert_byok_error(
        &update_catalog(JsValue::from_str("{oops")).unwrap_err(),
        "INVALID_REQUEST",
    );
    // A refused update leaves the catalog as it was.
    assert_eq!(
        calculate_cost("openai", "gpt-4o", 1000.0, 500.0).unwrap(),
        0.0075
    );
}

#[wasm_bindgen_test]
fn check_request_clamps_and_refuses() {
    let req = js_sys::JSON::parse(
        r#"{"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"<b>hi</b>"}],
            "settings":{"temperature":9}}"#,
    )
    .unwrap();
    // An AbortSignal in the request is accepted and left to JavaScript.
    let controller = web_sys::AbortController::new().unwrap();
    Reflect::set(&req, &"signal".into(), &controller.signal()).unwrap();
    let out = check_request(req).unwrap();
    let r = get(&out, "request");
    assert_eq!(get(&get(&r, "settings"), "temperature").as_f64(), Some(2.0));
    let first = Array::from(&get(&r, "messages")).get(0);
    assert_eq!(
        get(&first, "content").as_string().as_deref(),
        Some("<b>hi</b>")
    );
    assert_eq!(Array::from(&get(&out, "notes")).length(), 1);

    let bad = js_sys::JSON::parse(
        r#"{"provider":"openai","model":"gpt-4o","messages":[{"role":"wizard","content":"secret prompt"}]}"#,
    )
    .unwrap();
    let e = check_request(bad).unwrap_err();
    assert_byok_error(&e, "INVALID_REQUEST");
    assert!(!get(&e, "message")
        .as_string()
        .unwrap()
        .contains("secret prompt"));
}

#[wasm_bindgen_test]
fn error_codes_table_matches_the_rust_codes() {
    let table = BYOK_ERROR_CODES.with(|t| t.clone());
    let table_obj: Object = table.clone().unchecked_into();
    assert!(Object::is_frozen(&table_obj));
    let keys = Object::keys(&table_obj);
    assert_eq!(
        keys.length() as usize,
        byok::core::error::ErrorCode::ALL.len()
    );
    for code in byok::core::error::ErrorCode::ALL {
        assert_eq!(
            get(&table, code.as_str()).as_string().as_deref(),
            Some(code.as_str())
        );
    }
}
