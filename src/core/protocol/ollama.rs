//! Ollama's native API (`POST {base}/api/chat`, base `http://localhost:11434`).
//!
//! Ollama runs without keys; byok sends `authorization: Bearer <key>` only when the user stored
//! one (for a reverse proxy in front of Ollama), and otherwise only `content-type`: Ollama's
//! CORS rules allow few request headers, and a browser asks first for any other.
//!
//! The stream is newline-delimited JSON ([`crate::core::ndjson`]), one object per line:
//! `{model, created_at, message: {role, content, thinking?, tool_calls?}, done: false}` …, and a
//! last `{done: true, done_reason, prompt_eval_count, eval_count, …}`. A body that ends without
//! `done: true` was cut off (`NETWORK_ERROR`). A failure after the answer began is an
//! `{"error": "…"}` line.
//!
//! Decisions worth knowing:
//! - **`stream` is always sent**: Ollama streams unless told `false`.
//! - **Tool calls** arrive whole, their `arguments` a JSON object, which byok writes out as JSON
//!   text in one `tool_call` chunk. Recent Ollama versions give calls an `id`; for older ones
//!   byok makes one up (`call_<n>`, numbered within the answer). Going back, the arguments are
//!   sent as an object again and a tool result names its tool (`tool_name`, looked up from the
//!   call it answers) as well as the call (`tool_call_id`, read by recent versions).
//! - **Tool choice**: Ollama has none. `none` sends no tools, a named tool sends only that tool;
//!   `required` cannot be enforced and is sent like `auto`.
//! - **Images** go in the message's `images` as bare base64: inline data is sent as is (a
//!   `data:` URL loses its prefix); an image by `https:` URL is `INVALID_REQUEST`, since Ollama
//!   does not fetch URLs.
//! - **Usage** is `prompt_eval_count` / `eval_count`; either may be missing (a prompt served
//!   from Ollama's cache reports none): missing counts are 0. Ollama costs nothing, and the
//!   catalog prices its models at 0.
//! - **Thinking** (`message.thinking`) is not part of the chunk set of `shared/API.md` and is
//!   skipped.

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::cohere::{Count, Str};
use super::{
    generic_detail, provider_error, status_error, ChatResponse, Chunk, Embeddings, Endpoint,
    HttpRequest, Method, StreamDecoder,
};
use crate::core::chat::{
    ChatRequest, Content, ContentPart, FinishReason, Message, Role, Stop, ToolCall, ToolChoice,
    ToolMode, Usage,
};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::ndjson::NdjsonDecoder;

/// Ollama's native dialect as a [`super::Wire`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ollama;

impl super::Wire for Ollama {
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest> {
        chat_request(ep, req, stream)
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
        Box::new(OllamaStream::new(provider_name, ep))
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

    fn embed_request(
        &self,
        ep: &Endpoint<'_>,
        model: &str,
        input: &[String],
    ) -> Result<HttpRequest> {
        embed_request(ep, model, input)
    }

    fn parse_embeddings(&self, body: &str) -> Result<Embeddings> {
        parse_embeddings(body)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The chat request, streamed or not: `POST {base}/api/chat`.
///
/// # Errors
///
/// `INVALID_REQUEST` for an image given by URL (Ollama takes image data only), or tool-call
/// arguments that are not a JSON object.
pub fn chat_request(ep: &Endpoint<'_>, req: &ChatRequest, stream: bool) -> Result<HttpRequest> {
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| wire_message(&req.messages, i, m))
        .collect::<Result<Vec<_>>>()?;
    let s = &req.settings;
    let options = Options {
        temperature: s.temperature.filter(|t| t.is_finite()),
        top_p: s.top_p.filter(|p| p.is_finite()),
        num_predict: s
            .max_tokens
            .filter(|m| m.is_finite() && *m >= 1.0)
            // `as` saturates; the sanitizer has already made it a whole number.
            .map(|m| m as u64),
        stop: match &s.stop {
            None => Vec::new(),
            Some(Stop::One(one)) => vec![one.as_str()],
            Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
        },
    };
    let body = Body {
        model: &req.model,
        messages,
        tools: wire_tools(req),
        options: (!options.is_empty()).then_some(options),
        stream,
    };
    let json = serde_json::to_string(&body)
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(2);
    push_auth(ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: ep.url("/api/chat"),
        headers,
        body: Some(json),
    })
}

/// The request for the local model list, `GET {base}/api/tags`: it proves the server is there
/// (and, behind a proxy, that the key is accepted).
pub fn models_request(ep: &Endpoint<'_>) -> HttpRequest {
    let mut headers = Vec::with_capacity(1);
    push_auth(ep, &mut headers);
    HttpRequest {
        method: Method::Get,
        url: ep.url("/api/tags"),
        headers,
        body: None,
    }
}

/// The embeddings request, `POST {base}/api/embed` with `{model, input}`.
///
/// # Errors
///
/// `INVALID_REQUEST` for no input.
pub fn embed_request(ep: &Endpoint<'_>, model: &str, input: &[String]) -> Result<HttpRequest> {
    if input.is_empty() {
        return Err(
            ByokError::invalid_request("embeddings need at least one input")
                .with_provider(ep.provider),
        );
    }
    #[derive(Serialize)]
    struct EmbedBody<'a> {
        model: &'a str,
        input: &'a [String],
    }
    let json = serde_json::to_string(&EmbedBody { model, input })
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(2);
    push_auth(ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: ep.url("/api/embed"),
        headers,
        body: Some(json),
    })
}

