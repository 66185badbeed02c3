//! Tests of the OpenAI dialect: request bodies and headers, every recorded OpenAI-dialect
//! stream decoded in every chunking, error mapping, whole answers and model lists.

use super::*;
use crate::core::catalog::Catalog;
use crate::core::chat::{Message, Settings, Tool};
use crate::core::collect::Collector;
use serde_json::{json, Value};

const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "openai",
        base_url: "https://api.openai.com/v1",
        secret: KEY,
    }
}

fn catalog() -> Catalog {
    Catalog::embedded().unwrap()
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
        provider: "openai".into(),
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

fn dialect(provider: &str, model: &str) -> Dialect {
    let c = catalog();
    let p = c.provider(provider).unwrap();
    dialect_for(p, c.model(provider, model).ok())
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_chat_body_and_headers() {
    let mut req = request(
        "gpt-4o",
        vec![msg(Role::System, "Be brief."), msg(Role::User, "Hello?")],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::One("END".into())),
    };
    let d = dialect("openai", "gpt-4o");
    let http = chat_request(&d, &ep(), &req, false).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(http.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        http.headers.first().map(|(_, v)| v.as_str()),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        http.headers.get(1).map(|(_, v)| v.as_str()),
        Some("application/json")
    );
    assert_eq!(
        body_of(&http),
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello?"}
            ],
            "temperature": 0.7,
            "top_p": 0.9,
            "max_tokens": 256,
            "stop": ["END"]
        })
    );
    // The key is in the header only.
    assert!(!http.url.contains(KEY));
    assert!(!http.body.as_deref().unwrap().contains("abcdefgh"));
    assert!(!format!("{http:?}").contains("abcdefgh"));
}

#[test]
fn absent_optionals_are_omitted_not_null() {
    let req = request("gpt-4o", vec![msg(Role::User, "Hi")]);
    let http = chat_request(&Dialect::default(), &ep(), &req, false).unwrap();
    assert_eq!(
        body_of(&http),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]})
    );
    assert!(!http.body.as_deref().unwrap().contains("null"));
}

