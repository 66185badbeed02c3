//! Tests of Ollama's native dialect: request bodies and headers (keyless and behind a proxy),
//! NDJSON streams in every chunking (text, whole tool calls, thinking, cached prompts, error
//! lines, truncation), error mapping, whole answers, model lists and embeddings.
//!
//! No Ollama traffic is recorded in `shared/fixtures/`; the streams here follow the examples of
//! Ollama's API reference (github.com/ollama/ollama, `docs/api.md`: "Chat Request (Streaming)",
//! "Chat request (with tools)") and its server code (`server/routes.go`: `streamResponse` writes
//! one JSON object and `\n` per chunk, and an `{"error"}` line for a failure after the first
//! byte; `toolCallId` makes `call_` + 8 characters).

use super::*;
use crate::core::chat::{Settings, Tool};
use crate::core::collect::Collector;
use serde_json::{json, Value};

fn ep() -> Endpoint<'static> {
    Endpoint {
        provider: "ollama",
        base_url: "http://localhost:11434",
        secret: "",
    }
}

const PROXY_KEY: &str = "proxy-token-abcdefghijklmnopqrstuvwxyz012345";

fn proxied() -> Endpoint<'static> {
    Endpoint {
        provider: "ollama",
        base_url: "https://ollama.example.org/",
        secret: PROXY_KEY,
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
        provider: "ollama".into(),
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
        "llama3.1:8b",
        vec![msg(Role::System, "Be brief."), msg(Role::User, "Hello?")],
    );
    req.settings = Settings {
        temperature: Some(0.7),
        max_tokens: Some(256.0),
        top_p: Some(0.9),
        stop: Some(Stop::One("END".into())),
    };
    let http = chat_request(&ep(), &req, true).unwrap();
    assert_eq!(http.method, Method::Post);
    assert_eq!(http.url, "http://localhost:11434/api/chat");
    // Keyless: content-type only.
    assert_eq!(header_names(&http), ["content-type"]);
    assert_eq!(
        body_of(&http),
        json!({
            "model": "llama3.1:8b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello?"}
            ],
            "options": {"temperature": 0.7, "top_p": 0.9, "num_predict": 256, "stop": ["END"]},
            "stream": true
        })
    );
    // Not streamed: `stream: false` must be said, Ollama streams by default; no options at all
    // when none is set.
    let req = request("llama3.1:8b", vec![msg(Role::User, "Hi")]);
    assert_eq!(
        body_of(&chat_request(&ep(), &req, false).unwrap()),
        json!({"model": "llama3.1:8b", "messages": [{"role": "user", "content": "Hi"}], "stream": false})
    );
}

#[test]
fn a_key_is_sent_only_when_there_is_one() {
    let req = request("llama3.1:8b", vec![msg(Role::User, "Hi")]);
    let http = chat_request(&proxied(), &req, true).unwrap();
    assert_eq!(http.url, "https://ollama.example.org/api/chat");
    assert_eq!(header_names(&http), ["authorization", "content-type"]);
    assert_eq!(
        http.headers.first().map(|(_, v)| v.as_str()),
        Some(format!("Bearer {PROXY_KEY}").as_str())
    );
    assert!(!format!("{http:?}").contains("abcdefgh"));
    assert!(!http.body.as_deref().unwrap().contains("abcdefgh"));
    let tags = models_request(&ep());
    assert_eq!(tags.method, Method::Get);
    assert_eq!(tags.url, "http://localhost:11434/api/tags");
    assert!(tags.headers.is_empty());
    assert_eq!(tags.body, None);
    assert_eq!(header_names(&models_request(&proxied())), ["authorization"]);
}

