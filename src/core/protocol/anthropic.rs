//! Anthropic Messages (`POST {base}/messages`, base `https://api.anthropic.com/v1`).
//!
//! The request differs from OpenAI's in shape, not in meaning: system messages go to a
//! top-level `system`, `max_tokens` is required, tool calls and tool results are content blocks
//! (`tool_use`, `tool_result`) and images are `image` blocks. The stream is made of named events
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`).
//!
//! Decisions worth knowing:
//! - **`max_tokens`** is `settings.maxTokens`, else the catalog model's `maxOutputTokens`, else
//!   [`DEFAULT_MAX_TOKENS`] (every Claude model produces at least that many). Only what is
//!   generated is billed, so a high ceiling costs nothing by itself.
//! - **Turns.** Consecutive messages of one role are merged into one turn, tool results become
//!   `tool_result` blocks of a user turn (placed before any text of that turn, as the API
//!   requires), and several system messages are joined by a blank line.
//! - **`temperature`** is capped at 1, Anthropic's maximum (the unified request allows 2).
//! - **Input tokens** are `input_tokens` plus the cache-write and cache-read counts: Anthropic
//!   reports the uncached part alone in `input_tokens`, and the prompt was read in full.
//! - **Usage** in `message_delta` is cumulative and may revise the input count: the last value
//!   of each field wins, nothing is summed.
//! - **Thinking** blocks and server-side tools (web search) are not part of the chunk set of
//!   `shared/API.md` and are skipped; their tokens are still counted.
//! - **Refusals** (`stop_reason: refusal`) end with `content_filter`.

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

use super::{
    generic_detail, provider_error, sse_stream, status_error, ChatResponse, Chunk, Endpoint,
    HttpRequest, Method, StreamDecoder,
};
use crate::core::catalog::Model;
use crate::core::chat::{
    ChatRequest, Content, ContentPart, FinishReason, Role, Stop, ToolCall, ToolChoice, ToolMode,
    Usage,
};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::sse::{SseDecoder, SseEvent, Stray};

/// The `anthropic-version` every request carries: the current version, the one every SDK sends.
pub const API_VERSION: &str = "2023-06-01";

/// The `max_tokens` sent when neither the request nor the catalog gives one.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The page size asked of the model list: the API's maximum, so one call sees every model
/// (the default page holds 20).
const MODELS_PAGE: &str = "/models?limit=1000";

// ---------------------------------------------------------------------------------------------
// The dialect
// ---------------------------------------------------------------------------------------------

/// The Anthropic dialect as a [`super::Wire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anthropic {
    /// `max_tokens` when the request sets none.
    pub default_max_tokens: u64,
}

impl Default for Anthropic {
    fn default() -> Self {
        Anthropic {
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

impl Anthropic {
    /// The dialect for a catalog model: its output limit becomes the default `max_tokens`.
    pub fn for_model(model: Option<&Model>) -> Self {
        Anthropic {
            default_max_tokens: model
                .map(|m| m.max_output_tokens)
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        }
    }
}

impl super::Wire for Anthropic {
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest> {
        chat_request(self.default_max_tokens, ep, req, stream)
    }

    fn models_request(&self, ep: &Endpoint<'_>) -> Result<HttpRequest> {
        Ok(models_request(ep))
    }

    fn parse_models(&self, body: &str) -> Result<Vec<String>> {
        parse_models(body)
    }

    fn parse_chat_response(&self, body: &str) -> Result<ChatResponse> {
        parse_chat_response(body)
    }

    fn stream_decoder(&self, provider_name: &str, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStream::new(provider_name, ep))
    }

    fn map_error(
        &self,
        provider_name: &str,
        provider_id: &str,
        status: u16,
        retry_after_ms: Option<u64>,
        body: &str,
        secrets: &[&str],
    ) -> ByokError {
        map_error(
            provider_name,
            provider_id,
            status,
            retry_after_ms,
            body,
            secrets,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The request for a message, streamed or not, with `default_max_tokens` when the request
/// sets no limit.
///
/// Headers: `x-api-key`, `anthropic-version`, `anthropic-dangerous-direct-browser-access: true`
/// (without it the API refuses any call that carries an `Origin`) and `content-type`; nothing
/// else, so that the CORS preflight passes.
///
/// # Errors
///
/// `INVALID_REQUEST` for what the wire cannot carry: an image in a system message, inline
/// image data without its `mimeType`, a tool message without its `toolCallId`, tool-call
/// arguments that are not a JSON object, or a conversation with nothing to send.
pub fn chat_request(
    default_max_tokens: u64,
    ep: &Endpoint<'_>,
    req: &ChatRequest,
    stream: bool,
) -> Result<HttpRequest> {
    let (system, messages) = turns(req)?;
    if messages.is_empty() {
        return Err(ByokError::invalid_request(
            "Anthropic needs at least one user or assistant message",
        ));
    }
    let s = &req.settings;
    let max_tokens = s
        .max_tokens
        .filter(|m| m.is_finite() && *m >= 1.0)
        // `as` saturates; the sanitizer has already made it a whole number.
        .map_or(default_max_tokens, |m| m as u64);
    let stop_sequences = match &s.stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one.as_str()],
        Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    let tools: Vec<WireTool<'_>> = req
        .tools
        .iter()
        .map(|t| WireTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: InputSchema(&t.parameters),
        })
        .collect();
    // Sent only beside tools: a choice without tools is refused.
    let tool_choice = if tools.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Mode(ToolMode::Auto) => WireToolChoice::Mode("auto"),
            ToolChoice::Mode(ToolMode::None) => WireToolChoice::Mode("none"),
            ToolChoice::Mode(ToolMode::Required) => WireToolChoice::Mode("any"),
            ToolChoice::Named { name } => WireToolChoice::Tool(name),
        })
    };
    let body = Body {
        model: &req.model,
        max_tokens,
        system,
        messages,
        temperature: s.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: s.top_p,
        stop_sequences,
        tools,
        tool_choice,
        stream,
    };
    let json = serde_json::to_string(&body)
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(4);
    push_auth(ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: ep.url("/messages"),
        headers,
        body: Some(json),
    })
}