fn push_auth(ep: &Endpoint<'_>, headers: &mut Vec<(String, Zeroizing<String>)>) {
    // Ollama itself takes no key; a reverse proxy in front of it may.
    if ep.secret.is_empty() {
        return;
    }
    let mut value = Zeroizing::new(String::with_capacity(7 + ep.secret.len()));
    value.push_str("Bearer ");
    value.push_str(ep.secret);
    headers.push((String::from("authorization"), value));
}

fn wire_tools(req: &ChatRequest) -> Vec<WireTool<'_>> {
    let named = match &req.tool_choice {
        Some(ToolChoice::Mode(ToolMode::None)) => return Vec::new(),
        Some(ToolChoice::Named { name }) => Some(name.as_str()),
        _ => None,
    };
    req.tools
        .iter()
        .filter(|t| named.is_none_or(|n| n == t.name))
        .map(|t| WireTool {
            kind: "function",
            function: WireFunctionDef {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.parameters,
            },
        })
        .collect()
}

fn wire_message<'a>(all: &'a [Message], i: usize, m: &'a Message) -> Result<WireMessage<'a>> {
    let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
    let mut w = WireMessage {
        role: match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        },
        content: plain_text(&m.content),
        images: Vec::new(),
        tool_calls: Vec::new(),
        tool_name: None,
        tool_call_id: None,
    };
    if let Content::Parts(parts) = &m.content {
        for p in parts {
            if let ContentPart::Image { data, url, .. } = p {
                let image =
                    match (data, url) {
                        (Some(d), _) => base64_of(d),
                        (None, Some(u)) if u.starts_with("data:") => base64_of(u),
                        (None, Some(_)) => return Err(bad(
                            "Ollama takes images as base64 data, not by URL: fetch the image and \
                             send its data",
                        )),
                        (None, None) => return Err(bad("an image part needs data or url")),
                    };
                w.images.push(image);
            }
        }
    }
    if m.role == Role::Assistant {
        for c in &m.tool_calls {
            w.tool_calls.push(WireCall {
                id: Some(c.id.as_str()).filter(|id| !id.is_empty()),
                function: WireCallFunction {
                    name: &c.name,
                    arguments: arguments_object(&c.arguments).map_err(bad)?,
                },
            });
        }
    }
    if m.role == Role::Tool {
        w.tool_call_id = m.tool_call_id.as_deref();
        w.tool_name = m
            .tool_call_id
            .as_deref()
            .and_then(|id| tool_name_of(all, i, id));
    }
    Ok(w)
}

/// The name of the call `id` answers: the latest assistant message before `i` that made it.
fn tool_name_of<'a>(all: &'a [Message], i: usize, id: &str) -> Option<&'a str> {
    all.get(..i)?
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .find(|c| c.id == id)
        .map(|c| c.name.as_str())
}

/// Tool-call arguments (JSON text) as the object Ollama wants; no arguments is `{}`.
fn arguments_object(args: &str) -> core::result::Result<serde_json::Value, &'static str> {
    let t = args.trim();
    if t.is_empty() || t == "null" {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        _ => Err("tool-call arguments must be a JSON object for Ollama"),
    }
}

/// Base64 without a `data:…;base64,` prefix.
fn base64_of(data: &str) -> Cow<'_, str> {
    match data.strip_prefix("data:").and_then(|r| r.split_once(',')) {
        Some((_, b64)) => Cow::Borrowed(b64),
        None => Cow::Borrowed(data),
    }
}