#[test]
fn streaming_asks_for_usage_where_the_dialect_allows() {
    let mut req = request("gpt-4o", vec![msg(Role::User, "Hi")]);
    req.settings.stop = Some(Stop::Many(vec!["a".into(), "b".into()]));
    let http = chat_request(&dialect("openai", "gpt-4o"), &ep(), &req, true).unwrap();
    assert_eq!(
        body_of(&http),
        json!({
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hi"}],
            "stop": ["a", "b"],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    // Mistral refuses unknown parameters and reports usage unasked.
    let d = dialect("mistral", "mistral-small-latest");
    assert!(!d.stream_usage);
    let body = body_of(&chat_request(&d, &ep(), &req, true).unwrap());
    assert_eq!(body.get("stream"), Some(&json!(true)));
    assert_eq!(body.get("stream_options"), None);
    // Never without `stream`: OpenAI refuses `stream_options` alone.
    let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
    assert_eq!(body.get("stream"), None);
    assert_eq!(body.get("stream_options"), None);
}

#[test]
fn reasoning_models_get_max_completion_tokens_and_no_sampling() {
    let mut req = request(
        "o1",
        vec![msg(Role::System, "Be brief."), msg(Role::User, "Hi")],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(1000.0),
        top_p: Some(0.5),
        stop: None,
    };
    let d = dialect("openai", "o1");
    assert_eq!(d.max_tokens_field, MaxTokensField::MaxCompletionTokens);
    assert!(!d.sampling);
    assert_eq!(d.system_role, SystemRole::System);
    let body = body_of(&chat_request(&d, &ep(), &req, true).unwrap());
    assert_eq!(
        body,
        json!({
            "model": "o1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}
            ],
            "max_completion_tokens": 1000,
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );

    // o1-mini refuses system messages: the instructions go in as the user's.
    let d = dialect("openai", "o1-mini");
    assert_eq!(d.system_role, SystemRole::User);
    req.model = "o1-mini".into();
    let body = body_of(&chat_request(&d, &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([
            {"role": "user", "content": "Be brief."},
            {"role": "user", "content": "Hi"}
        ]))
    );
    assert_eq!(body.get("max_tokens"), None);
    assert_eq!(body.get("max_completion_tokens"), Some(&json!(1000)));

    // A model the catalog does not know yet is likely newer: OpenAI takes the new field on
    // every model. Known chat models keep `max_tokens`, which every compatible server knows.
    let c = catalog();
    let openai = c.provider("openai").unwrap();
    let unknown = dialect_for(openai, None);
    assert_eq!(
        unknown.max_tokens_field,
        MaxTokensField::MaxCompletionTokens
    );
    assert!(unknown.sampling);
    assert_eq!(
        dialect("openai", "gpt-4o").max_tokens_field,
        MaxTokensField::MaxTokens
    );
    // Other providers' reasoning models keep `max_tokens` and their sampling settings.
    let groq = dialect("groq", "openai/gpt-oss-120b");
    assert_eq!(groq.max_tokens_field, MaxTokensField::MaxTokens);
    assert!(groq.sampling && groq.stream_usage);
    assert_eq!(dialect("xai", "grok-3-mini"), Dialect::default());
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Weather in a city".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

#[test]
fn tools_and_every_tool_choice() {
    let mut req = request("gpt-4o", vec![msg(Role::User, "Weather in Paris?")]);
    req.tools = vec![
        weather_tool(),
        Tool {
            name: "noop".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}}),
        },
    ];
    let table = [
        (None, None),
        (Some(ToolChoice::Mode(ToolMode::Auto)), Some(json!("auto"))),
        (Some(ToolChoice::Mode(ToolMode::None)), Some(json!("none"))),
        (
            Some(ToolChoice::Mode(ToolMode::Required)),
            Some(json!("required")),
        ),
        (
            Some(ToolChoice::Named {
                name: "get_weather".into(),
            }),
            Some(json!({"type": "function", "function": {"name": "get_weather"}})),
        ),
    ];
    for (choice, want) in table {
        req.tool_choice = choice;
        let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
        assert_eq!(
            body.get("tools"),
            Some(&json!([
                {"type": "function", "function": {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
                }},
                {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
            ]))
        );
        assert_eq!(body.get("tool_choice"), want.as_ref());
    }
    // Without tools, a choice is left out: OpenAI refuses `tool_choice` alone.
    req.tools.clear();
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::None));
    let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
    assert_eq!(body.get("tools"), None);
    assert_eq!(body.get("tool_choice"), None);
}

#[test]
fn a_tool_round_trip_history() {
    let mut req = request(
        "gpt-4o",
        vec![
            msg(Role::User, "Weather in Paris and Rome?"),
            Message {
                role: Role::Assistant,
                content: Content::Text(String::new()),
                tool_calls: vec![
                    ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                    ToolCall {
                        id: "call_2".into(),
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
                tool_call_id: Some("call_1".into()),
            },
            Message {
                role: Role::Tool,
                content: Content::Parts(vec![
                    ContentPart::Text { text: "21".into() },
                    ContentPart::Text { text: "°C".into() },
                ]),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_2".into()),
            },
            Message {
                role: Role::Assistant,
                content: Content::Text("Paris 18°C, Rome 21°C.".into()),
                tool_calls: vec![ToolCall {
                    id: "call_3".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Oslo"}"#.into(),
                }],
                tool_call_id: None,
            },
            Message {
                role: Role::Tool,
                content: Content::Text("5°C".into()),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_3".into()),
            },
        ],
    );
    req.tools = vec![weather_tool()];
    let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "21°C"},
            {"role": "assistant", "content": "Paris 18°C, Rome 21°C.", "tool_calls": [
                {"id": "call_3", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_3", "content": "5°C"}
        ]))
    );

    // A tool message must name its call.
    let mut broken = req.clone();
    if let Some(m) = broken.messages.get_mut(2) {
        m.tool_call_id = None;
    }
    let e = chat_request(&Dialect::default(), &ep(), &broken, false).unwrap_err();
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
        "gpt-4o",
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
    let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([{"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}}
        ]}]))
    );

    // One text part goes as a plain string (several compatible servers take only strings).
    req.messages = vec![Message {
        role: Role::User,
        content: Content::Parts(vec![ContentPart::Text { text: "Hi".into() }]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }];
    let body = body_of(&chat_request(&Dialect::default(), &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([{"role": "user", "content": "Hi"}]))
    );

    // Inline data needs its type.
    req.messages = vec![Message {
        role: Role::User,
        content: Content::Parts(vec![
            ContentPart::Text { text: "x".into() },
            image(Some("iVBORw0KGgo="), None, None),
        ]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }];
    let e = chat_request(&Dialect::default(), &ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("mimeType"));
}

#[test]
fn auth_headers_per_dialect_and_key() {
    let req = request("local-model", vec![msg(Role::User, "Hi")]);
    let keyless = Endpoint {
        provider: "lmstudio",
        base_url: "http://localhost:1234/v1/",
        secret: "",
    };
    let d = dialect_for(catalog().provider("lmstudio").unwrap(), None);
    let http = chat_request(&d, &keyless, &req, true).unwrap();
    assert_eq!(header_names(&http), ["content-type"]);
    assert_eq!(http.url, "http://localhost:1234/v1/chat/completions");
    let models = models_request(&d, &keyless);
    assert!(models.headers.is_empty());
    assert_eq!(models.url, "http://localhost:1234/v1/models");

    let header = Dialect {
        auth: Auth::Header("api-key"),
        ..Dialect::default()
    };
    let http = chat_request(&header, &ep(), &req, false).unwrap();
    assert_eq!(header_names(&http), ["api-key", "content-type"]);
    assert_eq!(http.headers.first().map(|(_, v)| v.as_str()), Some(KEY));

    let none = Dialect {
        auth: Auth::None,
        ..Dialect::default()
    };
    let http = chat_request(&none, &ep(), &req, false).unwrap();
    assert_eq!(header_names(&http), ["content-type"]);

    let models = models_request(&Dialect::default(), &ep());
    assert_eq!(models.method, Method::Get);
    assert_eq!(models.url, "https://api.openai.com/v1/models");
    assert_eq!(header_names(&models), ["authorization"]);
    assert_eq!(models.body, None);
}

// ---------------------------------------------------------------------------------------------
// Streams: every recorded OpenAI-dialect chat stream
// ---------------------------------------------------------------------------------------------

const TEXT: &[u8] = include_bytes!("../../../../tests/fixtures/openai-chat.text.raw.sse.txt");
const TOOL_CALL: &[u8] =
    include_bytes!("../../../../tests/fixtures/openai-chat.tool-call.raw.sse.txt");
const LENGTH: &[u8] =
    include_bytes!("../../../../tests/fixtures/openai-chat.finish-length-usage.raw.sse.txt");
const PARALLEL: &[u8] =
    include_bytes!("../../../../tests/fixtures/openai-chat.parallel-tool-calls.raw.sse.txt");
const REFUSAL: &[u8] = include_bytes!("../../../../tests/fixtures/openai-chat.refusal.raw.sse.txt");
const N3: &[u8] =
    include_bytes!("../../../../tests/fixtures/openai-chat.n3-multiple-choices.raw.sse.txt");
const OPENAI_TEXT_JSONL: &str =
    include_str!("../../../../tests/fixtures/openai-chat.text.payloads.jsonl");
const AZURE_JSONL: &str =
    include_str!("../../../../tests/fixtures/azure-openai-chat.model-router.payloads.jsonl");
const GROQ_TEXT_JSONL: &str =
    include_str!("../../../../tests/fixtures/groq-chat.text.payloads.jsonl");
const GROQ_TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/groq-chat.tool-call.payloads.jsonl");
const XAI_TEXT_JSONL: &str =
    include_str!("../../../../tests/fixtures/xai-chat.text-reasoning.payloads.jsonl");
const XAI_TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/xai-chat.tool-call.payloads.jsonl");
const MISTRAL_TEXT_JSONL: &str =
    include_str!("../../../../tests/fixtures/mistral-chat.text.payloads.jsonl");
const MISTRAL_TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/mistral-chat.tool-call.payloads.jsonl");
const MISTRAL_INCREMENTAL_JSONL: &str =
    include_str!("../../../../tests/fixtures/mistral-chat.incremental-tool-call.payloads.jsonl");
const LEGACY_PARAM_ERROR: &str =
    include_str!("../../../../tests/fixtures/openai-chat.error-legacy-param.json");
const OPENAI_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/openai-chat.text.nonstream.json");
const XAI_NONSTREAM: &str = include_str!("../../../../tests/fixtures/xai-chat.text.nonstream.json");
const MISTRAL_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/mistral-chat.text.nonstream.json");

/// Re-frames recorded payloads as OpenAI sends them (`shared/fixtures/SOURCES.md`).
fn frame(jsonl: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str("data: ");
        out.push_str(line);
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

/// Everything a decoding run gives.
#[derive(Debug, PartialEq)]
struct Run {
    chunks: Vec<Chunk>,
    result: Result<()>,
    usage: Usage,
    cost: Option<f64>,
    model: Option<String>,
}

fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut d = OpenAiStream::new("OpenAI", &ep());
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
    Run {
        chunks,
        result,
        usage: d.usage(),
        cost: d.reported_cost(),
        model: d.model().map(str::to_owned),
    }
}

/// Decodes whole, byte by byte, 7 bytes at a time, and split in two at every position, and
/// checks that every way gives the same run.
///
/// Streams over 8 KiB (four recordings) are split at each of their first 64 positions, around
/// each of their first 20 event boundaries, and at 100 evenly spread positions:
/// every split of the 180 KB Groq stream alone would take most of an hour in a debug build,
/// and byte-by-byte feeding already puts a read boundary at every position.
fn decode_every_way(bytes: &[u8]) -> Run {
    decode_ways(bytes, &split_points(bytes, 8 * 1024, 100))
}

/// Like [`decode_every_way`] with fewer splits, for tests that replay every fixture again.
fn decode_many_ways(bytes: &[u8]) -> Run {
    decode_ways(bytes, &split_points(bytes, 0, 50))
}

fn decode_ways(bytes: &[u8], splits: &[usize]) -> Run {
    let whole = decode_pieces([bytes]);
    assert_eq!(decode_pieces(bytes.chunks(1)), whole, "byte by byte");
    assert_eq!(decode_pieces(bytes.chunks(7)), whole, "7 bytes at a time");
    for &at in splits {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_pieces([a, b]), whole, "split at {at}");
    }
    whole
}