/// The request for the model list, `GET {base}/models?limit=1000`; it also proves a key valid.
pub fn models_request(ep: &Endpoint<'_>) -> HttpRequest {
    let mut headers = Vec::with_capacity(3);
    push_auth(ep, &mut headers);
    HttpRequest {
        method: Method::Get,
        url: ep.url(MODELS_PAGE),
        headers,
        body: None,
    }
}

fn push_auth(ep: &Endpoint<'_>, headers: &mut Vec<(String, Zeroizing<String>)>) {
    // An empty key only happens behind a custom base URL (a local gateway holding the key).
    if !ep.secret.is_empty() {
        headers.push((
            String::from("x-api-key"),
            Zeroizing::new(String::from(ep.secret)),
        ));
    }
    headers.push((
        String::from("anthropic-version"),
        Zeroizing::new(String::from(API_VERSION)),
    ));
    headers.push((
        String::from("anthropic-dangerous-direct-browser-access"),
        Zeroizing::new(String::from("true")),
    ));
}

/// A tool's parameters as an `input_schema`, which must say `"type": "object"` (the unified
/// request lets it be left out): written out with the `type` added, without copying the schema.
struct InputSchema<'a>(&'a serde_json::Value);

impl Serialize for InputSchema<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self.0 {
            serde_json::Value::Object(map) if !map.contains_key("type") => {
                let mut m = s.serialize_map(Some(map.len() + 1))?;
                m.serialize_entry("type", "object")?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            other => other.serialize(s),
        }
    }
}

/// The system text and the alternating turns of a request.
fn turns(req: &ChatRequest) -> Result<(Option<String>, Vec<Turn<'_>>)> {
    let mut system: Option<String> = None;
    let mut turns: Vec<Turn<'_>> = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
        let (role, blocks) = match m.role {
            Role::System => {
                if m.content.has_image() {
                    return Err(bad("a system message cannot hold images"));
                }
                let text = plain_text(&m.content);
                if !text.trim().is_empty() {
                    let all = system.get_or_insert_with(String::new);
                    if !all.is_empty() {
                        all.push_str("\n\n");
                    }
                    all.push_str(&text);
                }
                continue;
            }
            Role::User => ("user", user_blocks(&m.content).map_err(bad)?),
            Role::Assistant => {
                let mut blocks = Vec::with_capacity(1 + m.tool_calls.len());
                let text = plain_text(&m.content);
                // Anthropic refuses empty text blocks.
                if !text.is_empty() {
                    blocks.push(Block::Text { text });
                }
                for c in &m.tool_calls {
                    blocks.push(Block::ToolUse {
                        id: &c.id,
                        name: &c.name,
                        input: call_input(&c.arguments).map_err(|what| bad(&what))?,
                    });
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .ok_or_else(|| bad("a tool message needs its toolCallId"))?;
                let text = plain_text(&m.content);
                let block = Block::ToolResult {
                    tool_use_id: id,
                    content: Some(text).filter(|t| !t.is_empty()),
                };
                ("user", vec![block])
            }
        };
        push_turn(&mut turns, role, blocks);
    }
    for t in &mut turns {
        // Tool results must open the user turn that answers the calls. (A partition by hand:
        // `sort_by_key` would bring a whole sort into the wasm module.)
        if t.role == "user" && t.content.len() > 1 {
            let (mut results, others): (Vec<_>, Vec<_>) = mem::take(&mut t.content)
                .into_iter()
                .partition(|b| matches!(b, Block::ToolResult { .. }));
            results.extend(others);
            t.content = results;
        }
    }
    // A prefilled final assistant turn may not end in white space.
    if let Some(last) = turns.last_mut().filter(|t| t.role == "assistant") {
        if let Some(Block::Text { text }) = last.content.last_mut() {
            let trimmed = text.trim_end().len();
            if trimmed < text.len() {
                text.to_mut().truncate(trimmed);
            }
            if text.is_empty() {
                last.content.pop();
            }
        }
        if last.content.is_empty() {
            turns.pop();
        }
    }
    Ok((system, turns))
}