/// The text of a message, images left out, borrowed when it is one string.
fn plain_text(c: &Content) -> Cow<'_, str> {
    match c {
        Content::Text(t) => Cow::Borrowed(t.as_str()),
        Content::Parts(_) => Cow::Owned(c.text()),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Options<'a>>,
    stream: bool,
}

#[derive(Serialize)]
struct Options<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop: Vec<&'a str>,
}

impl Options<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.num_predict.is_none()
            && self.stop.is_empty()
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Cow<'a, str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    function: WireCallFunction<'a>,
}

#[derive(Serialize)]
struct WireCallFunction<'a> {
    name: &'a str,
    arguments: serde_json::Value,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionDef<'a>,
}

#[derive(Serialize)]
struct WireFunctionDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a serde_json::Value,
}

// ---------------------------------------------------------------------------------------------
// Answers: lenient wire types
// ---------------------------------------------------------------------------------------------

/// One line of a stream, or a whole answer: the fields byok reads, all optional.
#[derive(Default, Deserialize)]
struct WireLine<'a> {
    #[serde(default, borrow)]
    model: Str<'a>,
    #[serde(default, borrow)]
    message: Option<WireAnswer<'a>>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default, borrow)]
    done_reason: Str<'a>,
    #[serde(default)]
    prompt_eval_count: Option<Count>,
    #[serde(default)]
    eval_count: Option<Count>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct WireAnswer<'a> {
    #[serde(default, borrow)]
    content: Str<'a>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Default, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Default, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    /// A JSON object as Ollama sends it; JSON text (some proxies) is taken as is.
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

impl WireToolCall {
    /// The call with its id (`fallback` when it has none) and its arguments as JSON text.
    fn into_call(self, fallback: usize) -> ToolCall {
        let f = self.function.unwrap_or_default();
        ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{fallback}")),
            name: f.name.unwrap_or_default(),
            arguments: match f.arguments {
                None | Some(serde_json::Value::Null) => String::from("{}"),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => String::from("{}"),
                Some(serde_json::Value::String(s)) => s,
                Some(v) => v.to_string(),
            },
        }
    }
}

impl WireLine<'_> {
    fn usage(&self) -> Usage {
        let input = self.prompt_eval_count.map_or(0, |c| c.0);
        let output = self.eval_count.map_or(0, |c| c.0);
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.saturating_add(output),
        }
    }
}

/// Ollama's `done_reason`; `stop` (or none) after tool calls is `tool_calls`.
fn finish_reason(wire: &str, has_calls: bool) -> FinishReason {
    match wire {
        "" | "stop" if has_calls => FinishReason::ToolCalls,
        "" | "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        _ => FinishReason::Other,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The `error` of an Ollama error body (`{"error": "…"}`), if it has one.
fn error_message(v: &serde_json::Value) -> Option<String> {
    let e = v.get("error")?;
    let text = match e {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Object(_) => e.get("message").and_then(serde_json::Value::as_str),
        _ => None,
    }?;
    Some(text.to_owned()).filter(|t| !t.trim().is_empty())
}

/// The error code for a status (none for an error line in a 200 stream) and Ollama's message.
fn classify(status: Option<u16>, message: Option<&str>) -> ErrorCode {
    let m = message.unwrap_or_default().to_ascii_lowercase();
    let model_missing = m.contains("not found") && (m.contains("model") || m.contains("pull"));
    match status {
        Some(401 | 403) => ErrorCode::InvalidApiKey,
        Some(404) if model_missing => ErrorCode::ModelNotFound,
        Some(408 | 499) => ErrorCode::NetworkError,
        Some(429) => ErrorCode::RateLimited,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) => ErrorCode::InvalidRequest,
        None if model_missing => ErrorCode::ModelNotFound,
        None if m.contains("does not support") => ErrorCode::InvalidRequest,
        None => ErrorCode::ProviderUnavailable,
    }
}

/// The error for an HTTP answer that is not 2xx.
///
/// 404 `model '…' not found` → `MODEL_NOT_FOUND`; any other 404 or 405 (a base URL with a path
/// Ollama does not have, such as `/v1`) → `INVALID_REQUEST` saying so; 400 →
/// `INVALID_REQUEST`; 401/403 (a proxy in front of Ollama) → `INVALID_API_KEY`; 429 →
/// `RATE_LIMITED`; 5xx → `PROVIDER_UNAVAILABLE`. The message is Ollama's own `error`, redacted;
/// a body that is not JSON is never quoted.
pub fn map_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
    secrets: &[&str],
) -> ByokError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| error_message(&v));
    let code = classify(Some(status), message.as_deref());
    let message = message.or_else(|| {
        matches!(status, 404 | 405).then(|| {
            format!(
                "the server has no such path (HTTP {status}): the base URL should be Ollama's \
                 root, such as http://localhost:11434"
            )
        })
    });
    status_error(
        provider_name,
        provider_id,
        status,
        retry_after_ms,
        code,
        message,
        secrets,
    )
}

