//! Tests of the Bedrock dialect: request bodies, URLs and auth; every recorded Converse stream
//! re-framed as event-stream frames and decoded in every chunking; exception frames, corrupted
//! and cut-off streams; error mapping; whole answers and model lists.

use super::*;
use crate::core::chat::{Message, Settings, Tool};
use crate::core::collect::Collector;
use crate::core::eventstream::tests::{encode, event};
use crate::core::eventstream::HeaderValue;
use base64::Engine;
use serde_json::{json, Value};

const CREDS: &str = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const BEARER: &str = "ABSKQmVkcm9ja0FQSUtleS1zdGFuZGluLWV4YW1wbGUtMDAwMDAwMDAwMDAw";
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn ep(secret: &'static str) -> Endpoint<'static> {
    Endpoint {
        provider: "bedrock",
        base_url: "https://bedrock-runtime.us-east-1.amazonaws.com",
        secret,
    }
}

fn msg(role: Role, text: &str) -> Message {
    Message {
        role,
        content: Content::Text(text.into()),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        provider: "bedrock".into(),
        model: MODEL.into(),
        messages,
        settings: Settings::default(),
        tools: Vec::new(),
        tool_choice: None,
        key_id: None,
        max_wait_ms: None,
        signal: None,
    }
}

fn body_of(req: &HttpRequest) -> Value {
    serde_json::from_str(req.body.as_deref().unwrap()).unwrap()
}

fn header_names(req: &HttpRequest) -> Vec<&str> {
    req.headers.iter().map(|(n, _)| n.as_str()).collect()
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Weather by city".into()),
        parameters: json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_chat_body_url_and_headers() {
    let mut req = request(vec![
        msg(Role::System, "Be brief."),
        msg(Role::User, "Hello?"),
        msg(Role::System, "And polite."),
    ]);
    req.settings = Settings {
        temperature: Some(0.5),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::Many(vec!["END".into(), "STOP".into()])),
    };
    let http = chat_request(&ep(CREDS), &req, true).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(
        http.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    // Credentials: no auth header here, the shell signs.
    assert_eq!(header_names(&http), ["content-type"]);
    assert_eq!(
        body_of(&http),
        json!({
            "messages": [{"role": "user", "content": [{"text": "Hello?"}]}],
            "system": [{"text": "Be brief."}, {"text": "And polite."}],
            "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END", "STOP"]}
        })
    );
    // Converse's temperature stops at 1.
    req.settings.temperature = Some(1.7);
    let capped = body_of(&chat_request(&ep(CREDS), &req, true).unwrap());
    assert_eq!(capped["inferenceConfig"]["temperature"], json!(1.0));
    let whole = chat_request(&ep(CREDS), &req, false).unwrap();
    assert!(whole
        .url
        .ends_with("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"));
    for r in [&http, &whole] {
        let all = format!("{r:?}{}{}", r.url, r.body.as_deref().unwrap());
        assert!(
            !all.contains("K7MDENG") && !all.contains("AKIAIOSFODNN7"),
            "{all}"
        );
    }
}

#[test]
fn absent_settings_are_omitted_and_ids_are_encoded_as_one_segment() {
    let mut req = request(vec![msg(Role::User, "Hi")]);
    req.model = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x".into();
    let http = chat_request(&ep(CREDS), &req, false).unwrap();
    assert_eq!(
        body_of(&http),
        json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
    );
    assert!(http.url.ends_with(
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.x/converse"
    ));
    assert_eq!(
        model_path("a b/c:d", "converse"),
        "/model/a%20b%2Fc%3Ad/converse"
    );
}

#[test]
fn api_keys_are_bearer_tokens_and_credentials_are_checked_first() {
    let http = chat_request(&ep(BEARER), &request(vec![msg(Role::User, "Hi")]), true).unwrap();
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        http.headers.first().map(|(_, v)| v.as_str().to_owned()),
        Some(format!("Bearer {BEARER}"))
    );
    assert!(is_bearer(BEARER) && !needs_signing(BEARER));
    assert!(!is_bearer(CREDS) && needs_signing(CREDS));
    assert!(is_bearer("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"));

    for bad in [
        "AKIAIOSFODNN7EXAMPLE:",
        "short:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ASIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "",
        "   ",
    ] {
        let e =
            chat_request(&ep_with(bad), &request(vec![msg(Role::User, "Hi")]), true).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidApiKey, "{bad:?}");
        assert_eq!(e.provider.as_deref(), Some("bedrock"));
        assert!(!e.message.contains("K7MDENG"));
        assert!(models_request(&ep_with(bad)).is_err());
    }
}

