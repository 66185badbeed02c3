//! Tests of the Cohere v2 dialect: request bodies and headers, every recorded Cohere stream
//! decoded in every chunking, truncation, error mapping, whole answers, model lists and
//! embeddings.

use super::*;
use crate::core::chat::{Content, ContentPart};
use crate::core::chat::{Message, Settings, Tool};
use crate::core::collect::Collector;
use serde_json::{json, Value};

const KEY: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789aBcDeF";

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "cohere",
        base_url: "https://api.cohere.com/v2",
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
        provider: "cohere".into(),
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

fn header_names(req: &HttpRequest) -> Vec<&str> {
    req.headers.iter().map(|(n, _)| n.as_str()).collect()
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Weather in a city".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_chat_body_and_headers() {
    let mut req = request(
        "command-r",
        vec![msg(Role::System, "Be brief."), msg(Role::User, "Hello?")],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::One("END".into())),
    };
    let http = chat_request(&ep(), &req, false).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(http.url, "https://api.cohere.com/v2/chat");
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        http.headers.first().map(|(_, v)| v.as_str()),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        body_of(&http),
        json!({
            "model": "command-r",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello?"}
            ],
            "temperature": 0.7,
            "p": 0.9,
            "max_tokens": 256,
            "stop_sequences": ["END"]
        })
    );
    assert!(!http.url.contains(KEY));
    assert!(!http.body.as_deref().unwrap().contains("AbCdEf"));
    assert!(!format!("{http:?}").contains("AbCdEf"));

    // Streaming adds `stream: true` and nothing else; absent settings are left out, not null.
    let req = request("command-r", vec![msg(Role::User, "Hi")]);
    let body = body_of(&chat_request(&ep(), &req, true).unwrap());
    assert_eq!(
        body,
        json!({"model": "command-r", "messages": [{"role": "user", "content": "Hi"}], "stream": true})
    );
    assert!(!body.to_string().contains("null"));
}

#[test]
fn top_p_is_clamped_into_cohere_range() {
    for (top_p, want) in [(0.0, 0.01), (1.0, 0.99), (0.5, 0.5), (0.01, 0.01)] {
        let mut req = request("command-r", vec![msg(Role::User, "Hi")]);
        req.settings.top_p = Some(top_p);
        req.settings.stop = Some(Stop::Many(vec!["a".into(), "b".into()]));
        let body = body_of(&chat_request(&ep(), &req, false).unwrap());
        assert_eq!(body.get("p"), Some(&json!(want)), "{top_p}");
        assert_eq!(body.get("top_p"), None);
        assert_eq!(body.get("stop_sequences"), Some(&json!(["a", "b"])));
    }
}

