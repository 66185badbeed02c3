//! Tests of the Gemini and Vertex dialect: request bodies, URLs and headers, tool schemas,
//! every recorded Gemini stream decoded in every chunking, Vertex's streamed arguments,
//! whole answers, model lists, embeddings and error mapping.

use super::*;
use crate::core::catalog::Catalog;
use crate::core::chat::{Settings, Tool, ToolCall};
use crate::core::collect::Collector;
use crate::core::protocol::{wire_for, Wire};
use serde_json::json;

const KEY: &str = "AIzaSyD-standinGOODkey0000000000000000";
const TOKEN: &str = "ya29.a0AfB_standinTOKEN000000000000000000000000000000";
const VERTEX_BASE: &str =
    "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1";

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "google",
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        secret: KEY,
    }
}

fn vertex_ep() -> Endpoint<'static> {
    Endpoint {
        provider: "vertex",
        base_url: VERTEX_BASE,
        secret: TOKEN,
    }
}

const API: Gemini = Gemini::api();
const VERTEX: Gemini = Gemini::vertex();

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
        provider: "google".into(),
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

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn the_catalog_picks_this_dialect_for_google_and_vertex() {
    let c = Catalog::embedded().unwrap();
    for id in ["google", "vertex"] {
        let p = c.provider(id).unwrap();
        let wire = wire_for(p, None).unwrap();
        let models = wire
            .models_request(&Endpoint {
                provider: id,
                base_url: "https://example.com/v1",
                secret: "x",
            })
            .unwrap();
        let key_header = if id == "google" {
            "x-goog-api-key"
        } else {
            "authorization"
        };
        assert_eq!(header_names(&models).first().copied(), Some(key_header));
    }
}

#[test]
fn plain_chat_body_url_and_headers() {
    let mut req = request(
        "gemini-1.5-flash",
        vec![
            msg(Role::System, "Be brief."),
            msg(Role::User, "Hello?"),
            msg(Role::Assistant, "Hi."),
            msg(Role::User, "Again?"),
        ],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::One("END".into())),
    };
    let http = chat_request(API, &ep(), &req, false).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(
        http.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:generateContent"
    );
    assert_eq!(header_names(&http), ["x-goog-api-key", "content-type"]);
    assert_eq!(header(&http, "x-goog-api-key"), Some(KEY));
    assert_eq!(header(&http, "content-type"), Some("application/json"));
    assert_eq!(
        body_of(&http),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hello?"}]},
                {"role": "model", "parts": [{"text": "Hi."}]},
                {"role": "user", "parts": [{"text": "Again?"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {
                "temperature": 0.7,
                "topP": 0.9,
                "maxOutputTokens": 256,
                "stopSequences": ["END"]
            }
        })
    );
    // The key is in its header only: never `?key=`, never the body.
    assert!(!http.url.contains("key="));
    assert!(!http.url.contains("standin"));
    assert!(!http.body.as_deref().unwrap().contains("standin"));
    assert!(!format!("{http:?}").contains("standin"));

    let stream = chat_request(API, &ep(), &req, true).unwrap();
    assert_eq!(
        stream.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(body_of(&stream), body_of(&http), "the same body either way");
}

#[test]
fn absent_optionals_are_omitted_and_turns_merge() {
    let req = request(
        "gemini-2.0-flash",
        vec![
            msg(Role::User, "one"),
            msg(Role::User, "two"),
            msg(Role::Assistant, ""),
            msg(Role::System, "late instructions"),
            msg(Role::User, ""),
        ],
    );
    let body = body_of(&chat_request(API, &ep(), &req, true).unwrap());
    assert_eq!(
        body,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "one"}, {"text": "two"}]}],
            "systemInstruction": {"parts": [{"text": "late instructions"}]}
        })
    );
    assert!(!serde_json::to_string(&body).unwrap().contains("null"));
}

#[test]
fn vertex_urls_and_bearer_token() {
    let req = request("gemini-1.5-pro", vec![msg(Role::User, "Hi")]);
    let http = chat_request(VERTEX, &vertex_ep(), &req, true).unwrap();
    assert_eq!(
        http.url,
        format!(
            "{VERTEX_BASE}/publishers/google/models/gemini-1.5-pro:streamGenerateContent?alt=sse"
        )
    );
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        header(&http, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let whole = chat_request(VERTEX, &vertex_ep(), &req, false).unwrap();
    assert!(whole
        .url
        .ends_with("/publishers/google/models/gemini-1.5-pro:generateContent"));

    // The key check: countTokens of the probe model, which costs nothing.
    let check = models_request(VERTEX, &vertex_ep()).unwrap();
    assert_eq!(check.method, Method::Post);
    assert_eq!(
        check.url,
        format!("{VERTEX_BASE}/publishers/google/models/gemini-2.5-flash:countTokens")
    );
    assert_eq!(header_names(&check), ["authorization", "content-type"]);
    assert_eq!(
        body_of(&check),
        json!({"contents": [{"role": "user", "parts": [{"text": "ping"}]}]})
    );

    // Gemini API: the model list, one page of up to 1,000, key header only.
    let list = models_request(API, &ep()).unwrap();
    assert_eq!(list.method, Method::Get);
    assert_eq!(
        list.url,
        "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000"
    );
    assert_eq!(header_names(&list), ["x-goog-api-key"]);
    assert_eq!(list.body, None);
}

#[test]
fn model_ids_stay_inside_their_path() {
    assert_eq!(
        model_path(API, "gemini-1.5-pro").unwrap(),
        "/models/gemini-1.5-pro"
    );
    assert_eq!(
        model_path(API, "tunedModels/my-model-1").unwrap(),
        "/tunedModels/my-model-1"
    );
    assert_eq!(
        model_path(VERTEX, "gemini-2.0-flash-001").unwrap(),
        "/publishers/google/models/gemini-2.0-flash-001"
    );
    assert_eq!(
        model_path(VERTEX, "claude@20240229").unwrap(),
        "/publishers/google/models/claude@20240229"
    );
    for bad in [
        "",
        "../../v1/projects",
        "gemini?key=x",
        "a#b",
        "a%2Fb",
        "a b",
        "models//x",
        "./x",
        "gemini:streamGenerateContent",
    ] {
        let e = model_path(API, bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
    }
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Weather in a city".into()),
        parameters: json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
            "additionalProperties": false
        }),
    }
}

