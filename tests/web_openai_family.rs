//! The OpenAI-dialect family end to end through the JavaScript exports, in headless Chromium,
//! against the stand-in (tests/standin/providers/{xai,mistral,lmstudio,vllm,llamacpp}.mjs): for
//! xAI, Mistral, LM Studio, vLLM and an OpenAI-compatible server (llama.cpp's), streamed text
//! with awkward chunking, tool calls, usage and cost, good and bad keys, each service's own
//! error bodies mapped to codes, and what each sends over the wire — the dialect data of
//! `src/core/protocol/openai.rs` (`dialect_for`) proven against servers that refuse what the
//! real ones refuse. CORS: LM Studio with CORS off is `CORS_BLOCKED` with its advice.
#![cfg(target_arch = "wasm32")]

mod common;

use byok::api::chat::{collect_stream, embed_default, send_chat, stream_chat};
use byok::api::vault::{add_key_default, validate_key_default};
use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// xAI keys: `xai-` and 80 letters and digits (tests/standin/providers/xai.mjs).
fn xai_key(word: &str) -> String {
    let body = format!("standin{word}");
    format!("xai-{body}{}", "0".repeat(80 - body.len()))
}
const MISTRAL_KEY: &str = "standinMISTRALvalidKEY0000000000";
const VLLM_KEY: &str = "token-standinVLLMkey0000";
const LLAMA_KEY: &str = "sk-standinLLAMACPPkey0000";

fn base(path: &str) -> String {
    format!("{}/{path}", standin())
}

/// Adds a key for `provider` at `base_path` on the stand-in; returns its id.
async fn seed(provider: &str, key: &str, base_path: &str, validate: bool) -> String {
    let opts = obj(&[
        ("baseUrl", base(base_path).into()),
        ("validate", validate.into()),
    ]);
    let r = ok(add_key_default(provider.into(), key.into(), opts)).await;
    assert_eq!(
        get(&r, "valid").as_bool(),
        Some(true),
        "{provider}: {}",
        stringify(&r)
    );
    str_of(&r, "id")
}

/// validateKey at `base_path`; returns the result object.
async fn validate(provider: &str, key: &str, base_path: &str) -> JsValue {
    ok(validate_key_default(
        provider.into(),
        Some(key.into()),
        obj(&[("baseUrl", base(base_path).into())]),
    ))
    .await
}

fn request(provider: &str, key_id: &str, model: &str, prompt: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"{provider}","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{prompt}"}}]}}"#
    ))
}

fn tool_request(provider: &str, key_id: &str, model: &str) -> JsValue {
    json(&format!(
        r#"{{"provider":"{provider}","model":"{model}","keyId":"{key_id}",
            "messages":[{{"role":"user","content":"Weather in Paris?"}}],
            "tools":[{{"name":"get_weather","description":"Weather by city",
                       "parameters":{{"type":"object","properties":{{"city":{{"type":"string"}}}},"required":["city"]}}}}],
            "toolChoice":"required"}}"#
    ))
}

/// Streams `req` to the end and checks the common shape: text with the prompt, a usage chunk,
/// a done chunk whose usage adds up. Returns (done chunk, input tokens, output tokens).
async fn stream_text(req: JsValue, prompt: &str) -> (JsValue, f64, f64) {
    let (chunks, err) = drain(&stream_chat(req)).await;
    assert!(
        err.is_none(),
        "{:?}",
        err.map(|e| format!("{} {}", str_of(&e, "code"), str_of(&e, "message")))
    );
    let text = content_of(&chunks);
    assert!(text.contains("stand-in (héllo — 🌍)"), "{text}");
    assert!(text.contains(prompt), "{text}");
    assert!(
        chunks.iter().any(|c| str_of(c, "type") == "usage"),
        "no usage chunk"
    );
    let done = chunks.last().expect("chunks").clone();
    assert_eq!(str_of(&done, "type"), "done");
    assert_eq!(str_of(&done, "finishReason"), "stop");
    let usage = get(&done, "usage");
    let input = get(&usage, "inputTokens").as_f64().unwrap_or(0.0);
    let output = get(&usage, "outputTokens").as_f64().unwrap_or(0.0);
    assert!(input > 0.0 && output > 0.0, "{}", stringify(&usage));
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(input + output));
    (done, input, output)
}

