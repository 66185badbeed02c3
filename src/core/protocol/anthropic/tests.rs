//! Tests of the Anthropic dialect: request bodies and headers, every recorded Anthropic stream
//! decoded in every chunking, errors in and out of streams, whole answers and model lists.

use super::*;
use crate::core::catalog::Catalog;
use crate::core::chat::{Message, Settings, Tool};
use crate::core::collect::Collector;
use crate::core::protocol::wire_for;
use serde_json::{json, Value};

const KEY: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ-_klmnopqrstuvwxyzAA";

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "anthropic",
        base_url: "https://api.anthropic.com/v1",
        secret: KEY,
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

fn request(model: &str, messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        provider: "anthropic".into(),
        model: model.into(),
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

fn headers_of(req: &HttpRequest) -> Vec<(&str, &str)> {
    req.headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn build(req: &ChatRequest) -> Value {
    body_of(&chat_request(4096, &ep(), req, false).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_message_body_and_headers() {
    let mut req = request(
        "claude-3-haiku-20240307",
        vec![
            msg(Role::System, "Be brief."),
            msg(Role::User, "Hello?"),
            msg(Role::System, "Answer in French."),
        ],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::One("END".into())),
    };
    let http = chat_request(4096, &ep(), &req, false).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
    assert_eq!(
        headers_of(&http),
        [
            ("x-api-key", KEY),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-dangerous-direct-browser-access", "true"),
            ("content-type", "application/json"),
        ]
    );
    assert_eq!(
        body_of(&http),
        json!({
            "model": "claude-3-haiku-20240307",
            "max_tokens": 256,
            "system": "Be brief.\n\nAnswer in French.",
            "messages": [{"role": "user", "content": "Hello?"}],
            "temperature": 0.7,
            "top_p": 0.9,
            "stop_sequences": ["END"]
        })
    );
    // The key is in its header only.
    assert!(!http.url.contains(KEY));
    assert!(!http.body.as_deref().unwrap().contains("abcdefgh"));
    assert!(!format!("{http:?}").contains("abcdefgh"));

    // Streaming adds `stream: true` and nothing else; absent settings are left out.
    let req = request("claude-3-haiku-20240307", vec![msg(Role::User, "Hi")]);
    let body = body_of(&chat_request(1000, &ep(), &req, true).unwrap());
    assert_eq!(
        body,
        json!({
            "model": "claude-3-haiku-20240307",
            "max_tokens": 1000,
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": true
        })
    );
    assert!(!serde_json::to_string(&body).unwrap().contains("null"));
}

#[test]
fn max_tokens_comes_from_settings_then_the_catalog_then_the_default() {
    let c = Catalog::embedded().unwrap();
    let p = c.provider("anthropic").unwrap();
    let haiku = c.model("anthropic", "claude-3-haiku-20240307").unwrap();
    assert_eq!(
        Anthropic::for_model(Some(haiku)),
        Anthropic {
            default_max_tokens: haiku.max_output_tokens
        }
    );
    assert_eq!(Anthropic::for_model(None), Anthropic::default());
    assert_eq!(Anthropic::default().default_max_tokens, DEFAULT_MAX_TOKENS);

    let mut req = request("claude-3-haiku-20240307", vec![msg(Role::User, "Hi")]);
    let wire = wire_for(p, Some(haiku)).unwrap();
    let body = body_of(&wire.chat_request(&ep(), &req, true).unwrap());
    assert_eq!(
        body.get("max_tokens"),
        Some(&json!(haiku.max_output_tokens))
    );
    let wire = wire_for(p, None).unwrap();
    let body = body_of(&wire.chat_request(&ep(), &req, true).unwrap());
    assert_eq!(body.get("max_tokens"), Some(&json!(DEFAULT_MAX_TOKENS)));
    req.settings.max_tokens = Some(17.0);
    let body = body_of(&wire.chat_request(&ep(), &req, true).unwrap());
    assert_eq!(body.get("max_tokens"), Some(&json!(17)));
    // A model without a known limit keeps the default.
    let mut unknown = haiku.clone();
    unknown.max_output_tokens = 0;
    assert_eq!(
        Anthropic::for_model(Some(&unknown)).default_max_tokens,
        DEFAULT_MAX_TOKENS
    );
}

#[test]
fn temperature_is_capped_at_anthropics_maximum() {
    let mut req = request("claude-3-haiku-20240307", vec![msg(Role::User, "Hi")]);
    req.settings.temperature = Some(1.7);
    assert_eq!(build(&req).get("temperature"), Some(&json!(1.0)));
    req.settings.temperature = Some(0.0);
    assert_eq!(build(&req).get("temperature"), Some(&json!(0.0)));
    req.settings.stop = Some(Stop::Many(vec!["a".into(), "b".into()]));
    assert_eq!(build(&req).get("stop_sequences"), Some(&json!(["a", "b"])));
}

#[test]
fn models_request_and_empty_key() {
    let http = models_request(&ep());
    assert_eq!(http.method, Method::Get);
    assert_eq!(http.url, "https://api.anthropic.com/v1/models?limit=1000");
    assert_eq!(http.body, None);
    assert_eq!(
        headers_of(&http),
        [
            ("x-api-key", KEY),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-dangerous-direct-browser-access", "true"),
        ]
    );
    // A trailing slash on the base URL is fine; an empty key (a gateway holding it) sends no
    // key header at all.
    let local = Endpoint {
        provider: "anthropic",
        base_url: "http://127.0.0.1:8787/anthropic/v1/",
        secret: "",
    };
    let http = models_request(&local);
    assert_eq!(
        http.url,
        "http://127.0.0.1:8787/anthropic/v1/models?limit=1000"
    );
    assert_eq!(
        headers_of(&http),
        [
            ("anthropic-version", "2023-06-01"),
            ("anthropic-dangerous-direct-browser-access", "true"),
        ]
    );
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("The weather in a city".into()),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }),
    }
}