fn split_points(bytes: &[u8], exhaustive_up_to: usize, spread: usize) -> Vec<usize> {
    let n = bytes.len();
    if n <= exhaustive_up_to {
        return (0..=n).collect();
    }
    let boundaries: Vec<usize> = bytes
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == b"\n\n")
        .map(|(i, _)| i + 1)
        .take(20)
        .collect();
    let mut points: Vec<usize> = (0..=n.min(64)).collect();
    for &b in &boundaries {
        points.extend(b.saturating_sub(3)..=(b + 3).min(n));
    }
    points.extend((0..=spread).map(|k| n * k / spread));
    points.sort_unstable();
    points.dedup();
    points
}

/// What a fixture must decode to.
struct Expect {
    name: &'static str,
    stream: Vec<u8>,
    /// The text, or its start, its end and its length in characters for the long ones.
    content: Text3,
    /// (id, name, arguments as JSON).
    calls: Vec<(&'static str, &'static str, Value)>,
    finish: FinishReason,
    usage: (u64, u64, u64),
    model: &'static str,
    cost: Option<f64>,
}

enum Text3 {
    Exact(&'static str),
    Long(&'static str, &'static str, usize),
}

fn expectations() -> Vec<Expect> {
    use FinishReason::*;
    vec![
        Expect {
            name: "openai text (raw)",
            stream: TEXT.to_vec(),
            content: Text3::Exact(
                "I'm unable to provide real-time weather updates. To get the current weather in \
                 San Francisco, I recommend checking a reliable weather website or a weather app.",
            ),
            calls: vec![],
            finish: Stop,
            usage: (14, 30, 44),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai tool call (raw)",
            stream: TOOL_CALL.to_vec(),
            content: Text3::Exact(""),
            calls: vec![(
                "call_4XzlGBLtUe9dy3GVNV4jhq7h",
                "get_weather",
                json!({"city": "New York City"}),
            )],
            finish: ToolCalls,
            usage: (44, 16, 60),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai finish length + usage (raw)",
            stream: LENGTH.to_vec(),
            content: Text3::Exact("{\""),
            calls: vec![],
            finish: Length,
            usage: (79, 1, 80),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai parallel tool calls (raw)",
            stream: PARALLEL.to_vec(),
            content: Text3::Exact(""),
            calls: vec![
                (
                    "call_JMW1whyEaYG438VE1OIflxA2",
                    "GetWeatherArgs",
                    json!({"city": "Edinburgh", "country": "GB", "units": "c"}),
                ),
                (
                    "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                    "get_stock_price",
                    json!({"ticker": "AAPL", "exchange": "NASDAQ"}),
                ),
            ],
            finish: ToolCalls,
            usage: (149, 60, 209),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai refusal (raw)",
            stream: REFUSAL.to_vec(),
            content: Text3::Exact("I'm sorry, I can't assist with that request."),
            calls: vec![],
            finish: ContentFilter,
            usage: (79, 11, 90),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai n=3, choice 0 only (raw)",
            stream: N3.to_vec(),
            content: Text3::Exact(r#"{"city":"San Francisco","temperature":65,"units":"f"}"#),
            calls: vec![],
            finish: Stop,
            usage: (79, 42, 121),
            model: "gpt-4o-2024-08-06",
            cost: None,
        },
        Expect {
            name: "openai text (payloads)",
            stream: frame(OPENAI_TEXT_JSONL),
            content: Text3::Long(
                "**Holiday Name:** Harmony Day\n\n**Date:** Celebrated annually",
                "nnected through shared human experiences and mutual respect.",
                1724,
            ),
            calls: vec![],
            finish: Stop,
            usage: (16, 300, 316),
            model: "gpt-4.1-nano-2025-04-14",
            cost: None,
        },
        Expect {
            name: "azure model router, empty first choices (payloads)",
            stream: frame(AZURE_JSONL),
            content: Text3::Exact("Capital of Denmark."),
            calls: vec![],
            finish: Stop,
            usage: (15, 78, 93),
            model: "gpt-5-nano-2025-08-07",
            cost: None,
        },
        Expect {
            name: "groq text, usage beside x_groq (payloads)",
            stream: frame(GROQ_TEXT_JSONL),
            content: Text3::Long(
                "Introducing \"Luminaria\" - a new holiday that celebrates the ",
                "onnection, and a deeper appreciation for the magic of light.",
                3189,
            ),
            calls: vec![],
            finish: Stop,
            usage: (45, 662, 707),
            model: "llama-3.3-70b-versatile",
            cost: None,
        },
        Expect {
            name: "groq whole tool call (payloads)",
            stream: frame(GROQ_TOOL_JSONL),
            content: Text3::Exact(""),
            calls: vec![("tk85n1k4m", "weather", json!({}))],
            finish: ToolCalls,
            usage: (210, 15, 225),
            model: "llama-3.3-70b-versatile",
            cost: None,
        },
        Expect {
            name: "xai text with reasoning (payloads)",
            stream: frame(XAI_TEXT_JSONL),
            content: Text3::Exact("Hello"),
            calls: vec![],
            finish: Stop,
            // xAI counts its 290 reasoning tokens beside completion_tokens: output 1 + 290.
            usage: (12, 291, 303),
            model: "grok-3-mini",
            cost: Some(0.000_146_625),
        },
        Expect {
            name: "xai whole tool call (payloads)",
            stream: frame(XAI_TOOL_JSONL),
            content: Text3::Exact(""),
            calls: vec![(
                "call_55117580",
                "weather",
                json!({"location": "San Francisco"}),
            )],
            finish: ToolCalls,
            usage: (291, 222, 513),
            model: "grok-3-mini",
            cost: Some(0.000_133_05),
        },
        Expect {
            name: "mistral text, usage on the finish chunk (payloads)",
            stream: frame(MISTRAL_TEXT_JSONL),
            content: Text3::Exact("Hello, world! This is a test response."),
            calls: vec![],
            finish: Stop,
            usage: (13, 8, 21),
            model: "mistral-small-latest",
            cost: None,
        },
        Expect {
            name: "mistral tool call without index (payloads)",
            stream: frame(MISTRAL_TOOL_JSONL),
            content: Text3::Exact(""),
            calls: vec![("gSIMJiOkT", "weather", json!({"location": "San Francisco"}))],
            finish: ToolCalls,
            usage: (124, 22, 146),
            model: "mistral-small-latest",
            cost: None,
        },
        Expect {
            name: "mistral incremental tool call, empty name repeated (payloads)",
            stream: frame(MISTRAL_INCREMENTAL_JSONL),
            content: Text3::Exact(""),
            calls: vec![(
                "chatcmpl-tool-9f149c74c42f265b",
                "webSearchTool",
                json!({"query": "current Berlin weather"}),
            )],
            finish: ToolCalls,
            usage: (171, 14, 185),
            model: "zai-glm-5-2",
            cost: None,
        },
    ]
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-15,
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn every_recorded_stream_decodes_the_same_in_every_chunking() {
    for x in expectations() {
        let run = decode_every_way(&x.stream);
        let name = x.name;
        assert_eq!(run.result, Ok(()), "{name}");
        let usage = Usage {
            input_tokens: x.usage.0,
            output_tokens: x.usage.1,
            total_tokens: x.usage.2,
        };
        assert_eq!(run.usage, usage, "{name}");
        assert!(close(run.cost, x.cost), "{name}: {:?}", run.cost);
        assert_eq!(run.model.as_deref(), Some(x.model), "{name}");

        // The chunk sequence is well formed: one `done`, last; tool-call pieces carry their
        // call's id and name; one `usage` chunk, equal to the final usage.
        let (last, rest) = run.chunks.split_last().unwrap();
        assert_eq!(
            *last,
            Chunk::Done {
                finish_reason: x.finish,
                usage,
                cost: None
            },
            "{name}"
        );
        assert!(
            !rest.iter().any(|c| matches!(c, Chunk::Done { .. })),
            "{name}"
        );
        let usages: Vec<_> = rest
            .iter()
            .filter_map(|c| match c {
                Chunk::Usage { usage } => Some(*usage),
                _ => None,
            })
            .collect();
        assert_eq!(usages, [usage], "{name}");
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
        let mut collector = Collector::new("openai", x.model);
        for c in &run.chunks {
            collector.push(c);
        }
        let result = collector.finish();
        match x.content {
            Text3::Exact(text) => assert_eq!(result.content, text, "{name}"),
            Text3::Long(start, end, chars) => {
                assert!(result.content.starts_with(start), "{name}");
                assert!(result.content.ends_with(end), "{name}");
                assert_eq!(result.content.chars().count(), chars, "{name}");
            }
        }
        let calls: Vec<(&str, &str, Value)> = result
            .tool_calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.name.as_str(),
                    serde_json::from_str(&c.arguments).unwrap(),
                )
            })
            .collect();
        assert_eq!(calls, x.calls, "{name}");
        assert_eq!(result.finish_reason, x.finish, "{name}");
        assert_eq!(result.usage, usage, "{name}");
    }
}