/// collectStream of a tool request: one call to get_weather with JSON arguments, and the
/// argument deltas of its tool_call chunks concatenate to them.
async fn collect_tool_call(req: JsValue) {
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
    assert_eq!(
        str_of(&r, "finishReason"),
        "tool_calls",
        "{}",
        stringify(&r)
    );
    let calls = Array::from(&get(&r, "toolCalls"));
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(str_of(&call, "name"), "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(&str_of(&call, "arguments")).expect("JSON arguments");
    assert_eq!(args["city"], "city value");
    let deltas: String = seen
        .iter()
        .filter(|c| str_of(c, "type") == "tool_call")
        .map(|c| str_of(&c, "argumentsDelta"))
        .collect();
    assert_eq!(deltas, str_of(&call, "arguments"));
    assert!(
        get(&get(&r, "usage"), "inputTokens")
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
}

async fn mark(provider: &str) -> f64 {
    get(
        &control(&format!("/__standin/log?provider={provider}"), None).await,
        "last",
    )
    .as_f64()
    .unwrap_or(0.0)
}

async fn log_since(provider: &str, since: f64) -> Vec<JsValue> {
    let v = control(
        &format!("/__standin/log?provider={provider}&since={since}"),
        None,
    )
    .await;
    Array::from(&get(&v, "entries")).iter().collect()
}

fn header_names(entry: &JsValue) -> Vec<String> {
    Array::from(&get(entry, "headerNames"))
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

fn posts(log: &[JsValue]) -> Vec<JsValue> {
    log.iter()
        .filter(|e| str_of(e, "method") == "POST")
        .cloned()
        .collect()
}

/// No preflight of these calls was refused by the stand-in's CORS rules.
fn preflights_allowed(log: &[JsValue]) {
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

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-12, "{actual} vs {expected}");
}

// ---------------------------------------------------------------------------------------------
// xAI

#[wasm_bindgen_test]
async fn xai_streams_reasoning_usage_and_cost_with_stream_options() {
    let id = seed("xai", &xai_key("VALIDkey"), "xai/v1", true).await;
    let m = mark("xai").await;
    let (done, input, output) =
        stream_text(request("xai", &id, "grok-3-mini", "héllo xai"), "héllo xai").await;
    // grok-3-mini's reasoning is counted beside the answer: the output holds it.
    let cost = get(&done, "cost")
        .as_f64()
        .expect("grok-3-mini has a price");
    assert_close(cost, (input * 0.3 + output * 0.5) / 1e6);
    let log = log_since("xai", m).await;
    let post = posts(&log).pop().expect("the chat request");
    let body = get(&post, "body");
    // xAI takes stream_options: usage comes only when asked.
    assert_eq!(
        get(&get(&body, "stream_options"), "include_usage").as_bool(),
        Some(true)
    );
    assert!(header_names(&post).contains(&"authorization".to_owned()));
    preflights_allowed(&log);
}

#[wasm_bindgen_test]
async fn xai_calls_tools_whole_in_one_chunk() {
    let id = seed("xai", &xai_key("VALIDkey"), "xai/v1", false).await;
    collect_tool_call(tool_request("xai", &id, "grok-3")).await;
}

#[wasm_bindgen_test]
async fn xai_bad_keys_unknown_models_and_empty_balances_map_to_codes() {
    // A bad key is 400 at xAI, with its masked echo: INVALID_API_KEY, the key not quoted.
    let r = validate("xai", &xai_key("NOTKNOWNkey"), "xai/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY", "{}", stringify(&r));
    assert!(!str_of(&r, "error").contains("NOTKNOWN"));
    let r = validate("xai", &xai_key("VALIDkey"), "xai/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.contains(&"grok-3-mini".to_owned()), "{models:?}");

    let id = seed("xai", &xai_key("VALIDkey"), "xai/v1", false).await;
    let m = mark("xai").await;
    let e = fails(
        send_chat(request("xai", &id, "grok-9", "x")),
        "MODEL_NOT_FOUND",
    )
    .await;
    assert_eq!(str_of(&e, "provider"), "xai");
    // A team out of credits is 403 at xAI: INSUFFICIENT_QUOTA, not a bad key, never retried.
    let id = seed("xai", &xai_key("quotaKEY"), "xai/v1", false).await;
    fails(
        send_chat(request("xai", &id, "grok-3", "x")),
        "INSUFFICIENT_QUOTA",
    )
    .await;
    assert_eq!(posts(&log_since("xai", m).await).len(), 2, "retried");
}

// ---------------------------------------------------------------------------------------------
// Mistral

#[wasm_bindgen_test]
async fn mistral_streams_usage_unasked_and_never_sends_what_it_refuses() {
    let id = seed("mistral", MISTRAL_KEY, "mistral/v1", true).await;
    let m = mark("mistral").await;
    let req = json(&format!(
        r#"{{"provider":"mistral","model":"mistral-small-latest","keyId":"{id}",
            "settings":{{"temperature":0.4,"topP":0.9,"maxTokens":400,"stop":["zzz"]}},
            "messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"bonjour mistral"}}]}}"#
    ));
    // Every setting byok can send, streamed: a 422 here would be a field Mistral lacks.
    let (done, input, output) = stream_text(req, "bonjour mistral").await;
    let cost = get(&done, "cost")
        .as_f64()
        .expect("mistral-small-latest has a price");
    assert_close(cost, (input * 0.2 + output * 0.6) / 1e6);
    let log = log_since("mistral", m).await;
    let post = posts(&log).pop().expect("the chat request");
    assert_eq!(get(&post, "status").as_f64(), Some(200.0));
    let body = get(&post, "body");
    assert!(
        get(&body, "stream_options").is_undefined(),
        "{}",
        stringify(&body)
    );
    // Mistral's preflight allows a fixed list of headers: byok asked only for those.
    preflights_allowed(&log);
}

#[wasm_bindgen_test]
async fn mistral_calls_tools_and_takes_back_a_foreign_conversation() {
    let id = seed("mistral", MISTRAL_KEY, "mistral/v1", false).await;
    collect_tool_call(tool_request("mistral", &id, "mistral-large-latest")).await;
    // A conversation begun with another provider: its `call_…` ids would be refused (400 `Tool
    // call id was … but must be a-z, A-Z, 0-9, with a length of 9`); byok renames them.
    let m = mark("mistral").await;
    let req = json(&format!(
        r#"{{"provider":"mistral","model":"mistral-large-latest","keyId":"{id}",
            "tools":[{{"name":"get_weather","parameters":{{"type":"object","properties":{{"city":{{"type":"string"}}}}}}}}],
            "messages":[{{"role":"user","content":"Weather in Paris?"}},
                        {{"role":"assistant","content":"","toolCalls":[{{"id":"call_Ab12Cd34Ef56Gh78Ij90Kl12","name":"get_weather","arguments":"{{\"city\":\"Paris\"}}"}}]}},
                        {{"role":"tool","toolCallId":"call_Ab12Cd34Ef56Gh78Ij90Kl12","content":"sunny"}}]}}"#
    ));
    let r = ok(send_chat(req)).await;
    assert!(str_of(&r, "content").contains("The tool said: sunny"));
    let post = posts(&log_since("mistral", m).await).pop().expect("a POST");
    let body: serde_json::Value =
        serde_json::from_str(&stringify(&get(&post, "body"))).expect("JSON body");
    let sent = body["messages"][1]["tool_calls"][0]["id"]
        .as_str()
        .expect("an id");
    assert_eq!(sent.len(), 9);
    assert_eq!(body["messages"][2]["tool_call_id"], sent);
}

#[wasm_bindgen_test]
async fn mistral_bad_keys_and_unknown_models_map_to_codes_and_embeddings_cost() {
    let r = validate("mistral", "standinNOTKNOWNkey00000000000000", "mistral/v1").await;
    assert_eq!(str_of(&r, "code"), "INVALID_API_KEY", "{}", stringify(&r));
    let id = seed("mistral", MISTRAL_KEY, "mistral/v1", false).await;
    // `Invalid model` is a 400 `invalid_model` at Mistral.
    fails(
        send_chat(request("mistral", &id, "mistral-gigantic", "x")),
        "MODEL_NOT_FOUND",
    )
    .await;
    let e = ok(embed_default(json(&format!(
        r#"{{"provider":"mistral","model":"mistral-embed","keyId":"{id}","input":["one","two"]}}"#
    ))))
    .await;
    assert_eq!(Array::from(&get(&e, "embeddings")).length(), 2);
    let input = get(&get(&e, "usage"), "inputTokens")
        .as_f64()
        .unwrap_or(0.0);
    assert!(input > 0.0);
    assert_close(get(&e, "cost").as_f64().expect("priced"), input * 0.1 / 1e6);
}

// ---------------------------------------------------------------------------------------------
// LM Studio

#[wasm_bindgen_test]
async fn lmstudio_keyless_streams_tools_and_costs_nothing() {
    let m = mark("lmstudio").await;
    let r = validate("lmstudio", "", "lmstudio/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert!(models.contains(&"meta-llama-3.1-8b-instruct".to_owned()));
    // LM Studio takes any key: one typed anyway is as good as none.
    let r = validate("lmstudio", "lm-studio", "lmstudio/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));

    let id = seed("lmstudio", "", "lmstudio/v1", true).await;
    let (done, _, _) = stream_text(
        request("lmstudio", &id, "meta-llama-3.1-8b-instruct", "local hello"),
        "local hello",
    )
    .await;
    assert_eq!(get(&done, "cost").as_f64(), Some(0.0));
    collect_tool_call(tool_request("lmstudio", &id, "meta-llama-3.1-8b-instruct")).await;
    let log = log_since("lmstudio", m).await;
    for e in posts(&log).iter().chain(
        log.iter()
            .filter(|e| str_of(e, "method") == "GET")
            .collect::<Vec<_>>()
            .into_iter()
            .take(1),
    ) {
        assert!(
            !header_names(e).contains(&"authorization".to_owned()),
            "a keyless call sent authorization"
        );
    }
}

#[wasm_bindgen_test]
async fn lmstudio_errors_map_to_codes() {
    let id = seed("lmstudio", "", "lmstudio/v1", false).await;
    // `Invalid model identifier` is a 400 with code model_not_found.
    fails(
        send_chat(request("lmstudio", &id, "gpt-4o", "x")),
        "MODEL_NOT_FOUND",
    )
    .await;
    // A stream cut short (a key's behaviour word) is a network error.
    let id = seed("lmstudio", "truncate3", "lmstudio/v1", false).await;
    let (_, err) = drain(&stream_chat(request(
        "lmstudio",
        &id,
        "meta-llama-3.1-8b-instruct",
        "cut",
    )))
    .await;
    assert_eq!(str_of(&err.expect("fails"), "code"), "NETWORK_ERROR");
}

#[wasm_bindgen_test]
async fn lmstudio_with_cors_off_is_cors_blocked_with_its_advice() {
    let m = mark("lmstudio").await;
    let r = validate("lmstudio", "", "lmstudio/_cors-off/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(false));
    assert_eq!(str_of(&r, "code"), "CORS_BLOCKED", "{}", stringify(&r));
    let msg = str_of(&r, "error");
    assert!(
        msg.contains("LM Studio") && msg.contains("Enable CORS"),
        "{msg}"
    );

    let id = seed("lmstudio", "", "lmstudio/_cors-off/v1", false).await;
    let (_, err) = drain(&stream_chat(request(
        "lmstudio",
        &id,
        "meta-llama-3.1-8b-instruct",
        "blocked",
    )))
    .await;
    let err = err.expect("blocked");
    assert_eq!(str_of(&err, "code"), "CORS_BLOCKED");
    assert_eq!(str_of(&err, "provider"), "lmstudio");
    // The server saw the calls but no chat was answered to the page.
    let log = log_since("lmstudio", m).await;
    assert!(log
        .iter()
        .all(|e| str_of(e, "path").starts_with("/lmstudio/_cors-off/")));
    assert!(!log
        .iter()
        .any(|e| str_of(e, "method") == "POST" && get(e, "status").as_f64() == Some(200.0)));
}

// ---------------------------------------------------------------------------------------------
// vLLM

#[wasm_bindgen_test]
async fn vllm_without_a_key_streams_tools_and_usage() {
    let r = validate("vllm", "", "vllm/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let id = seed("vllm", "", "vllm/v1", false).await;
    let (done, _, _) = stream_text(
        request(
            "vllm",
            &id,
            "meta-llama/Llama-3.1-8B-Instruct",
            "vllm hello",
        ),
        "vllm hello",
    )
    .await;
    assert_eq!(get(&done, "cost").as_f64(), Some(0.0));
    collect_tool_call(tool_request(
        "vllm",
        &id,
        "meta-llama/Llama-3.1-8B-Instruct",
    ))
    .await;
}

#[wasm_bindgen_test]
async fn vllm_with_api_key_checks_it_and_errors_map_to_codes() {
    let m = mark("vllm").await;
    let good = validate("vllm", VLLM_KEY, "vllm/_api-key/v1").await;
    assert_eq!(
        get(&good, "valid").as_bool(),
        Some(true),
        "{}",
        stringify(&good)
    );
    let models: Vec<String> = Array::from(&get(&good, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert_eq!(models, ["meta-llama/Llama-3.1-8B-Instruct"]);
    // 401 {"error":"Unauthorized"}: a wrong key, and no key at all.
    for key in ["token-wrong", ""] {
        let r = validate("vllm", key, "vllm/_api-key/v1").await;
        assert_eq!(
            str_of(&r, "code"),
            "INVALID_API_KEY",
            "{key:?}: {}",
            stringify(&r)
        );
    }
    // The preflight is exempt from the key check and echoes the requested headers.
    preflights_allowed(&log_since("vllm", m).await);

    let id = seed("vllm", VLLM_KEY, "vllm/_api-key/v1", false).await;
    fails(
        send_chat(request("vllm", &id, "gpt-4o", "x")),
        "MODEL_NOT_FOUND",
    )
    .await;
    // 500 then 503 before the first byte: retried, then served.
    let id = seed("vllm", "token-flaky2-a", "vllm/_api-key/v1", false).await;
    let m = mark("vllm").await;
    let r = ok(send_chat(request(
        "vllm",
        &id,
        "meta-llama/Llama-3.1-8B-Instruct",
        "again",
    )))
    .await;
    assert!(str_of(&r, "content").contains("again"));
    assert_eq!(posts(&log_since("vllm", m).await).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// An OpenAI-compatible server: llama.cpp's

#[wasm_bindgen_test]
async fn llamacpp_keyless_streams_usage_past_its_timings_extra() {
    let r = validate("openai-compatible", "", "llamacpp/v1").await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let models: Vec<String> = Array::from(&get(&r, "models"))
        .iter()
        .filter_map(|m| m.as_string())
        .collect();
    assert_eq!(models, ["llama-3.1-8b-instruct"]);
    let id = seed("openai-compatible", "", "llamacpp/v1", false).await;
    let m = mark("llamacpp").await;
    let (done, _, _) = stream_text(
        request(
            "openai-compatible",
            &id,
            "llama-3.1-8b-instruct",
            "cpp hello",
        ),
        "cpp hello",
    )
    .await;
    assert_eq!(get(&done, "cost").as_f64(), Some(0.0));
    let log = log_since("llamacpp", m).await;
    let post = posts(&log).pop().expect("a POST");
    assert!(!header_names(&post).contains(&"authorization".to_owned()));
    assert_eq!(
        get(&get(&get(&post, "body"), "stream_options"), "include_usage").as_bool(),
        Some(true)
    );
    collect_tool_call(tool_request(
        "openai-compatible",
        &id,
        "llama-3.1-8b-instruct",
    ))
    .await;
}

#[wasm_bindgen_test]
async fn llamacpp_with_api_key_checks_it_on_chat_only() {
    // /v1/models is public even with --api-key: any key validates; the chat checks it.
    let m = mark("llamacpp").await;
    let r = validate(
        "openai-compatible",
        "sk-wrong-key-0000",
        "llamacpp/_api-key/v1",
    )
    .await;
    assert_eq!(get(&r, "valid").as_bool(), Some(true), "{}", stringify(&r));
    let bad = seed(
        "openai-compatible",
        "sk-wrong-key-0000",
        "llamacpp/_api-key/v1",
        false,
    )
    .await;
    let e = fails(
        send_chat(request(
            "openai-compatible",
            &bad,
            "llama-3.1-8b-instruct",
            "x",
        )),
        "INVALID_API_KEY",
    )
    .await;
    assert!(!str_of(&e, "message").contains("wrong-key"));
    let good = seed(
        "openai-compatible",
        LLAMA_KEY,
        "llamacpp/_api-key/v1",
        false,
    )
    .await;
    let r = ok(send_chat(request(
        "openai-compatible",
        &good,
        "llama-3.1-8b-instruct",
        "keyed",
    )))
    .await;
    assert!(str_of(&r, "content").contains("keyed"));
    // llama.cpp's preflight allows `*`, which by the Fetch standard never covers Authorization
    // (the stand-in's verdict says so); this Chromium lets it through all the same.
    let log = log_since("llamacpp", m).await;
    let refused: Vec<String> = log
        .iter()
        .filter(|e| str_of(e, "method") == "OPTIONS")
        .flat_map(|e| {
            Array::from(&get(&get(e, "cors"), "disallowedHeaders"))
                .iter()
                .filter_map(|h| h.as_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(refused.iter().all(|h| h == "authorization"), "{refused:?}");
}