#[test]
fn tools_and_every_tool_choice() {
    let mut req = request("command-r", vec![msg(Role::User, "Weather in Paris?")]);
    let noop = Tool {
        name: "noop".into(),
        description: None,
        parameters: json!({"type": "object", "properties": {}}),
    };
    req.tools = vec![weather_tool(), noop];
    let both = json!([
        {"type": "function", "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
    ]);
    let table = [
        (None, None),
        (Some(ToolChoice::Mode(ToolMode::Auto)), None),
        (Some(ToolChoice::Mode(ToolMode::None)), Some(json!("NONE"))),
        (
            Some(ToolChoice::Mode(ToolMode::Required)),
            Some(json!("REQUIRED")),
        ),
    ];
    for (choice, want) in table {
        req.tool_choice = choice;
        let body = body_of(&chat_request(&ep(), &req, false).unwrap());
        assert_eq!(body.get("tools"), Some(&both));
        assert_eq!(body.get("tool_choice"), want.as_ref());
    }
    // A named tool: only that tool, required.
    req.tool_choice = Some(ToolChoice::Named {
        name: "noop".into(),
    });
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("tools"),
        Some(
            &json!([{"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}])
        )
    );
    assert_eq!(body.get("tool_choice"), Some(&json!("REQUIRED")));
    req.tool_choice = Some(ToolChoice::Named {
        name: "missing".into(),
    });
    let e = chat_request(&ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    // Without tools a choice is left out.
    req.tools.clear();
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::Required));
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(body.get("tools"), None);
    assert_eq!(body.get("tool_choice"), None);
}

#[test]
fn a_tool_round_trip_history() {
    let mut req = request(
        "command-r",
        vec![
            msg(Role::User, "Weather in Paris and Rome?"),
            Message {
                role: Role::Assistant,
                content: Content::Text("I will look both up.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "get_weather_abc123".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                    ToolCall {
                        id: "get_weather_def456".into(),
                        name: "get_weather".into(),
                        arguments: "null".into(),
                    },
                ],
                tool_call_id: None,
            },
            Message {
                role: Role::Tool,
                content: Content::Text("18°C".into()),
                tool_calls: Vec::new(),
                tool_call_id: Some("get_weather_abc123".into()),
            },
            Message {
                role: Role::Tool,
                content: Content::Parts(vec![
                    ContentPart::Text { text: "21".into() },
                    ContentPart::Text { text: "°C".into() },
                ]),
                tool_calls: Vec::new(),
                tool_call_id: Some("get_weather_def456".into()),
            },
            Message {
                role: Role::Assistant,
                content: Content::Text(String::new()),
                tool_calls: vec![ToolCall {
                    id: "c3".into(),
                    name: "get_weather".into(),
                    arguments: String::new(),
                }],
                tool_call_id: None,
            },
            msg(Role::Assistant, "Paris 18°C, Rome 21°C."),
        ],
    );
    req.tools = vec![weather_tool()];
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "tool_plan": "I will look both up.", "tool_calls": [
                {"id": "get_weather_abc123", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "get_weather_def456", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "get_weather_abc123", "content": "18°C"},
            {"role": "tool", "tool_call_id": "get_weather_def456", "content": "21°C"},
            {"role": "assistant", "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ]},
            {"role": "assistant", "content": "Paris 18°C, Rome 21°C."}
        ]))
    );
    let mut broken = req.clone();
    if let Some(m) = broken.messages.get_mut(2) {
        m.tool_call_id = None;
    }
    let e = chat_request(&ep(), &broken, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("messages[2]"), "{}", e.message);
}

#[test]
fn image_parts_by_data_and_by_url() {
    let image = |data: Option<&str>, url: Option<&str>, mime: Option<&str>| ContentPart::Image {
        data: data.map(Into::into),
        url: url.map(Into::into),
        mime_type: mime.map(Into::into),
    };
    let mut req = request(
        "command-a-vision-07-2025",
        vec![Message {
            role: Role::User,
            content: Content::Parts(vec![
                ContentPart::Text {
                    text: "What is in these?".into(),
                },
                image(Some("iVBORw0KGgo="), None, Some("image/png")),
                image(None, Some("https://example.com/cat.jpg"), None),
                image(Some("data:image/webp;base64,UklGRg=="), None, None),
            ]),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }],
    );
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([{"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}}
        ]}]))
    );
    // Text parts alone are sent as one string.
    req.messages = vec![Message {
        role: Role::User,
        content: Content::Parts(vec![
            ContentPart::Text { text: "Hi ".into() },
            ContentPart::Text {
                text: "there".into(),
            },
        ]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }];
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([{"role": "user", "content": "Hi there"}]))
    );
    req.messages = vec![Message {
        role: Role::User,
        content: Content::Parts(vec![image(Some("iVBORw0KGgo="), None, None)]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }];
    let e = chat_request(&ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("mimeType"));
}

#[test]
fn the_model_list_is_on_v1() {
    assert_eq!(
        models_url("https://api.cohere.com/v2"),
        "https://api.cohere.com/v1/models?page_size=1000"
    );
    assert_eq!(
        models_url("https://api.cohere.com/v2/"),
        "https://api.cohere.com/v1/models?page_size=1000"
    );
    assert_eq!(
        models_url("http://127.0.0.1:8787/cohere/v2"),
        "http://127.0.0.1:8787/cohere/v1/models?page_size=1000"
    );
    assert_eq!(
        models_url("https://proxy.example/cohere"),
        "https://proxy.example/cohere/models?page_size=1000"
    );
    let m = models_request(&ep());
    assert_eq!(m.method, Method::Get);
    assert_eq!(m.url, "https://api.cohere.com/v1/models?page_size=1000");
    assert_eq!(header_names(&m), ["authorization"]);
    assert_eq!(m.body, None);
}