/// The error of an `{"error": …}` object inside a 200 answer.
fn embedded_error(
    provider_name: &str,
    provider_id: &str,
    value: &serde_json::Value,
    secrets: &[&str],
) -> ByokError {
    let message = error_message(value);
    let code = classify(None, message.as_deref());
    let detail = message.as_deref().unwrap_or(generic_detail(code));
    provider_error(provider_name, provider_id, code, detail, secrets)
}

/// An answer that could not be read whole (nothing of it is quoted).
fn unreadable_whole(body: &str, what: &str) -> ByokError {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if error_message(&v).is_some() {
            return embedded_error("", "", &v, &[]);
        }
        return ByokError::new(
            ErrorCode::ProviderUnavailable,
            format!("the answer is JSON but not {what} (is the base URL Ollama's root?)"),
        );
    }
    ByokError::new(
        ErrorCode::NetworkError,
        "the answer is not valid JSON (was it cut off?)",
    )
}

// ---------------------------------------------------------------------------------------------
// Whole answers, model lists, embeddings
// ---------------------------------------------------------------------------------------------

/// Reads a non-streamed answer (`stream: false`).
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON (a cut-off answer); the mapped error for an
/// `{"error"}` object.
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    // serde would also fill a struct from a JSON array, by position.
    if !body.trim_start().starts_with('{') {
        return Err(unreadable_whole(body, "a chat answer"));
    }
    let line: WireLine<'_> = match serde_json::from_str(body) {
        Ok(l) => l,
        Err(_) => return Err(unreadable_whole(body, "a chat answer")),
    };
    if let Some(e) = &line.error {
        return Err(embedded_error(
            "",
            "",
            &serde_json::json!({ "error": e }),
            &[],
        ));
    }
    let usage = line.usage();
    let Some(message) = line.message else {
        return Err(unreadable_whole(body, "a chat answer"));
    };
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, c)| c.into_call(n))
        .collect();
    Ok(ChatResponse {
        content: message.content.0.into_owned(),
        finish_reason: finish_reason(line.done_reason.as_str(), !tool_calls.is_empty()),
        tool_calls,
        usage,
        model: Some(line.model.0.into_owned()).filter(|m| !m.is_empty()),
        reported_cost: None,
    })
}