#[test]
fn tools_and_every_tool_choice() {
    let mut req = request("gemini-1.5-pro", vec![msg(Role::User, "Weather in Paris?")]);
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
        (
            Some(ToolChoice::Mode(ToolMode::Auto)),
            Some(json!({"functionCallingConfig": {"mode": "AUTO"}})),
        ),
        (
            Some(ToolChoice::Mode(ToolMode::None)),
            Some(json!({"functionCallingConfig": {"mode": "NONE"}})),
        ),
        (
            Some(ToolChoice::Mode(ToolMode::Required)),
            Some(json!({"functionCallingConfig": {"mode": "ANY"}})),
        ),
        (
            Some(ToolChoice::Named {
                name: "get_weather".into(),
            }),
            Some(
                json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}),
            ),
        ),
    ];
    for (choice, want) in table {
        req.tool_choice = choice;
        let body = body_of(&chat_request(API, &ep(), &req, false).unwrap());
        assert_eq!(
            body.get("tools"),
            Some(&json!([{"functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "description": "The city"}},
                        "required": ["city"]
                    }
                },
                {"name": "noop"}
            ]}]))
        );
        assert_eq!(body.get("toolConfig"), want.as_ref());
    }
    // Without tools a choice means nothing and is left out.
    req.tools.clear();
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::Required));
    let body = body_of(&chat_request(API, &ep(), &req, false).unwrap());
    assert_eq!(body.get("tools"), None);
    assert_eq!(body.get("toolConfig"), None);
}

