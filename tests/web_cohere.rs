//! Cohere v2 end to end through the JavaScript exports, in headless Chromium, against the
//! stand-in: key validation (401 and Cohere's 498), streaming with usage and cost, a tool round
//! trip, sendChat, embeddings, broken streams, error codes, and what goes over the wire.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, embed_default, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A key the stand-in accepts (Cohere keys are 40 letters and digits).
const KEY: &str = "standinCOHEREvalidKEY0000000000000000000";

fn base() -> String {
    format!("{}/cohere/v2", standin())
}

/// Adds `key` for Cohere to the default vault, pointing at the stand-in; returns its id.
async fn seed(key: &str, validate: bool) -> String {
    let opts = obj(&[("baseUrl", base().into()), ("validate", validate.into())]);
    let r = ok(add_key_default("cohere".into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

fn request(key_id: &str, model: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"cohere","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

/// The stand-in's Cohere log entries after `since`.
async fn log_since(since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider=cohere&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

async fn mark() -> f64 {
    get(
        &control("/__standin/log?provider=cohere", None).await,
        "last",
    )
    .as_f64()
    .unwrap_or(0.0)
}

/// The POSTs whose body holds `needle` (tests run concurrently: each one finds its own
/// requests by their prompt).
fn posts<'a>(log: &'a [JsValue], needle: &str) -> Vec<&'a JsValue> {
    log.iter()
        .filter(|e| str_of(e, "method") == "POST" && stringify(&get(e, "body")).contains(needle))
        .collect()
}

#[wasm_bindgen_test]
async fn keys_are_validated_on_the_v1_model_list() {
    let m = mark().await;
    let opts = || obj(&[("baseUrl", base().into())]);
    let r = ok(validate_key_default(
        "cohere".into(),
        Some(KEY.into()),
        opts(),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.contains(&"command-r".to_owned()), "{models:?}");
    assert!(models.contains(&"embed-v4.0".to_owned()), "{models:?}");
    let log = log_since(m).await;
    assert!(
        log.iter().any(|e| str_of(e, "method") == "GET"
            && str_of(e, "path") == "/cohere/v1/models?page_size=1000"),
        "the model list was asked for on v1"
    );

    // Unknown key: 401 "invalid api token". Cohere's own 498 (invalid token): the same code.
    for bad in [
        "standinNOTAKNOWNkey000000000000000000000",
        "standinINVALIDTOKENkey000000000000000000",
    ] {
        let r = ok(validate_key_default(
            "cohere".into(),
            Some(bad.into()),
            opts(),
        ))
        .await;
        assert_eq!(get(&r, "valid").as_bool(), Some(false));
        assert_eq!(str_of(&r, "code"), "INVALID_API_KEY", "{}", stringify(&r));
        let msg = str_of(&r, "error");
        assert!(msg.contains("invalid api token"), "{msg}");
        assert!(
            !msg.contains("NOTAKNOWN") && !msg.contains("INVALIDTOKEN"),
            "{msg}"
        );
    }
    let statuses: Vec<f64> = log_since(m)
        .await
        .iter()
        .filter_map(|e| get(e, "status").as_f64())
        .collect();
    assert!(statuses.contains(&498.0), "{statuses:?}");
    // A malformed key never leaves the page (the log would show it masked as "…").
    let before = mark().await;
    let r = ok(validate_key_default(
        "cohere".into(),
        Some("short".into()),
        opts(),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert!(!log_since(before)
        .await
        .iter()
        .any(|e| str_of(e, "key") == "…"));
}

#[wasm_bindgen_test]
async fn streams_text_with_usage_done_and_cost() {
    let id = seed(KEY, true).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "command-r", "héllo 🌍 wörld"))).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).contains("You said: héllo 🌍 wörld"));
    assert!(chunks.iter().any(|c| str_of(c, "type") == "usage"));
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    // Billed units, not the template-inflated `tokens`.
    assert!(input > 0.0 && input < 100.0, "{input}");
    assert!(output > 0.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    // command-r: $0.15 / M input, $0.60 / M output.
    let cost = get(last, "cost").as_f64().expect("command-r has a price");
    let expected = (input * 0.15 + output * 0.6) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
}

#[wasm_bindgen_test]
async fn a_tool_call_round_trip() {
    let id = seed(KEY, false).await;
    let tools = r#"[{"name":"get_weather","description":"Weather by city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]"#;
    let req = json(&format!(
        r#"{{"provider":"cohere","model":"command-r","keyId":"{id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}}],"tools":{tools}}}"#
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
    let call_id = str_of(&call, "id");
    assert!(call_id.starts_with("get_weather_"), "{call_id}");
    assert_eq!(str_of(&call, "name"), "get_weather");
    let args = str_of(&call, "arguments");
    let parsed: serde_json::Value = serde_json::from_str(&args).expect("JSON arguments");
    assert_eq!(parsed, serde_json::json!({"city": "city value"}));
    let deltas: String = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .map(|c| {
            assert_eq!(str_of(&c, "id"), call_id);
            assert_eq!(str_of(&c, "name"), "get_weather");
            str_of(&c, "argumentsDelta")
        })
        .collect();
    assert_eq!(deltas, args);
    // The tool plan is not content.
    assert_eq!(str_of(&r, "content"), "");

    // Send the result back.
    let m = mark().await;
    let args_json = serde_json::to_string(&args).unwrap();
    let req = json(&format!(
        r#"{{"provider":"cohere","model":"command-r","keyId":"{id}","tools":{tools},
            "messages":[{{"role":"user","content":"Weather in Paris?"}},
              {{"role":"assistant","content":"","toolCalls":[{{"id":"{call_id}","name":"get_weather","arguments":{args_json}}}]}},
              {{"role":"tool","toolCallId":"{call_id}","content":"18°C"}}]}}"#
    ));
    let (chunks, err) = drain(&stream_chat(req)).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).contains("The tool said: 18°C"));
    let log = log_since(m).await;
    let body = get(posts(&log, "18°C").first().expect("a POST"), "body");
    let messages = Array::from(&get(&body, "messages"));
    let assistant = messages.get(1);
    let wire_call = Array::from(&get(&assistant, "tool_calls")).get(0);
    assert_eq!(str_of(&wire_call, "id"), call_id);
    assert_eq!(str_of(&get(&wire_call, "function"), "arguments"), args);
    assert_eq!(str_of(&messages.get(2), "tool_call_id"), call_id);
}

