//! Anthropic end to end through the JavaScript exports, in headless Chromium, against the
//! stand-in: keys, streaming with named events and awkward chunking, collect, send, tools and
//! their round trip, errors in and out of streams, retries, and the headers on the wire.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A key the stand-in accepts (its default behaviour: awkward chunking).
const KEY: &str = "sk-ant-api03-standinVALIDkey000000000000000000000000000000000000000000000000000000000000000000000000000000AA";

const MODEL: &str = "claude-3-haiku-20240307";

fn base() -> String {
    format!("{}/anthropic/v1", standin())
}

/// Adds `key` to the default vault (device mode) pointing at the stand-in; returns its id.
async fn seed(key: &str, validate: bool) -> String {
    let opts = obj(&[("baseUrl", base().into()), ("validate", validate.into())]);
    let r = ok(add_key_default("anthropic".into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

/// A behaviour key: `sk-ant-api03-<words>-standin…`, long enough for the key-format check.
fn behaviour_key(words: &str) -> String {
    format!(
        "sk-ant-api03-{words}-standin-{:012}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn request(key_id: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"anthropic","model":"{MODEL}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

/// The stand-in's Anthropic log entries after sequence number `since`.
async fn log_since(since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider=anthropic&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

async fn mark() -> f64 {
    let v = control("/__standin/log?provider=anthropic", None).await;
    get(&v, "last").as_f64().unwrap_or(0.0)
}

async fn posts_since(since: f64) -> Vec<JsValue> {
    log_since(since)
        .await
        .into_iter()
        .filter(|e| str_of(e, "method") == "POST")
        .collect()
}

fn collector() -> (Array, wasm_bindgen::closure::Closure<dyn FnMut(JsValue)>) {
    let seen = Array::new();
    let seen2 = seen.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |c: JsValue| {
        seen2.push(&c);
    });
    (seen, cb)
}

/// claude-3-haiku-20240307: $0.25 per million input tokens, $1.25 per million output tokens.
fn haiku_cost(input: f64, output: f64) -> f64 {
    (input * 0.25 + output * 1.25) / 1e6
}

#[wasm_bindgen_test]
async fn keys_are_validated_against_the_model_list() {
    let r = ok(validate_key_default(
        "anthropic".into(),
        Some(KEY.into()),
        obj(&[("baseUrl", base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.contains(&MODEL.to_owned()), "{models:?}");
    assert!(models.len() > 5);

    // An unknown key: 401 `invalid x-api-key`, never stored, nothing of it in the message.
    let bad = "sk-ant-api03-standinNOTKNOWN0000000000000000000000";
    let r = ok(validate_key_default(
        "anthropic".into(),
        Some(bad.into()),
        obj(&[("baseUrl", base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    assert!(!str_of(&r, "error").contains("NOTKNOWN"));
    let r = ok(add_key_default(
        "anthropic".into(),
        bad.into(),
        obj(&[("baseUrl", base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert!(get(&r, "id").is_undefined() || get(&r, "id").is_null());

    // addKey with validation stores a good key.
    let id = seed(KEY, true).await;
    assert!(!id.is_empty());
}

#[wasm_bindgen_test]
async fn stream_chat_gives_content_usage_and_done_with_the_catalog_cost() {
    let id = seed(KEY, false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "héllo 🌍 wörld"))).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    let text = content_of(&chunks);
    assert!(
        text.starts_with("Hello from the byok stand-in (héllo — 🌍)."),
        "{text}"
    );
    assert!(text.ends_with("You said: héllo 🌍 wörld"), "{text}");
    // Input tokens from message_start, then the cumulative count of message_delta.
    let usages: Vec<JsValue> = chunks
        .iter()
        .filter(|c| str_of(c, "type") == "usage")
        .map(|c| get(c, "usage"))
        .collect();
    assert_eq!(
        usages.len(),
        2,
        "{}",
        stringify(&Array::from_iter(usages.iter()))
    );
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    assert!(input > 0.0 && output > 1.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    assert_eq!(stringify(&usages[1]), stringify(&usage));
    assert_eq!(get(&usages[0], "inputTokens").as_f64(), Some(input));
    let cost = get(last, "cost")
        .as_f64()
        .expect("claude-3-haiku has a price");
    assert!((cost - haiku_cost(input, output)).abs() < 1e-15, "{cost}");
}

#[wasm_bindgen_test]
async fn collect_stream_assembles_tool_calls_with_complete_arguments() {
    let id = seed(KEY, false).await;
    let req = json(&format!(
        r#"{{"provider":"anthropic","model":"{MODEL}","keyId":"{id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}}],
            "tools":[{{"name":"get_weather","description":"Weather by city",
                       "parameters":{{"type":"object","properties":{{"city":{{"type":"string"}},"days":{{"type":"integer"}}}},"required":["city","days"]}}}}],
            "toolChoice":"auto"}}"#
    ));
    let (seen, cb) = collector();
    let r = ok(collect_stream(
        req,
        Some(cb.as_ref().unchecked_ref::<Function>().clone()),
    ))
    .await;
    assert_eq!(str_of(&r, "finishReason"), "tool_calls");
    assert_eq!(str_of(&r, "content"), "I'll use the get_weather tool.");
    let calls = Array::from(&get(&r, "toolCalls"));
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(str_of(&call, "name"), "get_weather");
    assert!(str_of(&call, "id").starts_with("toolu_01"));
    let args: serde_json::Value =
        serde_json::from_str(&str_of(&call, "arguments")).expect("JSON arguments");
    assert_eq!(args, serde_json::json!({"city": "city value", "days": 1}));
    // Every tool_call chunk names its call; the deltas concatenate to the arguments.
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
    assert!(get(&r, "cost").as_f64().is_some());

    // A tool without arguments streams none: the result says "{}".
    let req = json(&format!(
        r#"{{"provider":"anthropic","model":"{MODEL}","keyId":"{id}",
            "messages":[{{"role":"user","content":"What time is it?"}}],
            "tools":[{{"name":"now","parameters":{{"type":"object","properties":{{}}}}}}],
            "toolChoice":{{"name":"now"}}}}"#
    ));
    let r = ok(collect_stream(req, None)).await;
    let calls = Array::from(&get(&r, "toolCalls"));
    assert_eq!(calls.length(), 1);
    assert_eq!(str_of(&calls.get(0), "name"), "now");
    assert_eq!(str_of(&calls.get(0), "arguments"), "{}");
    assert_eq!(str_of(&r, "content"), "");
}

#[wasm_bindgen_test]
async fn send_chat_is_one_non_streamed_call() {
    let id = seed(KEY, false).await;
    let since = mark().await;
    let r = ok(send_chat(request(&id, "no stream, ünïcode"))).await;
    assert!(str_of(&r, "content").ends_with("You said: no stream, ünïcode"));
    assert_eq!(str_of(&r, "provider"), "anthropic");
    assert_eq!(str_of(&r, "model"), MODEL);
    assert_eq!(str_of(&r, "finishReason"), "stop");
    let usage = get(&r, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    let cost = get(&r, "cost").as_f64().expect("a price");
    assert!((cost - haiku_cost(input, output)).abs() < 1e-15);
    let posts = posts_since(since).await;
    assert_eq!(posts.len(), 1);
    let body = get(&posts[0], "body");
    assert!(get(&body, "stream").is_undefined());
    assert_eq!(str_of(&body, "system"), "Be brief.");
    // The catalog's output limit of the model, since the request set none.
    assert_eq!(get(&body, "max_tokens").as_f64(), Some(4096.0));
}

#[wasm_bindgen_test]
async fn a_system_prompt_and_a_tool_round_trip_are_accepted() {
    let id = seed(KEY, false).await;
    let since = mark().await;
    let req = json(&format!(
        r#"{{"provider":"anthropic","model":"{MODEL}","keyId":"{id}","settings":{{"maxTokens":300,"temperature":0.5}},
            "messages":[
              {{"role":"system","content":"You are terse."}},
              {{"role":"user","content":"Weather in Paris, and the time?"}},
              {{"role":"assistant","content":"Checking.","toolCalls":[
                 {{"id":"toolu_01A","name":"get_weather","arguments":"{{\"city\":\"Paris\"}}"}},
                 {{"id":"toolu_01B","name":"now","arguments":"{{}}"}}]}},
              {{"role":"tool","toolCallId":"toolu_01A","content":"18°C"}},
              {{"role":"tool","toolCallId":"toolu_01B","content":"noon"}}],
            "tools":[{{"name":"get_weather","parameters":{{"type":"object","properties":{{"city":{{"type":"string"}}}},"required":["city"]}}}},
                     {{"name":"now","parameters":{{"type":"object","properties":{{}}}}}}]}}"#
    ));
    let (chunks, err) = drain(&stream_chat(req)).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).ends_with("The tool said: 18°C noon"));
    let posts = posts_since(since).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(get(&posts[0], "status").as_f64(), Some(200.0));
    // What the stand-in (which validates like the API) received.
    let body: serde_json::Value =
        serde_json::from_str(&stringify(&get(&posts[0], "body"))).unwrap();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        serde_json::json!([
            {"role": "user", "content": "Weather in Paris, and the time?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "noon"}
            ]}
        ])
    );
    assert_eq!(body["tools"][1]["input_schema"]["type"], "object");
}

#[wasm_bindgen_test]
async fn overloaded_is_retried_then_provider_unavailable() {
    // Registered rather than a behaviour key: a key holding "overloaded" would (rightly) have
    // that word redacted from the message.
    let key = behaviour_key("busy");
    control(
        "/__standin/keys",
        Some(&format!(
            r#"{{"provider":"anthropic","key":"{key}","behaviour":{{"overloaded":true}}}}"#
        )),
    )
    .await;
    let id = seed(&key, false).await;
    let since = mark().await;
    let e = fails(send_chat(request(&id, "x")), "PROVIDER_UNAVAILABLE").await;
    assert_eq!(get(&e, "status").as_f64(), Some(529.0));
    assert_eq!(str_of(&e, "provider"), "anthropic");
    assert_eq!(str_of(&e, "message"), "Anthropic: Overloaded");
    assert_eq!(
        posts_since(since).await.len(),
        3,
        "two retries, then the error"
    );

    // `flaky1`: one 529, then success.
    let id = seed(&behaviour_key("flaky1"), false).await;
    let since = mark().await;
    let (chunks, err) = drain(&stream_chat(request(&id, "again"))).await;
    assert!(err.is_none());
    assert!(content_of(&chunks).ends_with("again"));
    assert_eq!(posts_since(since).await.len(), 2);
}

#[wasm_bindgen_test]
async fn an_empty_account_is_insufficient_quota_and_never_retried() {
    let id = seed(&behaviour_key("quota"), false).await;
    let since = mark().await;
    let e = fails(send_chat(request(&id, "x")), "INSUFFICIENT_QUOTA").await;
    assert!(
        str_of(&e, "message").contains("credit balance"),
        "{}",
        str_of(&e, "message")
    );
    assert!(!str_of(&e, "message").contains("standin"));
    assert_eq!(posts_since(since).await.len(), 1);
}

#[wasm_bindgen_test]
async fn rate_limits_honour_the_readable_retry_after() {
    let id = seed(&behaviour_key("ratelimit1"), false).await;
    let since = mark().await;
    let t0 = js_sys::Date::now();
    let e = fails(send_chat(request(&id, "x")), "RATE_LIMITED").await;
    // Anthropic exposes its response headers, so the browser reads `retry-after: 1`.
    assert_eq!(get(&e, "retryAfterMs").as_f64(), Some(1000.0));
    assert!(
        js_sys::Date::now() - t0 >= 1900.0,
        "two waits of one second"
    );
    assert_eq!(posts_since(since).await.len(), 3);
}

#[wasm_bindgen_test]
async fn broken_streams_are_errors() {
    let id = seed(&behaviour_key("truncate5"), false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "cut me off"))).await;
    let err = err.expect("a truncated stream fails");
    assert_eq!(str_of(&err, "code"), "NETWORK_ERROR");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
    assert!(
        !content_of(&chunks).is_empty(),
        "the text before the cut arrived"
    );

    // `event: error` with overloaded_error after 6 events of a 200 stream.
    let id = seed(&behaviour_key("streamerror6"), false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "fail midway"))).await;
    let err = err.expect("an error event fails the stream");
    assert_eq!(str_of(&err, "code"), "PROVIDER_UNAVAILABLE");
    assert_eq!(str_of(&err, "provider"), "anthropic");
    assert!(str_of(&err, "message").contains("Overloaded"));
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
}

/// Request headers a browser adds by itself (none of them needs a preflight).
fn browser_added(name: &str) -> bool {
    name.starts_with("sec-")
        || matches!(
            name,
            "host"
                | "connection"
                | "content-length"
                | "origin"
                | "user-agent"
                | "accept"
                | "accept-encoding"
                | "accept-language"
                | "cache-control"
                | "pragma"
        )
}

fn sorted_names(list: &JsValue) -> Vec<String> {
    let mut names: Vec<String> = Array::from(list)
        .iter()
        .filter_map(|n| n.as_string())
        .collect();
    names.sort();
    names
}

#[wasm_bindgen_test]
async fn the_wire_carries_exactly_the_anthropic_headers() {
    let since = mark().await;
    let r = ok(validate_key_default(
        "anthropic".into(),
        Some(KEY.into()),
        obj(&[("baseUrl", base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true));
    let id = seed(KEY, false).await;
    let (_, err) = drain(&stream_chat(request(&id, "headers"))).await;
    assert!(err.is_none());
    let log = log_since(since).await;

    let own = |e: &JsValue| -> Vec<String> {
        sorted_names(&get(e, "headerNames"))
            .into_iter()
            .filter(|n| !browser_added(n))
            .collect()
    };
    let get_models = log
        .iter()
        .find(|e| str_of(e, "method") == "GET")
        .expect("the model list");
    assert_eq!(
        str_of(get_models, "path"),
        "/anthropic/v1/models?limit=1000"
    );
    assert_eq!(
        own(get_models),
        [
            "anthropic-dangerous-direct-browser-access",
            "anthropic-version",
            "x-api-key"
        ]
    );
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST")
        .expect("the message request");
    assert_eq!(
        own(post),
        [
            "anthropic-dangerous-direct-browser-access",
            "anthropic-version",
            "content-type",
            "x-api-key"
        ]
    );
    let headers = get(post, "headers");
    assert_eq!(str_of(&headers, "content-type"), "application/json");
    assert!(get(&headers, "cookie").is_undefined());
    assert!(get(&headers, "referer").is_undefined());
    assert!(!stringify(&get(post, "body")).contains("standinVALID"));
    // Every preflight (the browser caches them, so there may be none) asked for those headers
    // only, and was allowed.
    for e in log.iter().filter(|e| str_of(e, "method") == "OPTIONS") {
        let cors = get(e, "cors");
        assert_eq!(
            get(&cors, "allowed").as_bool(),
            Some(true),
            "{}",
            stringify(&cors)
        );
        for h in sorted_names(&get(&cors, "requestedHeaders")) {
            assert!(
                [
                    "anthropic-dangerous-direct-browser-access",
                    "anthropic-version",
                    "content-type",
                    "x-api-key"
                ]
                .contains(&h.as_str()),
                "{h}"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn a_browser_call_without_the_opt_in_header_is_blocked() {
    // What any other client meets: the preflight gets no access-control-allow-origin, so fetch
    // rejects before the request is sent.
    let global = js_sys::global();
    let fetch: Function = js_sys::Reflect::get(&global, &"fetch".into())
        .unwrap()
        .unchecked_into();
    let init = obj(&[
        ("method", "POST".into()),
        (
            "headers",
            obj(&[
                ("x-api-key", KEY.into()),
                ("anthropic-version", "2023-06-01".into()),
                ("content-type", "application/json".into()),
            ]),
        ),
        ("body", r#"{"model":"claude-3-haiku-20240307","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#.into()),
    ]);
    let since = mark().await;
    let p: Promise = fetch
        .call2(
            &global,
            &format!("{}/messages?nocache={since}", base()).into(),
            &init,
        )
        .unwrap()
        .unchecked_into();
    let e = wait(p).await.expect_err("the browser blocks the call");
    assert!(e.is_instance_of::<js_sys::TypeError>());
    let log = log_since(since).await;
    assert!(
        log.iter().all(|e| str_of(e, "method") == "OPTIONS"),
        "only the preflight"
    );
    let cors = get(&log[0], "cors");
    assert_eq!(get(&cors, "allowed").as_bool(), Some(false));
}