/// Appends blocks to the conversation, merging them into the last turn when it has the same
/// role (the API wants turns to alternate).
fn push_turn<'a>(turns: &mut Vec<Turn<'a>>, role: &'static str, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    }
}

/// The text of a message whose role takes no images, borrowed when it is one string.
fn plain_text(c: &Content) -> Cow<'_, str> {
    match c {
        Content::Text(t) => Cow::Borrowed(t.as_str()),
        Content::Parts(_) => Cow::Owned(c.text()),
    }
}

fn user_blocks(c: &Content) -> core::result::Result<Vec<Block<'_>>, &'static str> {
    let parts = match c {
        Content::Text(t) if t.is_empty() => return Ok(Vec::new()),
        Content::Text(t) => {
            return Ok(vec![Block::Text {
                text: Cow::Borrowed(t),
            }])
        }
        Content::Parts(parts) => parts,
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text { text } if text.is_empty() => {}
            ContentPart::Text { text } => blocks.push(Block::Text {
                text: Cow::Borrowed(text),
            }),
            ContentPart::Image {
                data,
                url,
                mime_type,
            } => {
                let source = match (data, url) {
                    (Some(d), _) => match data_url(d) {
                        Some(source) => source,
                        None => ImageSource::Base64 {
                            media_type: mime_type
                                .as_deref()
                                .ok_or("inline image data needs its mimeType")?,
                            data: d,
                        },
                    },
                    (None, Some(u)) => data_url(u).unwrap_or(ImageSource::Url { url: u }),
                    (None, None) => return Err("an image part needs data or url"),
                };
                blocks.push(Block::Image { source });
            }
        }
    }
    Ok(blocks)
}

/// A `data:<type>;base64,<data>` URL as a base64 source (Anthropic takes no `data:` URLs).
fn data_url(s: &str) -> Option<ImageSource<'_>> {
    let (media_type, data) = s.strip_prefix("data:")?.split_once(";base64,")?;
    Some(ImageSource::Base64 { media_type, data })
}

/// The `input` object of a `tool_use` block from the call's JSON text; no text at all is `{}`
/// (Anthropic streams a call without arguments as `""`).
fn call_input(arguments: &str) -> core::result::Result<serde_json::Value, String> {
    if arguments.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) if v.is_object() => Ok(v),
        // Never quote the arguments: they are the model's words.
        _ => Err(String::from(
            "the arguments of a tool call must be a JSON object",
        )),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "is_false")]
    stream: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One turn; its content is sent as a plain string when it is one text block, as the API's
/// own examples do.
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

impl Serialize for Turn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Turn", 2)?;
        st.serialize_field("role", self.role)?;
        match self.content.as_slice() {
            [Block::Text { text }] => st.serialize_field("content", text)?,
            blocks => st.serialize_field("content", blocks)?,
        }
        st.end()
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: Cow<'a, str>,
    },
    Image {
        source: ImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: serde_json::Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<Cow<'a, str>>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: InputSchema<'a>,
}