#[test]
fn embeddings_request_and_answer() {
    let texts = vec!["sunny day at the beach".to_owned(), "rainy day".to_owned()];
    let http = embed_request(&ep(), "embed-v4.0", &texts).unwrap();
    assert_eq!(http.url, "https://api.cohere.com/v2/embed");
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        body_of(&http),
        json!({"model": "embed-v4.0", "texts": texts, "input_type": "search_document", "embedding_types": ["float"]})
    );
    for n in [0, MAX_EMBED_TEXTS + 1] {
        let many = vec!["x".to_owned(); n];
        let e = embed_request(&ep(), "embed-v4.0", &many).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{n}");
    }
    assert!(embed_request(&ep(), "embed-v4.0", &vec!["x".to_owned(); MAX_EMBED_TEXTS]).is_ok());

    // The AI SDK's recorded answer (packages/cohere/src/__fixtures__/cohere-embedding.json).
    let answer = r#"{
  "id": "f5aa3e7b-f011-4c5c-a825-f94669f760e5",
  "texts": ["sunny day at the beach", "rainy day in the city"],
  "embeddings": {
    "float": [
      [0.03302002, 0.020904541, -0.019744873, -0.0625, 0.04437256],
      [-0.04660034, 0.00037765503, -0.061157227, -0.08239746, -0.010360718]
    ]
  },
  "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 10}},
  "response_type": "embeddings_by_type"
}"#;
    let e = parse_embeddings(answer).unwrap();
    assert_eq!(e.embeddings.len(), 2);
    assert_eq!(
        e.embeddings.first().and_then(|v| v.first()),
        Some(&0.03302002)
    );
    assert_eq!(e.usage.input_tokens, 10);
    assert_eq!(e.usage.total_tokens, 10);
    let err = parse_embeddings(r#"{"id":"x","message":"invalid api token"}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidApiKey);
    let err = parse_embeddings("<html>").unwrap_err();
    assert_eq!(err.code, ErrorCode::NetworkError);
}

// ---------------------------------------------------------------------------------------------
// Streams: every recorded Cohere chat stream
// ---------------------------------------------------------------------------------------------

const TEXT_JSONL: &str = include_str!("../../../../tests/fixtures/cohere-v2.text.payloads.jsonl");
const TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/cohere-v2.tool-call.payloads.jsonl");
const REASONING_JSONL: &str =
    include_str!("../../../../tests/fixtures/cohere-v2.reasoning.payloads.jsonl");
const EMPTY_TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/cohere-v2.empty-tool-call.payloads.jsonl");
const TEXT_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/cohere-v2.text.nonstream.json");
const TOOL_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/cohere-v2.tool-call.nonstream.json");

/// Re-frames recorded payloads as Cohere sends them: `event: <type>` then `data: <json>`
/// (`shared/fixtures/SOURCES.md`).
fn frame(jsonl: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = v.get("type").and_then(Value::as_str).unwrap();
        out.push_str(&format!("event: {kind}\ndata: {line}\n\n"));
    }
    out.into_bytes()
}

#[derive(Debug, PartialEq)]
struct Run {
    chunks: Vec<Chunk>,
    result: Result<()>,
    usage: Usage,
}

fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut d = CohereStream::new("Cohere", &ep());
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
    assert!(d.model().is_none());
    assert!(d.reported_cost().is_none());
    Run {
        chunks,
        result,
        usage: d.usage(),
    }
}

/// Decodes whole, byte by byte, 7 bytes at a time, and split in two at every position (every
/// 3rd position past 4 KiB), and checks that every way gives the same run.
fn decode_every_way(bytes: &[u8]) -> Run {
    let whole = decode_pieces([bytes]);
    assert_eq!(decode_pieces(bytes.chunks(1)), whole, "byte by byte");
    assert_eq!(decode_pieces(bytes.chunks(7)), whole, "7 bytes at a time");
    let step = if bytes.len() > 4096 { 3 } else { 1 };
    for at in (0..=bytes.len()).step_by(step) {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_pieces([a, b]), whole, "split at {at}");
    }
    whole
}

fn content_of(chunks: &[Chunk]) -> String {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content { delta } => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

fn calls_of(chunks: &[Chunk]) -> Vec<ToolCall> {
    let mut c = Collector::new("cohere", "m");
    for chunk in chunks {
        c.push(chunk);
    }
    c.finish().tool_calls
}

fn done_of(chunks: &[Chunk]) -> Option<(FinishReason, Usage)> {
    match chunks.last() {
        Some(Chunk::Done {
            finish_reason,
            usage,
            cost,
        }) => {
            assert_eq!(*cost, None);
            Some((*finish_reason, *usage))
        }
        _ => None,
    }
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
    }
}

