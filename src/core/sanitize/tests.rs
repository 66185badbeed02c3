use super::*;
use crate::core::chat::Stop;

fn catalog() -> Catalog {
    Catalog::embedded().expect("embedded catalog parses")
}

fn request(json: serde_json::Value) -> ChatRequest {
    serde_json::from_value(json).expect("request decodes")
}

fn base() -> serde_json::Value {
    serde_json::json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{ "role": "system", "content": "Be brief." },
                     { "role": "user", "content": "Hello <b>there</b> & \"friends\"" }]
    })
}

fn code_of(json: serde_json::Value) -> ErrorCode {
    check_request(&catalog(), request(json)).unwrap_err().code
}

#[test]
fn a_plain_request_passes_untouched_and_unescaped() {
    let r = check_request(&catalog(), request(base())).unwrap();
    assert!(r.notes.is_empty());
    assert_eq!(
        r.request.messages[1].content.text(),
        "Hello <b>there</b> & \"friends\""
    );
}

#[test]
fn settings_are_clamped_with_notes() {
    let mut j = base();
    j["settings"] = serde_json::json!({ "temperature": 3.5, "topP": -1, "maxTokens": 1_000_000 });
    let r = check_request(&catalog(), request(j)).unwrap();
    assert_eq!(r.request.settings.temperature, Some(2.0));
    assert_eq!(r.request.settings.top_p, Some(0.0));
    assert_eq!(r.request.settings.max_tokens, Some(16384.0));
    assert_eq!(r.notes.len(), 3, "{:?}", r.notes);
    let mut j = base();
    j["settings"] = serde_json::json!({ "temperature": -0.5 });
    let r = check_request(&catalog(), request(j)).unwrap();
    assert_eq!(r.request.settings.temperature, Some(0.0));
}

#[test]
fn refusals() {
    let cases: Vec<(serde_json::Value, ErrorCode)> = vec![
        (
            serde_json::json!({"provider":"nope","model":"m","messages":[{"role":"user","content":"x"}]}),
            ErrorCode::UnsupportedProvider,
        ),
        (
            serde_json::json!({"provider":"openai","model":"","messages":[{"role":"user","content":"x"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt 4o","messages":[{"role":"user","content":"x"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":""}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"a\u{0}b"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"tool","content":"42"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x","toolCallId":"c1"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x","toolCalls":[{"id":"c","name":"f","arguments":"{}"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"assistant","content":"","toolCalls":[{"id":"c","name":"f","arguments":"[1]"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"settings":{"maxTokens":0}}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"settings":{"maxTokens":1.5}}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"settings":{"stop":[""]}}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"toolChoice":{"name":"f"}}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"tools":[{"name":"bad name","parameters":{"type":"object"}}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","parameters":{"type":"string"}}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"},{"name":"f"}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}],"toolChoice":{"name":"g"}}),
            ErrorCode::InvalidRequest,
        ),
        // GPT-3.5 Turbo takes no images.
        (
            serde_json::json!({"provider":"openai","model":"gpt-3.5-turbo","messages":[{"role":"user","content":[
            {"type":"image","url":"https://example.com/cat.png"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        // Images only from the user, only https or data URLs, only image types, real base64.
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"system","content":[
            {"type":"image","url":"https://example.com/cat.png"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"image","url":"http://example.com/cat.png"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"image","data":"iVBORw0KGgo=","mimeType":"text/html"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"image","data":"<script>","mimeType":"image/png"}]}]}),
            ErrorCode::InvalidRequest,
        ),
        (
            serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"image","data":"iVBORw0KGgo=","url":"https://e.com/a.png","mimeType":"image/png"}]}]}),
            ErrorCode::InvalidRequest,
        ),
    ];
    for (j, want) in cases {
        assert_eq!(code_of(j.clone()), want, "{j}");
    }
}

#[test]
fn tool_round_trip_and_vision_pass() {
    let j = serde_json::json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [
            { "role": "user", "content": [
                { "type": "text", "text": "What is in this image?" },
                { "type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png" } ] },
            { "role": "assistant", "content": "", "toolCalls": [
                { "id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } ] },
            { "role": "tool", "toolCallId": "call_1", "content": "{\"temp\":21}" }
        ],
        "tools": [{ "name": "get_weather", "description": "Weather by city",
                    "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }],
        "toolChoice": "auto",
        "settings": { "stop": "END" }
    });
    let r = check_request(&catalog(), request(j)).unwrap();
    assert_eq!(r.request.settings.stop, Some(Stop::One("END".into())));
}

#[test]
fn size_bounds() {
    let big = "a".repeat(MAX_MESSAGE_BYTES + 1);
    let j = serde_json::json!({"provider":"openai","model":"gpt-4o","messages":[{"role":"user","content": big}]});
    assert_eq!(code_of(j), ErrorCode::InvalidRequest);
    let msgs: Vec<_> = (0..=MAX_MESSAGES)
        .map(|_| serde_json::json!({"role":"user","content":"x"}))
        .collect();
    let j = serde_json::json!({"provider":"openai","model":"gpt-4o","messages": msgs});
    assert_eq!(code_of(j), ErrorCode::InvalidRequest);
}

#[test]
fn unknown_fields_are_refused_at_decode() {
    let mut j = base();
    j["settings"] = serde_json::json!({ "max_tokens": 10 });
    assert!(serde_json::from_value::<ChatRequest>(j).is_err());
    let mut j = base();
    j["signal"] = serde_json::json!({});
    assert!(serde_json::from_value::<ChatRequest>(j).is_ok());
}

#[test]
fn a_provider_without_function_calling_refuses_tools_and_tool_history() {
    // No provider of the catalog lacks function calling any more (xAI has it); the rule stays.
    let with_tools = request(serde_json::json!({
        "provider": "xai", "model": "grok-3", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "f", "parameters": {"type": "object"}}]
    }));
    assert_eq!(
        check_tools(&with_tools, false, "Nobody").unwrap_err().code,
        ErrorCode::InvalidRequest
    );
    assert!(check_tools(&with_tools, true, "xAI").is_ok());
    let history = request(serde_json::json!({
        "provider": "xai", "model": "grok-3", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "", "toolCalls": [{"id": "c", "name": "f", "arguments": "{}"}]},
            {"role": "tool", "toolCallId": "c", "content": "ok"}
        ]
    }));
    assert!(check_tools(&history, false, "Nobody").is_err());
    // And xAI itself now takes tools.
    assert!(check_request(&catalog(), with_tools).is_ok());
}