/// `{"type":"auto"|"any"|"none"}` or `{"type":"tool","name":…}`.
enum WireToolChoice<'a> {
    Mode(&'static str),
    Tool(&'a str),
}

impl Serialize for WireToolChoice<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            WireToolChoice::Mode(mode) => {
                let mut st = s.serialize_struct("ToolChoice", 1)?;
                st.serialize_field("type", mode)?;
                st.end()
            }
            WireToolChoice::Tool(name) => {
                let mut st = s.serialize_struct("ToolChoice", 2)?;
                st.serialize_field("type", "tool")?;
                st.serialize_field("name", name)?;
                st.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers: reading JSON leniently
// ---------------------------------------------------------------------------------------------

// Answers are read as `serde_json::Value`, by field name, which the crate already carries for
// every dialect, so this module adds almost no decoding code to the wasm module. The one event
// that comes by the thousand, `content_block_delta`, has a borrowed typed form for speed; any
// surprise in it falls back to the `Value` path.

/// `content_block_delta`, read without copying what needs no copy.
#[derive(Deserialize)]
struct HotDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow)]
    delta: HotDeltaBody<'a>,
}

#[derive(Deserialize)]
struct HotDeltaBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
}

/// `v[key]` as a string; absent, `null` or another type is `""`.
fn text_at<'v>(v: &'v serde_json::Value, key: &str) -> &'v str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

/// A count read leniently: an integer, a float, a numeric string; `None` when absent or `null`,
/// 0 when negative or unreadable.
fn count_at(v: &serde_json::Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::Number(n) => Some(n.as_u64().unwrap_or_else(|| {
            // `as` saturates and maps NaN to 0.
            n.as_f64().filter(|f| *f > 0.0).map_or(0, |f| f as u64)
        })),
        serde_json::Value::String(s) => Some(
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0)
                .map_or(0, |f| f as u64),
        ),
        _ => Some(0),
    }
}

/// The token counts as reported so far, field by field: a later report replaces only the
/// fields it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    input: u64,
    cache_write: u64,
    cache_read: u64,
    output: u64,
}

impl Counts {
    /// Takes the fields of a `usage` object.
    fn apply(&mut self, usage: &serde_json::Value) {
        for (key, field) in [
            ("input_tokens", &mut self.input),
            ("cache_creation_input_tokens", &mut self.cache_write),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("output_tokens", &mut self.output),
        ] {
            if let Some(n) = count_at(usage, key) {
                *field = n;
            }
        }
    }

    fn usage(&self) -> Usage {
        let input = self
            .input
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read);
        Usage {
            input_tokens: input,
            output_tokens: self.output,
            total_tokens: input.saturating_add(self.output),
        }
    }
}

/// Anthropic's stop reasons.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        // The context window filled up: the answer was cut, as by `max_tokens`.
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The finish reason to report, from the one the server sent.
fn final_reason(sent: Option<FinishReason>, has_calls: bool) -> FinishReason {
    match sent {
        None if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
        // A tool loop relies on `tool_calls` whenever calls were made.
        Some(FinishReason::Stop) if has_calls => FinishReason::ToolCalls,
        Some(other) => other,
    }
}

/// An id for a tool call the server sent without one, so that pieces can still be told apart.
fn synthetic_id(n: usize) -> String {
    format!("toolu_byok_{n}")
}

/// A `tool_use` input as JSON text; an empty object is no text at all (collectors fill in
/// `{}`), so the stream does not repeat what a `""` delta already said.
fn input_text(input: Option<&serde_json::Value>) -> Option<String> {
    match input {
        Some(serde_json::Value::Object(map)) if map.is_empty() => None,
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What an error body says: `{"type":"error","error":{"type","message"},"request_id"}`, and
/// the simpler shapes gateways in front of Anthropic use.
#[derive(Default)]
struct ErrorInfo {
    kind: String,
    message: Option<String>,
}

impl ErrorInfo {
    fn from_body(body: &str) -> ErrorInfo {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) => ErrorInfo::from_value(&v),
            Err(_) => ErrorInfo::default(),
        }
    }

    fn from_value(v: &serde_json::Value) -> ErrorInfo {
        let mut info = ErrorInfo::default();
        info.read(v);
        if let Some(inner) = v.get("error") {
            info.kind.clear();
            info.read(inner);
        }
        info
    }

    fn read(&mut self, v: &serde_json::Value) {
        match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => {
                self.message = Some(s.clone());
            }
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(s)) = map.get("type") {
                    self.kind = s.to_ascii_lowercase();
                }
                for key in ["message", "detail"] {
                    if let Some(serde_json::Value::String(s)) = map.get(key) {
                        if !s.trim().is_empty() {
                            self.message = Some(s.clone());
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn message_has(&self, words: &[&str]) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            words.iter().any(|w| m.contains(w))
        })
    }

    fn about_model(&self) -> bool {
        self.message_has(&["model"])
    }
}