#[test]
fn tools_and_tool_choice() {
    let mut req = request("llama3.1:8b", vec![msg(Role::User, "Weather in Paris?")]);
    req.tools = vec![
        weather_tool(),
        Tool {
            name: "noop".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}}),
        },
    ];
    let all = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
    ]);
    for choice in [
        None,
        Some(ToolChoice::Mode(ToolMode::Auto)),
        Some(ToolChoice::Mode(ToolMode::Required)),
    ] {
        req.tool_choice = choice;
        let body = body_of(&chat_request(&ep(), &req, true).unwrap());
        assert_eq!(body.get("tools"), Some(&all));
        assert_eq!(body.get("tool_choice"), None);
    }
    req.tool_choice = Some(ToolChoice::Mode(ToolMode::None));
    assert_eq!(
        body_of(&chat_request(&ep(), &req, true).unwrap()).get("tools"),
        None
    );
    req.tool_choice = Some(ToolChoice::Named {
        name: "noop".into(),
    });
    let body = body_of(&chat_request(&ep(), &req, true).unwrap());
    assert_eq!(
        body.get("tools").and_then(Value::as_array).map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_tool_round_trip_history() {
    let req = request(
        "llama3.1:8b",
        vec![
            msg(Role::User, "Weather in Paris and Rome?"),
            Message {
                role: Role::Assistant,
                content: Content::Text(String::new()),
                tool_calls: vec![
                    ToolCall {
                        id: "call_0".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris","days":[1,2]}"#.into(),
                    },
                    ToolCall {
                        id: "call_1".into(),
                        name: "now".into(),
                        arguments: String::new(),
                    },
                ],
                tool_call_id: None,
            },
            Message {
                role: Role::Tool,
                content: Content::Text("18°C".into()),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_0".into()),
            },
            Message {
                role: Role::Tool,
                content: Content::Text("noon".into()),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_1".into()),
            },
            // An id no call made: no tool name to give.
            Message {
                role: Role::Tool,
                content: Content::Text("?".into()),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_9".into()),
            },
        ],
    );
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(&json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_0", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}},
                {"id": "call_1", "function": {"name": "now", "arguments": {}}}
            ]},
            {"role": "tool", "content": "18°C", "tool_name": "get_weather", "tool_call_id": "call_0"},
            {"role": "tool", "content": "noon", "tool_name": "now", "tool_call_id": "call_1"},
            {"role": "tool", "content": "?", "tool_call_id": "call_9"}
        ]))
    );
    // Arguments that are not an object cannot be sent.
    for bad in ["[1]", "{\"city\":", "\"text\""] {
        let mut broken = req.clone();
        if let Some(c) = broken
            .messages
            .get_mut(1)
            .and_then(|m| m.tool_calls.get_mut(0))
        {
            c.arguments = bad.into();
        }
        let e = chat_request(&ep(), &broken, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert!(e.message.contains("messages[1]"), "{}", e.message);
    }
}

#[test]
fn images_are_bare_base64() {
    let image = |data: Option<&str>, url: Option<&str>| ContentPart::Image {
        data: data.map(Into::into),
        url: url.map(Into::into),
        mime_type: Some("image/png".into()),
    };
    let mut req = request(
        "llava:7b",
        vec![Message {
            role: Role::User,
            content: Content::Parts(vec![
                ContentPart::Text {
                    text: "What is in ".into(),
                },
                image(Some("iVBORw0KGgo="), None),
                ContentPart::Text {
                    text: "these?".into(),
                },
                image(Some("data:image/webp;base64,UklGRg=="), None),
                image(None, Some("data:image/png;base64,AAAA")),
            ]),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }],
    );
    let body = body_of(&chat_request(&ep(), &req, false).unwrap());
    assert_eq!(
        body.get("messages"),
        Some(
            &json!([{"role": "user", "content": "What is in these?", "images": ["iVBORw0KGgo=", "UklGRg==", "AAAA"]}])
        )
    );
    if let Some(Content::Parts(parts)) = req.messages.get_mut(0).map(|m| &mut m.content) {
        parts.push(image(None, Some("https://example.com/cat.png")));
    }
    let e = chat_request(&ep(), &req, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("base64"), "{}", e.message);
}