#[test]
fn the_recorded_text_stream() {
    let run = decode_every_way(&frame(TEXT_JSONL));
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run.chunks), "The capital of France is Paris.");
    // One chunk per delta, whatever the reads.
    assert_eq!(
        run.chunks
            .iter()
            .filter(|c| matches!(c, Chunk::Content { .. }))
            .count(),
        7
    );
    // Billed units, not the template-inflated `tokens` (507 / 10).
    assert_eq!(run.usage, usage(12, 7));
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::Stop, usage(12, 7)))
    );
    let n = run.chunks.len();
    assert_eq!(
        run.chunks.get(n - 2),
        Some(&Chunk::Usage {
            usage: usage(12, 7)
        })
    );
}

#[test]
fn the_recorded_tool_call_stream() {
    let run = decode_every_way(&frame(TOOL_JSONL));
    assert_eq!(run.result, Ok(()));
    // The tool plan is not content.
    assert_eq!(content_of(&run.chunks), "");
    let calls = calls_of(&run.chunks);
    assert_eq!(calls.len(), 2);
    let want = [
        (
            "weather_e8p4pn45zt0t",
            "weather",
            json!({"location": "San Francisco"}),
        ),
        (
            "cityAttractions_pyxssbwnq9fq",
            "cityAttractions",
            json!({"city": "San Francisco"}),
        ),
    ];
    for (call, (id, name, args)) in calls.iter().zip(want) {
        assert_eq!(call.id, id);
        assert_eq!(call.name, name);
        assert_eq!(
            serde_json::from_str::<Value>(&call.arguments).unwrap(),
            args
        );
    }
    // Every piece names its call; the first one opens it with empty arguments.
    let pieces: Vec<&Chunk> = run
        .chunks
        .iter()
        .filter(|c| matches!(c, Chunk::ToolCall { .. }))
        .collect();
    assert_eq!(pieces.len(), 2 * 8);
    assert_eq!(
        pieces.first(),
        Some(&&Chunk::ToolCall {
            id: "weather_e8p4pn45zt0t".into(),
            name: "weather".into(),
            arguments_delta: String::new()
        })
    );
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::ToolCalls, usage(119, 44)))
    );
}

#[test]
fn thinking_is_not_content() {
    let run = decode_every_way(&frame(REASONING_JSONL));
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run.chunks), "The answer to 2 + 2 is 4.");
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::Stop, usage(8, 50)))
    );
}

#[test]
fn a_call_without_arguments_gets_an_empty_object() {
    let run = decode_every_way(&frame(EMPTY_TOOL_JSONL));
    assert_eq!(run.result, Ok(()));
    let calls = calls_of(&run.chunks);
    assert_eq!(
        calls,
        [ToolCall {
            id: "currentTime_y46ar19t5gvw".into(),
            name: "currentTime".into(),
            arguments: "{}".into()
        }]
    );
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::ToolCalls, usage(46, 14)))
    );
}

#[test]
fn a_stream_without_message_end_was_cut_off() {
    let full = frame(TEXT_JSONL);
    let end = full
        .windows(b"event: message-end".len())
        .position(|w| w == b"event: message-end")
        .unwrap();
    // Every cut before message-end is complete (mid-event included) is a NETWORK_ERROR.
    for at in (0..end + 20).step_by(5) {
        let run = decode_pieces([&full[..at]]);
        let e = run.result.unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "cut at {at}");
        assert_eq!(e.provider.as_deref(), Some("cohere"));
        assert!(e.message.contains("Cohere"), "{}", e.message);
        assert!(!run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
    }
    // Without the final blank line the last event is still read.
    let trimmed = &full[..full.len() - 1];
    assert_eq!(decode_pieces([trimmed]).result, Ok(()));
}

/// Decodes the given payloads framed with `event:` lines.
fn decode_payloads(payloads: &[Value]) -> Run {
    let jsonl: Vec<String> = payloads.iter().map(Value::to_string).collect();
    decode_pieces([frame(&jsonl.join("\n")).as_slice()])
}