#[test]
fn schemas_lose_what_gemini_refuses() {
    let table = [
        // Nullable types, const, unknown formats, additionalProperties, $schema.
        (
            json!({
                "$schema": "x", "$id": "y", "type": "object", "additionalProperties": false,
                "properties": {
                    "a": {"type": ["string", "null"], "format": "email", "minLength": 1},
                    "b": {"const": "fixed"},
                    "c": {"type": "string", "format": "date-time"},
                    "d": {"type": "integer", "format": "int64", "minimum": 0, "exclusiveMinimum": 0}
                },
                "required": ["a", "b"]
            }),
            Some(json!({
                "type": "object",
                "properties": {
                    "a": {"type": "string", "nullable": true, "minLength": 1},
                    "b": {"enum": ["fixed"]},
                    "c": {"type": "string", "format": "date-time"},
                    "d": {"type": "integer", "format": "int64", "minimum": 0}
                },
                "required": ["a", "b"]
            })),
        ),
        // anyOf with null → nullable; oneOf → anyOf; arrays and tuples.
        (
            json!({
                "type": "object",
                "properties": {
                    "x": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                    "y": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                    "z": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                    "t": {"type": "array", "items": [{"type": "boolean"}, {"type": "string"}]}
                }
            }),
            Some(json!({
                "type": "object",
                "properties": {
                    "x": {"type": "number", "nullable": true},
                    "y": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "z": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                    "t": {"type": "array", "items": {"type": "boolean"}}
                }
            })),
        ),
        // Local $refs are inlined; keywords beside a $ref win.
        (
            json!({
                "type": "object",
                "properties": {"home": {"$ref": "#/$defs/place", "description": "Where I live"}},
                "$defs": {"place": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
            }),
            Some(json!({
                "type": "object",
                "properties": {"home": {
                    "type": "object", "description": "Where I live",
                    "properties": {"city": {"type": "string"}}, "required": ["city"]
                }}
            })),
        ),
        // An empty object (also nested) has no Gemini form; it leaves `required` too.
        (
            json!({
                "type": "object",
                "properties": {"opts": {"type": "object", "properties": {}}, "n": {"type": "integer"}},
                "required": ["opts", "n"]
            }),
            Some(json!({
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"]
            })),
        ),
        (json!({"type": "object", "properties": {}}), None),
        (json!({"type": "object"}), None),
        (json!(true), None),
        // allOf members are merged.
        (
            json!({"allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}},
                {"properties": {"b": {"type": "number"}}, "required": ["b"]}
            ]}),
            Some(json!({
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "number"}},
                "required": ["b"]
            })),
        ),
        // Properties without a type still mean an object.
        (
            json!({"properties": {"q": {"type": "string"}}}),
            Some(json!({"type": "object", "properties": {"q": {"type": "string"}}})),
        ),
    ];
    for (input, want) in table {
        assert_eq!(function_parameters(&input), want, "{input}");
    }
    // A $ref cycle ends at the depth bound instead of looping.
    let cyclic = json!({
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/node"}},
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "string"}}}}
    });
    let out = function_parameters(&cyclic).unwrap();
    assert!(out.to_string().len() < 20_000);
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
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
fn a_tool_round_trip_names_results_by_their_calls() {
    let mut req = request(
        "gemini-1.5-pro",
        vec![
            msg(Role::User, "Weather in Paris and Rome?"),
            Message {
                role: Role::Assistant,
                content: Content::Text("Let me look.".into()),
                tool_calls: vec![
                    call("call_0", "get_weather", r#"{"city":"Paris"}"#),
                    call("call_1", "get_time", ""),
                ],
                tool_call_id: None,
            },
            tool_result("call_0", r#"{"temp":18}"#),
            tool_result("call_1", "noon"),
            msg(Role::Assistant, "Paris 18°C."),
            msg(Role::User, "And Oslo?"),
            Message {
                role: Role::Assistant,
                content: Content::Text(String::new()),
                // The same id as in the first turn: the latest call with it counts.
                tool_calls: vec![call("call_0", "get_forecast", r#"{"city":"Oslo"}"#)],
                tool_call_id: None,
            },
            tool_result("call_0", "[1,2]"),
        ],
    );
    req.tools = vec![weather_tool()];
    let body = body_of(&chat_request(API, &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("contents"),
        Some(&json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"text": "Let me look."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}
            ]},
            {"role": "model", "parts": [{"text": "Paris 18°C."}]},
            {"role": "user", "parts": [{"text": "And Oslo?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_forecast", "args": {"city": "Oslo"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_forecast", "response": {"content": [1, 2]}}}
            ]}
        ]))
    );
    // No ids on the wire.
    assert!(!req_json(&req).contains("call_0"));

    // Gemini 3 wants a thought signature on replayed calls: the documented sentinel.
    req.model = "gemini-3-pro-preview".into();
    let body = body_of(&chat_request(API, &ep(), &req, false).unwrap());
    let calls: Vec<&Value> = body
        .get("contents")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .flat_map(|c| c.get("parts").and_then(Value::as_array).unwrap())
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 3);
    for c in calls {
        assert_eq!(
            c.get("thoughtSignature"),
            Some(&json!("skip_thought_signature_validator"))
        );
    }
    for (model, wants) in [
        ("gemini-2.5-pro", false),
        ("gemini-3.1-flash", true),
        ("models/gemini-4-ultra", true),
        ("gemini-30", true),
        ("gemma-3-27b-it", false),
        ("gemini-pro", false),
    ] {
        assert_eq!(needs_signature(model), wants, "{model}");
    }

    // A result must answer a call made earlier.
    let mut broken = req.clone();
    broken.messages.truncate(1);
    broken.messages.push(tool_result("call_9", "x"));
    let e = chat_request(API, &ep(), &broken, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("messages[1]"), "{}", e.message);
    // Arguments must be a JSON object.
    let mut broken = req.clone();
    broken.messages = vec![Message {
        role: Role::Assistant,
        content: Content::default(),
        tool_calls: vec![call("c", "f", "[1]")],
        tool_call_id: None,
    }];
    let e = chat_request(API, &ep(), &broken, false).unwrap_err();
    assert!(
        e.message.contains("toolCalls[0].arguments"),
        "{}",
        e.message
    );
}

fn req_json(req: &ChatRequest) -> String {
    chat_request(API, &ep(), req, false).unwrap().body.unwrap()
}

#[test]
fn image_parts_inline_and_by_url() {
    let image = |data: Option<&str>, url: Option<&str>, mime: Option<&str>| ContentPart::Image {
        data: data.map(Into::into),
        url: url.map(Into::into),
        mime_type: mime.map(Into::into),
    };
    let mut req = request(
        "gemini-1.5-flash",
        vec![Message {
            role: Role::User,
            content: Content::Parts(vec![
                ContentPart::Text {
                    text: "What is in these?".into(),
                },
                image(Some("iVBORw0KGgo="), None, Some("image/png")),
                image(Some("data:image/webp;base64,UklGRg=="), None, None),
                image(None, Some("https://example.com/cat.JPG?size=2"), None),
                image(None, Some("https://example.com/pic"), None),
                image(None, Some("gs://bucket/a.png"), Some("image/png")),
                image(None, Some("data:image/gif;base64,R0lG"), None),
            ]),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }],
    );
    let body = body_of(&chat_request(API, &ep(), &req, false).unwrap());
    assert_eq!(
        body.get("contents"),
        Some(&json!([{"role": "user", "parts": [
            {"text": "What is in these?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=2"}},
            {"fileData": {"fileUri": "https://example.com/pic"}},
            {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/a.png"}},
            {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}}
        ]}]))
    );
    req.messages = vec![Message {
        role: Role::User,
        content: Content::Parts(vec![image(Some("iVBORw0KGgo="), None, None)]),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }];
    let e = chat_request(API, &ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("mimeType"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

const TEXT_JSONL: &str =
    include_str!("../../../../tests/fixtures/google-gemini.text.payloads.jsonl");
const TOOL_JSONL: &str =
    include_str!("../../../../tests/fixtures/google-gemini.tool-call.payloads.jsonl");
const REASONING_JSONL: &str =
    include_str!("../../../../tests/fixtures/google-gemini.reasoning.payloads.jsonl");
const PARTIAL_ARGS_JSONL: &str = include_str!(
    "../../../../tests/fixtures/google-vertex.stream-function-call-partial-args.payloads.jsonl"
);
const TEXT_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/google-gemini.text.nonstream.json");
const TOOL_NONSTREAM: &str =
    include_str!("../../../../tests/fixtures/google-gemini.tool-call.nonstream.json");
const ERROR_429: &str =
    include_str!("../../../../tests/fixtures/google-gemini.error-429-retry-info.json");

/// Re-frames recorded payloads as Gemini sends them: CRLF, no terminator
/// (`shared/fixtures/SOURCES.md`).
fn frame(jsonl: &str) -> Vec<u8> {
    frame_with(jsonl, "\r\n")
}

fn frame_with(jsonl: &str, nl: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str("data: ");
        out.push_str(line);
        out.push_str(nl);
        out.push_str(nl);
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
    let mut d = GeminiStream::new("Google Gemini API", &ep());
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
        model: d.model().map(str::to_owned),
    }
}

/// Decodes whole, byte by byte, 7 bytes at a time, and split in two at every position (the
/// recordings are a few KB), and checks that every way gives the same run.
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

fn usage(input: u64, output: u64, total: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: total,
    }
}

fn content(s: &str) -> Chunk {
    Chunk::Content { delta: s.into() }
}

fn tool(id: &str, name: &str, args: &str) -> Chunk {
    Chunk::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments_delta: args.into(),
    }
}