/// Reads the answer of [`models_request`]: `{"models":[{"name":…}]}`, names in order,
/// duplicates dropped.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else that is not a
/// model list (often a base URL that is not Ollama's root).
pub fn parse_models(body: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct List {
        /// Missing (not a model list) is told apart from `null` (nothing pulled).
        #[serde(default, deserialize_with = "present")]
        models: Option<Option<Vec<Entry>>>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        model: Option<String>,
    }
    let list = match serde_json::from_str::<List>(body) {
        Ok(List { models: Some(m) }) if body.trim_start().starts_with('{') => m.unwrap_or_default(),
        _ => return Err(unreadable_whole(body, "a model list")),
    };
    let mut names: Vec<String> = Vec::with_capacity(list.len());
    for name in list.into_iter().filter_map(|e| e.name.or(e.model)) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// A field that is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> core::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Reads an `/api/embed` answer: `{embeddings: [[…]], prompt_eval_count}`.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for another shape.
pub fn parse_embeddings(body: &str) -> Result<Embeddings> {
    #[derive(Deserialize)]
    struct Answer {
        embeddings: Vec<Vec<f64>>,
        #[serde(default)]
        prompt_eval_count: Option<Count>,
    }
    let answer = match serde_json::from_str::<Answer>(body) {
        Ok(a) if body.trim_start().starts_with('{') => a,
        _ => return Err(unreadable_whole(body, "an embeddings answer")),
    };
    let input = answer.prompt_eval_count.map_or(0, |c| c.0);
    Ok(Embeddings {
        embeddings: answer.embeddings,
        usage: Usage {
            input_tokens: input,
            output_tokens: 0,
            total_tokens: input,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Decodes an Ollama NDJSON chat stream into [`Chunk`]s.
///
/// - Each line's `message.content` becomes a `content` chunk (none for an empty one).
/// - Each tool call becomes one whole `tool_call` chunk (its arguments object as JSON text).
/// - The `done: true` line gives a `usage` chunk and the `done` chunk; nothing after it is read.
/// - An `{"error"}` line, or a line that is not JSON, is an error (its message redacted);
///   the end of the body without `done: true` is `NETWORK_ERROR` from
///   [`StreamDecoder::finish`].
pub struct OllamaStream {
    decoder: NdjsonDecoder,
    /// Reused between reads to keep its capacity.
    lines: Vec<String>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    model: Option<String>,
    usage: Usage,
    calls: usize,
    done: bool,
    failed: Option<ByokError>,
}

impl fmt::Debug for OllamaStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OllamaStream")
            .field("provider", &self.provider_id)
            .field("model", &self.model)
            .field("usage", &self.usage)
            .field("tool_calls", &self.calls)
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl OllamaStream {
    /// A decoder for one answer from `ep`; `provider_name` is for messages, and `ep.secret` is
    /// remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        OllamaStream {
            decoder: NdjsonDecoder::new(),
            lines: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            model: None,
            usage: Usage::default(),
            calls: 0,
            done: false,
            failed: None,
        }
    }

    /// Whether the `done: true` line has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn remember<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        let mut lines = mem::take(&mut self.lines);
        let mut result = Ok(());
        for line in &lines {
            if self.done {
                break;
            }
            if let Err(e) = self.on_line(line, out) {
                result = Err(e);
                break;
            }
        }
        lines.clear();
        self.lines = lines;
        result
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<Chunk>) -> Result<()> {
        let line = line.trim_ascii();
        // serde would also fill a struct from a JSON array, by position.
        if !line.starts_with('{') {
            return Err(self.unreadable(line));
        }
        let wire: WireLine<'_> = match serde_json::from_str(line) {
            Ok(w) => w,
            Err(_) => return Err(self.unreadable(line)),
        };
        if let Some(e) = &wire.error {
            return Err(embedded_error(
                &self.provider_name,
                &self.provider_id,
                &serde_json::json!({ "error": e }),
                &[self.secret.as_str()],
            ));
        }
        if self.model.is_none() && !wire.model.is_empty() {
            self.model = Some(wire.model.as_str().to_owned());
        }
        let done = wire.done == Some(true);
        let usage = wire.usage();
        let reason = wire.done_reason.as_str().to_owned();
        if let Some(message) = wire.message {
            if !message.content.is_empty() {
                out.push(Chunk::Content {
                    delta: message.content.0.into_owned(),
                });
            }
            for call in message.tool_calls.unwrap_or_default() {
                let call = call.into_call(self.calls);
                self.calls += 1;
                out.push(Chunk::ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments_delta: call.arguments,
                });
            }
        }
        if done {
            self.done = true;
            self.usage = usage;
            out.push(Chunk::Usage { usage });
            out.push(Chunk::Done {
                finish_reason: finish_reason(&reason, self.calls > 0),
                usage,
                cost: None,
            });
        }
        Ok(())
    }

    fn unreadable(&self, line: &str) -> ByokError {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if error_message(&v).is_some() {
                return embedded_error(
                    &self.provider_name,
                    &self.provider_id,
                    &v,
                    &[self.secret.as_str()],
                );
            }
        }
        // Never quote the line: it is the model's answer, or worse.
        provider_error(
            &self.provider_name,
            &self.provider_id,
            ErrorCode::NetworkError,
            "the stream held a line that could not be read",
            &[],
        )
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
}

impl StreamDecoder for OllamaStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let decoded = self.decoder.feed(bytes, &mut self.lines);
        let provider = self.provider_id.clone();
        let result = self
            .drain(out)
            .and_then(|()| decoded.map_err(|e| e.with_provider(provider)));
        self.remember(result)
    }

    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let decoded = self.decoder.finish(&mut self.lines);
        let provider = self.provider_id.clone();
        let result = self
            .drain(out)
            // A line left unreadable at the end of the body is one that was cut off.
            .map_err(|e| {
                if e.code == ErrorCode::NetworkError {
                    self.truncated()
                } else {
                    e
                }
            })
            .and_then(|()| decoded.map_err(|e| e.with_provider(provider)))
            .and_then(|()| {
                if self.done {
                    Ok(())
                } else {
                    Err(self.truncated())
                }
            });
        self.remember(result)
    }

    fn usage(&self) -> Usage {
        self.usage
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