fn ep_with(secret: &str) -> Endpoint<'_> {
    Endpoint {
        provider: "bedrock",
        base_url: "https://bedrock-runtime.us-east-1.amazonaws.com",
        secret,
    }
}

#[test]
fn tool_conversations_become_tool_use_and_tool_result_blocks() {
    let mut req = request(vec![
        msg(Role::User, "Weather in Paris and Rome?"),
        Message {
            role: Role::Assistant,
            content: Content::Text("Let me check.".into()),
            tool_calls: vec![
                ToolCall {
                    id: "tooluse_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
                ToolCall {
                    id: "tooluse_2".into(),
                    name: "get_weather".into(),
                    arguments: String::new(),
                },
            ],
            tool_call_id: None,
        },
        Message {
            role: Role::Tool,
            content: Content::Text("18°C".into()),
            tool_calls: Vec::new(),
            tool_call_id: Some("tooluse_1".into()),
        },
        Message {
            role: Role::Tool,
            content: Content::Text("21°C".into()),
            tool_calls: Vec::new(),
            tool_call_id: Some("tooluse_2".into()),
        },
        msg(Role::User, "Thanks!"),
    ]);
    req.tools = vec![weather_tool()];
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::Auto));
    let body = body_of(&chat_request(&ep(CREDS), &req, true).unwrap());
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18°C"}]}},
                {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "21°C"}]}},
                {"text": "Thanks!"}
            ]}
        ])
    );
    assert_eq!(
        body["toolConfig"],
        json!({
            "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather by city",
                "inputSchema": {"json": {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}],
            "toolChoice": {"auto": {}}
        })
    );

    for (choice, want) in [
        (ToolChoice::Mode(ToolMode::Required), json!({"any": {}})),
        (
            ToolChoice::Named {
                name: "get_weather".into(),
            },
            json!({"tool": {"name": "get_weather"}}),
        ),
    ] {
        req.tool_choice = Some(choice);
        let body = body_of(&chat_request(&ep(CREDS), &req, true).unwrap());
        assert_eq!(body["toolConfig"]["toolChoice"], want);
    }
    // 'none' with tool blocks in the history: the tools stay (Bedrock requires them), unforced.
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::None));
    let body = body_of(&chat_request(&ep(CREDS), &req, true).unwrap());
    assert!(body["toolConfig"]["tools"].is_array());
    assert!(body["toolConfig"].get("toolChoice").is_none());
    // 'none' in a fresh conversation: no tools at all.
    let mut fresh = request(vec![msg(Role::User, "Hi")]);
    fresh.tools = vec![Tool {
        description: Some("  ".into()),
        ..weather_tool()
    }];
    fresh.tool_choice = Some(ToolChoice::Mode(ToolMode::None));
    assert!(body_of(&chat_request(&ep(CREDS), &fresh, true).unwrap())
        .get("toolConfig")
        .is_none());
    // No choice given: auto; a blank description is left out.
    fresh.tool_choice = None;
    let body = body_of(&chat_request(&ep(CREDS), &fresh, true).unwrap());
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"auto": {}}));
    assert!(body["toolConfig"]["tools"][0]["toolSpec"]
        .get("description")
        .is_none());
}

#[test]
fn malformed_tool_messages_are_invalid_requests() {
    let mut no_id = request(vec![msg(Role::User, "x"), msg(Role::Tool, "result")]);
    let e = chat_request(&ep(CREDS), &no_id, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("messages[1]"), "{}", e.message);
    no_id.messages[1] = Message {
        role: Role::Assistant,
        content: Content::Text(String::new()),
        tool_calls: vec![ToolCall {
            id: "t".into(),
            name: "f".into(),
            arguments: "{not json".into(),
        }],
        tool_call_id: None,
    };
    let e = chat_request(&ep(CREDS), &no_id, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("not JSON"));
}