/// Words of Anthropic's out-of-credit and spend-limit answers ("Your credit balance is too low
/// to access the Anthropic API. Please go to Plans & Billing…", "You have reached your
/// specified API usage limits…", "Extra usage is required for long context requests."): sent
/// as 400 or 429, they never clear by waiting.
const QUOTA_WORDS: [&str; 6] = [
    "credit balance",
    "plans & billing",
    "usage limit",
    "spend limit",
    "extra usage",
    "usage credits",
];

/// The error code for a status (none for errors inside a 200 stream) and what the body says.
fn classify(status: Option<u16>, info: &ErrorInfo) -> ErrorCode {
    if info.kind == "billing_error" || info.message_has(&QUOTA_WORDS) {
        return ErrorCode::InsufficientQuota;
    }
    // "CORS requests must set 'anthropic-dangerous-direct-browser-access' header", or an
    // organization that forbids browser calls.
    if info.message_has(&["cors requests"]) {
        return ErrorCode::CorsBlocked;
    }
    match info.kind.as_str() {
        "authentication_error" | "permission_error" => return ErrorCode::InvalidApiKey,
        "not_found_error" if info.about_model() => return ErrorCode::ModelNotFound,
        "rate_limit_error" => return ErrorCode::RateLimited,
        "overloaded_error" | "api_error" | "timeout_error" => {
            return ErrorCode::ProviderUnavailable
        }
        "invalid_request_error" | "request_too_large" | "not_found_error" => {
            return ErrorCode::InvalidRequest
        }
        _ => {}
    }
    match status {
        Some(401 | 403) => ErrorCode::InvalidApiKey,
        Some(402) => ErrorCode::InsufficientQuota,
        Some(404) if info.about_model() => ErrorCode::ModelNotFound,
        Some(408) => ErrorCode::NetworkError,
        Some(429) => ErrorCode::RateLimited,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) => ErrorCode::InvalidRequest,
        // An unexplained failure after the answer began is the server's.
        None => ErrorCode::ProviderUnavailable,
    }
}

/// The error for an HTTP answer that is not 2xx.
///
/// By the body's `error.type`: `authentication_error` (401) and `permission_error` (403) →
/// `INVALID_API_KEY`; `not_found_error` (404) about the model → `MODEL_NOT_FOUND`;
/// `invalid_request_error` (400) and `request_too_large` (413) → `INVALID_REQUEST`;
/// `rate_limit_error` (429) → `RATE_LIMITED` with `retry_after_ms`; `api_error` (500),
/// `timeout_error` (504) and `overloaded_error` (529) → `PROVIDER_UNAVAILABLE`;
/// `billing_error` (402) → `INSUFFICIENT_QUOTA`. An out-of-credit or spend-limit message is
/// `INSUFFICIENT_QUOTA` whatever its status (400 or 429), and is never retried. Without a
/// readable body, the status decides.
///
/// The message is the body's own `error.message`, redacted of `secrets` and of anything that
/// looks like a key, else a generic one.
pub fn map_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
    secrets: &[&str],
) -> ByokError {
    let info = ErrorInfo::from_body(body);
    let code = classify(Some(status), &info);
    status_error(
        provider_name,
        provider_id,
        status,
        retry_after_ms,
        code,
        info.message,
        secrets,
    )
}

/// The error for an error object that came inside a 200 answer (an `error` event, or an error
/// body where a message was expected).
fn embedded_error(
    provider_name: &str,
    provider_id: &str,
    value: &serde_json::Value,
    secrets: &[&str],
) -> ByokError {
    let info = ErrorInfo::from_value(value);
    let code = classify(None, &info);
    let detail = match &info.message {
        Some(m) => m.as_str(),
        None => generic_detail(code),
    };
    provider_error(provider_name, provider_id, code, detail, secrets)
}