fn usage_chunk(i: u64, o: u64, t: u64) -> Chunk {
    Chunk::Usage {
        usage: usage(i, o, t),
    }
}

fn done(reason: FinishReason, u: Usage) -> Chunk {
    Chunk::Done {
        finish_reason: reason,
        usage: u,
        cost: None,
    }
}

#[test]
fn every_recorded_stream_decodes_the_same_in_every_chunking() {
    use FinishReason::*;
    let table: Vec<(&str, &str, Vec<Chunk>, &str)> = vec![
        (
            "gemini text: cumulative usage, thinking counted as output",
            TEXT_JSONL,
            vec![
                content("There are **3**"),
                usage_chunk(9, 190, 199),
                content(" \"r\"s in strawberry.\n\nst**r**awbe**rr**y"),
                usage_chunk(9, 208, 217),
                done(Stop, usage(9, 208, 217)),
            ],
            "gemini-3-pro-preview",
        ),
        (
            "gemini whole tool call, STOP means tool_calls",
            TOOL_JSONL,
            vec![
                tool("call_0", "weather", r#"{"location":"San Francisco"}"#),
                usage_chunk(29, 60, 89),
                done(ToolCalls, usage(29, 60, 89)),
            ],
            "gemini-3-pro-preview",
        ),
        (
            "gemini reasoning: the signature-only part says nothing",
            REASONING_JSONL,
            vec![
                content("There are **3** \"r\"s in"),
                usage_chunk(9, 266, 275),
                content(" strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."),
                usage_chunk(9, 285, 294),
                done(Stop, usage(9, 285, 294)),
            ],
            "gemini-3-pro-preview",
        ),
        (
            "vertex streamed arguments: announced, then whole",
            PARTIAL_ARGS_JSONL,
            vec![
                tool("call_0", "getWeather", ""),
                tool("call_0", "getWeather", r#"{"location":"Boston"}"#),
                tool("call_1", "getWeather", ""),
                tool("call_1", "getWeather", r#"{"location":"San Francisco"}"#),
                usage_chunk(26, 155, 181),
                done(ToolCalls, usage(26, 155, 181)),
            ],
            "gemini-3.1-pro-preview",
        ),
    ];
    for (name, jsonl, want, model) in table {
        for stream in [frame(jsonl), frame_with(jsonl, "\n")] {
            let run = decode_every_way(&stream);
            assert_eq!(run.result, Ok(()), "{name}");
            assert_eq!(run.chunks, want, "{name}");
            assert_eq!(run.model.as_deref(), Some(model), "{name}");
            if let Some(Chunk::Done { usage, .. }) = want.last() {
                assert_eq!(run.usage, *usage, "{name}");
            }
        }
    }
}

#[test]
fn streamed_chunks_fold_into_the_recorded_answers() {
    let mut c = Collector::new("vertex", "gemini-3.1-pro-preview");
    for chunk in decode_pieces([frame(PARTIAL_ARGS_JSONL).as_slice()]).chunks {
        c.push(&chunk);
    }
    let r = c.finish();
    assert_eq!(
        r.tool_calls,
        [
            call("call_0", "getWeather", r#"{"location":"Boston"}"#),
            call("call_1", "getWeather", r#"{"location":"San Francisco"}"#)
        ]
    );
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.content, "");
}

#[test]
fn streamed_arguments_build_nested_objects() {
    let events = [
        json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"plan","willContinue":true,"id":"fc-7"}}]}}]}),
        json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"partialArgs":[
            {"jsonPath":"$.recipe.name","stringValue":"Lasa","willContinue":true}
        ],"willContinue":true}}]}}]}),
        json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"partialArgs":[
            {"jsonPath":"$.recipe.name","stringValue":"gna \"al forno\""},
            {"jsonPath":"$.recipe.items[1].qty","numberValue":2},
            {"jsonPath":"$.recipe.items[0].name","stringValue":"pasta"},
            {"jsonPath":"$.vegan","boolValue":false},
            {"jsonPath":"$.note","nullValue":null},
            {"jsonPath":"$.huge[99999999]","numberValue":1}
        ]}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":7}}),
    ];
    let stream: String = events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect();
    let run = decode_every_way(stream.as_bytes());
    assert_eq!(run.result, Ok(()));
    let args = json!({
        "recipe": {"name": "Lasagna \"al forno\"", "items": [{"name": "pasta"}, {"qty": 2}]},
        "vegan": false,
        "note": null
    });
    assert_eq!(
        run.chunks,
        [
            tool("fc-7", "plan", ""),
            tool("fc-7", "plan", &args.to_string()),
            usage_chunk(3, 4, 7),
            done(FinishReason::ToolCalls, usage(3, 4, 7)),
        ]
    );
}