#[test]
fn empty_messages_are_dropped_and_same_roles_merged() {
    let req = request(vec![
        msg(Role::User, "one"),
        msg(Role::Assistant, ""),
        msg(Role::User, "two"),
        msg(Role::User, "  "),
        msg(Role::Assistant, "three"),
        msg(Role::Assistant, "four"),
        msg(Role::System, " "),
    ]);
    let body = body_of(&chat_request(&ep(CREDS), &req, true).unwrap());
    assert_eq!(
        body,
        json!({"messages": [
            {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
            {"role": "assistant", "content": [{"text": "three"}, {"text": "four"}]}
        ]})
    );
}

#[test]
fn images_are_inline_blocks() {
    let image = |data: Option<&str>, url: Option<&str>, mime: Option<&str>| Message {
        role: Role::User,
        content: Content::Parts(vec![
            ContentPart::Text {
                text: "What is this?".into(),
            },
            ContentPart::Image {
                data: data.map(Into::into),
                url: url.map(Into::into),
                mime_type: mime.map(Into::into),
            },
        ]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    };
    for (m, format) in [
        (image(Some("iVBORw0KGgo="), None, Some("image/png")), "png"),
        (
            image(Some("data:image/jpeg;base64,iVBORw0KGgo="), None, None),
            "jpeg",
        ),
        (
            image(None, Some("data:image/webp;base64,iVBORw0KGgo="), None),
            "webp",
        ),
        (image(Some("iVBORw0KGgo="), None, Some("IMAGE/GIF")), "gif"),
    ] {
        let body = body_of(&chat_request(&ep(CREDS), &request(vec![m]), true).unwrap());
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"text": "What is this?"},
                {"image": {"format": format, "source": {"bytes": "iVBORw0KGgo="}}}
            ])
        );
    }
    for (m, words) in [
        (
            image(None, Some("https://example.com/cat.png"), None),
            "inline",
        ),
        (image(Some("iVBORw0KGgo="), None, None), "mimeType"),
        (
            image(Some("iVBORw0KGgo="), None, Some("image/bmp")),
            "png, jpeg",
        ),
        (image(Some("data:image/png,rawbytes"), None, None), "base64"),
        (image(None, None, None), "data or url"),
    ] {
        let e = chat_request(&ep(CREDS), &request(vec![m]), true).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains(words), "{}", e.message);
    }
}

#[test]
fn model_lists_come_from_the_control_plane() {
    for (base, want) in [
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            "https://bedrock.us-east-1.amazonaws.com/foundation-models?byOutputModality=TEXT",
        ),
        (
            "https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/",
            "https://bedrock-fips.us-gov-west-1.amazonaws.com/foundation-models?byOutputModality=TEXT",
        ),
        (
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn",
            "https://bedrock.cn-north-1.amazonaws.com.cn/foundation-models?byOutputModality=TEXT",
        ),
        (
            "http://127.0.0.1:18787/bedrock",
            "http://127.0.0.1:18787/bedrock/foundation-models?byOutputModality=TEXT",
        ),
        (
            "https://bedrock-runtime.example.com",
            "https://bedrock-runtime.example.com/foundation-models?byOutputModality=TEXT",
        ),
    ] {
        let e = Endpoint {
            provider: "bedrock",
            base_url: base,
            secret: CREDS,
        };
        let http = models_request(&e).unwrap();
        assert_eq!(http.url, want);
        assert_eq!(http.method, Method::Get);
        assert!(http.headers.is_empty());
        assert!(http.body.is_none());
    }
    let http = models_request(&ep(BEARER)).unwrap();
    assert_eq!(header_names(&http), ["authorization"]);
}

#[test]
fn regions_for_signing() {
    assert_eq!(
        region_for_url("https://bedrock-runtime.eu-west-3.amazonaws.com/model/x/converse"),
        "eu-west-3"
    );
    assert_eq!(
        region_for_url("https://bedrock.ap-northeast-1.amazonaws.com/foundation-models"),
        "ap-northeast-1"
    );
    assert_eq!(
        region_for_url("http://127.0.0.1:18787/bedrock/model/x"),
        "us-east-1"
    );
    assert_eq!(region_for_url("garbage"), "us-east-1");
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Re-frames a `*.payloads.jsonl` fixture as Bedrock sends it: one frame per line, named by
/// the line's single key, the payload the value (with AWS's `p` padding field added).
fn frames_of(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let (kind, inner) = v.as_object().unwrap().iter().next().unwrap();
        let mut inner = inner.clone();
        inner["p"] = json!("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ");
        out.extend(event(kind, &inner.to_string()));
    }
    out
}

const TEXT: &str =
    include_str!("../../../../tests/fixtures/bedrock-converse-stream.text.payloads.jsonl");
const TOOL: &str =
    include_str!("../../../../tests/fixtures/bedrock-converse-stream.tool-call.payloads.jsonl");
const TOOL_NO_ARGS: &str =
    include_str!("../../../../tests/fixtures/bedrock-converse-stream.tool-no-args.payloads.jsonl");