#[test]
fn embeddings_request_and_answer() {
    let input = vec![
        "Why is the sky blue?".to_owned(),
        "Why is the grass green?".to_owned(),
    ];
    let http = embed_request(&ep(), "nomic-embed-text", &input).unwrap();
    assert_eq!(http.url, "http://localhost:11434/api/embed");
    assert_eq!(header_names(&http), ["content-type"]);
    assert_eq!(
        body_of(&http),
        json!({"model": "nomic-embed-text", "input": input})
    );
    assert_eq!(
        embed_request(&ep(), "nomic-embed-text", &[])
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    // docs/api.md, "Generate Embeddings".
    let answer = r#"{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221],[-0.0098905526,0.06813127,0.0]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}"#;
    let e = parse_embeddings(answer).unwrap();
    assert_eq!(e.embeddings.len(), 2);
    assert_eq!(
        e.embeddings.get(1).and_then(|v| v.get(1)),
        Some(&0.06813127)
    );
    assert_eq!(e.usage.input_tokens, 8);
    let e = parse_embeddings(r#"{"embeddings":[[1.0]]}"#).unwrap();
    assert_eq!(e.usage.input_tokens, 0);
    let err = parse_embeddings(r#"{"error":"model 'x' not found"}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelNotFound);
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// The streamed answer of docs/api.md's "Chat Request (Streaming)", completed with the pieces
/// between its first and last object, and `done_reason` as current versions send it.
fn text_stream() -> String {
    let mut s = String::new();
    for (i, piece) in ["The", " sky", " is", " blue", " — 🌍", "."]
        .iter()
        .enumerate()
    {
        s.push_str(
            &json!({"model": "llama3.2", "created_at": format!("2023-08-04T08:52:19.38540{i}455-07:00"),
                "message": {"role": "assistant", "content": piece, "images": null}, "done": false})
            .to_string(),
        );
        s.push('\n');
    }
    s.push_str(r#"{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}"#);
    s.push('\n');
    s
}

/// A tool call as current Ollama streams it: the whole call in one object, with an id.
fn tool_stream() -> String {
    [
        r#"{"model":"llama3.1:8b","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_k3x9a0pq","function":{"index":0,"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}}]},"done":false}"#,
        r#"{"model":"llama3.1:8b","created_at":"2025-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":885095291,"load_duration":3753500,"prompt_eval_count":122,"prompt_eval_duration":328493000,"eval_count":33,"eval_duration":552222000}"#,
        "",
    ]
    .join("\n")
}

#[derive(Debug, PartialEq)]
struct Run {
    chunks: Vec<Chunk>,
    result: Result<()>,
    usage: Usage,
    model: Option<String>,
}

fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut d = OllamaStream::new("Ollama", &proxied());
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

fn decode_every_way(bytes: &[u8]) -> Run {
    let whole = decode_pieces([bytes]);
    assert_eq!(decode_pieces(bytes.chunks(1)), whole, "byte by byte");
    assert_eq!(decode_pieces(bytes.chunks(5)), whole, "5 bytes at a time");
    for at in 0..=bytes.len() {
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
    let mut c = Collector::new("ollama", "m");
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
fn a_text_stream_in_every_chunking_and_line_ending() {
    for stream in [text_stream(), text_stream().replace('\n', "\r\n")] {
        let run = decode_every_way(stream.as_bytes());
        assert_eq!(run.result, Ok(()));
        assert_eq!(content_of(&run.chunks), "The sky is blue — 🌍.");
        assert_eq!(
            run.chunks
                .iter()
                .filter(|c| matches!(c, Chunk::Content { .. }))
                .count(),
            6
        );
        assert_eq!(run.usage, usage(26, 282));
        assert_eq!(run.model.as_deref(), Some("llama3.2"));
        assert_eq!(
            done_of(&run.chunks),
            Some((FinishReason::Stop, usage(26, 282)))
        );
        let n = run.chunks.len();
        assert_eq!(
            run.chunks.get(n - 2),
            Some(&Chunk::Usage {
                usage: usage(26, 282)
            })
        );
    }
    // Without the final line end the last line is still read.
    let s = text_stream();
    assert_eq!(decode_pieces([s.trim_end().as_bytes()]).result, Ok(()));
}

#[test]
fn tool_calls_arrive_whole_with_object_arguments() {
    let run = decode_every_way(tool_stream().as_bytes());
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run.chunks), "");
    let pieces: Vec<&Chunk> = run
        .chunks
        .iter()
        .filter(|c| matches!(c, Chunk::ToolCall { .. }))
        .collect();
    assert_eq!(pieces.len(), 1);
    let calls = calls_of(&run.chunks);
    assert_eq!(calls.len(), 1);
    let call = calls.first().unwrap();
    assert_eq!(call.id, "call_k3x9a0pq");
    assert_eq!(call.name, "get_current_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"format": "celsius", "location": "Paris, FR"})
    );
    // `stop` after calls is `tool_calls`.
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::ToolCalls, usage(122, 33)))
    );

    // Older versions: no id (one is made up per answer), calls spread over lines, arguments
    // given as text by some proxies, or missing.
    let lines = [
        json!({"message": {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "a", "arguments": {"x": 1}}},
            {"function": {"name": "b", "arguments": null}}]}, "done": false}),
        json!({"message": {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "c", "arguments": "{\"y\":2}"}}]}, "done": false}),
        json!({"message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop"}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let run = decode_every_way(body.as_bytes());
    assert_eq!(
        calls_of(&run.chunks),
        [
            ToolCall {
                id: "call_0".into(),
                name: "a".into(),
                arguments: "{\"x\":1}".into()
            },
            ToolCall {
                id: "call_1".into(),
                name: "b".into(),
                arguments: "{}".into()
            },
            ToolCall {
                id: "call_2".into(),
                name: "c".into(),
                arguments: "{\"y\":2}".into()
            }
        ]
    );
}