#[wasm_bindgen_test]
async fn send_chat_is_one_non_streamed_call() {
    let id = seed(KEY, false).await;
    let m = mark().await;
    let r = ok(send_chat(request(
        &id,
        "command-r-plus",
        "no stream please",
    )))
    .await;
    assert!(str_of(&r, "content").contains("no stream please"));
    assert_eq!(str_of(&r, "finishReason"), "stop");
    assert_eq!(str_of(&r, "provider"), "cohere");
    assert!(get(&get(&r, "usage"), "inputTokens").as_f64().unwrap() > 0.0);
    assert!(get(&r, "cost").as_f64().is_some());
    let log = log_since(m).await;
    let body = get(
        posts(&log, "no stream please").first().expect("a POST"),
        "body",
    );
    assert!(get(&body, "stream").is_undefined());
}

#[wasm_bindgen_test]
async fn broken_streams_are_errors() {
    let id = seed("standintruncate3keyAAAAAAAAAAAAAAAAAAAAAA", false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "command-r", "cut me off"))).await;
    let err = err.expect("a truncated stream fails");
    assert_eq!(str_of(&err, "code"), "NETWORK_ERROR");
    assert_eq!(str_of(&err, "provider"), "cohere");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));

    let id = seed("standinstreamerror3keyAAAAAAAAAAAAAAAAAAA", false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "command-r", "fail midway"))).await;
    let err = err.expect("a failed generation fails the stream");
    assert_eq!(str_of(&err, "code"), "PROVIDER_UNAVAILABLE");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
}