#[test]
fn tools_and_every_tool_choice() {
    let mut req = request("claude-3-haiku-20240307", vec![msg(Role::User, "Weather?")]);
    req.tools = vec![
        weather_tool(),
        Tool {
            name: "now".into(),
            description: None,
            parameters: json!({"properties": {}}),
        },
    ];
    let body = build(&req);
    assert_eq!(
        body.get("tools"),
        Some(&json!([
            {
                "name": "get_weather",
                "description": "The weather in a city",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }
            },
            // Anthropic wants the schema's type spelled out.
            {"name": "now", "input_schema": {"type": "object", "properties": {}}}
        ]))
    );
    assert_eq!(body.get("tool_choice"), None);
    for (choice, want) in [
        (ToolChoice::Mode(ToolMode::Auto), json!({"type": "auto"})),
        (ToolChoice::Mode(ToolMode::Required), json!({"type": "any"})),
        (ToolChoice::Mode(ToolMode::None), json!({"type": "none"})),
        (
            ToolChoice::Named {
                name: "get_weather".into(),
            },
            json!({"type": "tool", "name": "get_weather"}),
        ),
    ] {
        req.tool_choice = Some(choice);
        assert_eq!(build(&req).get("tool_choice"), Some(&want));
    }
    // Never without tools.
    req.tools.clear();
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::Auto));
    let body = build(&req);
    assert_eq!(body.get("tools"), None);
    assert_eq!(body.get("tool_choice"), None);
}

fn assistant_calls(text: &str, calls: &[(&str, &str, &str)]) -> Message {
    Message {
        role: Role::Assistant,
        content: Content::Text(text.into()),
        tool_calls: calls
            .iter()
            .map(|(id, name, args)| ToolCall {
                id: (*id).into(),
                name: (*name).into(),
                arguments: (*args).into(),
            })
            .collect(),
        tool_call_id: None,
    }
}

fn tool_result(id: &str, text: &str) -> Message {
    Message {
        role: Role::Tool,
        content: Content::Text(text.into()),
        tool_calls: Vec::new(),
        tool_call_id: Some(id.into()),
    }
}