#[test]
fn thinking_is_skipped_and_missing_counts_are_zero() {
    // A prompt served from Ollama's cache reports no prompt_eval_count.
    let body = [
        r#"{"model":"qwen3:4b","message":{"role":"assistant","content":"","thinking":"Let me think"},"done":false}"#,
        r#"{"model":"qwen3:4b","message":{"role":"assistant","content":"","thinking":" hard."},"done":false}"#,
        r#"{"model":"qwen3:4b","message":{"role":"assistant","content":"Four."},"done":false}"#,
        r#"{"model":"qwen3:4b","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":7}"#,
    ]
    .join("\n");
    let run = decode_every_way(body.as_bytes());
    assert_eq!(run.result, Ok(()));
    assert_eq!(content_of(&run.chunks), "Four.");
    assert_eq!(
        done_of(&run.chunks),
        Some((FinishReason::Length, usage(0, 7)))
    );
    // Other reasons, and none.
    for (reason, want) in [
        (json!("stop"), FinishReason::Stop),
        (json!("length"), FinishReason::Length),
        (json!("unload"), FinishReason::Other),
        (Value::Null, FinishReason::Stop),
    ] {
        let body = json!({"message": {"content": "x"}, "done": true, "done_reason": reason, "prompt_eval_count": 2.0, "eval_count": "1"}).to_string();
        let run = decode_pieces([body.as_bytes()]);
        assert_eq!(done_of(&run.chunks), Some((want, usage(2, 1))), "{reason}");
    }
}

