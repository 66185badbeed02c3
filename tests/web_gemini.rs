//! The Gemini API and Vertex AI end to end through the JavaScript exports, in headless
//! Chromium, against the stand-in: key checks, streaming with cost, tool round trips,
//! sendChat, what goes over the wire (no `?key=`, only Google's CORS headers), retries
//! honouring RetryInfo, expired Vertex tokens, broken streams and embeddings.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, embed_default, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn google_base() -> String {
    format!("{}/google/v1beta", standin())
}

fn vertex_base() -> String {
    format!(
        "{}/vertex/v1/projects/byok-test/locations/us-central1",
        standin()
    )
}

/// A well-shaped Gemini key (`AIza` + 35) holding `words`, padded with `X` as the stand-in's
/// `geminiKey()` does.
fn gkey(words: &str) -> String {
    let mut k = format!("AIzaSy{words}");
    assert!(k.len() <= 39, "{words} is too long for a Gemini key");
    while k.len() < 39 {
        k.push('X');
    }
    k
}

/// A unique tag for keys, so counters never carry over between runs on one stand-in.
fn tag() -> String {
    format!("{}", (js_sys::Math::random() * 1e9) as u64)
}

const VERTEX_TOKEN: &str = "ya29.a0Standin-VALID-token_000000000000000000000000000000000000";