#[test]
fn a_tool_round_trip_history() {
    let mut req = request(
        "claude-3-haiku-20240307",
        vec![
            msg(Role::System, "You help."),
            msg(Role::User, "Weather in Paris and the time?"),
            assistant_calls(
                "Let me check.",
                &[
                    ("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                    ("toolu_2", "now", ""),
                ],
            ),
            tool_result("toolu_1", "18°C, sunny"),
            tool_result("toolu_2", ""),
            msg(Role::User, "Thanks! And tomorrow?"),
            assistant_calls("", &[("toolu_3", "get_weather", "{}")]),
            tool_result("toolu_3", "rain"),
        ],
    );
    req.tools = vec![weather_tool()];
    let body = build(&req);
    assert_eq!(body.get("system"), Some(&json!("You help.")));
    assert_eq!(
        body.get("messages"),
        Some(&json!([
            {"role": "user", "content": "Weather in Paris and the time?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
            ]},
            // Both results in one user turn, before the user's next words.
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2"},
                {"type": "text", "text": "Thanks! And tomorrow?"}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_3", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_3", "content": "rain"}
            ]}
        ]))
    );

    // Arguments that are not a JSON object cannot become `input`; nothing of them is quoted.
    for bad in ["[1,2]", "{\"city\": ", "\"Paris\""] {
        let req = request(
            "claude-3-haiku-20240307",
            vec![
                msg(Role::User, "x"),
                assistant_calls("", &[("toolu_1", "get_weather", bad)]),
                tool_result("toolu_1", "y"),
            ],
        );
        let e = chat_request(4096, &ep(), &req, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert!(e.message.starts_with("messages[1]: "), "{}", e.message);
        assert!(!e.message.contains("city") && !e.message.contains("Paris"));
    }
    let mut no_id = tool_result("toolu_1", "y");
    no_id.tool_call_id = None;
    let req = request("claude-3-haiku-20240307", vec![msg(Role::User, "x"), no_id]);
    assert_eq!(
        chat_request(4096, &ep(), &req, false).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn consecutive_turns_of_one_role_are_merged_and_empty_ones_dropped() {
    let req = request(
        "claude-3-haiku-20240307",
        vec![
            msg(Role::User, "One."),
            msg(Role::User, ""),
            msg(Role::User, "Two."),
            msg(Role::Assistant, "A"),
            msg(Role::Assistant, "B"),
            msg(Role::User, "Three."),
            // A prefilled answer may not end in white space.
            msg(Role::Assistant, "The answer is  \n"),
        ],
    );
    assert_eq!(
        build(&req).get("messages"),
        Some(&json!([
            {"role": "user", "content": [
                {"type": "text", "text": "One."},
                {"type": "text", "text": "Two."}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "A"},
                {"type": "text", "text": "B"}
            ]},
            {"role": "user", "content": "Three."},
            {"role": "assistant", "content": "The answer is"}
        ]))
    );
    // A final assistant turn of white space only goes away.
    let req = request(
        "claude-3-haiku-20240307",
        vec![msg(Role::User, "Hi"), msg(Role::Assistant, "  ")],
    );
    assert_eq!(
        build(&req).get("messages"),
        Some(&json!([{"role": "user", "content": "Hi"}]))
    );
    // Nothing but instructions is nothing to answer.
    let req = request(
        "claude-3-haiku-20240307",
        vec![msg(Role::System, "Be brief.")],
    );
    assert_eq!(
        chat_request(4096, &ep(), &req, false).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn image_parts_by_data_and_by_url() {
    let parts = |parts: Vec<ContentPart>| Message {
        role: Role::User,
        content: Content::Parts(parts),
        tool_calls: Vec::new(),
        tool_call_id: None,
    };
    let image = |data: Option<&str>, url: Option<&str>, mime: Option<&str>| ContentPart::Image {
        data: data.map(Into::into),
        url: url.map(Into::into),
        mime_type: mime.map(Into::into),
    };
    let req = request(
        "claude-3-haiku-20240307",
        vec![parts(vec![
            ContentPart::Text {
                text: "What is this?".into(),
            },
            image(Some("iVBORw0KGgo="), None, Some("image/png")),
            image(Some("data:image/jpeg;base64,/9j/4AAQ"), None, None),
            image(None, Some("https://example.com/cat.webp"), None),
            image(None, Some("data:image/gif;base64,R0lGOD"), None),
        ])],
    );
    assert_eq!(
        build(&req).get("messages"),
        Some(&json!([{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOD"}}
        ]}]))
    );

    let req = request(
        "claude-3-haiku-20240307",
        vec![parts(vec![image(Some("iVBORw0KGgo="), None, None)])],
    );
    let e = chat_request(4096, &ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(
        e.message,
        "messages[0]: inline image data needs its mimeType"
    );

    let mut system = parts(vec![image(None, Some("https://example.com/x.png"), None)]);
    system.role = Role::System;
    let req = request(
        "claude-3-haiku-20240307",
        vec![system, msg(Role::User, "Hi")],
    );
    let e = chat_request(4096, &ep(), &req, false).unwrap_err();
    assert_eq!(
        e.message,
        "messages[0]: a system message cannot hold images"
    );
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

const BASIC: &[u8] =
    include_bytes!("../../../../tests/fixtures/anthropic.basic-response.raw.sse.txt");
const TOOL_USE_RAW: &[u8] =
    include_bytes!("../../../../tests/fixtures/anthropic.tool-use-response.raw.sse.txt");
const REFUSAL_RAW: &[u8] =
    include_bytes!("../../../../tests/fixtures/anthropic.refusal-response.raw.sse.txt");
const INCOMPLETE_JSON: &[u8] = include_bytes!(
    "../../../../tests/fixtures/anthropic.incomplete-partial-json-response.raw.sse.txt"
);
const TEXT: &str = include_str!("../../../../tests/fixtures/anthropic.text.payloads.jsonl");
const TOOL_USE: &str = include_str!("../../../../tests/fixtures/anthropic.tool-use.payloads.jsonl");
const TOOL_NO_ARGS: &str =
    include_str!("../../../../tests/fixtures/anthropic.tool-no-args.payloads.jsonl");
const DELTA_USAGE: &str =
    include_str!("../../../../tests/fixtures/anthropic.message-delta-usage.payloads.jsonl");
const REFUSAL: &str = include_str!("../../../../tests/fixtures/anthropic.refusal.payloads.jsonl");
const NONSTREAM: &str = include_str!("../../../../tests/fixtures/anthropic.text.nonstream.json");

/// Re-frames recorded payloads as Anthropic sends them (`shared/fixtures/SOURCES.md`):
/// `event: <type>` before each `data:` line.
fn frame(jsonl: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        out.push_str("event: ");
        out.push_str(v.get("type").and_then(Value::as_str).unwrap());
        out.push_str("\ndata: ");
        out.push_str(line);
        out.push_str("\n\n");
    }
    out.into_bytes()
}

/// Everything a decoding run gives.
#[derive(Debug, PartialEq)]
struct Run {
    chunks: Vec<Chunk>,
    result: Result<()>,
    usage: Usage,
    model: Option<String>,
}

fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut d = AnthropicStream::new("Anthropic", &ep());
    let mut chunks = Vec::new();
    let mut result = Ok(());
    for piece in pieces {
        result = d.feed(piece, &mut chunks);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = d.finish(&mut chunks);
    }
    assert_eq!(d.reported_cost(), None);
    Run {
        chunks,
        result,
        usage: d.usage(),
        model: d.model().map(str::to_owned),
    }
}

/// Decodes whole, byte by byte, 7 bytes at a time, and split in two at every position (the
/// recordings are small), and checks that every way gives the same run.
fn decode_every_way(bytes: &[u8]) -> Run {
    let whole = decode_pieces([bytes]);
    assert_eq!(decode_pieces(bytes.chunks(1)), whole, "byte by byte");
    assert_eq!(decode_pieces(bytes.chunks(7)), whole, "7 bytes at a time");
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_pieces([a, b]), whole, "split at {at}");
    }
    whole
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
    }
}