#[test]
fn parallel_whole_calls_get_sequential_ids_and_no_args_is_empty_object() {
    let event = json!({"candidates":[{"content":{"role":"model","parts":[
        {"text":"Checking."},
        {"functionCall":{"name":"a","args":{"x":1}}},
        {"functionCall":{"name":"b"}},
        {"functionCall":{"name":"c","args":{},"id":"given-id"}},
        {"text":"thinking…","thought":true}
    ]},"finishReason":"STOP","index":0}]});
    let run = decode_pieces([format!("data: {event}\r\n\r\n").as_bytes()]);
    assert_eq!(
        run.chunks,
        [
            content("Checking."),
            tool("call_0", "a", r#"{"x":1}"#),
            tool("call_1", "b", "{}"),
            tool("given-id", "c", "{}"),
            done(FinishReason::ToolCalls, Usage::default()),
        ]
    );
}

#[test]
fn finish_reasons_and_blocked_prompts() {
    use FinishReason::*;
    for (raw, want) in [
        ("STOP", Stop),
        ("MAX_TOKENS", Length),
        ("SAFETY", ContentFilter),
        ("RECITATION", ContentFilter),
        ("BLOCKLIST", ContentFilter),
        ("PROHIBITED_CONTENT", ContentFilter),
        ("SPII", ContentFilter),
        ("IMAGE_SAFETY", ContentFilter),
        ("MALFORMED_FUNCTION_CALL", Other),
        ("OTHER", Other),
        ("LANGUAGE", Other),
        ("FINISH_REASON_UNSPECIFIED", Other),
        ("SOMETHING_NEW", Other),
    ] {
        let event = json!({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":raw}]});
        let run = decode_pieces([format!("data: {event}\r\n\r\n").as_bytes()]);
        assert_eq!(run.result, Ok(()), "{raw}");
        assert_eq!(
            run.chunks.last(),
            Some(&done(want, Usage::default())),
            "{raw}"
        );
    }
    // A blocked prompt: no candidates, a block reason, then the body ends.
    let event = json!({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.0-flash"});
    let run = decode_every_way(format!("data: {event}\r\n\r\n").as_bytes());
    assert_eq!(run.result, Ok(()));
    assert_eq!(
        run.chunks,
        [
            usage_chunk(7, 0, 7),
            done(FinishReason::ContentFilter, usage(7, 0, 7))
        ]
    );
    // An unspecified block reason blocks nothing.
    let event = json!({"promptFeedback":{"blockReason":"BLOCK_REASON_UNSPECIFIED"}});
    let run = decode_pieces([format!("data: {event}\r\n\r\n").as_bytes()]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
}

#[test]
fn a_stream_without_a_finish_reason_is_a_network_error_with_its_usage() {
    for (jsonl, want_usage) in [
        (TEXT_JSONL, usage(9, 208, 217)),
        (TOOL_JSONL, usage(29, 60, 89)),
        (REASONING_JSONL, usage(9, 285, 294)),
        (PARTIAL_ARGS_JSONL, Usage::default()),
    ] {
        let lines: Vec<&str> = jsonl.lines().filter(|l| !l.is_empty()).collect();
        let cut = lines.get(..lines.len() - 1).unwrap().join("\n");
        let run = decode_every_way(&frame(&cut));
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError);
        assert_eq!(
            e.message,
            "the stream from Google Gemini API ended before it was complete"
        );
        assert_eq!(e.provider.as_deref(), Some("google"));
        assert!(!run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
        // Usage sent before the cut is still known (the text fixture repeats it).
        if jsonl != TEXT_JSONL && jsonl != REASONING_JSONL {
            assert_eq!(run.usage, want_usage);
        } else {
            assert!(run.usage.input_tokens == 9);
        }
    }
    // Cut in the middle of the last event.
    let whole = frame(TEXT_JSONL);
    let run = decode_pieces([whole.get(..whole.len() - 40).unwrap()]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
    // An empty body.
    assert_eq!(
        decode_pieces([&b""[..]]).result.unwrap_err().code,
        ErrorCode::NetworkError
    );
}

#[test]
fn errors_inside_a_200_stream() {
    let first = frame(TEXT_JSONL.lines().next().unwrap());
    let unavailable = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;

    // As an event.
    let mut s = first.clone();
    s.extend_from_slice(format!("data: {unavailable}\r\n\r\n").as_bytes());
    let run = decode_every_way(&s);
    let e = run.result.clone().unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(
        e.message,
        "Google Gemini API: The model is overloaded. Please try again later."
    );
    assert_eq!(e.provider.as_deref(), Some("google"));
    assert_eq!(run.chunks.first(), Some(&content("There are **3**")));
    assert_eq!(run.usage, usage(9, 190, 199));

    // Bare JSON, pretty-printed, after the events (what Google sends): the same error.
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(unavailable).unwrap())
        .unwrap()
        .replace('\n', "\r\n");
    let mut s = first.clone();
    s.extend_from_slice(pretty.as_bytes());
    s.extend_from_slice(b"\r\n");
    let bare = decode_every_way(&s);
    assert_eq!(bare.result, run.result);
    assert_eq!(bare.chunks, run.chunks);
    // As a list, on one line, without a final newline.
    let mut s = first.clone();
    s.extend_from_slice(format!("[{unavailable}]").as_bytes());
    assert_eq!(decode_every_way(&s).result, run.result);

    // A rate limit inside the stream carries its wait; a key in the message is redacted.
    let limited = format!(
        r#"{{"error":{{"code":429,"message":"Quota exceeded for key {KEY}.","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}}]}}}}"#
    );
    let run = decode_pieces([format!("data: {limited}\r\n\r\n").as_bytes()]);
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.retry_after_ms, Some(2000));
    assert!(!e.message.contains("standin"), "{}", e.message);

    // Text that is no event stream at all; an event that is not JSON.
    for bad in [
        &b"<html><body>Bad gateway</body></html>\r\n"[..],
        b"data: {not json\r\n\r\n",
        b"data: 42\r\n\r\n",
    ] {
        let run = decode_pieces([bad]);
        let e = run.result.unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{bad:?}");
        assert!(!e.message.contains("html") && !e.message.contains("not json"));
    }
    // After an error every call fails the same way.
    let mut d = GeminiStream::new("Google Gemini API", &ep());
    let mut out = Vec::new();
    let e = d
        .feed(format!("data: {unavailable}\r\n\r\n").as_bytes(), &mut out)
        .unwrap_err();
    assert_eq!(d.feed(&first, &mut out).unwrap_err(), e);
    assert_eq!(d.finish(&mut out).unwrap_err(), e);
    assert!(out.is_empty());
}

#[test]
fn debug_never_shows_the_key() {
    let d = GeminiStream::new("Google Gemini API", &ep());
    let shown = format!("{d:?}");
    assert!(!shown.contains("standin"), "{shown}");
    let http = chat_request(
        API,
        &ep(),
        &request("gemini-1.5-pro", vec![msg(Role::User, "secret prompt")]),
        true,
    )
    .unwrap();
    let shown = format!("{http:?}");
    assert!(!shown.contains("standin") && !shown.contains("secret prompt"));
}

// ---------------------------------------------------------------------------------------------
// Whole answers, model lists, embeddings
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_answers() {
    let r = parse_chat_response(TEXT_NONSTREAM).unwrap();
    assert_eq!(
        r.content,
        "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."
    );
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.usage, usage(9, 272, 281));
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.model.as_deref(), Some("gemini-3-pro-preview"));
    assert_eq!(r.reported_cost, None);

    let r = parse_chat_response(TOOL_NONSTREAM).unwrap();
    assert_eq!(r.content, "");
    assert_eq!(
        r.tool_calls,
        [call("call_0", "weather", r#"{"location":"San Francisco"}"#)]
    );
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.usage, usage(29, 908, 937));

    // A blocked prompt, an answer with no finish reason, an error body, not JSON.
    let r = parse_chat_response(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    let r =
        parse_chat_response(r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#).unwrap();
    assert_eq!(
        (r.content.as_str(), r.finish_reason),
        ("hi", FinishReason::Other)
    );
    let e = parse_chat_response(ERROR_429).unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(
        parse_chat_response(r#"{"candidates":[{"content":"#)
            .unwrap_err()
            .code,
        ErrorCode::NetworkError
    );
    assert_eq!(
        parse_chat_response("[1,2]").unwrap_err().code,
        ErrorCode::ProviderUnavailable
    );
}

#[test]
fn model_lists() {
    let body = json!({
        "models": [
            {"name": "models/gemini-1.5-pro", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/gemini-1.5-flash", "supportedGenerationMethods": ["generateContent", "createCachedContent"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/aqa", "supportedGenerationMethods": ["generateAnswer"]},
            {"name": "models/imagen-3.0-generate-002", "supportedGenerationMethods": ["predict"]},
            {"name": "models/future-model"},
            {"name": "models/gemini-1.5-pro", "supportedGenerationMethods": ["generateContent"]},
            {"displayName": "no name"}
        ],
        "nextPageToken": "Chxtb2RlbHMv"
    });
    assert_eq!(
        parse_models(API, &body.to_string()).unwrap(),
        [
            "gemini-1.5-pro",
            "gemini-1.5-flash",
            "text-embedding-004",
            "future-model"
        ]
    );
    assert!(parse_models(API, "{}").unwrap().is_empty());
    assert_eq!(
        parse_models(API, "<html></html>").unwrap_err().code,
        ErrorCode::NetworkError
    );
    assert_eq!(
        parse_models(API, "[]").unwrap_err().code,
        ErrorCode::ProviderUnavailable
    );
    let key_error = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(
        parse_models(API, key_error).unwrap_err().code,
        ErrorCode::InvalidApiKey
    );
    // Vertex: a countTokens answer proves the token for the probe model.
    assert_eq!(
        parse_models(VERTEX, r#"{"totalTokens":1,"totalBillableCharacters":4}"#).unwrap(),
        ["gemini-2.5-flash"]
    );
    assert_eq!(
        parse_models(VERTEX, r#"{"models":[]}"#).unwrap_err().code,
        ErrorCode::ProviderUnavailable
    );
}

#[test]
fn embeddings_both_ways() {
    let input = vec!["héllo".to_owned(), "world".to_owned()];
    let http = embed_request(API, &ep(), "text-embedding-004", &input).unwrap();
    assert_eq!(
        http.url,
        "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(header_names(&http), ["x-goog-api-key", "content-type"]);
    assert_eq!(
        body_of(&http),
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "héllo"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "world"}]}}
        ]})
    );
    let e = parse_embeddings(r#"{"embeddings":[{"values":[0.1,-0.2]},{"values":[1,2.5e-3]}]}"#)
        .unwrap();
    assert_eq!(e.embeddings, [vec![0.1, -0.2], vec![1.0, 0.0025]]);
    assert_eq!(e.usage, Usage::default(), "Gemini reports no token counts");
    let one = parse_embeddings(r#"{"embedding":{"values":[3]}}"#).unwrap();
    assert_eq!(one.embeddings, [vec![3.0]]);

    let http = embed_request(VERTEX, &vertex_ep(), "text-embedding-004", &input).unwrap();
    assert_eq!(
        http.url,
        format!("{VERTEX_BASE}/publishers/google/models/text-embedding-004:predict")
    );
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        body_of(&http),
        json!({"instances": [{"content": "héllo"}, {"content": "world"}]})
    );
    let e = parse_embeddings(
        r#"{"predictions":[
            {"embeddings":{"values":[0.5],"statistics":{"token_count":2,"truncated":false}}},
            {"embeddings":{"values":[0.25],"statistics":{"token_count":"3","truncated":false}}}
        ],"metadata":{"billableCharacterCount":10}}"#,
    )
    .unwrap();
    assert_eq!(e.embeddings, [vec![0.5], vec![0.25]]);
    assert_eq!(e.usage, usage(5, 0, 5));

    // Limits and shapes.
    let many = vec![String::from("x"); 101];
    assert_eq!(
        embed_request(API, &ep(), "text-embedding-004", &many)
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    assert!(embed_request(VERTEX, &vertex_ep(), "text-embedding-004", &many).is_ok());
    assert_eq!(
        embed_request(API, &ep(), "text-embedding-004", &[])
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    for bad in [r#"{"embeddings":[{"values":["a"]}]}"#, r#"{"data":[]}"#] {
        assert_eq!(
            parse_embeddings(bad).unwrap_err().code,
            ErrorCode::ProviderUnavailable,
            "{bad}"
        );
    }
    // Through the trait as the shell calls it.
    let wire: &dyn Wire = &API;
    assert!(wire
        .embed_request(&ep(), "text-embedding-004", &input)
        .is_ok());
    assert_eq!(
        wire.parse_embeddings(r#"{"embeddings":[{"values":[1]}]}"#)
            .unwrap()
            .embeddings,
        [vec![1.0]]
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const KEY_INVALID_BODY: &str = r#"{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {
          "service": "generativelanguage.googleapis.com"
        }
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key."
      }
    ]
  }
}
"#;

const TOKEN_EXPIRED_BODY: &str = r#"{
  "error": {
    "code": 401,
    "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    "status": "UNAUTHENTICATED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "ACCESS_TOKEN_EXPIRED",
        "domain": "googleapis.com",
        "metadata": {
          "method": "google.cloud.aiplatform.v1.PredictionService.StreamGenerateContent",
          "service": "aiplatform.googleapis.com"
        }
      }
    ]
  }
}
"#;