/// Whether a JSON value is an error object: `{"type":"error",…}` or `{"error":…}`.
fn is_error_value(v: &serde_json::Value) -> bool {
    v.get("type").and_then(serde_json::Value::as_str) == Some("error")
        || v.get("error").is_some_and(|e| !e.is_null())
}

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// Reads a non-streamed message: the text blocks joined, the `tool_use` blocks as calls (their
/// `input` written out as JSON text), usage and stop reason.
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON (a cut-off answer; nothing of it is quoted); the
/// mapped error when it is an error object (its message redacted of anything that looks like a
/// key; the caller adds the provider); `PROVIDER_UNAVAILABLE` for JSON of another shape.
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    let v: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => {
            return Err(ByokError::new(
                ErrorCode::NetworkError,
                "the answer is not valid JSON (was it cut off?)",
            ))
        }
    };
    if is_error_value(&v) {
        return Err(embedded_error("", "", &v, &[]));
    }
    let Some(blocks) = v.get("content").and_then(serde_json::Value::as_array) else {
        return Err(ByokError::new(
            ErrorCode::ProviderUnavailable,
            "the answer is JSON but not a message",
        ));
    };
    let mut content = String::new();
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    for b in blocks {
        match text_at(b, "type") {
            "text" => content.push_str(text_at(b, "text")),
            "tool_use" => {
                let id = match text_at(b, "id") {
                    "" => synthetic_id(tool_calls.len()),
                    id => id.to_owned(),
                };
                tool_calls.push(ToolCall {
                    id,
                    name: text_at(b, "name").to_owned(),
                    arguments: input_text(b.get("input")).unwrap_or_else(|| String::from("{}")),
                });
            }
            _ => {}
        }
    }
    let mut counts = Counts::default();
    if let Some(u) = v.get("usage") {
        counts.apply(u);
    }
    let reason = Some(text_at(&v, "stop_reason"))
        .filter(|r| !r.is_empty())
        .map(finish_reason);
    Ok(ChatResponse {
        content,
        finish_reason: final_reason(reason, !tool_calls.is_empty()),
        tool_calls,
        usage: counts.usage(),
        model: Some(text_at(&v, "model").to_owned()).filter(|m| !m.is_empty()),
        reported_cost: None,
    })
}

