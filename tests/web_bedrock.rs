//! Amazon Bedrock end to end through the JavaScript exports, in headless Chromium, against the
//! stand-in. The stand-in recomputes every SigV4 signature with node:crypto, so a passing call
//! proves the WebCrypto signing; its event streams are real binary frames with both CRCs.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const CREDS: &str = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SECOND: &str = "AKIASTANDINSECOND000:c3RhbmRpbi1zZWNvbmQtc2VjcmV0LWtleS0wMDAw";
const API_KEY: &str = "ABSKc3RhbmRpbi12YWxpZC1iZWRyb2NrLWFwaS1rZXktMDAwMA==";
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn bedrock_base() -> String {
    format!("{}/bedrock", standin())
}

/// Adds `key` to the default vault pointing at the stand-in; returns the answer.
async fn add(key: &str, validate: bool) -> JsValue {
    let opts = obj(&[
        ("baseUrl", bedrock_base().into()),
        ("validate", validate.into()),
    ]);
    ok(add_key_default("bedrock".into(), key.into(), opts)).await
}

async fn seed(key: &str, validate: bool) -> String {
    let r = add(key, validate).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

fn request(key_id: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"bedrock","model":"{MODEL}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

/// The stand-in's Bedrock log entries after `since`.
async fn log_since(since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider=bedrock&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

async fn mark() -> f64 {
    let v = control("/__standin/log?provider=bedrock", None).await;
    get(&v, "last").as_f64().unwrap_or(0.0)
}

fn names_of(entry: &JsValue) -> Vec<String> {
    Array::from(&get(entry, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

#[wasm_bindgen_test]
async fn signed_credentials_validate_and_stream_with_usage_and_cost() {
    let since = mark().await;
    let r = add(CREDS, true).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.iter().any(|m| m == MODEL), "{models:?}");
    assert!(!models.iter().any(|m| m.contains("embed")), "{models:?}");
    let id = str_of(&r, "id");

    let (chunks, err) = drain(&stream_chat(request(&id, "héllo 🌍 wörld"))).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).contains("héllo 🌍 wörld"));
    assert!(chunks.iter().any(|c| str_of(c, "type") == "usage"));
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    assert!(input > 0.0 && output > 0.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    // Claude 3 Haiku on Bedrock: $0.25 / $1.25 per million tokens.
    let cost = get(last, "cost").as_f64().expect("a catalog price");
    let expected = (input * 0.25 + output * 1.25) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");

    // What went over the wire: the control plane, then the stream, both signed.
    let log = log_since(since).await;
    let get_models = log
        .iter()
        .find(|e| str_of(e, "method") == "GET")
        .expect("the model list");
    assert!(
        str_of(get_models, "path").starts_with("/bedrock/foundation-models?byOutputModality=TEXT")
    );
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the stream");
    assert_eq!(
        str_of(post, "path"),
        "/bedrock/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    assert_eq!(get(post, "status").as_f64(), Some(200.0));
    let names = names_of(post);
    for h in [
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "content-type",
    ] {
        assert!(names.iter().any(|n| n == h), "{h} missing: {names:?}");
    }
    for h in ["cookie", "referer", "x-amz-security-token"] {
        assert!(!names.iter().any(|n| n == h), "{h} sent: {names:?}");
    }
    // The key entry of the log is the access key id, masked; the secret is nowhere.
    assert!(!stringify(&JsValue::from(log.iter().cloned().collect::<Array>())).contains("K7MDENG"));
    for e in log.iter().filter(|e| str_of(e, "method") == "OPTIONS") {
        let cors = get(e, "cors");
        assert_ne!(
            get(&cors, "allowed").as_bool(),
            Some(false),
            "{}",
            stringify(&cors)
        );
    }
}

#[wasm_bindgen_test]
async fn tool_calls_stream_and_assemble() {
    let id = seed(SECOND, false).await;
    let req = json(&format!(
        r#"{{"provider":"bedrock","model":"{MODEL}","keyId":"{id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}}],
            "tools":[{{"name":"get_weather","description":"Weather by city",
                       "parameters":{{"type":"object","properties":{{"city":{{"type":"string"}}}},"required":["city"]}}}}],
            "toolChoice":"auto"}}"#
    ));
    let seen = Array::new();
    let seen2 = seen.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |c: JsValue| {
        seen2.push(&c);
    });
    let r = ok(collect_stream(
        req,
        Some(cb.as_ref().unchecked_ref::<Function>().clone()),
    ))
    .await;
    assert_eq!(str_of(&r, "finishReason"), "tool_calls");
    let calls = Array::from(&get(&r, "toolCalls"));
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(str_of(&call, "name"), "get_weather");
    assert!(str_of(&call, "id").starts_with("tooluse_"));
    let args: serde_json::Value =
        serde_json::from_str(&str_of(&call, "arguments")).expect("JSON arguments");
    assert_eq!(args["city"], "city value");
    let deltas: String = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .map(|c| {
            assert_eq!(str_of(&c, "id"), str_of(&call, "id"));
            assert_eq!(str_of(&c, "name"), "get_weather");
            str_of(&c, "argumentsDelta")
        })
        .collect();
    assert_eq!(deltas, str_of(&call, "arguments"));

    // The next turn: the tool result goes back and the model answers with text.
    let next = json(&format!(
        r#"{{"provider":"bedrock","model":"{MODEL}","keyId":"{id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}},
                        {{"role":"assistant","content":"","toolCalls":[{{"id":"{cid}","name":"get_weather","arguments":{args}}}]}},
                        {{"role":"tool","toolCallId":"{cid}","content":"18 degrees"}}],
            "tools":[{{"name":"get_weather","parameters":{{"type":"object"}}}}]}}"#,
        cid = str_of(&call, "id"),
        args = serde_json::to_string(&str_of(&call, "arguments")).unwrap(),
    ));
    let r = ok(send_chat(next)).await;
    assert!(str_of(&r, "content").contains("The tool said: 18 degrees"));
    assert_eq!(str_of(&r, "finishReason"), "stop");
}