fn gerr(code: u16, status: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}

#[test]
fn errors_map_to_codes() {
    let zero_quota = gerr(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. \n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\nPlease retry in 45.5s.",
    );
    let table: Vec<(Gemini, u16, String, ErrorCode, Option<u64>)> = vec![
        (API, 400, KEY_INVALID_BODY.into(), ErrorCode::InvalidApiKey, None),
        // The same inside the list the non-SSE stream sends.
        (
            API,
            400,
            format!("[{KEY_INVALID_BODY}]"),
            ErrorCode::InvalidApiKey,
            None,
        ),
        (
            API,
            400,
            gerr(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key."),
            ErrorCode::InvalidApiKey,
            None,
        ),
        (
            API,
            400,
            gerr(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"),
            ErrorCode::InvalidRequest,
            None,
        ),
        (
            API,
            400,
            gerr(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
            ErrorCode::InvalidRequest,
            None,
        ),
        (
            API,
            400,
            gerr(400, "FAILED_PRECONDITION", "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio."),
            ErrorCode::InsufficientQuota,
            None,
        ),
        (
            API,
            403,
            gerr(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."),
            ErrorCode::InvalidApiKey,
            None,
        ),
        (
            API,
            404,
            gerr(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."),
            ErrorCode::ModelNotFound,
            None,
        ),
        (API, 404, "<html>Not Found</html>".into(), ErrorCode::InvalidRequest, None),
        (API, 429, ERROR_429.into(), ErrorCode::RateLimited, Some(34_400)),
        (API, 429, zero_quota, ErrorCode::InsufficientQuota, None),
        (
            API,
            500,
            gerr(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
            ErrorCode::ProviderUnavailable,
            Some(1_000),
        ),
        (
            API,
            503,
            gerr(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            ErrorCode::ProviderUnavailable,
            Some(1_000),
        ),
        (API, 504, String::new(), ErrorCode::ProviderUnavailable, Some(1_000)),
        (VERTEX, 401, TOKEN_EXPIRED_BODY.into(), ErrorCode::InvalidApiKey, None),
        (
            VERTEX,
            403,
            gerr(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/p/locations/us-central1/publishers/google/models/gemini-1.5-pro' (or it may not exist)."),
            ErrorCode::InvalidApiKey,
            None,
        ),
        (
            VERTEX,
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                "message": "This API method requires billing to be enabled. Please enable billing on project #1 then retry.",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BILLING_DISABLED"}]}})
            .to_string(),
            ErrorCode::InsufficientQuota,
            None,
        ),
        (
            VERTEX,
            429,
            gerr(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."),
            ErrorCode::RateLimited,
            Some(1_000),
        ),
        (
            VERTEX,
            404,
            gerr(404, "NOT_FOUND", "Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-9` not found."),
            ErrorCode::ModelNotFound,
            None,
        ),
    ];
    for (dialect, status, body, code, wait) in table {
        // The header said 1 s; RetryInfo in the body wins where there is one.
        let e = map_error(
            dialect,
            "Google Gemini API",
            "google",
            status,
            Some(1_000),
            &body,
            &[KEY],
        );
        assert_eq!(e.code, code, "{status} {body}");
        assert_eq!(e.status, Some(status));
        assert_eq!(e.provider.as_deref(), Some("google"));
        assert_eq!(e.retry_after_ms, wait, "{status} {body}");
        assert!(
            e.message.starts_with("Google Gemini API: "),
            "{}",
            e.message
        );
    }
    let e = map_error(
        API,
        "Google Gemini API",
        "google",
        400,
        None,
        KEY_INVALID_BODY,
        &[KEY],
    );
    assert_eq!(
        e.message,
        "Google Gemini API: API key not valid. Please pass a valid API key."
    );
    let e = map_error(API, "G", "google", 504, None, "", &[]);
    assert_eq!(
        e.message,
        "G: the service is unavailable or overloaded (HTTP 504)"
    );
}

#[test]
fn an_expired_vertex_token_says_so_and_how_to_renew_it() {
    let e = map_error(
        VERTEX,
        "Google Vertex AI",
        "vertex",
        401,
        None,
        TOKEN_EXPIRED_BODY,
        &[TOKEN],
    );
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    assert!(e.message.contains("expired"), "{}", e.message);
    assert!(e.message.contains("gcloud auth print-access-token"));
    // Any other refused token gets the hint too: Vertex tokens last an hour.
    let body = gerr(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials.",
    );
    let e = map_error(
        VERTEX,
        "Google Vertex AI",
        "vertex",
        401,
        None,
        &body,
        &[TOKEN],
    );
    assert_eq!(e.code, ErrorCode::InvalidApiKey);
    assert!(e.message.contains("print-access-token"), "{}", e.message);
    assert!(!e.message.contains("has expired"), "{}", e.message);
}

#[test]
fn error_messages_never_echo_the_key() {
    let body = gerr(
        400,
        "INVALID_ARGUMENT",
        &format!("API key not valid: {KEY}. Token {TOKEN} refused; key=AIzaSyAnotherKey1234567890abcdefghijklm"),
    );
    for dialect in [API, VERTEX] {
        let e = map_error(dialect, "G", "google", 400, None, &body, &[KEY, TOKEN]);
        assert!(!e.message.contains("standin"), "{}", e.message);
        assert!(!e.message.contains("AnotherKey"), "{}", e.message);
        assert!(e.message.contains("[REDACTED]"), "{}", e.message);
    }
}

#[test]
fn durations() {
    for (text, ms) in [
        ("34s", Some(34_000)),
        ("34.4s", Some(34_400)),
        ("0.500s", Some(500)),
        ("0.0001s", Some(1)),
        ("1.5", None),
        ("-3s", None),
        ("s", None),
        ("3ms", None),
        ("1e3s", None),
    ] {
        assert_eq!(parse_duration_ms(text), ms, "{text}");
    }
}
