//! OpenAI end to end through the JavaScript exports, in headless Chromium, against the
//! stand-in: the seed usage, streaming with awkward chunking, collect, send, tools, errors,
//! retries, abort, and what goes over the wire.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Adds `key` to the default vault (device mode) pointing at the stand-in; returns its id.
async fn seed(key: &str, validate: bool) -> String {
    let opts = obj(&[
        ("baseUrl", openai_base().into()),
        ("validate", validate.into()),
    ]);
    let r = ok(add_key_default("openai".into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

fn request(key_id: &str, model: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"openai","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

#[wasm_bindgen_test]
async fn the_seed_usage_streams_content_usage_and_done() {
    // addKey then `for await (const chunk of streamChat(request))`, as API.md shows it.
    let id = seed(GOOD_KEY, true).await;
    let iter = stream_chat(request(&id, "gpt-4o", "héllo 🌍 wörld"));
    assert!(
        js_sys::Reflect::has(&iter, &js_sys::Symbol::async_iterator()).unwrap(),
        "streamChat returns an async iterable"
    );
    let (chunks, err) = drain(&iter).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    let text = content_of(&chunks);
    assert!(text.contains("héllo 🌍 wörld"), "{text}");
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    assert!(input > 0.0 && output > 0.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    let cost = get(last, "cost").as_f64().expect("gpt-4o has a price");
    let expected = (input * 2.5 + output * 10.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    assert!(chunks.iter().any(|c| str_of(c, "type") == "usage"));
}

#[wasm_bindgen_test]
async fn collect_stream_calls_back_and_resolves_the_result() {
    let id = seed(GOOD_KEY, false).await;
    let seen = Array::new();
    let seen2 = seen.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |c: JsValue| {
        seen2.push(&c);
    });
    let r = ok(collect_stream(
        request(&id, "gpt-4o-mini", "collect me"),
        Some(cb.as_ref().unchecked_ref::<Function>().clone()),
    ))
    .await;
    assert!(str_of(&r, "content").contains("collect me"));
    assert_eq!(str_of(&r, "provider"), "openai");
    assert_eq!(str_of(&r, "model"), "gpt-4o-mini");
    assert_eq!(str_of(&r, "finishReason"), "stop");
    assert!(get(&r, "cost").as_f64().is_some());
    assert_eq!(Array::from(&get(&r, "toolCalls")).length(), 0);
    assert!(seen.length() > 2, "onChunk ran per chunk");
    assert_eq!(str_of(&seen.get(seen.length() - 1), "type"), "done");
}

#[wasm_bindgen_test]
async fn send_chat_is_one_non_streamed_call() {
    let id = seed(GOOD_KEY, false).await;
    let mark = log_mark().await;
    let r = ok(send_chat(request(&id, "gpt-4o", "no stream please"))).await;
    assert!(str_of(&r, "content").contains("no stream please"));
    assert!(get(&get(&r, "usage"), "inputTokens").as_f64().unwrap() > 0.0);
    let log = log_since(mark).await;
    let chat = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("a POST");
    let body = get(&chat, "body");
    assert!(get(&body, "stream").is_undefined() || get(&body, "stream").as_bool() == Some(false));
}

#[wasm_bindgen_test]
async fn tool_calls_stream_and_assemble() {
    let id = seed(GOOD_KEY, false).await;
    let req = json(&format!(
        r#"{{"provider":"openai","model":"gpt-4o","keyId":"{id}",
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
    let args: serde_json::Value =
        serde_json::from_str(&str_of(&call, "arguments")).expect("JSON arguments");
    assert!(args.get("city").is_some());
    // The argument deltas of the tool_call chunks concatenate to the arguments.
    let deltas: String = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .map(|c| {
            assert_eq!(str_of(&c, "id"), str_of(&call, "id"));
            str_of(&c, "argumentsDelta")
        })
        .collect();
    assert_eq!(deltas, str_of(&call, "arguments"));
}

#[wasm_bindgen_test]
async fn provider_errors_map_to_codes_and_never_echo_the_key() {
    // (key, model, expected code)
    let cases = [
        (
            "sk-proj-quota-standin-000000000000",
            "gpt-4o",
            "INSUFFICIENT_QUOTA",
        ),
        (GOOD_KEY, "gpt-imaginary", "MODEL_NOT_FOUND"),
    ];
    for (key, model, code) in cases {
        let id = seed(key, false).await;
        let mark = log_mark().await;
        let e = fails(send_chat(request(&id, model, "x")), code).await;
        assert_eq!(str_of(&e, "provider"), "openai");
        assert!(
            !str_of(&e, "message").contains("standin"),
            "{}",
            str_of(&e, "message")
        );
        // Neither is retried.
        let posts = log_since(mark)
            .await
            .iter()
            .filter(|e| str_of(e, "method") == "POST")
            .count();
        assert_eq!(posts, 1, "{code} was retried");
    }
    // An unknown key: 401 with OpenAI's masked echo, redacted.
    let r = ok(validate_key_default(
        "openai".into(),
        Some("sk-proj-standinNOTKNOWN00000000000000000000".into()),
        obj(&[("baseUrl", openai_base().into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    let msg = str_of(&r, "error");
    assert!(!msg.contains("NOTKNOWN") && !msg.contains("0000"), "{msg}");
}

#[wasm_bindgen_test]
async fn server_errors_before_the_first_byte_are_retried() {
    // `flaky2`: the stand-in answers 500 then 503, then succeeds.
    let id = seed("sk-proj-flaky2-standin-0000000000000", false).await;
    let mark = log_mark().await;
    let r = ok(send_chat(request(&id, "gpt-4o", "try again"))).await;
    assert!(str_of(&r, "content").contains("try again"));
    let posts = log_since(mark)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST")
        .count();
    assert_eq!(posts, 3);
}

#[wasm_bindgen_test]
async fn rate_limits_are_retried_then_reported() {
    let id = seed("sk-proj-ratelimit1-standin-00000000000", false).await;
    let mark = log_mark().await;
    let e = fails(send_chat(request(&id, "gpt-4o", "x")), "RATE_LIMITED").await;
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    let posts = log_since(mark)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST")
        .count();
    assert_eq!(posts, 3, "two retries, then the error");
}

#[wasm_bindgen_test]
async fn broken_streams_are_errors() {
    let id = seed("sk-proj-truncate3-standin-0000000000", false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "gpt-4o", "cut me off"))).await;
    let err = err.expect("a truncated stream fails");
    assert_eq!(str_of(&err, "code"), "NETWORK_ERROR");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));

    let id = seed("sk-proj-streamerror2-standin-000000000", false).await;
    let (_, err) = drain(&stream_chat(request(&id, "gpt-4o", "fail midway"))).await;
    let err = err.expect("an error event fails the stream");
    assert_eq!(str_of(&err, "code"), "PROVIDER_UNAVAILABLE");
}

#[wasm_bindgen_test]
async fn abort_cancels_the_fetch_at_once() {
    let id = seed("sk-proj-slow200-standin-0000000000000", false).await;
    let controller = web_sys::AbortController::new().unwrap();
    let req = request(&id, "gpt-4o", "a long slow answer");
    js_sys::Reflect::set(&req, &"signal".into(), &controller.signal()).unwrap();
    let mark = log_mark().await;
    let iter = stream_chat(req);
    let next: Function = get(&iter, "next").unchecked_into();
    let first = ok(next.call0(&iter).unwrap().unchecked_into()).await;
    assert_eq!(get(&first, "done").as_bool(), Some(false));
    let t0 = js_sys::Date::now();
    controller.abort();
    let e = fails(
        next.call0(&iter).unwrap().unchecked_into(),
        "STREAM_ABORTED",
    )
    .await;
    assert!(e.is_instance_of::<js_sys::Error>());
    assert!(js_sys::Date::now() - t0 < 1000.0, "abort took too long");
    // The stand-in saw the connection close before the end.
    let mut aborted = false;
    for _ in 0..50 {
        let log = log_since(mark).await;
        if log
            .iter()
            .any(|e| get(&e, "aborted").as_bool() == Some(true))
        {
            aborted = true;
            break;
        }
        sleep(20).await;
    }
    assert!(aborted, "the stand-in did not see the abort");
    // An already-aborted signal fails before any request.
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let req = request(&id, "gpt-4o", "never sent");
    js_sys::Reflect::set(&req, &"signal".into(), &controller.signal()).unwrap();
    fails(send_chat(req), "STREAM_ABORTED").await;
}

#[wasm_bindgen_test]
async fn breaking_out_of_the_loop_closes_the_connection() {
    let id = seed("sk-proj-slow100-standin-0000000000000", false).await;
    let mark = log_mark().await;
    let iter = stream_chat(request(&id, "gpt-4o", "stop listening"));
    let next: Function = get(&iter, "next").unchecked_into();
    ok(next.call0(&iter).unwrap().unchecked_into()).await;
    let ret: Function = get(&iter, "return").unchecked_into();
    let r = ok(ret.call0(&iter).unwrap().unchecked_into()).await;
    assert_eq!(get(&r, "done").as_bool(), Some(true));
    let mut aborted = false;
    for _ in 0..50 {
        if log_since(mark)
            .await
            .iter()
            .any(|e| get(&e, "aborted").as_bool() == Some(true))
        {
            aborted = true;
            break;
        }
        sleep(20).await;
    }
    assert!(aborted);
}

#[wasm_bindgen_test]
async fn the_wire_carries_only_what_it_must() {
    let id = seed(GOOD_KEY, false).await;
    let mark = log_mark().await;
    let (_, err) = drain(&stream_chat(request(&id, "gpt-4o", "headers"))).await;
    assert!(err.is_none());
    let log = log_since(mark).await;
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the chat request");
    let names: Vec<String> = Array::from(&get(&post, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect();
    assert!(names.contains(&"authorization".to_owned()), "{names:?}");
    for forbidden in [
        "cookie",
        "referer",
        "x-stainless-lang",
        "openai-organization",
    ] {
        assert!(
            !names.iter().any(|n| n == forbidden),
            "{forbidden} sent: {names:?}"
        );
    }
    let body = get(&post, "body");
    assert_eq!(get(&body, "stream").as_bool(), Some(true));
    assert_eq!(
        get(&get(&body, "stream_options"), "include_usage").as_bool(),
        Some(true)
    );
    assert!(
        !stringify(&body).contains("standinVALID"),
        "the key is in the body"
    );
    // No preflight asked for a header OpenAI does not allow.
    for e in log.iter().filter(|e| str_of(e, "method") == "OPTIONS") {
        let cors = get(&e, "cors");
        assert_ne!(
            get(&cors, "allowed").as_bool(),
            Some(false),
            "{}",
            stringify(&cors)
        );
    }
}

#[wasm_bindgen_test]
async fn reasoning_models_get_max_completion_tokens() {
    let id = seed(GOOD_KEY, false).await;
    let req = json(&format!(
        r#"{{"provider":"openai","model":"o1-mini","keyId":"{id}","settings":{{"maxTokens":500}},
            "messages":[{{"role":"user","content":"think"}}]}}"#
    ));
    let r = ok(send_chat(req)).await;
    assert!(get(&get(&r, "usage"), "outputTokens").as_f64().is_some());
}

#[wasm_bindgen_test]
async fn requests_are_checked_before_the_network() {
    let id = seed(GOOD_KEY, false).await;
    let mark = log_mark().await;
    let bad = json(&format!(
        r#"{{"provider":"openai","model":"gpt-4o","keyId":"{id}","messages":[{{"role":"wizard","content":"x"}}]}}"#
    ));
    fails(send_chat(bad), "INVALID_REQUEST").await;
    let (_, err) = drain(&stream_chat(json(
        r#"{"provider":"nope","model":"m","messages":[{"role":"user","content":"x"}]}"#,
    )))
    .await;
    assert_eq!(str_of(&err.expect("fails"), "code"), "UNSUPPORTED_PROVIDER");
    fails(
        send_chat(json(r#"{"provider":"openai","model":"gpt-4o","keyId":"nope","messages":[{"role":"user","content":"x"}]}"#)),
        "KEY_NOT_FOUND",
    )
    .await;
    assert_eq!(log_since(mark).await.length(), 0);
}

#[wasm_bindgen_test]
async fn embeddings_with_usage_and_cost() {
    let id = seed(GOOD_KEY, false).await;
    let req = json(&format!(
        r#"{{"provider":"openai","model":"text-embedding-3-small","keyId":"{id}","input":["one","two"]}}"#
    ));
    let r = ok(byok::api::chat::embed_default(req)).await;
    let vectors = Array::from(&get(&r, "embeddings"));
    assert_eq!(vectors.length(), 2);
    assert!(Array::from(&vectors.get(0)).length() > 0);
    let usage = get(&r, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    assert!(input > 0.0);
    let cost = get(&r, "cost").as_f64().expect("a price");
    assert!((cost - input * 0.02 / 1e6).abs() < 1e-15, "{cost}");
    // A provider without embeddings is refused before the network.
    let mark = log_mark().await;
    fails(
        byok::api::chat::embed_default(json(r#"{"provider":"anthropic","model":"x","input":"a"}"#)),
        "INVALID_REQUEST",
    )
    .await;
    assert_eq!(log_since(mark).await.length(), 0);
}

#[wasm_bindgen_test]
async fn a_blocked_call_is_cors_blocked_and_an_absent_server_a_network_error() {
    // A server that answers but does not allow this page: the preflight fails.
    let r = ok(validate_key_default(
        "openai".into(),
        Some(GOOD_KEY.into()),
        obj(&[("baseUrl", format!("{}/nowhere/v1", standin()).into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "CORS_BLOCKED", "{}", stringify(&r));
    assert!(
        str_of(&r, "error").contains("OpenAI"),
        "{}",
        str_of(&r, "error")
    );
    // Nothing listens on port 9 of this machine.
    let r = ok(validate_key_default(
        "openai".into(),
        Some(GOOD_KEY.into()),
        obj(&[("baseUrl", "http://127.0.0.1:9/v1".into())]),
    ))
    .await;
    assert_eq!(str_of(&r, "code"), "NETWORK_ERROR", "{}", stringify(&r));
    // The test page is cross-origin isolated (COEP), where "blocked" and "absent" look alike:
    // the message must then say both; elsewhere it names the address.
    let isolated = get(&js_sys::global(), "crossOriginIsolated").as_bool() == Some(true);
    let msg = str_of(&r, "error");
    assert!(
        msg.contains("could not be reached") && (isolated || msg.contains("127.0.0.1:9")),
        "{}",
        msg
    );
}

#[wasm_bindgen_test]
async fn presets_speak_the_openai_dialect_and_unpriced_models_cost_null() {
    // A Groq-shaped key, accepted by the stand-in's OpenAI API.
    let key = format!("gsk_standinGROQ{}", "0".repeat(52 - 11));
    control(
        "/__standin/keys",
        Some(&format!(
            r#"{{"provider":"openai","key":"{key}","behaviour":{{}}}}"#
        )),
    )
    .await;
    let r = ok(add_key_default(
        "groq".into(),
        key.clone(),
        obj(&[("baseUrl", openai_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let id = str_of(&r, "id");
    let req = json(&format!(
        r#"{{"provider":"groq","model":"gpt-4o","keyId":"{id}","messages":[{{"role":"user","content":"preset"}}]}}"#
    ));
    let (chunks, err) = drain(&stream_chat(req)).await;
    assert!(err.is_none());
    assert!(content_of(&chunks).contains("preset"));
    let done = chunks.last().unwrap();
    assert_eq!(str_of(done, "type"), "done");
    // The catalog has no price for gpt-4o under Groq: the call succeeds, its cost is null.
    assert!(get(done, "cost").is_null(), "{}", stringify(done));
}