fn end_with(reason: Value) -> Value {
    json!({"type": "message-end", "delta": {"finish_reason": reason, "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}}}})
}

#[test]
fn finish_reasons() {
    let table = [
        (json!("COMPLETE"), FinishReason::Stop),
        (json!("complete"), FinishReason::Stop),
        (json!("STOP_SEQUENCE"), FinishReason::Stop),
        (json!("MAX_TOKENS"), FinishReason::Length),
        (json!("ERROR_LIMIT"), FinishReason::Length),
        (json!("TOOL_CALL"), FinishReason::ToolCalls),
        (json!("CONTENT_BLOCKED"), FinishReason::ContentFilter),
        (json!("ERROR_TOXIC"), FinishReason::ContentFilter),
        (json!("SOMETHING_NEW"), FinishReason::Other),
        (Value::Null, FinishReason::Stop),
    ];
    for (wire, want) in table {
        let run = decode_payloads(&[
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "x"}}}}),
            end_with(wire.clone()),
        ]);
        assert_eq!(run.result, Ok(()), "{wire}");
        assert_eq!(done_of(&run.chunks), Some((want, usage(3, 2))), "{wire}");
    }
    // A call that ends with COMPLETE is still a tool call.
    let run = decode_payloads(&[
        json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "a", "function": {"name": "f", "arguments": "{}"}}}}}),
        json!({"type": "tool-call-end", "index": 0}),
        end_with(json!("COMPLETE")),
    ]);
    assert_eq!(
        done_of(&run.chunks).map(|d| d.0),
        Some(FinishReason::ToolCalls)
    );
}

#[test]
fn a_failed_generation_is_an_error_with_its_usage() {
    let run = decode_payloads(&[
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "partial"}}}}),
        json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": format!("internal failure for key {KEY}"),
               "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 1}}}}),
    ]);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert!(
        e.message.starts_with("Cohere: internal failure"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("AbCdEf"), "{}", e.message);
    assert_eq!(run.usage, usage(5, 1));
    assert_eq!(content_of(&run.chunks), "partial");
    assert!(!run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
    // Without an explanation, the reason is named.
    let run = decode_payloads(&[end_with(json!("TIMEOUT"))]);
    let e = run.result.unwrap_err();
    assert!(e.message.contains("TIMEOUT"), "{}", e.message);
}

#[test]
fn errors_inside_the_stream() {
    // A bare error object where events were expected (no `data:`), possibly over two reads.
    let body = b"{\"id\":\"x\",\n\"message\":\"invalid api token\"}\n";
    let run = decode_pieces(body.chunks(9));
    assert_eq!(run.result.unwrap_err().code, ErrorCode::InvalidApiKey);
    // An error object as an event's data.
    let body = b"data: {\"message\":\"You are using a Trial key, which is limited to 10 API calls / minute.\"}\n\n";
    let run = decode_pieces([&body[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::RateLimited);
    // An `error` event.
    let run =
        decode_pieces([&b"event: error\ndata: {\"message\":\"internal server error\"}\n\n"[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::ProviderUnavailable);
    // A gateway's HTML page, never quoted.
    let run = decode_pieces([&b"<html><title>502 Bad Gateway</title></html>"[..]]);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("Gateway"));
    // An event that is not JSON, never quoted; the error sticks.
    let mut d = CohereStream::new("Cohere", &ep());
    let mut out = Vec::new();
    let e = d
        .feed(b"event: content-delta\ndata: {private text\n\n", &mut out)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("private"));
    assert_eq!(d.feed(&frame(TEXT_JSONL), &mut out), Err(e.clone()));
    assert_eq!(d.finish(&mut out), Err(e));
    assert!(out.is_empty());
}

#[test]
fn events_after_message_end_and_unknown_events_are_ignored() {
    let run = decode_payloads(&[
        json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {"start": 0}}}}),
        json!({"type": "something-new", "delta": {"message": {"content": {"text": "not content"}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "yes"}}}}),
        end_with(json!("COMPLETE")),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "late"}}}}),
    ]);
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run.chunks), "yes");
    // Lenient numbers and nulls.
    let run = decode_payloads(&[
        json!({"type": "content-delta", "index": null, "delta": {"message": {"content": {"text": null}}}}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"billed_units": {"input_tokens": 4.0, "output_tokens": "2"}, "tokens": null}}}),
    ]);
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::Stop, usage(4, 2)))
    );
    // `tokens` only when there are no billed units.
    let run = decode_payloads(&[
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 9, "output_tokens": 1}}}}),
    ]);
    assert_eq!(run.usage, usage(9, 1));
}