fn live() -> Vec<u8> {
    let v: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/bedrock-converse-stream.live.eventstream.json"
    ))
    .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(v["response"]["bodyBase64"].as_str().unwrap())
        .unwrap()
}

fn decoder(secret: &'static str) -> BedrockStream {
    BedrockStream::new("Amazon Bedrock", &ep(secret))
}

/// Feeds `bytes` cut at `cuts`, then finishes; the chunks and the first error.
fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<Chunk>, Option<ByokError>, Usage) {
    let mut d = decoder(CREDS);
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        if let Err(e) = d.feed(&bytes[at..cut], &mut out) {
            return (out, Some(e), d.usage());
        }
        at = cut;
    }
    let err = d.finish(&mut out).err();
    (out, err, d.usage())
}

/// Every chunking gives the same chunks: whole, byte by byte, in pieces of 1 to 23 bytes, and
/// cut at every single position.
fn same_in_every_chunking(bytes: &[u8]) -> Vec<Chunk> {
    let (whole, err, _) = run(bytes, &[]);
    assert!(err.is_none(), "{err:?}");
    let bytewise: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(run(bytes, &bytewise).0, whole, "byte by byte");
    for size in 1..24 {
        let cuts: Vec<usize> = (size..bytes.len()).step_by(size).collect();
        let (got, err, _) = run(bytes, &cuts);
        assert!(err.is_none());
        assert_eq!(got, whole, "pieces of {size}");
    }
    for cut in 0..=bytes.len() {
        assert_eq!(run(bytes, &[cut]).0, whole, "cut at {cut}");
    }
    whole
}

fn collect(chunks: &[Chunk]) -> crate::core::collect::ChatResult {
    let mut c = Collector::new("bedrock", MODEL);
    for ch in chunks {
        c.push(ch);
    }
    c.finish()
}

#[test]
fn recorded_text_stream() {
    let chunks = same_in_every_chunking(&frames_of(TEXT));
    let text: String = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content { delta } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        text,
        "Let me count the \"r\"s in \"strawberry\":\n\ns-t-**r**-a-w-b-e-**r**-**r**-y\n\nThere are **3** r's in \"strawberry.\""
    );
    let usage = Usage {
        input_tokens: 22,
        output_tokens: 55,
        total_tokens: 77,
    };
    assert_eq!(
        chunks[chunks.len() - 2..],
        [
            Chunk::Usage { usage },
            Chunk::Done {
                finish_reason: FinishReason::Stop,
                usage,
                cost: None
            }
        ]
    );
    assert_eq!(
        chunks
            .iter()
            .filter(|c| matches!(c, Chunk::Done { .. }))
            .count(),
        1
    );
}

#[test]
fn recorded_tool_call_stream_with_metadata_before_message_stop() {
    let chunks = same_in_every_chunking(&frames_of(TOOL));
    let tool = |args: &str| Chunk::ToolCall {
        id: "tool-use-id".into(),
        name: "test-tool".into(),
        arguments_delta: args.into(),
    };
    let usage = Usage {
        input_tokens: 125,
        output_tokens: 45,
        total_tokens: 170,
    };
    assert_eq!(
        chunks,
        [
            tool(""),
            tool("{\"value\":"),
            tool("\"Sparkle Day\"}"),
            Chunk::Usage { usage },
            Chunk::Done {
                finish_reason: FinishReason::ToolCalls,
                usage,
                cost: None
            }
        ]
    );
    let r = collect(&chunks);
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].arguments, r#"{"value":"Sparkle Day"}"#);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
}

#[test]
fn recorded_tool_call_without_arguments() {
    let chunks = same_in_every_chunking(&frames_of(TOOL_NO_ARGS));
    let r = collect(&chunks);
    assert_eq!(r.content, "I'll update the issue list for you.");
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].id, "tool-use-id");
    assert_eq!(r.tool_calls[0].name, "updateIssueList");
    assert_eq!(r.tool_calls[0].arguments, "{}");
    assert_eq!(r.usage.total_tokens, 125);
}

#[test]
fn recorded_live_binary_stream() {
    let chunks = same_in_every_chunking(&live());
    let usage = Usage {
        input_tokens: 12,
        output_tokens: 5,
        total_tokens: 17,
    };
    assert_eq!(
        chunks,
        [
            Chunk::Content { delta: "OK".into() },
            Chunk::Content { delta: ".".into() },
            Chunk::Usage { usage },
            Chunk::Done {
                finish_reason: FinishReason::Stop,
                usage,
                cost: None
            }
        ]
    );
}