#[wasm_bindgen_test]
async fn a_bad_secret_is_an_invalid_key_that_is_never_echoed() {
    let bad = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY00";
    let r = add(bad, true).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert!(
        str_of(&r, "error").contains("signature"),
        "{}",
        stringify(&r)
    );
    assert!(!stringify(&r).contains("K7MDENG"));

    let r = ok(validate_key_default(
        "bedrock".into(),
        Some(bad.into()),
        obj(&[("baseUrl", bedrock_base().into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");

    // Stored without validation, the chat itself fails the same way, and is not retried.
    let id = seed(bad, false).await;
    let since = mark().await;
    let e = fails(send_chat(request(&id, "x")), "INVALID_API_KEY").await;
    assert_eq!(get(&e, "status").as_f64(), Some(403.0));
    assert_eq!(str_of(&e, "provider"), "bedrock");
    assert!(!str_of(&e, "message").contains("K7MDENG"));
    let posts = log_since(since)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST")
        .count();
    assert_eq!(posts, 1);

    // Malformed credentials fail before any network call.
    let since = mark().await;
    let r = ok(add_key_default(
        "bedrock".into(),
        format!("AKIA-not-an-id-at-all-000000000000000:{SECRET}"),
        obj(&[("baseUrl", bedrock_base().into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert!(!stringify(&r).contains("K7MDENG"));
    assert!(log_since(since).await.is_empty());
}

#[wasm_bindgen_test]
async fn a_throttling_exception_frame_is_rate_limited() {
    let id = seed(CREDS, false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "slow down #throttle"))).await;
    let err = err.expect("the exception frame fails the stream");
    assert_eq!(str_of(&err, "code"), "RATE_LIMITED");
    assert_eq!(str_of(&err, "provider"), "bedrock");
    assert!(str_of(&err, "message").contains("Too many requests"));
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));

    // A mid-stream model error (behaviour key `streamerror`).
    let id = seed(&format!("AKIASTANDINstreamerror3:{SECRET}"), false).await;
    let (_, err) = drain(&stream_chat(request(&id, "fail midway"))).await;
    assert_eq!(str_of(&err.expect("fails"), "code"), "PROVIDER_UNAVAILABLE");
}

#[wasm_bindgen_test]
async fn corrupted_and_cut_frames_are_network_errors() {
    let id = seed(CREDS, false).await;
    for prompt in ["bad bytes #badcrc", "cut short #cutframe"] {
        let (chunks, err) = drain(&stream_chat(request(&id, prompt))).await;
        let err = err.expect("fails");
        assert_eq!(str_of(&err, "code"), "NETWORK_ERROR", "{prompt}");
        assert_eq!(str_of(&err, "provider"), "bedrock");
        assert!(!str_of(&err, "message").contains("byok"), "quotes nothing");
        assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
    }
    // A stream truncated on a frame boundary, before messageStop.
    let id = seed(&format!("AKIASTANDINtruncate3:{SECRET}"), false).await;
    let (_, err) = drain(&stream_chat(request(&id, "cut me off"))).await;
    assert_eq!(str_of(&err.expect("fails"), "code"), "NETWORK_ERROR");
}

#[wasm_bindgen_test]
async fn an_api_key_is_a_bearer_token() {
    let since = mark().await;
    let r = add(API_KEY, true).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let id = str_of(&r, "id");
    let r = ok(send_chat(request(&id, "bearer hello"))).await;
    assert!(str_of(&r, "content").contains("bearer hello"));
    assert!(get(&r, "cost").as_f64().is_some());
    let log = log_since(since).await;
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the chat");
    let names = names_of(post);
    assert!(names.iter().any(|n| n == "authorization"));
    assert!(!names.iter().any(|n| n.starts_with("x-amz-")), "{names:?}");
    // An unknown API key.
    let r = add("ABSKdW5rbm93bi1hcGkta2V5LTAwMDAwMDAwMDAwMA==", true).await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
}

#[wasm_bindgen_test]
async fn temporary_credentials_sign_their_session_token() {
    let token =
        "FwoGZXIvYXdzEBYaDHN0YW5kaW5TRVNTSU9OIjB0b2tlbi1mb3ItdGhlLWJ5b2stc3RhbmQtaW4tb25seQ==";
    let since = mark().await;
    let id = seed(&format!("ASIASTANDINSESSION00:{SECRET}:{token}"), true).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "temporary"))).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).contains("temporary"));
    let log = log_since(since).await;
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the stream");
    assert!(names_of(post).iter().any(|n| n == "x-amz-security-token"));
    // Without its token the same access key is refused before the network.
    let r = ok(add_key_default(
        "bedrock".into(),
        format!("ASIASTANDINSESSION00:{SECRET}"),
        obj(&[("baseUrl", bedrock_base().into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
}

#[wasm_bindgen_test]
async fn throttled_requests_are_retried_then_reported_and_models_checked() {
    let id = seed(&format!("AKIASTANDINratelimit:{SECRET}"), false).await;
    let since = mark().await;
    let e = fails(send_chat(request(&id, "x")), "RATE_LIMITED").await;
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    let posts = log_since(since)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST")
        .count();
    assert_eq!(posts, 3, "two retries (each signed afresh), then the error");

    let id = seed(CREDS, false).await;
    let req = json(&format!(
        r#"{{"provider":"bedrock","model":"anthropic.claude-imaginary-v9:0","keyId":"{id}",
            "messages":[{{"role":"user","content":"x"}}]}}"#
    ));
    fails(send_chat(req), "MODEL_NOT_FOUND").await;
}