#[wasm_bindgen_test]
async fn provider_errors_map_to_codes() {
    // (key, model, code, POSTs: retried or not)
    let cases = [
        (
            "standinquotakeyAAAAAAAAAAAAAAAAAAAAAAAAA",
            "command-r",
            "INSUFFICIENT_QUOTA",
            1,
        ),
        (KEY, "command-x", "MODEL_NOT_FOUND", 1),
        (
            "standinratelimit1keyAAAAAAAAAAAAAAAAAAAAA",
            "command-r",
            "RATE_LIMITED",
            3,
        ),
    ];
    for (key, model, code, expected_posts) in cases {
        let id = seed(key, false).await;
        let m = mark().await;
        let prompt = format!("case {code}");
        let e = fails(send_chat(request(&id, model, &prompt)), code).await;
        assert_eq!(str_of(&e, "provider"), "cohere");
        assert!(str_of(&e, "message").starts_with("Cohere: "));
        assert!(!str_of(&e, "message").contains("standin"));
        assert_eq!(
            posts(&log_since(m).await, &prompt).len(),
            expected_posts,
            "{code} retries"
        );
    }
    // Server errors before the first byte are retried.
    let id = seed("standinflaky2keyAAAAAAAAAAAAAAAAAAAAAAAAA", false).await;
    let m = mark().await;
    let r = ok(send_chat(request(&id, "command-r", "try again"))).await;
    assert!(str_of(&r, "content").contains("try again"));
    assert_eq!(posts(&log_since(m).await, "try again").len(), 3);
}

#[wasm_bindgen_test]
async fn embeddings_with_usage_and_cost() {
    let id = seed(KEY, false).await;
    let req = json(&format!(
        r#"{{"provider":"cohere","model":"embed-english-v3.0","keyId":"{id}","input":["one","two"]}}"#
    ));
    let r = ok(embed_default(req)).await;
    let vectors = Array::from(&get(&r, "embeddings"));
    assert_eq!(vectors.length(), 2);
    assert_eq!(Array::from(&vectors.get(0)).length(), 8);
    let input = get(&get(&r, "usage"), "inputTokens").as_f64().unwrap();
    assert!(input > 0.0);
    let cost = get(&r, "cost").as_f64().expect("priced");
    assert!((cost - input * 0.1 / 1e6).abs() < 1e-15, "{cost}");
}

#[wasm_bindgen_test]
async fn the_wire_carries_only_what_it_must() {
    let id = seed(KEY, false).await;
    let m = mark().await;
    let (_, err) = drain(&stream_chat(request(&id, "command-r", "what headers"))).await;
    assert!(err.is_none());
    let log = log_since(m).await;
    let post = *posts(&log, "what headers")
        .first()
        .expect("the chat request");
    let names: Vec<String> = Array::from(&get(post, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect();
    assert!(names.contains(&"authorization".to_owned()), "{names:?}");
    assert!(names.contains(&"content-type".to_owned()), "{names:?}");
    for n in &names {
        assert!(
            !n.starts_with("x-") && n != "cookie" && n != "referer",
            "{n} sent: {names:?}"
        );
    }
    let body = get(post, "body");
    assert_eq!(str_of(&body, "model"), "command-r");
    assert_eq!(get(&body, "stream").as_bool(), Some(true));
    for absent in ["top_p", "stream_options", "stop", "tool_choice"] {
        assert!(get(&body, absent).is_undefined(), "{absent} sent");
    }
    assert!(!stringify(&body).contains("COHEREvalid"));
    for e in log
        .iter()
        .filter(|e| str_of(e, "method") == "OPTIONS" && str_of(e, "path") == "/cohere/v2/chat")
    {
        assert_ne!(
            get(&get(e, "cors"), "allowed").as_bool(),
            Some(false),
            "{}",
            stringify(&get(e, "cors"))
        );
    }
}