#[test]
fn payloads_wrapped_in_their_event_name_read_the_same() {
    // As the SDK recordings show them, with and without the `:event-type` header.
    let mut wrapped = Vec::new();
    let mut headless = Vec::new();
    for line in TEXT.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = v.as_object().unwrap().keys().next().unwrap().clone();
        wrapped.extend(event(&kind, line));
        headless.extend(encode(
            &[(":message-type", HeaderValue::String("event".into()))],
            line.as_bytes(),
        ));
    }
    let want = run(&frames_of(TEXT), &[]).0;
    assert_eq!(same_in_every_chunking(&wrapped), want);
    assert_eq!(same_in_every_chunking(&headless), want);
}

fn exception(kind: &str, message: &str) -> Vec<u8> {
    encode(
        &[
            (":message-type", HeaderValue::String("exception".into())),
            (":exception-type", HeaderValue::String(kind.into())),
            (
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

#[test]
fn exception_frames_are_errors_after_the_chunks_before_them() {
    for (kind, message, code) in [
        (
            "throttlingException",
            "Too many requests, please wait before trying again.",
            ErrorCode::RateLimited,
        ),
        (
            "validationException",
            "The model returned the following errors: bad input",
            ErrorCode::InvalidRequest,
        ),
        (
            "modelStreamErrorException",
            "Model Stream Error",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "internalServerException",
            "Internal server error",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "serviceUnavailableException",
            "Bedrock is unable to process your request.",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "accessDeniedException",
            "You are not authorized to perform this operation.",
            ErrorCode::InvalidApiKey,
        ),
        ("somethingNewException", "", ErrorCode::ProviderUnavailable),
    ] {
        let mut bytes = frames_of(&TEXT.lines().take(3).collect::<Vec<_>>().join("\n"));
        bytes.extend(exception(kind, message));
        bytes.extend(frames_of(TEXT));
        for cuts in [vec![], (1..bytes.len()).collect::<Vec<_>>()] {
            let (chunks, err, _) = run(&bytes, &cuts);
            let err = err.expect("an error");
            assert_eq!(err.code, code, "{kind}");
            assert_eq!(err.provider.as_deref(), Some("bedrock"));
            assert!(err.status.is_none());
            assert!(
                err.message.starts_with("Amazon Bedrock: "),
                "{}",
                err.message
            );
            if !message.is_empty() {
                assert!(err.message.contains(message), "{}", err.message);
            }
            assert_eq!(chunks.len(), 2, "{kind}: the two deltas before it");
        }
    }
    // The recorded exception frame.
    let text = include_str!(
        "../../../../tests/fixtures/bedrock-converse-stream.model-stream-error.eventstream.base64.txt"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    let (chunks, err, _) = run(&bytes, &[]);
    assert!(chunks.is_empty());
    let err = err.unwrap();
    assert_eq!(err.code, ErrorCode::ProviderUnavailable);
    assert_eq!(err.message, "Amazon Bedrock: Model Stream Error");
    // An error frame.
    let frame = encode(
        &[
            (":message-type", HeaderValue::String("error".into())),
            (":error-code", HeaderValue::String("InternalFailure".into())),
            (
                ":error-message",
                HeaderValue::String("An internal error occurred".into()),
            ),
        ],
        b"",
    );
    let err = run(&frame, &[]).1.unwrap();
    assert_eq!(err.code, ErrorCode::ProviderUnavailable);
    assert!(err.message.contains("An internal error occurred"));
}

#[test]
fn exception_messages_are_redacted() {
    let bytes = exception(
        "accessDeniedException",
        &format!("The key {CREDS} is not allowed"),
    );
    let err = run(&bytes, &[]).1.unwrap();
    assert_eq!(err.code, ErrorCode::InvalidApiKey);
    assert!(!err.message.contains("K7MDENG"), "{}", err.message);
    assert!(!err.message.contains("IOSFODNN7"), "{}", err.message);
}

#[test]
fn cut_off_streams_are_network_errors_with_the_usage_so_far() {
    let bytes = frames_of(TEXT);
    let (whole, _, _) = run(&bytes, &[]);
    // Cut at every position before messageStop's frame is whole: NETWORK_ERROR at finish.
    let lines: Vec<&str> = TEXT.lines().collect();
    let before_stop = frames_of(&lines[..lines.len() - 2].join("\n")).len();
    let with_stop = frames_of(&lines[..lines.len() - 1].join("\n")).len();
    for cut in 0..with_stop {
        let (chunks, err, usage) = run(&bytes[..cut], &[]);
        let err = err.expect("truncated");
        assert_eq!(err.code, ErrorCode::NetworkError, "cut at {cut}");
        assert!(err.message.contains("ended before it was complete"));
        assert_eq!(err.provider.as_deref(), Some("bedrock"));
        assert_eq!(usage, Usage::default());
        assert_eq!(chunks[..], whole[..chunks.len()]);
        assert!(cut >= before_stop || !chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
    }
    // messageStop came but the body ended before metadata: complete, usage unknown.
    let (chunks, err, _) = run(&bytes[..with_stop], &[]);
    assert!(err.is_none());
    assert_eq!(
        chunks.last(),
        Some(&Chunk::Done {
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            cost: None
        })
    );
    // Metadata first (usage known), then the body ends: the usage survives the error.
    let meta_first = frames_of(
        r#"{"contentBlockDelta":{"contentBlockIndex":0,"delta":{"text":"Hi"}}}
{"metadata":{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}}"#,
    );
    let (_, err, usage) = run(&meta_first, &[]);
    assert_eq!(err.unwrap().code, ErrorCode::NetworkError);
    assert_eq!(usage.total_tokens, 4);
}

#[test]
fn corrupted_frames_are_network_errors_quoting_nothing() {
    let bytes = frames_of(TEXT);
    for pos in (0..bytes.len()).step_by(5) {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x21;
        let (chunks, err, _) = run(&bad, &[]);
        let err = err.expect("corrupted");
        assert_eq!(err.code, ErrorCode::NetworkError, "byte {pos}");
        assert_eq!(err.provider.as_deref(), Some("bedrock"));
        for word in ["strawberry", "count", "abcdefgh"] {
            assert!(!err.message.contains(word), "{}", err.message);
        }
        // Everything before the damaged frame still came through, and nothing after it.
        assert!(!chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
    }
}

#[test]
fn unreadable_payloads_and_after_done() {
    let bad = event("contentBlockDelta", "[1,2,3]");
    assert_eq!(run(&bad, &[]).1.unwrap().code, ErrorCode::NetworkError);
    let bad = event("contentBlockDelta", "{\"delta\": {\"text\": 5}}");
    let err = run(&bad, &[]).1.unwrap();
    assert_eq!(err.code, ErrorCode::NetworkError);
    assert!(err.message.contains("could not be read"));
    // Events and even exceptions after the answer is complete are ignored.
    let mut bytes = frames_of(TEXT);
    bytes.extend(frames_of(TEXT));
    bytes.extend(exception("throttlingException", "late"));
    let (chunks, err, _) = run(&bytes, &[]);
    assert!(err.is_none());
    assert_eq!(chunks, run(&frames_of(TEXT), &[]).0);
    // Unknown events and message types are skipped.
    let mut bytes = event("somethingNew", r#"{"x":1}"#);
    bytes.extend(encode(
        &[(":message-type", HeaderValue::String("ping".into()))],
        b"",
    ));
    bytes.extend(frames_of(TEXT));
    assert_eq!(run(&bytes, &[]).0, run(&frames_of(TEXT), &[]).0);
}

#[test]
fn a_json_body_instead_of_a_stream_is_read_as_an_error() {
    for (body, code) in [
        (
            r#"{"message":"The security token included in the request is invalid."}"#,
            ErrorCode::InvalidApiKey,
        ),
        (
            r#"{"__type":"ThrottlingException","message":"Too many requests"}"#,
            ErrorCode::RateLimited,
        ),
    ] {
        let bytes = body.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        for cuts in [vec![], cuts] {
            let (chunks, err, _) = run(bytes, &cuts);
            assert!(chunks.is_empty());
            assert_eq!(err.unwrap().code, code, "{body}");
        }
    }
    // Not JSON, not frames.
    let err = run(b"{not json at all", &[]).1.unwrap();
    assert_eq!(err.code, ErrorCode::NetworkError);
    let err = run(b"<html>502</html>", &[]).1.unwrap();
    assert_eq!(err.code, ErrorCode::NetworkError);
    assert!(!err.message.contains("html"));
}

#[test]
fn errors_stick_and_empty_streams_are_truncated() {
    let mut d = decoder(CREDS);
    let mut out = Vec::new();
    assert!(d
        .feed(&exception("throttlingException", "x"), &mut out)
        .is_err());
    assert_eq!(
        d.feed(&frames_of(TEXT), &mut out).unwrap_err().code,
        ErrorCode::RateLimited
    );
    assert_eq!(d.finish(&mut out).unwrap_err().code, ErrorCode::RateLimited);
    assert!(out.is_empty());
    let (chunks, err, _) = run(b"", &[]);
    assert!(chunks.is_empty());
    assert_eq!(err.unwrap().code, ErrorCode::NetworkError);
    assert!(!format!("{d:?}").contains("K7MDENG"));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn http_errors_map_by_status_and_message() {
    let cases: &[(u16, &str, ErrorCode, &str)] = &[
        (
            400,
            r#"{"message":"The provided model identifier is invalid."}"#,
            ErrorCode::ModelNotFound,
            "model identifier",
        ),
        (
            400,
            r#"{"message":"The content field in the Message object at messages.1 is empty. Add a ContentBlock object to the content field and try again."}"#,
            ErrorCode::InvalidRequest,
            "messages.1 is empty",
        ),
        (
            400,
            r#"{"message":"1 validation error detected: Value at 'messages.2.member.content.1.member.toolUse.name' failed to satisfy constraint"}"#,
            ErrorCode::InvalidRequest,
            "validation error",
        ),
        (
            403,
            r#"{"message":"The security token included in the request is invalid."}"#,
            ErrorCode::InvalidApiKey,
            "security token",
        ),
        (
            403,
            r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#,
            ErrorCode::InvalidApiKey,
            "signature",
        ),
        (
            403,
            r#"{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"}"#,
            ErrorCode::InvalidApiKey,
            "clock",
        ),
        (
            403,
            r#"{"message":"The security token included in the request is expired"}"#,
            ErrorCode::InvalidApiKey,
            "expired",
        ),
        (
            403,
            r#"{"Message":"User: arn:aws:iam::123456789012:user/dev is not authorized to perform: bedrock:InvokeModel"}"#,
            ErrorCode::InvalidApiKey,
            "not authorized",
        ),
        (
            403,
            r#"{"message":"You don't have access to the model with the specified model ID."}"#,
            ErrorCode::ModelNotFound,
            "access to the model",
        ),
        (
            403,
            r#"{"message":"Authentication failed: Please make sure your API Key is valid."}"#,
            ErrorCode::InvalidApiKey,
            "API Key",
        ),
        (
            404,
            r#"{"message":"Could not resolve the foundation model from the provided model identifier."}"#,
            ErrorCode::ModelNotFound,
            "foundation model",
        ),
        (
            404,
            r#"{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}"#,
            ErrorCode::InvalidRequest,
            "base URL",
        ),
        (
            408,
            r#"{"message":"The request took too long to process."}"#,
            ErrorCode::ProviderUnavailable,
            "too long",
        ),
        (
            424,
            r#"{"message":"The model returned an error."}"#,
            ErrorCode::ProviderUnavailable,
            "model returned",
        ),
        (
            429,
            r#"{"message":"Too many requests, please wait before trying again."}"#,
            ErrorCode::RateLimited,
            "Too many requests",
        ),
        (
            429,
            r#"{"message":"Too many tokens per day, please wait before trying again."}"#,
            ErrorCode::RateLimited,
            "per day",
        ),
        (
            500,
            r#"{"message":"Internal server error"}"#,
            ErrorCode::ProviderUnavailable,
            "Internal",
        ),
        (
            503,
            r#"{"message":"Bedrock is unable to process your request."}"#,
            ErrorCode::ProviderUnavailable,
            "unable",
        ),
        (
            502,
            "<html><body>Bad gateway</body></html>",
            ErrorCode::ProviderUnavailable,
            "HTTP 502",
        ),
        (401, "", ErrorCode::InvalidApiKey, "HTTP 401"),
        (404, "", ErrorCode::ModelNotFound, "HTTP 404"),
        (418, "", ErrorCode::InvalidRequest, "HTTP 418"),
    ];
    for (status, body, code, words) in cases {
        let e = map_error(
            "Amazon Bedrock",
            "bedrock",
            *status,
            Some(1000),
            body,
            &[CREDS],
        );
        assert_eq!(e.code, *code, "{status} {body}");
        assert!(e.message.contains(words), "{status}: {}", e.message);
        assert!(e.message.starts_with("Amazon Bedrock: "));
        assert_eq!(e.status, Some(*status));
        assert_eq!(e.provider.as_deref(), Some("bedrock"));
        let retried = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable
        );
        assert_eq!(e.retry_after_ms.is_some(), retried, "{status}");
    }
    // The recorded ValidationException.
    let v: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/bedrock-converse.error-empty-content.json"
    ))
    .unwrap();
    let e = map_error(
        "Amazon Bedrock",
        "bedrock",
        400,
        None,
        &v["body"].to_string(),
        &[],
    );
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    // Types named in the body win over the status.
    let e = map_error(
        "Amazon Bedrock",
        "bedrock",
        400,
        None,
        r#"{"__type":"ThrottlingException","message":"slow down"}"#,
        &[],
    );
    assert_eq!(e.code, ErrorCode::RateLimited);
}

#[test]
fn error_messages_never_echo_the_key() {
    let body = format!(r#"{{"message":"Credential {CREDS} is invalid, token {BEARER}"}}"#);
    let e = map_error("Amazon Bedrock", "bedrock", 403, None, &body, &[CREDS]);
    for piece in ["K7MDENG", "IOSFODNN7", "QmVkcm9ja0FQSUtleS"] {
        assert!(!e.message.contains(piece), "{}", e.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Whole answers and model lists
// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_whole_answer() {
    let r = parse_chat_response(include_str!(
        "../../../../tests/fixtures/bedrock-converse.text.nonstream.json"
    ))
    .unwrap();
    assert!(r.content.starts_with("Let me count the \"r\"s"));
    assert!(r.content.ends_with("in \"strawberry.\""));
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 22,
            output_tokens: 57,
            total_tokens: 79
        }
    );
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.model, None);
}

#[test]
fn whole_answers_with_tools_reasons_and_errors() {
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"name": "noop"}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10.0, "outputTokens": 5, "totalTokens": null}
    });
    let r = parse_chat_response(&body.to_string()).unwrap();
    assert_eq!(r.content, "Checking.");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "tooluse_abc".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ToolCall {
                id: "call_byok_1".into(),
                name: "noop".into(),
                arguments: "{}".into()
            }
        ]
    );
    assert_eq!(r.usage.total_tokens, 15);
    for (reason, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("content_filtered", FinishReason::ContentFilter),
        ("something_new", FinishReason::Other),
    ] {
        let body =
            json!({"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason});
        assert_eq!(
            parse_chat_response(&body.to_string())
                .unwrap()
                .finish_reason,
            want
        );
    }
    let e =
        parse_chat_response(r#"{"message":"Too many requests","__type":"ThrottlingException"}"#)
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(
        parse_chat_response(r#"{"output":{"mess"#).unwrap_err().code,
        ErrorCode::NetworkError
    );
    assert_eq!(
        parse_chat_response("[1]").unwrap_err().code,
        ErrorCode::NetworkError
    );
    assert_eq!(
        parse_chat_response(r#"{"other":1}"#).unwrap_err().code,
        ErrorCode::ProviderUnavailable
    );
}

#[test]
fn model_lists() {
    let body = json!({"modelSummaries": [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
         "modelId": "anthropic.claude-3-haiku-20240307-v1:0", "modelName": "Claude 3 Haiku",
         "providerName": "Anthropic", "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"],
         "responseStreamingSupported": true, "inferenceTypesSupported": ["ON_DEMAND"],
         "modelLifecycle": {"status": "ACTIVE"}},
        {"modelId": "amazon.nova-pro-v1:0"},
        {"modelId": "amazon.nova-pro-v1:0"},
        {"modelName": "no id"}
    ]});
    assert_eq!(
        parse_models(&body.to_string()).unwrap(),
        [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-pro-v1:0"
        ]
    );
    assert_eq!(
        parse_models(r#"{"modelSummaries":[]}"#).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        parse_models(r#"{"message":"The security token included in the request is invalid."}"#)
            .unwrap_err()
            .code,
        ErrorCode::InvalidApiKey
    );
    assert_eq!(
        parse_models("<html></html>").unwrap_err().code,
        ErrorCode::ProviderUnavailable
    );
}

#[test]
fn the_wire_trait_dispatches_here() {
    let w: &dyn Wire = &Bedrock;
    let req = request(vec![msg(Role::User, "Hi")]);
    assert!(w
        .chat_request(&ep(CREDS), &req, true)
        .unwrap()
        .url
        .ends_with("/converse-stream"));
    assert!(w
        .models_request(&ep(CREDS))
        .unwrap()
        .url
        .contains("/foundation-models"));
    assert!(w.embed_request(&ep(CREDS), MODEL, &["x".into()]).is_err());
    let mut d = w.stream_decoder("Amazon Bedrock", &ep(CREDS));
    let mut out = Vec::new();
    d.feed(&live(), &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert_eq!(d.usage().total_tokens, 17);
    assert_eq!(d.model(), None);
    assert_eq!(d.reported_cost(), None);
}