/// Adds `key` for `provider` to the default vault at `base`; returns its id.
async fn seed(provider: &str, key: &str, base: &str, validate: bool) -> String {
    let opts = obj(&[("baseUrl", base.into()), ("validate", validate.into())]);
    let r = ok(add_key_default(provider.into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

async fn seed_google(key: &str) -> String {
    seed("google", key, &google_base(), false).await
}

fn request(provider: &str, key_id: &str, model: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"{provider}","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

/// The stand-in's log entries of `provider` after sequence number `since`.
async fn log_of(provider: &str, since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider={provider}&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

fn posts(log: &[JsValue]) -> Vec<JsValue> {
    log.iter()
        .filter(|e| str_of(e, "method") == "POST")
        .cloned()
        .collect()
}

fn names_of(entry: &JsValue) -> Vec<String> {
    Array::from(&get(entry, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

/// Every request and preflight kept to what Google allows: no key in any URL, the key in its
/// own header, no header a preflight would have to ask for beyond Google's four.
fn assert_clean_wire(log: &[JsValue], key_header: &str) {
    assert!(!log.is_empty());
    for e in log {
        let path = str_of(e, "path");
        assert!(!path.contains("key="), "a key in the URL: {path}");
        assert_ne!(get(e, "keyInUrl").as_bool(), Some(true), "{path}");
        if get(e, "preflight").as_bool() == Some(true) {
            let cors = get(e, "cors");
            assert_eq!(
                get(&cors, "allowed").as_bool(),
                Some(true),
                "{}",
                stringify(&cors)
            );
            for h in Array::from(&get(&cors, "requestedHeaders")).iter() {
                let h = h.as_string().unwrap_or_default();
                assert!(
                    ["content-type", "x-goog-api-key", "authorization"].contains(&h.as_str()),
                    "preflight asked for {h}"
                );
            }
            continue;
        }
        let names = names_of(e);
        assert!(names.iter().any(|n| n == key_header), "{names:?}");
        for forbidden in [
            "cookie",
            "referer",
            "x-goog-api-client",
            "x-goog-user-project",
            if key_header == "authorization" {
                "x-goog-api-key"
            } else {
                "authorization"
            },
        ] {
            assert!(
                !names.iter().any(|n| n == forbidden),
                "{forbidden}: {names:?}"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn validate_a_good_and_a_bad_gemini_key() {
    let mark = log_mark().await;
    let r = ok(validate_key_default(
        "google".into(),
        Some(gkey("StandinVALIDkey")),
        obj(&[("baseUrl", google_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(
        models.contains(&"gemini-1.5-flash".to_owned()),
        "{models:?}"
    );
    assert!(models.contains(&"text-embedding-004".to_owned()));
    assert!(!models
        .iter()
        .any(|m| m.starts_with("models/") || m == "aqa"));

    // A well-shaped key Google does not know: its 400 API_KEY_INVALID.
    let bad = gkey("StandinNOTKNOWNkey");
    let r = ok(validate_key_default(
        "google".into(),
        Some(bad.clone()),
        obj(&[("baseUrl", google_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    let msg = str_of(&r, "error");
    assert!(msg.contains("API key not valid"), "{msg}");
    assert!(!msg.contains("NOTKNOWN"), "{msg}");

    let log = log_of("google", mark).await;
    let gets: Vec<&JsValue> = log
        .iter()
        .filter(|e| str_of(e, "method") == "GET")
        .collect();
    assert_eq!(gets.len(), 2);
    for e in gets {
        assert_eq!(str_of(e, "path"), "/google/v1beta/models?pageSize=1000");
    }
    assert_clean_wire(&log, "x-goog-api-key");
}

#[wasm_bindgen_test]
async fn streams_text_with_usage_and_cost() {
    let id = seed("google", &gkey("StandinVALIDkey"), &google_base(), true).await;
    let mark = log_mark().await;
    let (chunks, err) = drain(&stream_chat(request(
        "google",
        &id,
        "gemini-1.5-flash",
        "héllo 🌍 wörld",
    )))
    .await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    let text = content_of(&chunks);
    assert!(
        text.starts_with("Hello from the byok stand-in (héllo — 🌍)."),
        "{text}"
    );
    assert!(text.ends_with("héllo 🌍 wörld"), "{text}");
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    assert!(input > 0.0 && output > 0.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    // gemini-1.5-flash: $0.075 per million input tokens, $0.30 per million output tokens.
    let cost = get(last, "cost")
        .as_f64()
        .expect("gemini-1.5-flash has a price");
    let expected = (input * 0.075 + output * 0.30) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    // Usage is cumulative: every usage chunk grows, the last equals the done usage.
    let usages: Vec<f64> = chunks
        .iter()
        .filter(|c| str_of(c, "type") == "usage")
        .map(|c| get(&get(c, "usage"), "outputTokens").as_f64().unwrap())
        .collect();
    assert!(usages.len() > 1);
    assert!(usages.windows(2).all(|w| w[0] < w[1]), "{usages:?}");
    assert_eq!(usages.last().copied(), Some(output));

    let log = log_of("google", mark).await;
    let post = posts(&log).pop().expect("the chat request");
    assert_eq!(
        str_of(&post, "path"),
        "/google/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse"
    );
    let body = get(&post, "body");
    assert_eq!(
        stringify(&get(&body, "systemInstruction")),
        r#"{"parts":[{"text":"Be brief."}]}"#
    );
    assert!(
        !stringify(&body).contains("Standin"),
        "the key is in the body"
    );
    assert_clean_wire(&log, "x-goog-api-key");
}

#[wasm_bindgen_test]
async fn a_function_call_round_trip() {
    let id = seed_google(&gkey("StandinVALIDkey")).await;
    let tools = r#"[{"name":"get_weather","description":"Weather by city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]"#;
    let req = json(&format!(
        r#"{{"provider":"google","model":"gemini-1.5-flash","keyId":"{id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}}],
            "tools":{tools},"toolChoice":"auto"}}"#
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
    assert_eq!(str_of(&call, "id"), "call_0");
    assert_eq!(str_of(&call, "name"), "get_weather");
    assert_eq!(str_of(&call, "arguments"), r#"{"city":"city value"}"#);
    let deltas: String = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .map(|c| str_of(&c, "argumentsDelta"))
        .collect();
    assert_eq!(deltas, str_of(&call, "arguments"));

    // The next turn: the result goes back under the function's name, found by the call's id.
    let mark = log_mark().await;
    let next = json(&format!(
        r#"{{"provider":"google","model":"gemini-1.5-flash","keyId":"{id}",
            "messages":[
              {{"role":"user","content":"Weather in Paris?"}},
              {{"role":"assistant","content":"","toolCalls":[{{"id":"call_0","name":"get_weather","arguments":"{{\"city\":\"Paris\"}}"}}]}},
              {{"role":"tool","toolCallId":"call_0","content":"18°C"}}
            ],
            "tools":{tools}}}"#
    ));
    let r = ok(send_chat(next)).await;
    assert_eq!(str_of(&r, "finishReason"), "stop");
    assert!(
        str_of(&r, "content").ends_with(r#"The tool said: {"content":"18°C"}"#),
        "{}",
        str_of(&r, "content")
    );
    let post = posts(&log_of("google", mark).await).pop().expect("a POST");
    let contents = stringify(&get(&get(&post, "body"), "contents"));
    assert!(
        contents.contains(
            r#"{"functionResponse":{"name":"get_weather","response":{"content":"18°C"}}}"#
        ),
        "{contents}"
    );
    assert!(contents.contains(r#"{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}"#));
}

#[wasm_bindgen_test]
async fn gemini_3_replays_carry_the_signature_sentinel() {
    // The stand-in refuses a replayed Gemini 3 call without a thought signature, as Google does.
    let id = seed_google(&gkey("StandinVALIDkey")).await;
    let req = json(&format!(
        r#"{{"provider":"google","model":"gemini-3-pro-preview","keyId":"{id}",
            "messages":[
              {{"role":"user","content":"x"}},
              {{"role":"assistant","content":"","toolCalls":[{{"id":"call_0","name":"f","arguments":"{{}}"}}]}},
              {{"role":"tool","toolCallId":"call_0","content":"done"}}
            ],
            "tools":[{{"name":"f","parameters":{{"type":"object","properties":{{"a":{{"type":"string"}}}}}}}}]}}"#
    ));
    let r = ok(send_chat(req)).await;
    assert!(str_of(&r, "content").contains("The tool said"));
}

#[wasm_bindgen_test]
async fn send_chat_is_one_generate_content_call() {
    let id = seed_google(&gkey("StandinVALIDkey")).await;
    let mark = log_mark().await;
    let r = ok(send_chat(request(
        "google",
        &id,
        "gemini-2.5-flash",
        "no stream please",
    )))
    .await;
    assert!(str_of(&r, "content").ends_with("no stream please"));
    assert_eq!(str_of(&r, "provider"), "google");
    assert_eq!(str_of(&r, "finishReason"), "stop");
    let usage = get(&r, "usage");
    // gemini-2.5-flash thinks: 24 thought tokens counted as output.
    assert!(get(&usage, "outputTokens").as_f64().unwrap() > 24.0);
    assert!(get(&r, "cost").as_f64().is_some());
    let log = log_of("google", mark).await;
    let post = posts(&log).pop().expect("a POST");
    assert_eq!(
        str_of(&post, "path"),
        "/google/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_clean_wire(&log, "x-goog-api-key");
}

#[wasm_bindgen_test]
async fn rate_limits_honour_retry_info() {
    // One 429 asking for 1 s: waited, then the call succeeds.
    let key = gkey(&format!("once{}", tag()));
    control(
        "/__standin/keys",
        Some(&format!(
            r#"{{"provider":"google","key":"{key}","behaviour":{{"rateLimit":1,"retryAfter":1}}}}"#
        )),
    )
    .await;
    let id = seed_google(&key).await;
    let mark = log_mark().await;
    let t0 = js_sys::Date::now();
    let r = ok(send_chat(request(
        "google",
        &id,
        "gemini-1.5-flash",
        "again",
    )))
    .await;
    let waited = js_sys::Date::now() - t0;
    assert!(str_of(&r, "content").ends_with("again"));
    assert_eq!(posts(&log_of("google", mark).await).len(), 2);
    assert!(
        waited >= 950.0,
        "RetryInfo's 1s was not honoured: {waited} ms"
    );

    // Always limited: two retries, then RATE_LIMITED with the wait Google asked for.
    let id = seed_google(&gkey(&format!("ratelimit1z{}", tag()))).await;
    let mark = log_mark().await;
    let e = fails(
        send_chat(request("google", &id, "gemini-1.5-flash", "x")),
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    assert_eq!(get(&e, "retryAfterMs").as_f64(), Some(1000.0));
    assert_eq!(str_of(&e, "provider"), "google");
    assert_eq!(posts(&log_of("google", mark).await).len(), 3);

    // A wait longer than the policy allows fails at once.
    let id = seed_google(&gkey(&format!("ratelimit30z{}", tag()))).await;
    let mark = log_mark().await;
    let e = fails(
        send_chat(request("google", &id, "gemini-1.5-flash", "x")),
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(get(&e, "retryAfterMs").as_f64(), Some(30000.0));
    assert_eq!(posts(&log_of("google", mark).await).len(), 1);
}

#[wasm_bindgen_test]
async fn quota_and_unknown_models_are_not_retried() {
    let cases = [
        (gkey("quotaz"), "gemini-2.5-pro", "INSUFFICIENT_QUOTA"),
        (gkey("StandinVALIDkey"), "gemini-9", "MODEL_NOT_FOUND"),
    ];
    for (key, model, code) in cases {
        let id = seed_google(&key).await;
        let mark = log_mark().await;
        let e = fails(send_chat(request("google", &id, model, "x")), code).await;
        assert_eq!(str_of(&e, "provider"), "google");
        assert!(!str_of(&e, "message").contains("Standin"));
        assert_eq!(posts(&log_of("google", mark).await).len(), 1, "{code}");
    }
}

#[wasm_bindgen_test]
async fn broken_streams_are_errors() {
    let id = seed_google(&gkey("truncate3z")).await;
    let (chunks, err) = drain(&stream_chat(request(
        "google",
        &id,
        "gemini-1.5-flash",
        "cut me off",
    )))
    .await;
    let err = err.expect("a truncated stream fails");
    assert_eq!(str_of(&err, "code"), "NETWORK_ERROR");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
    assert!(!content_of(&chunks).is_empty(), "the start still arrived");

    // Google's bare JSON error after two events.
    let id = seed_google(&gkey("streamerror2z")).await;
    let (chunks, err) = drain(&stream_chat(request(
        "google",
        &id,
        "gemini-1.5-flash",
        "fail midway",
    )))
    .await;
    let err = err.expect("an error in the stream fails it");
    assert_eq!(str_of(&err, "code"), "PROVIDER_UNAVAILABLE");
    assert!(str_of(&err, "message").contains("overloaded"));
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
}

#[wasm_bindgen_test]
async fn vertex_with_a_bearer_token() {
    let mark = log_mark().await;
    let r = ok(validate_key_default(
        "vertex".into(),
        Some(VERTEX_TOKEN.into()),
        obj(&[("baseUrl", vertex_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    assert_eq!(stringify(&get(&r, "models")), r#"["gemini-2.5-flash"]"#);

    let id = seed("vertex", VERTEX_TOKEN, &vertex_base(), false).await;
    let (chunks, err) = drain(&stream_chat(request(
        "vertex",
        &id,
        "gemini-1.5-flash",
        "from vertex",
    )))
    .await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).ends_with("from vertex"));
    let last = chunks.last().unwrap();
    assert_eq!(str_of(last, "finishReason"), "stop");
    assert!(get(last, "cost").as_f64().is_some());

    let log = log_of("vertex", mark).await;
    let paths: Vec<String> = posts(&log).iter().map(|e| str_of(e, "path")).collect();
    assert_eq!(
        paths,
        [
            "/vertex/v1/projects/byok-test/locations/us-central1/publishers/google/models/gemini-2.5-flash:countTokens",
            "/vertex/v1/projects/byok-test/locations/us-central1/publishers/google/models/gemini-1.5-flash:streamGenerateContent?alt=sse",
        ]
    );
    assert_clean_wire(&log, "authorization");
}

#[wasm_bindgen_test]
async fn an_expired_vertex_token_says_so() {
    let expired = "ya29.expired-standin-token";
    let r = ok(validate_key_default(
        "vertex".into(),
        Some(expired.into()),
        obj(&[("baseUrl", vertex_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY");
    let msg = str_of(&r, "error");
    assert!(msg.contains("expired"), "{msg}");
    assert!(msg.contains("gcloud auth print-access-token"), "{msg}");

    let id = seed("vertex", expired, &vertex_base(), false).await;
    let mark = log_mark().await;
    let e = fails(
        send_chat(request("vertex", &id, "gemini-1.5-flash", "x")),
        "INVALID_API_KEY",
    )
    .await;
    assert!(str_of(&e, "message").contains("expired"));
    assert_eq!(get(&e, "status").as_f64(), Some(401.0));
    assert_eq!(str_of(&e, "provider"), "vertex");
    assert!(!str_of(&e, "message").contains("standin-token"));
    assert_eq!(posts(&log_of("vertex", mark).await).len(), 1, "not retried");
}

#[wasm_bindgen_test]
async fn embeddings_from_both() {
    let id = seed_google(&gkey("StandinVALIDkey")).await;
    let mark = log_mark().await;
    let r = ok(embed_default(json(&format!(
        r#"{{"provider":"google","model":"text-embedding-004","keyId":"{id}","input":["héllo","world"]}}"#
    ))))
    .await;
    let vectors = Array::from(&get(&r, "embeddings"));
    assert_eq!(vectors.length(), 2);
    assert_eq!(Array::from(&vectors.get(0)).length(), 8);
    // The Gemini API reports no token counts for embeddings.
    assert_eq!(get(&get(&r, "usage"), "inputTokens").as_f64(), Some(0.0));
    let log = log_of("google", mark).await;
    let post = posts(&log).pop().expect("a POST");
    assert_eq!(
        str_of(&post, "path"),
        "/google/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_clean_wire(&log, "x-goog-api-key");

    let id = seed("vertex", VERTEX_TOKEN, &vertex_base(), false).await;
    let r = ok(embed_default(json(&format!(
        r#"{{"provider":"vertex","model":"text-embedding-004","keyId":"{id}","input":"a longer text"}}"#
    ))))
    .await;
    assert_eq!(Array::from(&get(&r, "embeddings")).length(), 1);
    assert_eq!(
        get(&get(&r, "usage"), "inputTokens").as_f64(),
        Some(4.0),
        "Vertex counts tokens"
    );
    assert!(get(&r, "cost").as_f64().is_some());
}