/// Reads the answer of [`models_request`]: `{"data":[{"id":…}],"has_more",…}`, ids in order,
/// duplicates dropped.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else that is not
/// a model list (often a wrong base URL answering with a web page).
pub fn parse_models(body: &str) -> Result<Vec<String>> {
    let v = serde_json::from_str::<serde_json::Value>(body).unwrap_or_default();
    let Some(list) = v.get("data").and_then(serde_json::Value::as_array) else {
        if is_error_value(&v) {
            return Err(embedded_error("", "", &v, &[]));
        }
        return Err(ByokError::new(
            ErrorCode::ProviderUnavailable,
            "the answer is not a model list (is the base URL right?)",
        ));
    };
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for id in list.iter().map(|e| text_at(e, "id")) {
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// The event types this decoder acts on; any other type (`ping`, and whatever the API adds
/// later, as its versioning policy allows) is skipped.
const KNOWN_EVENTS: [&str; 6] = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
];

/// A content block being streamed.
struct Slot {
    /// The block's `index`, when the server sends one.
    index: Option<u64>,
    /// `Some` for a `tool_use` block (a call the caller must answer).
    call: Option<CallSlot>,
}

struct CallSlot {
    id: String,
    name: String,
    /// Some arguments were emitted for it.
    has_args: bool,
    /// A non-empty `input` given whole in `content_block_start` (gateways that do not stream
    /// arguments), emitted at the block's end if no `input_json_delta` came.
    start_input: Option<String>,
}

/// Decodes an Anthropic event stream (`stream: true`) into [`Chunk`]s.
///
/// - `message_start` gives the model and the input tokens; `message_delta` the stop reason and
///   the cumulative usage (each field it carries replaces the earlier value); each change is a
///   `usage` chunk.
/// - `text_delta`s become `content` chunks, one per delta, whatever the reads.
/// - A `tool_use` block is announced at its start with an empty `argumentsDelta`, then each
///   non-empty `input_json_delta` is a piece; a call without arguments streams none (`{}` for
///   collectors).
/// - `message_stop` ends the answer with a `done` chunk; anything after it is ignored.
/// - `event: error` (`{"type":"error","error":{"type":"overloaded_error",…}}`), an error object
///   where events were expected, or a known event that cannot be read is an error, its message
///   redacted.
/// - The end of the body without `message_stop` is `NETWORK_ERROR` from
///   [`StreamDecoder::finish`].
pub struct AnthropicStream {
    sse: SseDecoder,
    /// Reused between reads to keep its capacity.
    events: Vec<SseEvent>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    model: Option<String>,
    counts: Counts,
    usage_seen: bool,
    finish_reason: Option<FinishReason>,
    slots: Vec<Slot>,
    calls: usize,
    done: bool,
    /// Text that was not part of any event, kept until it can be read as a whole.
    failed: Option<ByokError>,
}

impl fmt::Debug for AnthropicStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicStream")
            .field("provider", &self.provider_id)
            .field("model", &self.model)
            .field("usage", &self.counts.usage())
            .field("tool_calls", &self.calls)
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl AnthropicStream {
    /// A decoder for one answer from `ep`; `provider_name` (e.g. `Anthropic`) is for messages,
    /// and `ep.secret` is remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        AnthropicStream {
            sse: SseDecoder::new(),
            events: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            model: None,
            counts: Counts::default(),
            usage_seen: false,
            finish_reason: None,
            slots: Vec::new(),
            calls: 0,
            done: false,
            failed: None,
        }
    }

    /// Whether `message_stop` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<Chunk>) -> Result<()> {
        let data = ev.data.trim_ascii();
        if data.is_empty() {
            if ev.event == "error" {
                return Err(self.error_event(None));
            }
            return Ok(());
        }
        // The event that comes by the thousand, borrowed and typed; anything unexpected in it
        // takes the general path below.
        if matches!(ev.event.as_str(), "content_block_delta" | "") {
            if let Ok(hot) = serde_json::from_str::<HotDelta<'_>>(data) {
                if hot.kind == "content_block_delta" {
                    let d = hot.delta;
                    self.on_delta(hot.index, &d.kind, d.text, d.partial_json, out);
                    return Ok(());
                }
            }
        }
        let v: serde_json::Value = match serde_json::from_str(data) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            // An event type added later may carry anything.
            _ if !ev.event.is_empty()
                && ev.event != "error"
                && !KNOWN_EVENTS.contains(&ev.event.as_str()) =>
            {
                return Ok(())
            }
            _ => return Err(self.odd_event(&ev.event, data)),
        };
        // The payload's `type` names the event; the `event:` line is the fallback.
        let kind = match text_at(&v, "type") {
            "" => ev.event.as_str(),
            kind => kind,
        };
        if kind == "error" || ev.event == "error" {
            return Err(self.error_event(v.get("error")));
        }
        let index = count_at(&v, "index");
        let part = |key: &str| v.get(key).filter(|x| x.is_object());
        match kind {
            "message_start" => {
                let m = part("message").ok_or_else(|| self.odd_event(kind, data))?;
                if self.model.is_none() && !text_at(m, "model").is_empty() {
                    self.model = Some(text_at(m, "model").to_owned());
                }
                if let Some(u) = m.get("usage").filter(|u| u.is_object()) {
                    self.on_usage(u, out);
                }
            }
            "content_block_start" => {
                let b = part("content_block").ok_or_else(|| self.odd_event(kind, data))?;
                self.on_block_start(index, b, out);
            }
            "content_block_delta" => {
                let d = part("delta").ok_or_else(|| self.odd_event(kind, data))?;
                let text = Some(Cow::Borrowed(text_at(d, "text")));
                let partial = Some(Cow::Borrowed(text_at(d, "partial_json")));
                self.on_delta(index, text_at(d, "type"), text, partial, out);
            }
            "content_block_stop" => self.on_block_stop(index, out),
            "message_delta" => {
                let reason = part("delta").map_or("", |d| text_at(d, "stop_reason"));
                if !reason.is_empty() {
                    self.finish_reason = Some(finish_reason(reason));
                }
                if let Some(u) = part("usage") {
                    self.on_usage(u, out);
                }
            }
            "message_stop" => {
                self.done = true;
                out.push(Chunk::Done {
                    finish_reason: final_reason(self.finish_reason, self.calls > 0),
                    usage: self.counts.usage(),
                    cost: None,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn on_block_start(
        &mut self,
        index: Option<u64>,
        block: &serde_json::Value,
        out: &mut Vec<Chunk>,
    ) {
        let call = match text_at(block, "type") {
            "text" => {
                let text = text_at(block, "text");
                if !text.is_empty() {
                    out.push(Chunk::Content {
                        delta: text.to_owned(),
                    });
                }
                None
            }
            "tool_use" => {
                let id = match text_at(block, "id") {
                    "" => synthetic_id(self.calls),
                    id => id.to_owned(),
                };
                let name = text_at(block, "name").to_owned();
                self.calls += 1;
                // Announced before any argument, so a UI can show the call starting.
                out.push(Chunk::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments_delta: String::new(),
                });
                Some(CallSlot {
                    id,
                    name,
                    has_args: false,
                    start_input: input_text(block.get("input")),
                })
            }
            // Thinking, redacted thinking, server tools and their results.
            _ => None,
        };
        self.slots.push(Slot { index, call });
    }

    /// The call a block event concerns: by index, else (no index) the latest call.
    fn call_slot(&mut self, index: Option<u64>) -> Option<&mut CallSlot> {
        let pos = match index {
            Some(i) => self.slots.iter().rposition(|s| s.index == Some(i)),
            None => self.slots.iter().rposition(|s| s.call.is_some()),
        }?;
        self.slots.get_mut(pos)?.call.as_mut()
    }

    fn on_delta(
        &mut self,
        index: Option<u64>,
        kind: &str,
        text: Option<Cow<'_, str>>,
        partial_json: Option<Cow<'_, str>>,
        out: &mut Vec<Chunk>,
    ) {
        match kind {
            "text_delta" => {
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    out.push(Chunk::Content {
                        delta: text.into_owned(),
                    });
                }
            }
            "input_json_delta" => {
                let Some(piece) = partial_json.filter(|p| !p.is_empty()) else {
                    return;
                };
                if let Some(call) = self.call_slot(index) {
                    call.has_args = true;
                    out.push(Chunk::ToolCall {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        arguments_delta: piece.into_owned(),
                    });
                }
            }
            // thinking_delta, signature_delta, citations_delta.
            _ => {}
        }
    }

    fn on_block_stop(&mut self, index: Option<u64>, out: &mut Vec<Chunk>) {
        if let Some(call) = self.call_slot(index) {
            if !call.has_args {
                if let Some(input) = call.start_input.take() {
                    call.has_args = true;
                    out.push(Chunk::ToolCall {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        arguments_delta: input,
                    });
                }
            }
        }
    }

    fn on_usage(&mut self, usage: &serde_json::Value, out: &mut Vec<Chunk>) {
        let before = self.counts;
        self.counts.apply(usage);
        // `message_delta` repeats counts that did not change; only changes are worth a chunk.
        if self.counts != before || !self.usage_seen {
            out.push(Chunk::Usage {
                usage: self.counts.usage(),
            });
        }
        self.usage_seen = true;
    }

    fn secrets(&self) -> [&str; 1] {
        [self.secret.as_str()]
    }

    fn embedded(&self, value: &serde_json::Value) -> ByokError {
        embedded_error(
            &self.provider_name,
            &self.provider_id,
            value,
            &self.secrets(),
        )
    }

    fn error_event(&self, error: Option<&serde_json::Value>) -> ByokError {
        match error {
            Some(e) if !e.is_null() => {
                // The payload is `{"type":"error","error":{…}}`; read the inner object.
                let wrapped = serde_json::json!({ "error": e });
                self.embedded(&wrapped)
            }
            _ => super::unreadable_error_event(&self.provider_name, &self.provider_id),
        }
    }

    fn odd_event(&self, event: &str, data: &str) -> ByokError {
        if event == "error" {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                return self.embedded(&v);
            }
            return self.error_event(None);
        }
        // Never quote the event: it is the model's answer, or worse.
        super::unreadable_event(&self.provider_name, &self.provider_id)
    }
}