/// What a recording must decode to.
struct Expect {
    name: &'static str,
    stream: Vec<u8>,
    content: &'static str,
    /// (id, name, arguments text: compared as JSON when it is JSON).
    calls: Vec<(&'static str, &'static str, &'static str)>,
    finish: FinishReason,
    /// Every `usage` chunk, in order; the last is the final usage.
    usages: Vec<Usage>,
    model: &'static str,
}

fn expectations() -> Vec<Expect> {
    use FinishReason::*;
    vec![
        Expect {
            name: "basic-response (raw, no final blank line)",
            stream: BASIC.to_vec(),
            content: "Hello there!",
            calls: vec![],
            finish: Stop,
            usages: vec![usage(11, 1), usage(11, 6)],
            model: "claude-3-opus-latest",
        },
        Expect {
            name: "tool-use-response (raw)",
            stream: TOOL_USE_RAW.to_vec(),
            content: "I'll check the current weather in Paris for you.",
            calls: vec![(
                "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                "get_weather",
                r#"{"location": "Paris"}"#,
            )],
            finish: ToolCalls,
            usages: vec![usage(377, 1), usage(377, 65)],
            model: "claude-sonnet-4-20250514",
        },
        Expect {
            name: "refusal-response (raw)",
            stream: REFUSAL_RAW.to_vec(),
            content: "",
            calls: vec![],
            finish: ContentFilter,
            usages: vec![usage(20, 1), usage(20, 0)],
            model: "claude-opus-4-7",
        },
        Expect {
            // Cut by max_tokens inside the arguments: they stay as streamed.
            name: "incomplete-partial-json-response (raw)",
            stream: INCOMPLETE_JSON.to_vec(),
            content: "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. Let me do that for you now.",
            calls: vec![(
                "toolu_01EKqbqmZrGRXy18eN7m9kvY",
                "make_file",
                "{\"filename\": \"taxes.txt\", \"lines_of_text\": [\n\"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s\",\n\"\",\n\"## INTRODUCTION\",\n\"\",\n\"Filing taxes",
            )],
            finish: Length,
            usages: vec![usage(450, 1), usage(450, 124)],
            model: "claude-3-7-sonnet-20250219",
        },
        Expect {
            name: "text (payloads)",
            stream: frame(TEXT),
            content: "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?",
            calls: vec![],
            finish: Stop,
            usages: vec![usage(12, 1), usage(12, 30)],
            model: "claude-sonnet-4-5-20250929",
        },
        Expect {
            name: "tool-use (payloads)",
            stream: frame(TOOL_USE),
            content: "",
            calls: vec![(
                "toolu_01KFbKqPYSuAKujiL6mTfzYA",
                "json",
                r#"{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}"#,
            )],
            finish: ToolCalls,
            usages: vec![usage(849, 10), usage(849, 47)],
            model: "claude-haiku-4-5-20251001",
        },
        Expect {
            name: "tool-no-args (payloads)",
            stream: frame(TOOL_NO_ARGS),
            content: "I'll update the issue list for you.",
            calls: vec![("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "{}")],
            finish: ToolCalls,
            usages: vec![usage(565, 7), usage(565, 48)],
            model: "claude-sonnet-4-5-20250929",
        },
        Expect {
            // The input count is revised in message_delta: the last value wins.
            name: "message-delta-usage (payloads)",
            stream: frame(DELTA_USAGE),
            content: "pong",
            calls: vec![],
            finish: Stop,
            usages: vec![usage(43, 1), usage(61, 2)],
            model: "claude-opus-4-5-20251101",
        },
        Expect {
            name: "refusal (payloads)",
            stream: frame(REFUSAL),
            content: "",
            calls: vec![],
            finish: ContentFilter,
            usages: vec![usage(18, 1), usage(18, 5)],
            model: "claude-fable-5",
        },
    ]
}

fn same_arguments(got: &str, want: &str) -> bool {
    match (
        serde_json::from_str::<Value>(got),
        serde_json::from_str::<Value>(want),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => got == want,
    }
}

#[test]
fn every_recorded_stream_decodes_the_same_in_every_chunking() {
    for x in expectations() {
        let name = x.name;
        let run = decode_every_way(&x.stream);
        assert_eq!(run.result, Ok(()), "{name}");
        let final_usage = *x.usages.last().unwrap();
        assert_eq!(run.usage, final_usage, "{name}");
        assert_eq!(run.model.as_deref(), Some(x.model), "{name}");

        // One `done`, last; the usage chunks as expected; tool pieces name their call.
        let (last, rest) = run.chunks.split_last().unwrap();
        assert_eq!(
            *last,
            Chunk::Done {
                finish_reason: x.finish,
                usage: final_usage,
                cost: None
            },
            "{name}"
        );
        let usages: Vec<Usage> = rest
            .iter()
            .filter_map(|c| match c {
                Chunk::Usage { usage } => Some(*usage),
                Chunk::Done { .. } => panic!("{name}: done before the end"),
                _ => None,
            })
            .collect();
        assert_eq!(usages, x.usages, "{name}");
        for c in rest {
            match c {
                Chunk::ToolCall { id, name: n, .. } => {
                    assert!(!id.is_empty() && !n.is_empty(), "{name}: {c:?}");
                }
                Chunk::Content { delta } => assert!(!delta.is_empty(), "{name}"),
                _ => {}
            }
        }

        // Folded, the chunks give the recorded answer.
        let mut collector = Collector::new("anthropic", x.model);
        for c in &run.chunks {
            collector.push(c);
        }
        let result = collector.finish();
        assert_eq!(result.content, x.content, "{name}");
        assert_eq!(result.tool_calls.len(), x.calls.len(), "{name}");
        for (got, want) in result.tool_calls.iter().zip(&x.calls) {
            assert_eq!((got.id.as_str(), got.name.as_str()), (want.0, want.1));
            assert!(same_arguments(&got.arguments, want.2), "{name}: {got:?}");
        }
        assert_eq!(result.finish_reason, x.finish, "{name}");
        assert_eq!(result.usage, final_usage, "{name}");
    }
}

#[test]
fn crlf_framing_and_data_only_events_decode_alike() {
    let lf = frame(TEXT);
    let crlf: Vec<u8> = String::from_utf8(lf.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let want = decode_pieces([&lf[..]]);
    assert_eq!(decode_every_way(&crlf), want);
    // Without `event:` lines the payload's `type` is enough.
    let mut bare = String::new();
    for line in TEXT.lines() {
        bare.push_str("data: ");
        bare.push_str(line);
        bare.push_str("\n\n");
    }
    assert_eq!(decode_pieces([bare.as_bytes()]), want);
}

fn pieces_of(run: &Run) -> Vec<(&str, &str, &str)> {
    run.chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolCall {
                id,
                name,
                arguments_delta,
            } => Some((id.as_str(), name.as_str(), arguments_delta.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn tool_call_pieces_in_detail() {
    let run = decode_pieces([TOOL_USE_RAW]);
    let id = "toolu_01NRLabsLyVHZPKxbKvkfSMn";
    // Announced at the block's start; empty `partial_json` pieces carry nothing.
    assert_eq!(
        pieces_of(&run),
        [
            (id, "get_weather", ""),
            (id, "get_weather", "{\"locati"),
            (id, "get_weather", "on\": \"P"),
            (id, "get_weather", "ar"),
            (id, "get_weather", "is\"}"),
        ]
    );
    // A call without arguments is only announced: collectors make it `{}`.
    let run = decode_pieces([&frame(TOOL_NO_ARGS)[..]]);
    assert_eq!(
        pieces_of(&run),
        [("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "")]
    );

    // A gateway that gives the input whole at the start and streams no delta: emitted at the
    // block's end. Two calls keep their pieces apart by index; thinking is skipped.
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm.\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"f\",\"input\":{\"x\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"g\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"y\\\":\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let run = decode_every_way(stream.as_bytes());
    assert_eq!(run.result, Ok(()));
    assert_eq!(
        pieces_of(&run),
        [
            ("toolu_a", "f", ""),
            ("toolu_b", "g", ""),
            ("toolu_b", "g", "{\"y\":"),
            ("toolu_a", "f", "{\"x\":1}"),
            ("toolu_b", "g", "2}"),
        ]
    );
    assert!(!run
        .chunks
        .iter()
        .any(|c| matches!(c, Chunk::Content { .. })));
}

/// The stream without its last `n` events.
fn drop_last_events(stream: &[u8], n: usize) -> Vec<u8> {
    let text = std::str::from_utf8(stream).unwrap();
    let events: Vec<&str> = text.split_inclusive("\n\n").collect();
    events[..events.len() - n].concat().into_bytes()
}

#[test]
fn a_stream_without_message_stop_is_a_network_error_with_its_usage() {
    for x in expectations() {
        let name = x.name;
        let stream = drop_last_events(&x.stream, 1);
        assert!(!String::from_utf8_lossy(&stream).contains("message_stop"));
        let run = decode_every_way(&stream);
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{name}");
        assert_eq!(
            e.message, "the stream from Anthropic ended before it was complete",
            "{name}"
        );
        assert_eq!(e.provider.as_deref(), Some("anthropic"), "{name}");
        // What was known before the cut is still there.
        assert_eq!(run.usage, *x.usages.last().unwrap(), "{name}");
        assert!(
            !run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })),
            "{name}"
        );
    }

    // Cut inside an event: the same error, and the input tokens of message_start are known.
    let text = frame(TEXT);
    let cut = text.len() / 2;
    let run = decode_every_way(&text[..cut]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
    assert_eq!(run.usage, usage(12, 1));

    // An empty body is a cut-off stream too.
    let run = decode_pieces([&b""[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
}

#[test]
fn events_after_message_stop_and_unknown_events_are_ignored() {
    let mut stream = frame(DELTA_USAGE);
    stream.extend_from_slice(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n",
    );
    let want = decode_pieces([&frame(DELTA_USAGE)[..]]);
    assert_eq!(decode_pieces([&stream[..]]), want);

    // Pings, comments and event types added later are skipped, whatever their payload.
    let mut noisy = String::from(": hello\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n");
    noisy.push_str(
        "event: future_event\ndata: {\"type\":\"future_event\",\"delta\":\"not an object\"}\n\n",
    );
    noisy.push_str("event: ping\ndata: \n\n");
    noisy.push_str(std::str::from_utf8(&frame(DELTA_USAGE)).unwrap());
    assert_eq!(decode_every_way(noisy.as_bytes()), want);
}

/// The first `n` events of a stream.
fn first_events(stream: &[u8], n: usize) -> Vec<u8> {
    let text = std::str::from_utf8(stream).unwrap();
    text.split_inclusive("\n\n")
        .take(n)
        .collect::<String>()
        .into_bytes()
}

#[test]
fn error_events_inside_a_200_stream() {
    let table = [
        (
            "overloaded_error",
            "Overloaded",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "api_error",
            "Internal server error",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "rate_limit_error",
            "This request would exceed your account's rate limit. Please try again later.",
            ErrorCode::RateLimited,
        ),
        (
            "invalid_request_error",
            "Bad thing",
            ErrorCode::InvalidRequest,
        ),
        ("something_new", "Odd", ErrorCode::ProviderUnavailable),
    ];
    let head = first_events(&frame(TEXT), 5);
    for (kind, message, code) in table {
        let mut stream = head.clone();
        stream.extend_from_slice(
            format!(
                "event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"{kind}\", \"message\": \"{message}\"}}}}\n\n"
            )
            .as_bytes(),
        );
        let run = decode_every_way(&stream);
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.code, code, "{kind}");
        assert_eq!(e.message, format!("Anthropic: {message}"), "{kind}");
        assert_eq!(e.provider.as_deref(), Some("anthropic"));
        assert_eq!(e.status, None);
        // The text before the error was delivered, and the usage known so far is kept.
        let text: String = run
            .chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Content { delta } => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello! I");
        assert_eq!(run.usage, usage(12, 1));
    }

    // After an error every call fails the same way.
    let mut d = AnthropicStream::new("Anthropic", &ep());
    let mut out = Vec::new();
    let e = d
        .feed(
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            &mut out,
        )
        .unwrap_err();
    assert_eq!(d.feed(&frame(TEXT), &mut out), Err(e.clone()));
    assert_eq!(d.finish(&mut out), Err(e));
    assert!(out.is_empty());

    // A key echoed in the message is redacted; an error event without a body still fails.
    let stream = format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"authentication_error\",\"message\":\"bad key {KEY}\"}}}}\n\n"
    );
    let e = decode_pieces([stream.as_bytes()]).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    assert!(!e.message.contains("abcdefgh"), "{}", e.message);
    let e = decode_pieces([&b"event: error\ndata: \n\n"[..]])
        .result
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    let e = decode_pieces([&b"event: error\ndata: oops\n\n"[..]])
        .result
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
}

#[test]
fn bodies_that_are_not_event_streams() {
    // An error body where events were expected (a gateway answering 200), pretty-printed.
    let body = "{\n  \"type\": \"error\",\n  \"error\": {\n    \"type\": \"overloaded_error\",\n    \"message\": \"Overloaded\"\n  }\n}\n";
    let run = decode_every_way(body.as_bytes());
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(e.message, "Anthropic: Overloaded");

    let run = decode_every_way(b"<html><body>502 Bad Gateway</body></html>");
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("Gateway"));

    // A known event that cannot be read quotes nothing of it.
    let stream = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\"secret words\"}\n\n";
    let e = decode_pieces([&stream[..]]).result.unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("secret"));
    let stream = b"event: message_delta\ndata: [1, 2]\n\n";
    assert_eq!(
        decode_pieces([&stream[..]]).result.unwrap_err().code,
        ErrorCode::NetworkError
    );
}

#[test]
fn counts_are_read_leniently() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":null,\"usage\":{\"input_tokens\":\"7\",\"cache_read_input_tokens\":3.0,\"cache_creation_input_tokens\":-1,\"output_tokens\":null}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" th\\u00e9re \\ud83c\\udf0d\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":4,\"input_tokens\":{}}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}",
    );
    let run = decode_every_way(stream.as_bytes());
    assert_eq!(run.result, Ok(()));
    assert_eq!(run.model, None);
    assert_eq!(
        run.chunks,
        [
            Chunk::Usage {
                usage: usage(10, 0)
            },
            Chunk::Content { delta: "Hi".into() },
            Chunk::Content {
                delta: " thére 🌍".into()
            },
            Chunk::Usage { usage: usage(3, 4) },
            Chunk::Done {
                finish_reason: FinishReason::Other,
                usage: usage(3, 4),
                cost: None
            },
        ]
    );
}

#[test]
fn finish_reasons_are_mapped() {
    for (sent, calls, want) in [
        ("end_turn", false, FinishReason::Stop),
        ("stop_sequence", false, FinishReason::Stop),
        ("max_tokens", false, FinishReason::Length),
        ("model_context_window_exceeded", false, FinishReason::Length),
        ("tool_use", true, FinishReason::ToolCalls),
        ("end_turn", true, FinishReason::ToolCalls),
        ("refusal", false, FinishReason::ContentFilter),
        ("pause_turn", false, FinishReason::Other),
        ("anything_else", false, FinishReason::Other),
    ] {
        assert_eq!(
            final_reason(Some(finish_reason(sent)), calls),
            want,
            "{sent}"
        );
    }
    assert_eq!(final_reason(None, false), FinishReason::Stop);
    assert_eq!(final_reason(None, true), FinishReason::ToolCalls);
}

#[test]
fn the_decoder_debug_shows_no_key_or_text() {
    let mut d = AnthropicStream::new("Anthropic", &ep());
    let mut out = Vec::new();
    d.feed(&first_events(&frame(TEXT), 6), &mut out).unwrap();
    assert!(!d.is_done());
    let shown = format!("{d:?}");
    assert!(!shown.contains("abcdefgh"));
    assert!(!shown.contains("Hello"));
    assert!(shown.contains("claude-sonnet-4-5-20250929"));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn anthropic_error(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
        .to_string()
}

#[test]
fn http_errors_are_mapped() {
    use ErrorCode::*;
    let credit = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.";
    let table: Vec<(u16, String, ErrorCode)> = vec![
        (400, anthropic_error("invalid_request_error", "max_tokens: Field required"), InvalidRequest),
        (400, anthropic_error("invalid_request_error", credit), InsufficientQuota),
        (
            400,
            anthropic_error(
                "invalid_request_error",
                "You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC.",
            ),
            InsufficientQuota,
        ),
        (429, anthropic_error("rate_limit_error", credit), InsufficientQuota),
        (
            429,
            anthropic_error("rate_limit_error", "Extra usage is required for long context requests."),
            InsufficientQuota,
        ),
        (402, anthropic_error("billing_error", "There is an issue with your billing."), InsufficientQuota),
        (401, anthropic_error("authentication_error", "invalid x-api-key"), InvalidApiKey),
        (401, anthropic_error("authentication_error", "x-api-key header is required"), InvalidApiKey),
        (
            401,
            anthropic_error(
                "authentication_error",
                "CORS requests must set 'anthropic-dangerous-direct-browser-access' header",
            ),
            CorsBlocked,
        ),
        (403, anthropic_error("permission_error", "Your API key does not have permission to use the specified resource."), InvalidApiKey),
        (404, anthropic_error("not_found_error", "model: claude-nope"), ModelNotFound),
        (404, anthropic_error("not_found_error", "Not Found"), InvalidRequest),
        (413, anthropic_error("request_too_large", "Request exceeds the maximum allowed number of bytes."), InvalidRequest),
        (
            429,
            anthropic_error(
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage.",
            ),
            RateLimited,
        ),
        (500, anthropic_error("api_error", "Internal server error"), ProviderUnavailable),
        (504, anthropic_error("timeout_error", "Request timed out"), ProviderUnavailable),
        (529, anthropic_error("overloaded_error", "Overloaded"), ProviderUnavailable),
        // Without a readable body the status decides.
        (401, String::new(), InvalidApiKey),
        (403, "<html>Forbidden</html>".into(), InvalidApiKey),
        (402, String::new(), InsufficientQuota),
        (404, "{}".into(), InvalidRequest),
        (408, String::new(), NetworkError),
        (429, String::new(), RateLimited),
        (502, "<html>Bad Gateway</html>".into(), ProviderUnavailable),
        (529, String::new(), ProviderUnavailable),
        (418, String::new(), InvalidRequest),
        // Gateways' simpler shapes.
        (400, json!({"error": "model: nope is unknown"}).to_string(), InvalidRequest),
        (404, json!({"error": {"message": "The model nope does not exist"}}).to_string(), ModelNotFound),
    ];
    for (status, body, code) in table {
        let e = map_error("Anthropic", "anthropic", status, Some(1500), &body, &[KEY]);
        assert_eq!(e.code, code, "{status} {body}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.provider.as_deref(), Some("anthropic"));
        // Only a wait can cure these.
        let retryable = matches!(code, RateLimited | ProviderUnavailable | NetworkError);
        assert_eq!(
            e.retry_after_ms,
            retryable.then_some(1500),
            "{status} {body}"
        );
        assert!(e.message.starts_with("Anthropic: "), "{}", e.message);
        assert!(!e.message.contains("html"), "{}", e.message);
    }
    let e = map_error(
        "Anthropic",
        "anthropic",
        529,
        None,
        &anthropic_error("overloaded_error", "Overloaded"),
        &[],
    );
    assert_eq!(e.message, "Anthropic: Overloaded");
    let e = map_error("Anthropic", "anthropic", 502, None, "", &[]);
    assert_eq!(
        e.message,
        "Anthropic: the service is unavailable or overloaded (HTTP 502)"
    );
    // A key echoed back is redacted.
    let e = map_error(
        "Anthropic",
        "anthropic",
        401,
        None,
        &anthropic_error("authentication_error", &format!("invalid x-api-key {KEY}")),
        &[KEY],
    );
    assert!(!e.message.contains("abcdefgh"), "{}", e.message);
    assert!(e.message.starts_with("Anthropic: invalid x-api-key"));
}

// ---------------------------------------------------------------------------------------------
// Whole answers and model lists
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_answers() {
    let r = parse_chat_response(NONSTREAM).unwrap();
    assert_eq!(
        r,
        ChatResponse {
            content: "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?".into(),
            tool_calls: vec![],
            usage: usage(12, 29),
            finish_reason: FinishReason::Stop,
            model: Some("claude-sonnet-4-5-20250929".into()),
            reported_cost: None,
        }
    );

    let body = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-haiku-20240307",
        "content": [
            {"type": "thinking", "thinking": "Hmm", "signature": "x"},
            {"type": "text", "text": "Checking. "},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "text", "text": "Done?"},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
            {"type": "tool_use", "name": "later"}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}
    })
    .to_string();
    let r = parse_chat_response(&body).unwrap();
    assert_eq!(r.content, "Checking. Done?");
    assert_eq!(
        r.tool_calls,
        [
            ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "now".into(),
                arguments: "{}".into()
            },
            ToolCall {
                id: "toolu_byok_2".into(),
                name: "later".into(),
                arguments: "{}".into()
            },
        ]
    );
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.usage, usage(100, 5));

    // An error object, a cut-off body, another JSON shape.
    let e = parse_chat_response(&anthropic_error("overloaded_error", "Overloaded")).unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(e.message, "Overloaded");
    let e = parse_chat_response(&NONSTREAM[..NONSTREAM.len() / 2]).unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("Hello"));
    for other in ["[1,2]", "{\"data\":[]}", "42"] {
        let e = parse_chat_response(other).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProviderUnavailable, "{other}");
    }
}