#[test]
fn tool_call_deltas_without_index_or_start() {
    // No index anywhere: the latest open call; a delta without a start is kept under an id.
    let run = decode_payloads(&[
        json!({"type": "tool-call-start", "delta": {"message": {"tool_calls": {"id": "a", "function": {"name": "f", "arguments": "{\"x\""}}}}}),
        json!({"type": "tool-call-delta", "delta": {"message": {"tool_calls": {"function": {"arguments": ":1}"}}}}}),
        json!({"type": "tool-call-end"}),
        json!({"type": "tool-call-delta", "index": 5, "delta": {"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}}),
        end_with(json!("TOOL_CALL")),
    ]);
    assert_eq!(run.result, Ok(()));
    assert_eq!(
        calls_of(&run.chunks),
        [
            ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments: "{\"x\":1}".into()
            },
            ToolCall {
                id: "call_byok_1".into(),
                name: String::new(),
                arguments: "{}".into()
            }
        ]
    );
}

#[test]
fn the_decoder_debug_shows_no_key_or_text() {
    let mut d = CohereStream::new("Cohere", &ep());
    let mut out = Vec::new();
    let text = frame(TEXT_JSONL);
    d.feed(&text[..text.len() / 2], &mut out).unwrap();
    let shown = format!("{d:?}");
    assert!(!shown.contains("AbCdEf"), "{shown}");
    assert!(!shown.contains("capital"), "{shown}");
    assert!(!d.is_done());
}

// ---------------------------------------------------------------------------------------------
// HTTP errors
// ---------------------------------------------------------------------------------------------

#[test]
fn http_errors_are_mapped() {
    let cohere =
        |m: &str| json!({"id": "8e2b0b63-0000-4000-8000-000000000000", "message": m}).to_string();
    let table: Vec<(&str, u16, String, ErrorCode, Option<&str>)> = vec![
        ("400", 400, cohere("invalid request: message must be at least 1 token long or tool results must be specified."),
            ErrorCode::InvalidRequest, Some("Cohere: invalid request: message must be at least 1 token long or tool results must be specified.")),
        ("400 too many tokens", 400, cohere("too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model - received 8192."),
            ErrorCode::InvalidRequest, None),
        ("401", 401, cohere("invalid api token"), ErrorCode::InvalidApiKey, Some("Cohere: invalid api token")),
        ("401 no key", 401, cohere("no api key supplied"), ErrorCode::InvalidApiKey, None),
        ("402", 402, cohere("Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"),
            ErrorCode::InsufficientQuota, None),
        ("403", 403, cohere("Forbidden"), ErrorCode::InvalidApiKey, None),
        ("404 model", 404, cohere("model 'command-x' not found, make sure the correct model ID was used and that you have access to the model."),
            ErrorCode::ModelNotFound, Some("Cohere: model 'command-x' not found, make sure the correct model ID was used and that you have access to the model.")),
        ("404 empty", 404, String::new(), ErrorCode::ModelNotFound, Some("Cohere: the model was not found for this key (HTTP 404)")),
        ("404 path", 404, cohere("Not Found"), ErrorCode::InvalidRequest, None),
        ("422", 422, cohere("invalid request: unknown field"), ErrorCode::InvalidRequest, None),
        ("429 trial", 429, cohere("You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."),
            ErrorCode::RateLimited, None),
        ("429 monthly", 429, cohere("You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."),
            ErrorCode::InsufficientQuota, None),
        ("498", 498, cohere("invalid api token"), ErrorCode::InvalidApiKey, None),
        ("498 no body", 498, String::new(), ErrorCode::InvalidApiKey, Some("Cohere: the API key was refused (HTTP 498)")),
        ("499", 499, cohere("request cancelled"), ErrorCode::NetworkError, None),
        ("500", 500, cohere("internal server error"), ErrorCode::ProviderUnavailable, None),
        ("503", 503, String::new(), ErrorCode::ProviderUnavailable, None),
        ("502 HTML", 502, "<html><body>bad gateway</body></html>".into(), ErrorCode::ProviderUnavailable,
            Some("Cohere: the service is unavailable or overloaded (HTTP 502)")),
    ];
    for (name, status, body, code, message) in table {
        let e = map_error("Cohere", "cohere", status, Some(2_000), &body, &[KEY]);
        assert_eq!(e.code, code, "{name}: {}", e.message);
        assert_eq!(e.status, Some(status), "{name}");
        assert_eq!(e.provider.as_deref(), Some("cohere"), "{name}");
        assert!(e.message.starts_with("Cohere: "), "{name}");
        assert!(!e.message.contains("<html>"), "{name}");
        if let Some(m) = message {
            assert_eq!(e.message, m, "{name}");
        }
        let waits = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        );
        assert_eq!(e.retry_after_ms, waits.then_some(2_000), "{name}");
    }
    // A key echoed in a message is redacted.
    let e = map_error(
        "Cohere",
        "cohere",
        401,
        None,
        &cohere(&format!("invalid api token {KEY}")),
        &[KEY],
    );
    assert!(!e.message.contains("AbCdEf"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------------
// Whole answers and model lists
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_answers() {
    let r = parse_chat_response(TEXT_NONSTREAM).unwrap();
    assert_eq!(r.content, "The capital of France is Paris.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, usage(12, 7));
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.model, None);

    let r = parse_chat_response(TOOL_NONSTREAM).unwrap();
    assert_eq!(r.content, "");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.usage, usage(119, 52));
    assert_eq!(
        r.tool_calls,
        [
            ToolCall {
                id: "weather_dqgshstja6p9".into(),
                name: "weather".into(),
                arguments: "{\"location\":\"San Francisco\"}".into()
            },
            ToolCall {
                id: "cityAttractions_dcxfx4myvx68".into(),
                name: "cityAttractions".into(),
                arguments: "{\"city\":\"San Francisco\"}".into()
            }
        ]
    );

    // Thinking parts are not content; `null` arguments are `{}`.
    let body = json!({"message": {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "4"}],
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "now", "arguments": "null"}}]},
        "finish_reason": "TOOL_CALL", "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 2}}});
    let r = parse_chat_response(&body.to_string()).unwrap();
    assert_eq!(r.content, "4");
    assert_eq!(
        r.tool_calls.first().map(|c| c.arguments.as_str()),
        Some("{}")
    );

    let e = parse_chat_response(r#"{"message":"invalid api token"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    let e = parse_chat_response(
        r#"{"message":{"content":[{"type":"text","text":"x"}]},"finish_reason":"ERROR"}"#,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    let e = parse_chat_response("{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"private")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("private"));
    let e = parse_chat_response("{\"finish_reason\": 7}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    let e = parse_chat_response("[1,2]").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
}

#[test]
fn model_lists() {
    let body = json!({"models": [
        {"name": "command-r-plus-08-2024", "endpoints": ["generate", "chat", "summarize"], "finetuned": false, "context_length": 128000},
        {"name": "embed-v4.0", "endpoints": ["embed"]},
        {"name": "command-r-plus-08-2024"},
        {"endpoints": []}
    ], "next_page_token": null});
    assert_eq!(
        parse_models(&body.to_string()).unwrap(),
        ["command-r-plus-08-2024", "embed-v4.0"]
    );
    assert_eq!(
        parse_models("{\"models\":[]}").unwrap(),
        Vec::<String>::new()
    );
    let e = parse_models("{\"message\":\"invalid api token\"}").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    let e = parse_models("<!doctype html><title>Router</title>").unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("Router"));
    let e = parse_models("{\"data\":[]}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
}

#[test]
fn the_wire_trait_dispatches_here() {
    use super::super::Wire;
    let w = Cohere;
    let req = request("command-r", vec![msg(Role::User, "Hi")]);
    assert_eq!(
        w.chat_request(&ep(), &req, true).unwrap(),
        chat_request(&ep(), &req, true).unwrap()
    );
    assert_eq!(w.models_request(&ep()).unwrap(), models_request(&ep()));
    assert!(w.parse_models("{\"models\":[]}").unwrap().is_empty());
    let mut d = w.stream_decoder("Cohere", &ep());
    let mut out = Vec::new();
    d.feed(&frame(TEXT_JSONL), &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert_eq!(content_of(&out), "The capital of France is Paris.");
    assert_eq!(
        w.map_error("Cohere", "cohere", 498, None, "", &[]).code,
        ErrorCode::InvalidApiKey
    );
    assert!(w.embed_request(&ep(), "embed-v4.0", &["x".into()]).is_ok());
    assert!(w.parse_embeddings("{}").is_err());
    assert!(w.parse_chat_response(TEXT_NONSTREAM).is_ok());
}