#[test]
fn tool_call_pieces_in_detail() {
    let run = decode_pieces([TOOL_CALL]);
    let pieces: Vec<&str> = run
        .chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolCall {
                id,
                name,
                arguments_delta,
            } => {
                assert_eq!(id, "call_4XzlGBLtUe9dy3GVNV4jhq7h");
                assert_eq!(name, "get_weather");
                Some(arguments_delta.as_str())
            }
            _ => None,
        })
        .collect();
    // The first piece announces the call before any argument.
    assert_eq!(
        pieces,
        ["", "{\"", "city", "\":\"", "New", " York", " City", "\"}"]
    );

    // Parallel calls: pieces of call 1 carry call 1's id though they only name index 1.
    let run = decode_pieces([PARALLEL]);
    let second: String = run
        .chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolCall {
                id,
                name,
                arguments_delta,
            } if id == "call_DNYTawLBoN8fj3KN6qU9N1Ou" => {
                assert_eq!(name, "get_stock_price");
                Some(arguments_delta.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(second, r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#);
}

fn without_done(stream: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(stream).unwrap();
    let cut = text.rfind("data: [DONE]").unwrap();
    text.get(..cut).unwrap().as_bytes().to_vec()
}

#[test]
fn a_stream_without_done_is_a_network_error_with_its_usage() {
    for x in expectations() {
        let name = x.name;
        let stream = without_done(&x.stream);
        let run = decode_many_ways(&stream);
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{name}");
        assert_eq!(
            e.message, "the stream from OpenAI ended before it was complete",
            "{name}"
        );
        assert_eq!(e.provider.as_deref(), Some("openai"), "{name}");
        // What was known before the cut is still there.
        assert_eq!(
            run.usage,
            Usage {
                input_tokens: x.usage.0,
                output_tokens: x.usage.1,
                total_tokens: x.usage.2
            },
            "{name}"
        );
        assert!(
            !run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })),
            "{name}"
        );
    }

    // Cut in the middle of an event: the same error; the usage known so far (none yet).
    let cut = TEXT.len() / 2;
    let run = decode_every_way(TEXT.get(..cut).unwrap());
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert_eq!(
        e.message,
        "the stream from OpenAI ended before it was complete"
    );
    assert_eq!(run.usage, Usage::default());
    assert!(run
        .chunks
        .iter()
        .all(|c| matches!(c, Chunk::Content { .. })));

    // An empty body is a cut-off stream too.
    let run = decode_pieces([&b""[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
}

/// The first `n` events of a stream.
fn first_events(stream: &[u8], n: usize) -> Vec<u8> {
    let text = std::str::from_utf8(stream).unwrap();
    let mut out = String::new();
    for event in text.split_inclusive("\n\n").take(n) {
        out.push_str(event);
    }
    out.into_bytes()
}

#[test]
fn errors_inside_a_200_stream() {
    let server_error = r#"{"error":{"message":"The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if the error persists.","type":"server_error","param":null,"code":null}}"#;
    let table: &[(&str, String, ErrorCode, &str)] = &[
        (
            "openai server_error",
            format!("data: {server_error}\n\n"),
            ErrorCode::ProviderUnavailable,
            "OpenAI: The server had an error processing your request.",
        ),
        (
            "rate limit by type",
            "data: {\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n".into(),
            ErrorCode::RateLimited,
            "OpenAI: Rate limit reached for gpt-4o",
        ),
        (
            "quota",
            "data: {\"error\":{\"message\":\"You exceeded your current quota.\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}\n\n".into(),
            ErrorCode::InsufficientQuota,
            "OpenAI: You exceeded your current quota.",
        ),
        (
            "openrouter numeric code",
            "data: {\"id\":\"gen-1\",\"error\":{\"code\":502,\"message\":\"Provider returned error\"}}\n\n".into(),
            ErrorCode::ProviderUnavailable,
            "OpenAI: Provider returned error",
        ),
        (
            "a bare string",
            "data: {\"error\":\"context_length_exceeded\"}\n\n".into(),
            ErrorCode::ProviderUnavailable,
            "OpenAI: context_length_exceeded",
        ),
        (
            "an error event (vLLM)",
            "event: error\ndata: {\"object\":\"error\",\"message\":\"out of memory\",\"type\":\"InternalServerError\",\"code\":500}\n\n".into(),
            ErrorCode::ProviderUnavailable,
            "OpenAI: out of memory",
        ),
        (
            "an error event that is not JSON",
            "event: error\ndata: private words\n\n".into(),
            ErrorCode::ProviderUnavailable,
            "OpenAI: the service reported an error in the stream",
        ),
        (
            "a key echoed",
            format!("data: {{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}\",\"code\":\"invalid_api_key\"}}}}\n\n"),
            ErrorCode::InvalidApiKey,
            "OpenAI: Incorrect API key provided: [REDACTED]",
        ),
    ];
    for (name, error_event, code, message_start) in table {
        let mut stream = first_events(TEXT, 3);
        stream.extend_from_slice(error_event.as_bytes());
        let run = decode_every_way(&stream);
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.code, *code, "{name}");
        assert!(
            e.message.starts_with(message_start),
            "{name}: {}",
            e.message
        );
        assert!(!e.message.contains("abcdefgh"), "{name}");
        assert_eq!(e.provider.as_deref(), Some("openai"), "{name}");
        assert_eq!(e.status, None, "{name}");
        // The content before the error was delivered.
        assert_eq!(
            run.chunks,
            [
                Chunk::Content {
                    delta: "I'm".into()
                },
                Chunk::Content {
                    delta: " unable".into()
                }
            ],
            "{name}"
        );
    }

    // After an error every call fails the same way.
    let mut stream = first_events(TEXT, 2);
    stream.extend_from_slice(format!("data: {server_error}\n\n").as_bytes());
    let mut d = OpenAiStream::new("OpenAI", &ep());
    let mut out = Vec::new();
    let e = d.feed(&stream, &mut out).unwrap_err();
    assert_eq!(d.feed(&first_events(TEXT, 5), &mut out), Err(e.clone()));
    assert_eq!(d.finish(&mut out), Err(e));
}

#[test]
fn unreadable_events_are_network_errors_that_quote_nothing() {
    let table = [
        "data: {\"choices\":[{\"delta\":{\"content\":\"secret text\n\n",
        "data: secret text\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"secret text\"}}]} trailing\n\n",
        "data: [\"secret text\"]\n\n",
    ];
    for garbage in table {
        let mut stream = first_events(TEXT, 2);
        stream.extend_from_slice(garbage.as_bytes());
        let run = decode_every_way(&stream);
        let e = run.result.unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{garbage}");
        assert!(!e.message.contains("secret"), "{}", e.message);
        assert!(!e.message.contains("choices"), "{}", e.message);
        assert!(e.message.starts_with("OpenAI: "), "{}", e.message);
    }
}

#[test]
fn text_that_is_not_an_event_stream() {
    let quota_body = "{\n    \"error\": {\n        \"message\": \"You exceeded your current quota, please check your plan and billing details.\",\n        \"type\": \"insufficient_quota\",\n        \"param\": null,\n        \"code\": \"insufficient_quota\"\n    }\n}\n";
    let run = decode_every_way(quota_body.as_bytes());
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::InsufficientQuota);
    assert_eq!(
        e.message,
        "OpenAI: You exceeded your current quota, please check your plan and billing details."
    );

    // The same without a final line end, and after some events.
    let mut stream = first_events(TEXT, 2);
    stream.extend_from_slice(quota_body.trim_end().as_bytes());
    let run = decode_every_way(&stream);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::InsufficientQuota);

    // A key echo in a bare error body is redacted.
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-********************ABCD.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let run = decode_every_way(body.as_bytes());
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    assert!(!e.message.contains("ABCD"), "{}", e.message);
    assert!(!e.message.contains("sk-proj"), "{}", e.message);

    // llama.cpp's `error:` line.
    let run = decode_every_way(
        b"error: {\"code\":500,\"message\":\"failed to decode\",\"type\":\"server_error\"}\n\n",
    );
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(e.message, "OpenAI: failed to decode");

    // A gateway's HTML page: not quoted.
    let html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n";
    let run = decode_every_way(html);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert_eq!(e.message, "OpenAI: the answer is not an event stream");

    // JSON that is no error and no event.
    let run = decode_every_way(b"{\"object\": \"chat.completion\",\n\"choices\": []}\n");
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
}