impl sse_stream::SseDialect for AnthropicStream {
    fn sse_parts(&mut self) -> (&mut SseDecoder, &mut Vec<SseEvent>) {
        (&mut self.sse, &mut self.events)
    }

    fn failed_slot(&mut self) -> &mut Option<ByokError> {
        &mut self.failed
    }

    fn provider(&self) -> &str {
        &self.provider_id
    }

    /// Handles the events decoded so far.
    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::drain_each(self, out, Self::on_event, |s| s.done)
    }

    /// Looks at text that was not part of any event. A bare JSON object (an error body sent
    /// where events were expected, possibly pretty-printed over several reads) is read once it
    /// is complete; anything else means the answer is not an event stream.
    fn check_stray(&mut self, at_end: bool) -> Result<()> {
        if self.done {
            return Ok(());
        }
        match self.sse.judge_stray(at_end, None) {
            Stray::Nothing | Stray::Partial => Ok(()),
            Stray::Json(v) if is_error_value(&v) || v.get("message").is_some() => {
                Err(self.embedded(&v))
            }
            _ => Err(super::not_an_event_stream(
                &self.provider_name,
                &self.provider_id,
            )),
        }
    }

    fn truncated(&self) -> ByokError {
        ByokError::new(
            ErrorCode::NetworkError,
            format!(
                "the stream from {} ended before it was complete",
                self.provider_name
            ),
        )
        .with_provider(self.provider_id.as_str())
    }

    fn complete(&mut self, _out: &mut Vec<Chunk>) -> Result<()> {
        if self.done {
            Ok(())
        } else {
            Err(self.truncated())
        }
    }
}

impl StreamDecoder for AnthropicStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::feed(self, bytes, out)
    }

    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::finish(self, out)
    }

    fn usage(&self) -> Usage {
        self.counts.usage()
    }

    fn reported_cost(&self) -> Option<f64> {
        None
    }

    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

#[cfg(test)]
mod tests;
