//! The OpenAI-dialect family as the stand-in imitates it (tests/standin/providers/{xai,
//! mistral,lmstudio,vllm,llamacpp}.mjs): each server's error bodies map to the right code, and
//! Mistral gets tool call ids it takes.

use super::*;
use crate::core::catalog::Catalog;
use serde_json::{json, Value};

fn request(value: Value) -> ChatRequest {
    serde_json::from_value(value).unwrap()
}

fn mistral() -> Dialect {
    let c = Catalog::embedded().unwrap();
    dialect_for(c.provider("mistral").unwrap(), None)
}

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "mistral",
        base_url: "https://api.mistral.ai/v1",
        secret: "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    }
}

/// A conversation begun with OpenAI (its `call_…` ids), continued with a tool result.
fn foreign_history() -> ChatRequest {
    request(json!({
        "provider": "mistral", "model": "mistral-small-latest",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "toolCalls": [
                {"id": "call_abc123DEF456ghi789jkl0", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"id": "Wt8RhrvOa", "name": "get_weather", "arguments": "{\"city\":\"Lyon\"}"}
            ]},
            {"role": "tool", "toolCallId": "call_abc123DEF456ghi789jkl0", "content": "sunny"},
            {"role": "tool", "toolCallId": "Wt8RhrvOa", "content": "rainy"}
        ],
        "tools": [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    }))
}

#[test]
fn mistral_gets_nine_character_tool_call_ids_the_same_for_call_and_result() {
    let d = mistral();
    assert_eq!(d.tool_call_ids, ToolCallIds::NineAlphanumeric);
    let body: Value = serde_json::from_str(
        chat_request(&d, &ep(), &foreign_history(), true)
            .unwrap()
            .body
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    let calls = body["messages"][1]["tool_calls"].as_array().unwrap();
    let renamed = calls[0]["id"].as_str().unwrap();
    assert_eq!(renamed.len(), 9);
    assert!(
        renamed.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{renamed}"
    );
    assert_eq!(body["messages"][2]["tool_call_id"], json!(renamed));
    // Mistral's own ids go back as they came.
    assert_eq!(calls[1]["id"], json!("Wt8RhrvOa"));
    assert_eq!(body["messages"][3]["tool_call_id"], json!("Wt8RhrvOa"));
    // The same foreign id always becomes the same one (a later turn sends the history again).
    let again: Value = serde_json::from_str(
        chat_request(&d, &ep(), &foreign_history(), true)
            .unwrap()
            .body
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again["messages"][1]["tool_calls"][0]["id"], json!(renamed));
    assert_ne!(nine_alphanumeric("call_a"), nine_alphanumeric("call_b"));
}

#[test]
fn other_dialects_send_tool_call_ids_as_given() {
    let body: Value = serde_json::from_str(
        chat_request(&Dialect::default(), &ep(), &foreign_history(), true)
            .unwrap()
            .body
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["messages"][1]["tool_calls"][0]["id"],
        json!("call_abc123DEF456ghi789jkl0")
    );
    assert_eq!(
        body["messages"][2]["tool_call_id"],
        json!("call_abc123DEF456ghi789jkl0")
    );
}

#[test]
fn family_error_bodies_map_to_codes() {
    let table: Vec<(&str, u16, Value, ErrorCode)> = vec![
        (
            "xAI bad key",
            400,
            json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided: xa***00. You can obtain an API key from https://console.x.ai."}),
            ErrorCode::InvalidApiKey,
        ),
        (
            "xAI unknown model",
            404,
            json!({"code": "Some requested entity was not found", "error": "The model grok-9 does not exist or your team t does not have access to it. Please ensure you're using the correct API key."}),
            ErrorCode::ModelNotFound,
        ),
        (
            "xAI out of credits",
            403,
            json!({"code": "The caller does not have permission to execute the specified operation", "error": "Your team t has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit."}),
            ErrorCode::InsufficientQuota,
        ),
        (
            "Mistral bad key",
            401,
            json!({"detail": "Unauthorized"}),
            ErrorCode::InvalidApiKey,
        ),
        (
            "Mistral unknown model",
            400,
            json!({"object": "error", "message": "Invalid model: gpt-4o", "type": "invalid_model", "param": null, "code": "1500"}),
            ErrorCode::ModelNotFound,
        ),
        (
            "Mistral foreign tool call id",
            400,
            json!({"object": "error", "message": "Tool call id was call_x but must be a-z, A-Z, 0-9, with a length of 9.", "type": "invalid_function_call", "param": null, "code": "3280"}),
            ErrorCode::InvalidRequest,
        ),
        (
            "Mistral extra field",
            422,
            json!({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options", "include_usage"], "msg": "Extra inputs are not permitted", "input": true}]}, "type": "invalid_request_error", "param": null, "code": null}),
            ErrorCode::InvalidRequest,
        ),
        (
            "LM Studio unknown model",
            400,
            json!({"error": {"message": "Invalid model identifier \"x\". Please specify a valid downloaded model (e.g., a).", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}),
            ErrorCode::ModelNotFound,
        ),
        (
            "vLLM bad key",
            401,
            json!({"error": "Unauthorized"}),
            ErrorCode::InvalidApiKey,
        ),
        (
            "vLLM unknown model",
            404,
            json!({"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "param": null, "code": 404}}),
            ErrorCode::ModelNotFound,
        ),
        (
            "llama.cpp bad key",
            401,
            json!({"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}),
            ErrorCode::InvalidApiKey,
        ),
    ];
    for (name, status, body, code) in table {
        let e = map_error("Provider", "p", status, None, &body.to_string(), &[]);
        assert_eq!(e.code, code, "{name}: {}", e.message);
    }
}