/// Decodes a synthetic stream of payloads (framed, with `[DONE]`) every way.
fn decode_payloads(payloads: &[Value]) -> Run {
    let jsonl: Vec<String> = payloads.iter().map(Value::to_string).collect();
    decode_every_way(&frame(&jsonl.join("\n")))
}

fn content_of(run: &Run) -> String {
    run.chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content { delta } => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

fn calls_of(run: &Run) -> Vec<ToolCall> {
    let mut c = Collector::new("p", "m");
    for chunk in &run.chunks {
        c.push(chunk);
    }
    c.finish().tool_calls
}

fn done_of(run: &Run) -> Option<&Chunk> {
    run.chunks
        .last()
        .filter(|c| matches!(c, Chunk::Done { .. }))
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[test]
fn gateway_shapes_are_read_leniently() {
    // OpenRouter: usage (with its cost) on a last chunk whose choice has an empty delta.
    let run = decode_payloads(&[
        json!({"id":"gen-1","model":"anthropic/claude-sonnet-4.5","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}),
        json!({"id":"gen-1","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop","native_finish_reason":"end_turn"}]}),
        json!({"id":"gen-1","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"cost":0.00006,"is_byok":false}}),
    ]);
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run), "Hi");
    assert_eq!(run.cost, Some(0.00006));
    assert_eq!(run.model.as_deref(), Some("anthropic/claude-sonnet-4.5"));
    assert_eq!(
        done_of(&run),
        Some(&Chunk::Done {
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
                total_tokens: 12
            },
            cost: None
        })
    );

    // Floats for counts, no total, usage repeated on every chunk (one chunk per change).
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":5.0,"completion_tokens":1}}),
        json!({"choices":[{"delta":{"content":"b"}}],"usage":{"prompt_tokens":5.0,"completion_tokens":1}}),
        json!({"choices":[{"delta":{"content":"c"},"finish_reason":"length"}],"usage":{"prompt_tokens":"5","completion_tokens":3,"total_tokens":null}}),
    ]);
    let usages: Vec<_> = run
        .chunks
        .iter()
        .filter(|c| matches!(c, Chunk::Usage { .. }))
        .collect();
    assert_eq!(usages.len(), 2);
    assert_eq!(
        run.usage,
        Usage {
            input_tokens: 5,
            output_tokens: 3,
            total_tokens: 8
        }
    );
    assert_eq!(content_of(&run), "abc");

    // No usage at all (older Ollama `/v1`): zero counts, still done.
    let run =
        decode_payloads(&[json!({"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]})]);
    assert_eq!(run.usage, Usage::default());
    assert!(done_of(&run).is_some());

    // `null` everywhere, comments, keep-alive events, CRLF, `event:` names.
    let stream = b": OPENROUTER PROCESSING\r\n\r\ndata: {\"choices\":null,\"usage\":null,\"model\":null}\r\n\r\nevent: message\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":null,\"refusal\":null},\"finish_reason\":null}]}\r\n\r\ndata:\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n";
    let run = decode_every_way(stream);
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run), "ok");
    assert_eq!(run.model, None);

    // Mistral's reasoning models send content as parts; thinking is skipped.
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]}]}}]}),
        json!({"choices":[{"delta":{"content":[{"type":"text","text":"Answer"}]}}]}),
        json!({"choices":[{"delta":{"reasoning_content":"secret thoughts","content":"!"},"finish_reason":"stop"}]}),
    ]);
    assert_eq!(content_of(&run), "Answer!");

    // Choice 0 wherever it sits in the list; other choices ignored.
    let run = decode_payloads(&[
        json!({"choices":[{"index":1,"delta":{"content":"one"}},{"index":0,"delta":{"content":"zero"}}]}),
        json!({"choices":[{"index":2,"delta":{"content":"two"},"finish_reason":"length"}]}),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
    ]);
    assert_eq!(content_of(&run), "zero");
    assert!(matches!(
        done_of(&run),
        Some(Chunk::Done {
            finish_reason: FinishReason::Stop,
            ..
        })
    ));

    // Anything after `[DONE]` is ignored, garbage included.
    let mut stream =
        frame("{\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}");
    stream.extend_from_slice(
        b"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\ndata: garbage\n\n<html>\n",
    );
    let run = decode_every_way(&stream);
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run), "x");
}

