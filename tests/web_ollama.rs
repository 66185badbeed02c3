//! Ollama's native API end to end through the JavaScript exports, in headless Chromium, against
//! the stand-in: keyless validation, NDJSON streaming with usage and a zero cost, a tool round
//! trip, sendChat, embeddings, broken streams and `{"error"}` lines, model not found, and CORS:
//! an Ollama that does not allow this page's origin is `CORS_BLOCKED`, naming OLLAMA_ORIGINS.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, embed_default, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The stand-in's Ollama, as `http://localhost:11434` would be.
fn base() -> String {
    format!("{}/ollama", standin())
}

/// The same Ollama, started without this page's origin allowed.
fn refusing_base() -> String {
    format!("{}/ollama/_refuse-origin", standin())
}

/// Adds an Ollama "key" (empty: Ollama has none; a word picks a stand-in behaviour).
async fn seed(key: &str, validate: bool) -> String {
    let opts = obj(&[("baseUrl", base().into()), ("validate", validate.into())]);
    let r = ok(add_key_default("ollama".into(), key.into(), opts)).await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    str_of(&r, "id")
}

fn request(key_id: &str, model: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"ollama","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

async fn log_since(since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider=ollama&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

async fn mark() -> f64 {
    get(
        &control("/__standin/log?provider=ollama", None).await,
        "last",
    )
    .as_f64()
    .unwrap_or(0.0)
}

fn header_names(entry: &JsValue) -> Vec<String> {
    Array::from(&get(entry, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

#[wasm_bindgen_test]
async fn keyless_validation_lists_the_local_models() {
    let m = mark().await;
    let r = ok(validate_key_default(
        "ollama".into(),
        Some(String::new()),
        obj(&[("baseUrl", base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.contains(&"llama3.1:8b".to_owned()), "{models:?}");
    assert!(models.contains(&"nomic-embed-text:latest".to_owned()));
    let log = log_since(m).await;
    let tags = log
        .iter()
        .find(|e| str_of(e, "path") == "/ollama/api/tags")
        .expect("GET /api/tags");
    // Keyless and header-free: a simple request, no preflight at all.
    assert!(!header_names(tags).contains(&"authorization".to_owned()));
    assert!(!log
        .iter()
        .any(|e| str_of(e, "method") == "OPTIONS" && str_of(e, "path") == "/ollama/api/tags"));
}

#[wasm_bindgen_test]
async fn streams_text_with_usage_done_and_no_cost() {
    let id = seed("", true).await;
    let m = mark().await;
    let (chunks, err) = drain(&stream_chat(request(&id, "llama3.1:8b", "héllo 🌍 wörld"))).await;
    assert!(err.is_none(), "{:?}", err.map(|e| str_of(&e, "message")));
    assert!(content_of(&chunks).contains("You said: héllo 🌍 wörld"));
    assert!(chunks.iter().any(|c| str_of(c, "type") == "usage"));
    let last = chunks.last().expect("chunks");
    assert_eq!(str_of(last, "type"), "done");
    assert_eq!(str_of(last, "finishReason"), "stop");
    let usage = get(last, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap();
    let output = get(&usage, "outputTokens").as_f64().unwrap();
    assert!(input > 0.0 && output > 0.0);
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    // Local models cost nothing.
    assert_eq!(get(last, "cost").as_f64(), Some(0.0));
    // What went over the wire: only content-type, the settings in `options`, stream true.
    let log = log_since(m).await;
    let post = log
        .iter()
        .find(|e| str_of(e, "method") == "POST" && stringify(&get(e, "body")).contains("héllo 🌍"))
        .expect("the chat request");
    let names = header_names(post);
    assert!(names.contains(&"content-type".to_owned()), "{names:?}");
    for n in &names {
        assert!(
            !n.starts_with("x-") && n != "authorization" && n != "cookie" && n != "referer",
            "{n} sent: {names:?}"
        );
    }
    let body = get(post, "body");
    assert_eq!(get(&body, "stream").as_bool(), Some(true));
    assert_eq!(str_of(&body, "model"), "llama3.1:8b");
    // The preflight (content-type: application/json needs one) passed Ollama's header list.
    let preflight = log
        .iter()
        .find(|e| str_of(e, "method") == "OPTIONS" && str_of(e, "path") == "/ollama/api/chat")
        .expect("a preflight");
    assert_eq!(
        get(&get(preflight, "cors"), "allowed").as_bool(),
        Some(true),
        "{}",
        stringify(&get(preflight, "cors"))
    );
}

#[wasm_bindgen_test]
async fn a_tool_call_round_trip() {
    let id = seed("", false).await;
    let tools = r#"[{"name":"get_weather","description":"Weather by city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]"#;
    let req = json(&format!(
        r#"{{"provider":"ollama","model":"llama3.1:8b","keyId":"{id}",
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
    assert!(call_id.starts_with("call_"), "{call_id}");
    assert_eq!(str_of(&call, "name"), "get_weather");
    let args = str_of(&call, "arguments");
    let parsed: serde_json::Value = serde_json::from_str(&args).expect("JSON text");
    assert_eq!(parsed, serde_json::json!({"city": "city value"}));
    // A whole call: one chunk.
    let pieces: Vec<JsValue> = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .collect();
    assert_eq!(pieces.len(), 1);
    assert_eq!(str_of(pieces.first().unwrap(), "argumentsDelta"), args);

    let m = mark().await;
    let args_json = serde_json::to_string(&args).unwrap();
    let req = json(&format!(
        r#"{{"provider":"ollama","model":"llama3.1:8b","keyId":"{id}","tools":{tools},
            "messages":[{{"role":"user","content":"Weather in Paris?"}},
              {{"role":"assistant","content":"","toolCalls":[{{"id":"{call_id}","name":"get_weather","arguments":{args_json}}}]}},
              {{"role":"tool","toolCallId":"{call_id}","content":"18°C"}}]}}"#
    ));
    let r = ok(send_chat(req)).await;
    assert!(
        str_of(&r, "content").contains("The tool said: 18°C"),
        "{}",
        stringify(&r)
    );
    assert_eq!(str_of(&r, "finishReason"), "stop");
    // The arguments went back as an object, the result named its tool.
    let log = log_since(m).await;
    let body = get(
        log.iter()
            .find(|e| str_of(e, "method") == "POST" && stringify(&get(e, "body")).contains("18°C"))
            .expect("POST"),
        "body",
    );
    let messages = Array::from(&get(&body, "messages"));
    let wire_call = Array::from(&get(&messages.get(1), "tool_calls")).get(0);
    assert_eq!(
        str_of(&get(&get(&wire_call, "function"), "arguments"), "city"),
        "city value"
    );
    assert_eq!(str_of(&messages.get(2), "tool_name"), "get_weather");
    assert_eq!(get(&body, "stream").as_bool(), Some(false));
}

#[wasm_bindgen_test]
async fn send_chat_and_embeddings() {
    let id = seed("", false).await;
    let r = ok(send_chat(request(&id, "mistral:7b", "no stream please"))).await;
    assert!(str_of(&r, "content").contains("no stream please"));
    assert_eq!(str_of(&r, "provider"), "ollama");
    assert!(get(&get(&r, "usage"), "outputTokens").as_f64().unwrap() > 0.0);
    assert_eq!(get(&r, "cost").as_f64(), Some(0.0));

    let req = json(&format!(
        r#"{{"provider":"ollama","model":"nomic-embed-text","keyId":"{id}","input":["one","two"]}}"#
    ));
    let r = ok(embed_default(req)).await;
    assert_eq!(Array::from(&get(&r, "embeddings")).length(), 2);
    assert!(get(&get(&r, "usage"), "inputTokens").as_f64().unwrap() > 0.0);
    assert_eq!(get(&r, "cost").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn broken_streams_and_error_lines_are_errors() {
    // Cut off after two lines: no `done: true`.
    let id = seed("ollama-truncate2", false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "llama3.1:8b", "cut me off"))).await;
    let err = err.expect("a truncated stream fails");
    assert_eq!(str_of(&err, "code"), "NETWORK_ERROR");
    assert_eq!(str_of(&err, "provider"), "ollama");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));

    // An `{"error"}` line after two lines of answer.
    let id = seed("ollama-streamerror2", false).await;
    let (chunks, err) = drain(&stream_chat(request(&id, "llama3.1:8b", "fail midway"))).await;
    let err = err.expect("an error line fails the stream");
    assert_eq!(str_of(&err, "code"), "PROVIDER_UNAVAILABLE");
    let msg = str_of(&err, "message");
    assert!(
        msg.starts_with("Ollama: an error was encountered while running the model"),
        "{msg}"
    );
    assert!(
        !msg.contains("streamerror"),
        "the key is not in the message"
    );
    // The answer's first lines come before the error, unless they share its network read: the
    // shell then reports the error alone.
    let text = content_of(&chunks);
    assert!(text.is_empty() || text.starts_with("Hello"), "{text}");
    assert!(!chunks.iter().any(|c| str_of(c, "type") == "done"));
}

#[wasm_bindgen_test]
async fn a_model_that_is_not_pulled_is_model_not_found() {
    let id = seed("", false).await;
    let m = mark().await;
    let e = fails(
        send_chat(request(&id, "llama9:70b", "pull me")),
        "MODEL_NOT_FOUND",
    )
    .await;
    assert_eq!(get(&e, "status").as_f64(), Some(404.0));
    assert!(
        str_of(&e, "message").contains("model 'llama9:70b' not found"),
        "{}",
        str_of(&e, "message")
    );
    let (_, err) = drain(&stream_chat(request(&id, "llama9:70b", "pull me"))).await;
    assert_eq!(str_of(&err.expect("fails"), "code"), "MODEL_NOT_FOUND");
    // Not retried.
    let posts = log_since(m)
        .await
        .iter()
        .filter(|e| str_of(e, "method") == "POST" && stringify(&get(e, "body")).contains("pull me"))
        .count();
    assert_eq!(posts, 2);
}

#[wasm_bindgen_test]
async fn an_ollama_without_this_origin_allowed_is_cors_blocked() {
    let m = mark().await;
    // Keyless validation is a simple GET: refused by the origin check itself.
    let r = ok(validate_key_default(
        "ollama".into(),
        Some(String::new()),
        obj(&[("baseUrl", refusing_base().into())]),
    ))
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "CORS_BLOCKED", "{}", stringify(&r));
    let msg = str_of(&r, "error");
    assert!(msg.contains("OLLAMA_ORIGINS"), "{msg}");
    assert!(msg.contains("Ollama"), "{msg}");

    // A chat (JSON body: a preflight first) is refused at the preflight.
    let opts = obj(&[
        ("baseUrl", refusing_base().into()),
        ("validate", false.into()),
    ]);
    let added = ok(add_key_default("ollama".into(), String::new(), opts)).await;
    let id = str_of(&added, "id");
    let (_, err) = drain(&stream_chat(request(&id, "llama3.1:8b", "hello"))).await;
    let err = err.expect("blocked");
    assert_eq!(str_of(&err, "code"), "CORS_BLOCKED");
    assert!(str_of(&err, "message").contains("OLLAMA_ORIGINS"));
    assert_eq!(str_of(&err, "provider"), "ollama");
    let e = fails(
        send_chat(request(&id, "llama3.1:8b", "hello")),
        "CORS_BLOCKED",
    )
    .await;
    assert!(str_of(&e, "message").contains("OLLAMA_ORIGINS"));

    // The stand-in saw the refusals: 403 to the browser's origin, and no chat was served.
    let log: Vec<JsValue> = log_since(m)
        .await
        .into_iter()
        .filter(|e| str_of(e, "path").starts_with("/ollama/_refuse-origin/"))
        .collect();
    assert!(log.iter().any(|e| get(e, "status").as_f64() == Some(403.0)));
    assert!(!log
        .iter()
        .any(|e| str_of(e, "method") == "POST" && get(e, "status").as_f64() == Some(200.0)));
    // Not retried as if it were an outage: one preflight per call (the browser may cache none).
    let preflights = log
        .iter()
        .filter(|e| str_of(e, "method") == "OPTIONS")
        .count();
    assert!(preflights <= 2, "{preflights} preflights");
}