#[test]
fn an_error_line_fails_the_stream() {
    let mut body = text_stream();
    // Keep the first two lines ("The", " sky").
    let cut = body.match_indices('\n').nth(1).map(|(i, _)| i).unwrap();
    body.truncate(cut + 1);
    body.push_str(&format!(
        "{{\"error\":\"an error was encountered while running the model: llama runner process has terminated (key {PROXY_KEY})\"}}\n"
    ));
    let run = decode_every_way(body.as_bytes());
    let e = run.result.unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    assert_eq!(e.provider.as_deref(), Some("ollama"));
    assert!(
        e.message.starts_with("Ollama: an error was encountered"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("abcdefgh"), "{}", e.message);
    assert_eq!(content_of(&run.chunks), "The sky");
    assert!(!run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));

    // A model that is gone, reported in the stream; an error object as the whole body.
    let run = decode_pieces([&b"{\"error\":\"model 'llama9' not found\"}"[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::ModelNotFound);
    let run = decode_pieces([&b"{\"error\":{\"message\":\"overloaded\"}}\n"[..]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::ProviderUnavailable);
    // A line that is not JSON, never quoted; the error sticks.
    let mut d = OllamaStream::new("Ollama", &ep());
    let mut out = Vec::new();
    let e = d.feed(b"<html>private</html>\n", &mut out).unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("private"));
    assert_eq!(d.feed(text_stream().as_bytes(), &mut out), Err(e.clone()));
    assert_eq!(d.finish(&mut out), Err(e));
    assert!(out.is_empty());
}

#[test]
fn a_stream_without_done_was_cut_off() {
    let full = text_stream();
    let last = full.trim_end().rfind('\n').unwrap();
    for at in (0..=last).step_by(3) {
        let run = decode_pieces([&full.as_bytes()[..at]]);
        let e = run.result.unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "cut at {at}");
        assert!(e.message.contains("Ollama"), "{}", e.message);
        assert_eq!(run.usage, Usage::default());
        assert!(!run.chunks.iter().any(|c| matches!(c, Chunk::Done { .. })));
    }
    // Cut inside the last line: the unreadable last line means the same.
    let run = decode_pieces([&full.as_bytes()[..full.len() - 20]]);
    assert_eq!(run.result.unwrap_err().code, ErrorCode::NetworkError);
    // Lines after done are not read.
    let run = decode_pieces([format!("{full}{{\"error\":\"late\"}}\n").as_bytes()]);
    assert_eq!(run.result, Ok(()));
}

#[test]
fn the_decoder_debug_shows_no_key_or_text() {
    let mut d = OllamaStream::new("Ollama", &proxied());
    let mut out = Vec::new();
    d.feed(text_stream().as_bytes().get(..200).unwrap(), &mut out)
        .unwrap();
    let shown = format!("{d:?}");
    assert!(!shown.contains("abcdefgh"), "{shown}");
    assert!(!shown.contains("sky"), "{shown}");
    assert!(!d.is_done());
}

// ---------------------------------------------------------------------------------------------
// HTTP errors
// ---------------------------------------------------------------------------------------------

#[test]
fn http_errors_are_mapped() {
    let ollama = |m: &str| json!({ "error": m }).to_string();
    let table: Vec<(&str, u16, String, ErrorCode, Option<&str>)> = vec![
        ("404 model", 404, ollama("model 'llama9' not found"), ErrorCode::ModelNotFound,
            Some("Ollama: model 'llama9' not found")),
        ("404 model, older wording", 404, ollama("model \"llama9\" not found, try pulling it first"),
            ErrorCode::ModelNotFound, None),
        ("404 path", 404, "404 page not found".into(), ErrorCode::InvalidRequest,
            Some("Ollama: the server has no such path (HTTP 404): the base URL should be Ollama's root, such as http://localhost:11434")),
        ("405", 405, "405 method not allowed".into(), ErrorCode::InvalidRequest, None),
        ("400", 400, ollama("model is required"), ErrorCode::InvalidRequest, Some("Ollama: model is required")),
        ("400 tools", 400, ollama("registry.ollama.ai/library/codellama:13b does not support tools"), ErrorCode::InvalidRequest, None),
        ("401 proxy", 401, ollama("unauthorized"), ErrorCode::InvalidApiKey, None),
        ("403", 403, String::new(), ErrorCode::InvalidApiKey, None),
        ("429", 429, String::new(), ErrorCode::RateLimited, None),
        ("500", 500, ollama("llama runner process has terminated: exit status 2"), ErrorCode::ProviderUnavailable, None),
        ("503 busy", 503, ollama("server busy, please try again.  maximum pending requests exceeded"), ErrorCode::ProviderUnavailable, None),
        ("502 HTML", 502, "<html>bad gateway</html>".into(), ErrorCode::ProviderUnavailable,
            Some("Ollama: the service is unavailable or overloaded (HTTP 502)")),
    ];
    for (name, status, body, code, message) in table {
        let e = map_error("Ollama", "ollama", status, Some(500), &body, &[PROXY_KEY]);
        assert_eq!(e.code, code, "{name}: {}", e.message);
        assert_eq!(e.status, Some(status), "{name}");
        assert_eq!(e.provider.as_deref(), Some("ollama"), "{name}");
        if let Some(m) = message {
            assert_eq!(e.message, m, "{name}");
        }
        let waits = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        );
        assert_eq!(e.retry_after_ms, waits.then_some(500), "{name}");
    }
    let e = map_error(
        "Ollama",
        "ollama",
        401,
        None,
        &ollama(&format!("bad token {PROXY_KEY}")),
        &[PROXY_KEY],
    );
    assert!(!e.message.contains("abcdefgh"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------------
// Whole answers and model lists
// ---------------------------------------------------------------------------------------------

#[test]
fn whole_answers() {
    // docs/api.md, "Chat request (No streaming)".
    let body = r#"{"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z","message":{"role":"assistant","content":"Hello! How are you today?"},"done":true,"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":298,"eval_duration":4799921000}"#;
    let r = parse_chat_response(body).unwrap();
    assert_eq!(r.content, "Hello! How are you today?");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, usage(26, 298));
    assert_eq!(r.model.as_deref(), Some("llama3.2"));
    assert_eq!(r.reported_cost, None);

    // docs/api.md, "Chat request (with tools)": arguments are an object.
    let body = r#"{"model":"llama3.2","created_at":"2024-07-22T20:33:28.123648Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}}]},"done_reason":"stop","done":true,"total_duration":885095291,"load_duration":3753500,"prompt_eval_count":122,"prompt_eval_duration":328493000,"eval_count":33,"eval_duration":552222000}"#;
    let r = parse_chat_response(body).unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.tool_calls,
        [ToolCall {
            id: "call_0".into(),
            name: "get_current_weather".into(),
            arguments: "{\"format\":\"celsius\",\"location\":\"Paris, FR\"}".into()
        }]
    );

    let e = parse_chat_response(r#"{"error":"model 'x' not found"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelNotFound);
    let e = parse_chat_response("{\"message\":{\"content\":\"private").unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert!(!e.message.contains("private"));
    let e = parse_chat_response("{\"done\":true}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    let e = parse_chat_response("Ollama is running").unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
}

#[test]
fn model_lists() {
    // docs/api.md, "List Local Models".
    let body = r#"{"models":[{"name":"deepseek-r1:latest","model":"deepseek-r1:latest","modified_at":"2025-05-10T08:06:48.639712648-07:00","size":4683075271,"digest":"0a8c266910232fd3291e71e5ba1e058cc5af9d411192cf88b6d30e92b6e73163","details":{"parent_model":"","format":"gguf","family":"qwen2","families":["qwen2"],"parameter_size":"7.6B","quantization_level":"Q4_K_M"}},{"name":"llama3.2:latest","model":"llama3.2:latest"},{"model":"only-model:1b"},{"name":"llama3.2:latest"}]}"#;
    assert_eq!(
        parse_models(body).unwrap(),
        ["deepseek-r1:latest", "llama3.2:latest", "only-model:1b"]
    );
    assert!(parse_models("{\"models\":[]}").unwrap().is_empty());
    // `null` is an empty list; no list at all is not a model list.
    assert!(parse_models("{\"models\":null}").unwrap().is_empty());
    let e = parse_models("{\"version\":\"0.12.3\"}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
    let e = parse_models("Ollama is running").unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    let e = parse_models("{\"error\":\"unauthorized\"}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ProviderUnavailable);
}

#[test]
fn the_wire_trait_dispatches_here() {
    use super::super::Wire;
    let w = Ollama;
    let req = request("llama3.1:8b", vec![msg(Role::User, "Hi")]);
    assert_eq!(
        w.chat_request(&ep(), &req, true).unwrap(),
        chat_request(&ep(), &req, true).unwrap()
    );
    assert_eq!(w.models_request(&ep()).unwrap(), models_request(&ep()));
    let mut d = w.stream_decoder("Ollama", &ep());
    let mut out = Vec::new();
    d.feed(text_stream().as_bytes(), &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert_eq!(content_of(&out), "The sky is blue — 🌍.");
    assert_eq!(d.model(), Some("llama3.2"));
    assert_eq!(
        w.map_error(
            "Ollama",
            "ollama",
            404,
            None,
            "{\"error\":\"model 'x' not found\"}",
            &[]
        )
        .code,
        ErrorCode::ModelNotFound
    );
    assert!(w
        .embed_request(&ep(), "nomic-embed-text", &["x".into()])
        .is_ok());
    assert!(w.parse_embeddings("{\"embeddings\":[]}").is_ok());
    assert!(w.parse_models("{\"models\":[]}").is_ok());
    assert!(w
        .parse_chat_response("{\"message\":{\"content\":\"x\"},\"done\":true}")
        .is_ok());
}