#[test]
fn finish_reasons_are_mapped() {
    let table = [
        ("stop", FinishReason::Stop),
        ("length", FinishReason::Length),
        ("tool_calls", FinishReason::ToolCalls),
        ("function_call", FinishReason::ToolCalls),
        ("content_filter", FinishReason::ContentFilter),
        ("model_length", FinishReason::Length),
        ("eos", FinishReason::Stop),
        ("error", FinishReason::Other),
        ("something_new", FinishReason::Other),
    ];
    for (wire, want) in table {
        let run =
            decode_payloads(&[json!({"choices":[{"delta":{"content":"x"},"finish_reason":wire}]})]);
        assert!(
            matches!(done_of(&run), Some(Chunk::Done { finish_reason, .. }) if *finish_reason == want),
            "{wire}"
        );
    }
    // No finish reason at all: stop (or tool_calls after calls).
    let run = decode_payloads(&[json!({"choices":[{"delta":{"content":"x"}}]})]);
    assert!(matches!(
        done_of(&run),
        Some(Chunk::Done {
            finish_reason: FinishReason::Stop,
            ..
        })
    ));
}

#[test]
fn tool_call_deltas_in_every_shape() {
    // Two whole calls in one delta, by index; they end with `stop` (a named tool_choice):
    // reported as tool_calls.
    let run = decode_payloads(&[json!({"choices":[{"delta":{"tool_calls":[
        {"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
        {"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}
    ]},"finish_reason":"stop"}]})]);
    assert_eq!(
        calls_of(&run),
        [call("a", "f", "{\"x\":1}"), call("b", "g", "{}")]
    );
    assert!(matches!(
        done_of(&run),
        Some(Chunk::Done {
            finish_reason: FinishReason::ToolCalls,
            ..
        })
    ));

    // No index and no id on the continuation: the latest call.
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":":2}"}}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{"}}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}),
    ]);
    assert_eq!(
        calls_of(&run),
        [call("a", "f", "{\"x\":2}"), call("b", "g", "{}")]
    );

    // A server that gives every call index 0 but distinct ids: still two calls.
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}),
    ]);
    assert_eq!(calls_of(&run), [call("a", "f", "{}"), call("b", "g", "{}")]);

    // No id at all: one is made up; arguments as a JSON object are written out as text.
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":{"city":"Oslo"}}}]}}]}),
    ]);
    assert_eq!(
        calls_of(&run),
        [call("call_byok_0", "f", "{\"city\":\"Oslo\"}")]
    );

    // The name arriving after the id: announced once the name is known.
    let run = decode_payloads(&[
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a"}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}),
        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}),
    ]);
    let pieces: Vec<_> = run
        .chunks
        .iter()
        .filter(|c| matches!(c, Chunk::ToolCall { .. }))
        .cloned()
        .collect();
    assert_eq!(
        pieces,
        [
            Chunk::ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments_delta: String::new()
            },
            Chunk::ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments_delta: "{}".into()
            }
        ]
    );
}

