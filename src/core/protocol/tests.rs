//! Tests of the shared protocol types: the chunk shapes of `shared/API.md`, secret-free
//! `Debug`, URL joining and the error builder.

use super::*;
use serde_json::json;

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
    }
}

#[test]
fn chunks_serialize_exactly_as_the_api_names_them() {
    let table = [
        (
            Chunk::Content {
                delta: "Hé 🌍".into(),
            },
            json!({"type": "content", "delta": "Hé 🌍"}),
        ),
        (
            Chunk::ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments_delta: "{\"ci".into(),
            },
            json!({"type": "tool_call", "id": "call_1", "name": "get_weather", "argumentsDelta": "{\"ci"}),
        ),
        (
            Chunk::Usage {
                usage: usage(10, 5),
            },
            json!({"type": "usage", "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}}),
        ),
        (
            Chunk::Done {
                finish_reason: FinishReason::ToolCalls,
                usage: usage(1, 2),
                cost: None,
            },
            json!({
                "type": "done",
                "finishReason": "tool_calls",
                "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
                "cost": null
            }),
        ),
        (
            Chunk::Done {
                finish_reason: FinishReason::Stop,
                usage: usage(1000, 500),
                cost: Some(0.0075),
            },
            json!({
                "type": "done",
                "finishReason": "stop",
                "usage": {"inputTokens": 1000, "outputTokens": 500, "totalTokens": 1500},
                "cost": 0.0075
            }),
        ),
    ];
    for (chunk, want) in table {
        assert_eq!(serde_json::to_value(&chunk).unwrap(), want, "{chunk:?}");
    }
}

#[test]
fn finish_reasons_use_the_api_vocabulary() {
    let table = [
        (FinishReason::Stop, "stop"),
        (FinishReason::Length, "length"),
        (FinishReason::ToolCalls, "tool_calls"),
        (FinishReason::ContentFilter, "content_filter"),
        (FinishReason::Other, "other"),
    ];
    for (reason, name) in table {
        assert_eq!(serde_json::to_value(reason).unwrap(), json!(name));
    }
}

#[test]
fn debug_of_a_request_shows_header_names_only() {
    const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    let req = HttpRequest {
        method: Method::Post,
        url: "https://api.openai.com/v1/chat/completions".into(),
        headers: vec![
            (
                "authorization".into(),
                Zeroizing::new(format!("Bearer {KEY}")),
            ),
            (
                "content-type".into(),
                Zeroizing::new("application/json".into()),
            ),
        ],
        body: Some("{\"messages\":\"private prompt\"}".into()),
    };
    let shown = format!("{req:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains("abcdefgh"), "{shown}");
    assert!(!shown.contains("Bearer"), "{shown}");
    assert!(!shown.contains("private prompt"), "{shown}");
    assert!(shown.contains("authorization"), "{shown}");
    assert!(shown.contains("content-type"), "{shown}");
    assert!(shown.contains("body_bytes: Some(29)"), "{shown}");
    let alt = format!("{req:#?}");
    assert!(!alt.contains(KEY));

    let ep = Endpoint {
        provider: "openai",
        base_url: "https://api.openai.com/v1",
        secret: KEY,
    };
    assert!(!format!("{ep:?}").contains("abcdefgh"));
}

#[test]
fn urls_join_with_or_without_a_trailing_slash() {
    for base in [
        "https://api.openai.com/v1",
        "https://api.openai.com/v1/",
        "https://api.openai.com/v1//",
    ] {
        let ep = Endpoint {
            provider: "openai",
            base_url: base,
            secret: "",
        };
        assert_eq!(
            ep.url("/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
    }
    assert_eq!(Method::Get.as_str(), "GET");
    assert_eq!(Method::Post.as_str(), "POST");
}

#[test]
fn http_error_is_prefixed_redacted_one_line_and_bounded() {
    const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    let e = http_error(
        "OpenAI",
        "openai",
        429,
        Some(1_500),
        ErrorCode::RateLimited,
        &format!("Rate limit reached\n  for key {KEY}.\tTry again."),
        &[KEY],
    );
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.provider.as_deref(), Some("openai"));
    assert_eq!(e.status, Some(429));
    assert_eq!(e.retry_after_ms, Some(1_500));
    assert_eq!(
        e.message,
        // The redaction takes the full stop that ends the key with it.
        "OpenAI: Rate limit reached for key [REDACTED] Try again."
    );

    // A long explanation is cut to 300 characters, the ellipsis included.
    let long = "é".repeat(1_000);
    let e = http_error(
        "xAI",
        "xai",
        500,
        None,
        ErrorCode::ProviderUnavailable,
        &long,
        &[],
    );
    let detail = e.message.strip_prefix("xAI: ").unwrap();
    assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
    assert!(detail.ends_with('…'));
    assert_eq!(e.retry_after_ms, None);

    // Exactly 300 characters are kept whole.
    let exact = "a".repeat(MAX_DETAIL_CHARS);
    let e = provider_error("P", "p", ErrorCode::InvalidRequest, &exact, &[]);
    assert_eq!(e.message, format!("P: {exact}"));
    assert_eq!(e.status, None);

    // A key cut in half by the bound would escape recognition: redaction comes first.
    let padded = format!("{}{KEY}", "x ".repeat(140));
    let e = provider_error("P", "p", ErrorCode::InvalidRequest, &padded, &[KEY]);
    assert!(!e.message.contains("sk-proj-abc"), "{}", e.message);
}

#[test]
fn generic_details_exist_for_every_provider_code() {
    for code in [
        ErrorCode::InvalidApiKey,
        ErrorCode::RateLimited,
        ErrorCode::ModelNotFound,
        ErrorCode::InsufficientQuota,
        ErrorCode::NetworkError,
        ErrorCode::ProviderUnavailable,
        ErrorCode::InvalidRequest,
    ] {
        assert!(!generic_detail(code).is_empty());
    }
}