#[test]
fn model_lists() {
    let body = json!({
        "data": [
            {"type": "model", "id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4", "created_at": "2025-05-22T00:00:00Z"},
            {"type": "model", "id": "claude-3-haiku-20240307", "display_name": "Claude Haiku 3", "created_at": "2024-03-07T00:00:00Z"},
            {"type": "model", "id": "claude-3-haiku-20240307"},
            {"type": "model"}
        ],
        "has_more": false,
        "first_id": "claude-sonnet-4-20250514",
        "last_id": "claude-3-haiku-20240307"
    })
    .to_string();
    assert_eq!(
        parse_models(&body).unwrap(),
        ["claude-sonnet-4-20250514", "claude-3-haiku-20240307"]
    );
    let e = parse_models(&anthropic_error(
        "authentication_error",
        "invalid x-api-key",
    ))
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    for other in ["<html></html>", "[]", "{\"models\":[]}"] {
        let e = parse_models(other).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProviderUnavailable, "{other}");
    }
}

#[test]
fn the_wire_trait_dispatches_here() {
    let c = Catalog::embedded().unwrap();
    let p = c.provider("anthropic").unwrap();
    let wire = wire_for(p, None).unwrap();
    assert_eq!(
        wire.models_request(&ep()).unwrap().url,
        "https://api.anthropic.com/v1/models?limit=1000"
    );
    let mut d = wire.stream_decoder("Anthropic", &ep());
    let mut out = Vec::new();
    d.feed(BASIC, &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert_eq!(d.model(), Some("claude-3-opus-latest"));
    assert!(matches!(out.last(), Some(Chunk::Done { .. })));
    let e = wire.map_error("Anthropic", "anthropic", 529, None, "", &[]);
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(
        wire.parse_models("{\"data\":[]}").unwrap(),
        Vec::<String>::new()
    );
    assert!(wire.parse_chat_response(NONSTREAM).is_ok());
    assert_eq!(
        wire.embed_request(&ep(), "x", &[]).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}