#[test]
fn the_decoder_debug_shows_no_key_or_text() {
    let mut d = OpenAiStream::new("OpenAI", &ep());
    let mut out = Vec::new();
    d.feed(&first_events(TEXT, 3), &mut out).unwrap();
    let shown = format!("{d:?}");
    assert!(!shown.contains("abcdefgh"), "{shown}");
    assert!(!shown.contains("unable"), "{shown}");
    assert!(!d.is_done());
}

// ---------------------------------------------------------------------------------------------
// HTTP errors
// ---------------------------------------------------------------------------------------------

#[test]
fn http_errors_are_mapped() {
    let openai = |message: &str, kind: &str, code: &str| {
        json!({"error": {"message": message, "type": kind, "param": null, "code": if code.is_empty() { Value::Null } else { json!(code) }}}).to_string()
    };
    let masked = "sk-proj-************************************ABCD";
    let table: Vec<(&str, u16, String, ErrorCode, Option<&str>)> = vec![
        (
            "401 with the masked key echoed",
            401,
            openai(
                &format!("Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "invalid_request_error",
                "invalid_api_key",
            ),
            ErrorCode::InvalidApiKey,
            // The redaction takes the full stop after the key with it.
            Some("OpenAI: Incorrect API key provided: [REDACTED] You can find your API key at https://platform.openai.com/account/api-keys."),
        ),
        (
            "401 without a key",
            401,
            openai("You didn't provide an API key.", "invalid_request_error", ""),
            ErrorCode::InvalidApiKey,
            Some("OpenAI: You didn't provide an API key."),
        ),
        ("403", 403, openai("Project does not have access", "invalid_request_error", ""), ErrorCode::InvalidApiKey, None),
        ("402", 402, String::new(), ErrorCode::InsufficientQuota, Some("OpenAI: the account is out of credit or quota (HTTP 402)")),
        (
            "404 unknown model",
            404,
            openai("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
            ErrorCode::ModelNotFound,
            Some("OpenAI: The model `gpt-9` does not exist or you do not have access to it."),
        ),
        (
            "404 unknown model, vLLM shape",
            404,
            json!({"object":"error","message":"The model `foo` does not exist.","type":"NotFoundError","param":null,"code":404}).to_string(),
            ErrorCode::ModelNotFound,
            Some("OpenAI: The model `foo` does not exist."),
        ),
        ("404 wrong path", 404, openai("Invalid URL (POST /v1/nope)", "invalid_request_error", ""), ErrorCode::InvalidRequest, None),
        (
            "429 out of credit",
            429,
            openai("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"),
            ErrorCode::InsufficientQuota,
            None,
        ),
        (
            "429 rate limit",
            429,
            openai("Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded"),
            ErrorCode::RateLimited,
            None,
        ),
        ("429 without a body", 429, String::new(), ErrorCode::RateLimited, Some("OpenAI: too many requests; try again later (HTTP 429)")),
        ("400 legacy parameter", 400, LEGACY_PARAM_ERROR.into(), ErrorCode::InvalidRequest,
            Some("OpenAI: Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")),
        (
            "400 bad key, xAI shape",
            400,
            json!({"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***pQ. You can obtain an API key from https://console.x.ai."}).to_string(),
            ErrorCode::InvalidApiKey,
            None,
        ),
        ("413", 413, openai("Request body too large.", "invalid_request_error", ""), ErrorCode::InvalidRequest, None),
        ("422 Mistral", 422, json!({"object":"error","message":{"detail":[{"type":"extra_forbidden"}]},"type":"invalid_request_error"}).to_string(), ErrorCode::InvalidRequest,
            Some("OpenAI: the request was refused (HTTP 422)")),
        ("408", 408, String::new(), ErrorCode::NetworkError, None),
        ("500", 500, openai("The server had an error processing your request.", "server_error", ""), ErrorCode::ProviderUnavailable, None),
        ("503", 503, openai("The engine is currently overloaded, please try again later.", "server_error", ""), ErrorCode::ProviderUnavailable, None),
        ("529", 529, String::new(), ErrorCode::ProviderUnavailable, None),
        (
            "502 HTML page, not quoted",
            502,
            "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>".into(),
            ErrorCode::ProviderUnavailable,
            Some("OpenAI: the service is unavailable or overloaded (HTTP 502)"),
        ),
        ("418", 418, String::new(), ErrorCode::InvalidRequest, None),
        ("599", 599, String::new(), ErrorCode::ProviderUnavailable, None),
    ];
    for (name, status, body, code, message) in table {
        let e = map_error("OpenAI", "openai", status, Some(1_000), &body, &[KEY]);
        assert_eq!(e.code, code, "{name}: {}", e.message);
        assert_eq!(e.status, Some(status), "{name}");
        assert_eq!(e.provider.as_deref(), Some("openai"), "{name}");
        assert!(e.message.starts_with("OpenAI: "), "{name}");
        assert!(!e.message.contains("ABCD"), "{name}: {}", e.message);
        assert!(!e.message.contains("<html>"), "{name}");
        if let Some(m) = message {
            assert_eq!(e.message, m, "{name}");
        }
        let waits = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        );
        assert_eq!(e.retry_after_ms, waits.then_some(1_000), "{name}");
    }

    // The key itself, not masked, is redacted too; a long message is bounded.
    let body = openai(
        &format!("bad key {KEY} {}", "x".repeat(2_000)),
        "invalid_request_error",
        "invalid_api_key",
    );
    let e = map_error("OpenAI", "openai", 401, None, &body, &[KEY]);
    assert!(!e.message.contains("abcdefgh"), "{}", e.message);
    assert!(e.message.chars().count() <= "OpenAI: ".len() + 300);
}

// ---------------------------------------------------------------------------------------------
// Whole answers and model lists
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_answers() {
    let r = parse_chat_response(OPENAI_NONSTREAM).unwrap();
    assert!(r.content.starts_with("**Holiday Name:** Galaxy Day"));
    assert!(r
        .content
        .ends_with("inspiring individuals to look up and dream beyond our world."));
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 16,
            output_tokens: 363,
            total_tokens: 379
        }
    );
    assert_eq!(r.model.as_deref(), Some("gpt-4.1-nano-2025-04-14"));
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.reported_cost, None);

    // xAI: 228 reasoning tokens beside the one completion token; its cost in ticks.
    let r = parse_chat_response(XAI_NONSTREAM).unwrap();
    assert_eq!(r.content, "Hello");
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 229,
            total_tokens: 241
        }
    );
    assert!(close(r.reported_cost, Some(0.000_117_65)));

    let r = parse_chat_response(MISTRAL_NONSTREAM).unwrap();
    assert!(r
        .content
        .starts_with("**Holiday Name: \"World Kindness Day of Sharing\"**"));
    assert_eq!(r.model.as_deref(), Some("mistral-small-latest"));
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 13,
            output_tokens: 434,
            total_tokens: 447
        }
    );

    // A tool call (OpenAI's shape).
    let body = json!({"object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"refusal":null},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":10,"total_tokens":60}});
    let r = parse_chat_response(&body.to_string()).unwrap();
    assert_eq!(r.content, "");
    assert_eq!(
        r.tool_calls,
        [call("call_1", "get_weather", "{\"city\":\"Paris\"}")]
    );
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);

    // A refusal is the content, and a content filter stop.
    let body = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I'm sorry, I can't assist with that request."},"finish_reason":"stop"}]});
    let r = parse_chat_response(&body.to_string()).unwrap();
    assert_eq!(r.content, "I'm sorry, I can't assist with that request.");
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);

    // No choice at all.
    let r = parse_chat_response("{\"choices\":[],\"usage\":{\"prompt_tokens\":3}}").unwrap();
    assert_eq!(r.content, "");
    assert_eq!(r.finish_reason, FinishReason::Other);
    assert_eq!(r.usage.input_tokens, 3);

    // An error object in a 200 answer; a cut-off answer, not quoted.
    let e = parse_chat_response(LEGACY_PARAM_ERROR).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.starts_with("Unsupported parameter: 'max_tokens'"));
    let e = parse_chat_response("{\"choices\":[{\"message\":{\"content\":\"private").unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("private"));
    let e = parse_chat_response("{\"choices\": 7}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
}

#[test]
fn model_lists() {
    let body = json!({"object":"list","data":[
        {"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},
        {"id":"o1","object":"model"},
        {"id":"gpt-4o","object":"model"},
        {"object":"model"}
    ]});
    assert_eq!(parse_models(&body.to_string()).unwrap(), ["gpt-4o", "o1"]);
    // Together answers a bare list.
    assert_eq!(
        parse_models("[{\"id\":\"meta-llama/Llama-3\",\"type\":\"chat\"}]").unwrap(),
        ["meta-llama/Llama-3"]
    );
    assert_eq!(parse_models("{\"data\":[]}").unwrap(), Vec::<String>::new());
    let e = parse_models(
        "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc***xyz1\",\"code\":\"invalid_api_key\"}}",
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    assert!(!e.message.contains("sk-abc"), "{}", e.message);
    let e = parse_models("<!doctype html><title>Router</title>").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert!(!e.message.contains("Router"));
}

// ---------------------------------------------------------------------------------------------
// Azure OpenAI paths and embeddings
// ---------------------------------------------------------------------------------------------

fn azure_ep(base: &'static str) -> Endpoint<'static> {
    Endpoint {
        provider: "azure",
        base_url: base,
        secret: "0123456789abcdef0123456789abcdef",
    }
}

#[test]
fn azure_uses_deployment_urls_api_version_and_the_api_key_header() {
    let c = catalog();
    let d = dialect_for(c.provider("azure").unwrap(), None);
    let ep = azure_ep("https://myres.openai.azure.com/openai");
    let r = chat_request(
        &d,
        &ep,
        &request("my gpt4o", vec![msg(Role::User, "hi")]),
        true,
    )
    .unwrap();
    assert_eq!(
        r.url,
        format!(
            "https://myres.openai.azure.com/openai/deployments/my%20gpt4o/chat/completions?api-version={AZURE_API_VERSION}"
        )
    );
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api-key", "content-type"]);
    assert_eq!(r.headers[0].1.as_str(), "0123456789abcdef0123456789abcdef");
    let m = models_request(&d, &ep);
    assert!(m
        .url
        .ends_with(&format!("/openai/models?api-version={AZURE_API_VERSION}")));
    // Azure's v1 API takes OpenAI's own paths.
    let v1 = azure_ep("https://myres.openai.azure.com/openai/v1");
    let r = chat_request(
        &d,
        &v1,
        &request("gpt-4o", vec![msg(Role::User, "hi")]),
        false,
    )
    .unwrap();
    assert_eq!(
        r.url,
        "https://myres.openai.azure.com/openai/v1/chat/completions"
    );
    let e = embed_request(&d, &ep, "emb-small", &["a".into()]).unwrap();
    assert!(e
        .url
        .contains("/deployments/emb-small/embeddings?api-version="));
}

#[test]
fn embeddings_request_and_answer() {
    let d = Dialect::default();
    let r = embed_request(
        &d,
        &ep(),
        "text-embedding-3-small",
        &["one".into(), "two".into()],
    )
    .unwrap();
    assert_eq!(r.url, format!("{}/embeddings", ep().base_url));
    let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"model":"text-embedding-3-small","input":["one","two"],"encoding_format":"float"})
    );
    let answer = r#"{"object":"list","data":[
        {"object":"embedding","index":1,"embedding":[0.5,-1]},
        {"object":"embedding","index":0,"embedding":[0.25,2e-3]}],
        "model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#;
    let e = parse_embeddings(answer).unwrap();
    assert_eq!(e.embeddings, vec![vec![0.25, 0.002], vec![0.5, -1.0]]);
    assert_eq!(e.usage.input_tokens, 4);
    assert_eq!(e.usage.total_tokens, 4);
    let bad = parse_embeddings("<html>").unwrap_err();
    assert_eq!(bad.code, ErrorCode::NetworkError);
}
