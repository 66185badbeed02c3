//! OpenAI chat completions (`POST {base}/chat/completions`), and every server that copies it.
//!
//! xAI, Mistral, Groq, DeepSeek, OpenRouter, Together, LM Studio, vLLM and the like speak the
//! same dialect with small differences. Those differences are data ([`Dialect`], chosen by
//! [`dialect_for`]) on the request side; on the answer side one lenient decoder reads them all:
//! fields are read by name, never by position, unknown fields are ignored, numbers may come as
//! floats, `null` stands for "absent" everywhere.
//!
//! Decisions worth knowing:
//! - **Refusals.** OpenAI streams a refusal in `delta.refusal` with `finish_reason: "stop"`.
//!   byok emits the refusal text as ordinary `content` (so a chat UI shows it) and ends with
//!   `content_filter` instead of `stop`, so a program can tell it apart.
//! - **`n > 1`.** Only choice 0 is decoded; `streamChat` has no place for other choices, and
//!   byok never asks for them.
//! - **Reasoning text** (`reasoning_content` of xAI and DeepSeek, Mistral's `thinking` parts) is
//!   not part of the chunk set of `shared/API.md` and is skipped; its tokens are still counted.
//! - **Tool calls that end with `stop`** (OpenAI does this when `tool_choice` names a function;
//!   some local servers always do) end with `tool_calls`, so a tool loop can rely on it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    generic_detail, provider_error, sse_stream, status_error, ChatResponse, Chunk, Endpoint,
    HttpRequest, Method, StreamDecoder,
};
use crate::core::catalog::{Model, Protocol, Provider};
use crate::core::chat::{
    ChatRequest, Content, ContentPart, FinishReason, Role, Stop, ToolCall, ToolChoice, ToolMode,
    Usage,
};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::sse::{SseDecoder, SseEvent, Stray};

// ---------------------------------------------------------------------------------------------
// The dialect
// ---------------------------------------------------------------------------------------------

/// Which field carries the output limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens`: every OpenAI-compatible server.
    MaxTokens,
    /// `max_completion_tokens`: OpenAI's reasoning models refuse `max_tokens`.
    MaxCompletionTokens,
}

/// How the key is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `authorization: Bearer <key>`.
    Bearer,
    /// The key alone in the named header (Azure's `api-key`).
    Header(&'static str),
    /// No key at all.
    None,
}

/// Which role a `system` message is sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemRole {
    /// `system`, as everywhere.
    System,
    /// `user`: o1-mini and o1-preview refuse both `system` and `developer` messages, so the
    /// instructions go in as the user's words rather than being dropped.
    User,
}

/// What tool call ids sent back to the server may look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolCallIds {
    /// Any string, as the model gave it (OpenAI and most compatible servers).
    AsGiven,
    /// Exactly 9 letters and digits: Mistral answers 400 `Tool call id was … but must be a-z,
    /// A-Z, 0-9, with a length of 9` to any other, so a conversation begun with another
    /// provider gets each foreign id replaced by one derived from it (the same for a call and
    /// its result).
    NineAlphanumeric,
}

/// The differences between OpenAI-compatible servers that change the request, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// Send `stream_options: {include_usage: true}` when streaming: without it OpenAI reports
    /// no usage in a stream, but some servers (Mistral) refuse the unknown parameter.
    pub stream_usage: bool,
    /// Which field carries `settings.maxTokens`.
    pub max_tokens_field: MaxTokensField,
    /// How the key is sent.
    pub auth: Auth,
    /// Send `temperature` and `top_p`: OpenAI's reasoning models refuse any value but the
    /// default, so for them the settings are left out rather than failing the call.
    pub sampling: bool,
    /// Which role `system` messages take.
    pub system_role: SystemRole,
    /// Azure OpenAI's deployment URLs (`{base}/deployments/{model}/…?api-version=…`), unless the
    /// base URL is Azure's v1 API (`…/openai/v1`), which takes OpenAI's own paths.
    pub azure: bool,
    /// What tool call ids sent back must look like.
    pub tool_call_ids: ToolCallIds,
}

/// The Azure OpenAI API version of deployment URLs: the latest generally available one.
pub const AZURE_API_VERSION: &str = "2024-10-21";

impl Default for Dialect {
    /// OpenAI's own API for a non-reasoning model.
    fn default() -> Self {
        Dialect {
            stream_usage: true,
            max_tokens_field: MaxTokensField::MaxTokens,
            auth: Auth::Bearer,
            sampling: true,
            system_role: SystemRole::System,
            azure: false,
            tool_call_ids: ToolCallIds::AsGiven,
        }
    }
}

/// The dialect of a provider and model (the model when the catalog knows it).
///
/// A local server is not told apart here: [`chat_request`] sends no key header when the key is
/// empty, which is how LM Studio, vLLM and llama.cpp run by default.
pub fn dialect_for(provider: &Provider, model: Option<&Model>) -> Dialect {
    let mut d = Dialect::default();
    if provider.id == "mistral" {
        // Mistral answers 422 to any parameter it does not know, and reports usage on its
        // last chunk unasked.
        d.stream_usage = false;
        d.tool_call_ids = ToolCallIds::NineAlphanumeric;
    }
    if provider.protocol == Protocol::AzureOpenai {
        d.auth = Auth::Header("api-key");
        d.azure = true;
    }
    let openai_models = provider.id == "openai" || provider.protocol == Protocol::AzureOpenai;
    if openai_models {
        // OpenAI accepts `max_completion_tokens` on every chat model and requires it on the
        // reasoning ones, so an unknown (likely newer) model gets it too.
        if model.is_none_or(|m| m.reasoning) {
            d.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        }
        if model.is_some_and(|m| m.reasoning) {
            d.sampling = false;
        }
        if model.is_some_and(|m| m.id.starts_with("o1-mini") || m.id.starts_with("o1-preview")) {
            d.system_role = SystemRole::User;
        }
    }
    d
}

/// The OpenAI dialect as a [`super::Wire`]: the functions of this module with its [`Dialect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenAi(pub Dialect);

impl super::Wire for OpenAi {
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest> {
        chat_request(&self.0, ep, req, stream)
    }

    fn models_request(&self, ep: &Endpoint<'_>) -> Result<HttpRequest> {
        Ok(models_request(&self.0, ep))
    }

    fn parse_models(&self, body: &str) -> Result<Vec<String>> {
        parse_models(body)
    }

    fn parse_chat_response(&self, body: &str) -> Result<ChatResponse> {
        parse_chat_response(body)
    }

    fn stream_decoder(&self, provider_name: &str, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(OpenAiStream::new(provider_name, ep))
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
        embed_request(&self.0, ep, model, input)
    }

    fn parse_embeddings(&self, body: &str) -> Result<super::Embeddings> {
        parse_embeddings(body)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The request for a chat completion, streamed or not.
///
/// Absent settings are left out, never sent as `null`: OpenAI accepts `null`, but several
/// compatible servers refuse it. `tool_choice` is sent only with tools (OpenAI refuses it
/// alone). The key goes only in the auth header.
///
/// # Errors
///
/// `INVALID_REQUEST` for what [`crate::core::sanitize::check_request`] lets through but the
/// wire cannot carry: inline image data without its `mimeType`, a tool message without its
/// `toolCallId`.
pub fn chat_request(
    d: &Dialect,
    ep: &Endpoint<'_>,
    req: &ChatRequest,
    stream: bool,
) -> Result<HttpRequest> {
    let ids = RenamedIds::of(d, req);
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| wire_message(d, i, m, &ids))
        .collect::<Result<Vec<_>>>()?;
    let s = &req.settings;
    let max_tokens = s
        .max_tokens
        .filter(|m| m.is_finite() && *m >= 1.0)
        // `as` saturates; the sanitizer has already made it a whole number.
        .map(|m| m as u64);
    let stop = match &s.stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one.as_str()],
        Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    let tools: Vec<WireTool<'_>> = req
        .tools
        .iter()
        .map(|t| WireTool {
            kind: "function",
            function: WireFunctionDef {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.parameters,
            },
        })
        .collect();
    let tool_choice = if tools.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Mode(ToolMode::Auto) => WireToolChoice::Mode("auto"),
            ToolChoice::Mode(ToolMode::None) => WireToolChoice::Mode("none"),
            ToolChoice::Mode(ToolMode::Required) => WireToolChoice::Mode("required"),
            ToolChoice::Named { name } => WireToolChoice::Named {
                kind: "function",
                function: WireName { name },
            },
        })
    };
    let body = Body {
        model: &req.model,
        messages,
        temperature: s.temperature.filter(|_| d.sampling),
        top_p: s.top_p.filter(|_| d.sampling),
        max_tokens: max_tokens.filter(|_| d.max_tokens_field == MaxTokensField::MaxTokens),
        max_completion_tokens: max_tokens
            .filter(|_| d.max_tokens_field == MaxTokensField::MaxCompletionTokens),
        stop,
        tools,
        tool_choice,
        stream,
        stream_options: (stream && d.stream_usage).then_some(StreamOptions {
            include_usage: true,
        }),
    };
    let json = serde_json::to_string(&body)
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(2);
    push_auth(d, ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: operation_url(d, ep, &req.model, "/chat/completions"),
        headers,
        body: Some(json),
    })
}

/// `{base}{path}`, or on an Azure deployment base `{base}/deployments/{model}{path}?api-version=…`:
/// Azure names the deployment in the path and ignores `model` in the body.
fn operation_url(d: &Dialect, ep: &Endpoint<'_>, model: &str, path: &str) -> String {
    if d.azure && !ep.base_url.trim_end_matches('/').ends_with("/v1") {
        let deployment: String = model
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        ep.url(&format!(
            "/deployments/{deployment}{path}?api-version={AZURE_API_VERSION}"
        ))
    } else {
        ep.url(path)
    }
}

/// The embeddings request, `POST {base}/embeddings` (floats, in input order).
pub fn embed_request(
    d: &Dialect,
    ep: &Endpoint<'_>,
    model: &str,
    input: &[String],
) -> Result<HttpRequest> {
    #[derive(Serialize)]
    struct EmbedBody<'a> {
        model: &'a str,
        input: &'a [String],
        encoding_format: &'static str,
    }
    let json = serde_json::to_string(&EmbedBody {
        model,
        input,
        encoding_format: "float",
    })
    .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(2);
    push_auth(d, ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: operation_url(d, ep, model, "/embeddings"),
        headers,
        body: Some(json),
    })
}

/// The vectors of an embeddings answer, `{data:[{index, embedding}], usage}`, in input order.
pub fn parse_embeddings(body: &str) -> Result<super::Embeddings> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        index: usize,
        embedding: Vec<f64>,
    }
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<Item>,
        #[serde(default)]
        usage: Option<EmbedUsage>,
    }
    #[derive(Deserialize)]
    struct EmbedUsage {
        #[serde(default)]
        prompt_tokens: u64,
    }
    let mut a: Answer = serde_json::from_str(body).map_err(|_| {
        ByokError::new(
            ErrorCode::NetworkError,
            "the answer is not an embeddings list",
        )
    })?;
    a.data.sort_by_key(|i| i.index);
    let input_tokens = a.usage.map_or(0, |u| u.prompt_tokens);
    Ok(super::Embeddings {
        embeddings: a.data.into_iter().map(|i| i.embedding).collect(),
        usage: Usage {
            input_tokens,
            output_tokens: 0,
            total_tokens: input_tokens,
        },
    })
}

/// The request for the model list, `GET {base}/models`; it also proves a key valid.
pub fn models_request(d: &Dialect, ep: &Endpoint<'_>) -> HttpRequest {
    let mut headers = Vec::with_capacity(1);
    push_auth(d, ep, &mut headers);
    let url = if d.azure && !ep.base_url.trim_end_matches('/').ends_with("/v1") {
        ep.url(&format!("/models?api-version={AZURE_API_VERSION}"))
    } else {
        ep.url("/models")
    };
    HttpRequest {
        method: Method::Get,
        url,
        headers,
        body: None,
    }
}

fn push_auth(d: &Dialect, ep: &Endpoint<'_>, headers: &mut Vec<(String, Zeroizing<String>)>) {
    // An empty key means a local server that takes none; `Bearer ` alone would be refused.
    if ep.secret.is_empty() {
        return;
    }
    match d.auth {
        Auth::Bearer => {
            let mut value = Zeroizing::new(String::with_capacity(7 + ep.secret.len()));
            value.push_str("Bearer ");
            value.push_str(ep.secret);
            headers.push((String::from("authorization"), value));
        }
        Auth::Header(name) => {
            headers.push((String::from(name), Zeroizing::new(String::from(ep.secret))));
        }
        Auth::None => {}
    }
}

/// Tool call ids of a request that the dialect does not take, each with its replacement.
struct RenamedIds<'a>(Vec<(&'a str, String)>);

impl<'a> RenamedIds<'a> {
    fn of(d: &Dialect, req: &'a ChatRequest) -> Self {
        let mut renamed: Vec<(&'a str, String)> = Vec::new();
        if d.tool_call_ids == ToolCallIds::NineAlphanumeric {
            let ids = req.messages.iter().flat_map(|m| {
                m.tool_calls
                    .iter()
                    .map(|c| c.id.as_str())
                    .chain(m.tool_call_id.as_deref())
            });
            for id in ids {
                let fits = id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric());
                if !fits && !renamed.iter().any(|(old, _)| *old == id) {
                    renamed.push((id, nine_alphanumeric(id)));
                }
            }
        }
        RenamedIds(renamed)
    }

    /// The id to send for `id`.
    fn get<'b>(&'b self, id: &'b str) -> &'b str {
        self.0
            .iter()
            .find(|(old, _)| *old == id)
            .map_or(id, |(_, new)| new.as_str())
    }
}

/// A 9-character id of letters and digits derived from `id` (FNV-1a, in base 62), so the same
/// foreign id always becomes the same one.
fn nine_alphanumeric(id: &str) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let digit = DIGITS[usize::try_from(h % 62).unwrap_or(0)];
            h /= 62;
            char::from(digit)
        })
        .collect()
}

fn wire_message<'a>(
    d: &Dialect,
    i: usize,
    m: &'a crate::core::chat::Message,
    ids: &'a RenamedIds<'a>,
) -> Result<WireMessage<'a>> {
    let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
    Ok(match m.role {
        Role::System | Role::User => WireMessage {
            role: if m.role == Role::System && d.system_role == SystemRole::System {
                "system"
            } else {
                "user"
            },
            content: Some(wire_content(&m.content).map_err(bad)?),
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        Role::Assistant => {
            let text = plain_text(&m.content);
            let tool_calls: Vec<WireCall<'a>> = m
                .tool_calls
                .iter()
                .map(|c| WireCall {
                    id: ids.get(&c.id),
                    kind: "function",
                    function: WireFunctionCall {
                        name: &c.name,
                        // `arguments` must be JSON text; a call without arguments (Anthropic
                        // streams `""` for it) is the empty object.
                        arguments: if c.arguments.trim().is_empty() {
                            "{}"
                        } else {
                            &c.arguments
                        },
                    },
                })
                .collect();
            WireMessage {
                role: "assistant",
                // OpenAI wants `null`, not `""`, beside tool calls.
                content: if text.is_empty() && !tool_calls.is_empty() {
                    None
                } else {
                    Some(WireContent::Text(text))
                },
                tool_calls,
                tool_call_id: None,
            }
        }
        Role::Tool => WireMessage {
            role: "tool",
            content: Some(WireContent::Text(plain_text(&m.content))),
            tool_calls: Vec::new(),
            tool_call_id: Some(
                m.tool_call_id
                    .as_deref()
                    .map(|id| ids.get(id))
                    .ok_or_else(|| bad("a tool message needs its toolCallId"))?,
            ),
        },
    })
}

/// The text of a message whose role takes no images, borrowed when it is one string.
pub(super) fn plain_text(c: &Content) -> Cow<'_, str> {
    match c {
        Content::Text(t) => Cow::Borrowed(t.as_str()),
        Content::Parts(_) => Cow::Owned(c.text()),
    }
}

pub(super) fn wire_content(c: &Content) -> core::result::Result<WireContent<'_>, &'static str> {
    let parts = match c {
        Content::Text(t) => return Ok(WireContent::Text(Cow::Borrowed(t))),
        Content::Parts(parts) => parts,
    };
    // One text part is sent as a string: several compatible servers (DeepSeek, older vLLM)
    // take only strings.
    if let [ContentPart::Text { text }] = parts.as_slice() {
        return Ok(WireContent::Text(Cow::Borrowed(text)));
    }
    let wire = parts
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } => Ok(WirePart::Text { text }),
            ContentPart::Image {
                data,
                url,
                mime_type,
            } => {
                let url = match (data, url) {
                    (Some(data), _) if data.starts_with("data:") => ImageUrlValue::Plain(data),
                    (Some(data), _) => match mime_type {
                        Some(mime) => ImageUrlValue::Data { mime, data },
                        None => return Err("inline image data needs its mimeType"),
                    },
                    (None, Some(url)) => ImageUrlValue::Plain(url),
                    (None, None) => return Err("an image part needs data or url"),
                };
                Ok(WirePart::ImageUrl {
                    image_url: WireImageUrl { url },
                })
            }
        })
        .collect::<core::result::Result<Vec<_>, _>>()?;
    Ok(WireContent::Parts(wire))
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "is_false")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `None` is sent as `null` (an assistant message that only calls tools).
    content: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum WireContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<WirePart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: WireImageUrl<'a> },
}

#[derive(Serialize)]
pub(super) struct WireImageUrl<'a> {
    url: ImageUrlValue<'a>,
}

/// An image URL; inline data becomes a `data:` URL while it is serialized, so a large image is
/// not copied once more just to glue a prefix on.
pub(super) enum ImageUrlValue<'a> {
    Plain(&'a str),
    Data { mime: &'a str, data: &'a str },
}

impl Serialize for ImageUrlValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            ImageUrlValue::Plain(url) => s.serialize_str(url),
            ImageUrlValue::Data { .. } => s.collect_str(self),
        }
    }
}

impl fmt::Display for ImageUrlValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageUrlValue::Plain(url) => f.write_str(url),
            ImageUrlValue::Data { mime, data } => {
                f.write_str("data:")?;
                f.write_str(mime)?;
                f.write_str(";base64,")?;
                f.write_str(data)
            }
        }
    }
}

#[derive(Serialize)]
pub(super) struct WireCall<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
pub(super) struct WireFunctionCall<'a> {
    pub(super) name: &'a str,
    pub(super) arguments: &'a str,
}

#[derive(Serialize)]
pub(super) struct WireTool<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: WireFunctionDef<'a>,
}

#[derive(Serialize)]
pub(super) struct WireFunctionDef<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) parameters: &'a serde_json::Value,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Answers: lenient wire types
// ---------------------------------------------------------------------------------------------

/// A chunk of a stream, or a whole `chat.completion`: the fields byok reads, all optional.
#[derive(Default, Deserialize)]
struct WireChunk<'a> {
    #[serde(default, borrow)]
    model: Text<'a>,
    #[serde(default, borrow)]
    choices: FirstChoice<'a>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// Groq's own usage block; older Groq answers carry usage only here.
    #[serde(default)]
    x_groq: Option<XGroq>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Default, Deserialize)]
struct WireChoice<'a> {
    #[serde(default)]
    index: Option<Count>,
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    /// A whole answer's message; some servers also put one in a stream's last chunk.
    #[serde(default, borrow)]
    message: Option<WireDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Text<'a>,
}

#[derive(Default, Deserialize)]
struct WireDelta<'a> {
    #[serde(default, borrow)]
    content: Text<'a>,
    #[serde(default, borrow)]
    refusal: Text<'a>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
}

#[derive(Default, Deserialize)]
struct WireToolCall<'a> {
    #[serde(default)]
    index: Option<Count>,
    #[serde(default, borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    function: Option<WireFunction<'a>>,
}

#[derive(Default, Deserialize)]
struct WireFunction<'a> {
    #[serde(default, borrow)]
    name: Text<'a>,
    #[serde(default, borrow)]
    arguments: Args<'a>,
}

#[derive(Clone, Copy, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<Count>,
    #[serde(default)]
    completion_tokens: Option<Count>,
    #[serde(default)]
    total_tokens: Option<Count>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// USD, as OpenRouter and LiteLLM report it.
    #[serde(default)]
    cost: Option<Number>,
    /// xAI's cost in units of 10⁻¹⁰ USD (checked against its prices with the recorded
    /// fixtures: 1,466,250 ticks for 12 input tokens, 11 of them cached, and 291 output tokens
    /// of grok-3-mini is exactly $0.000146625).
    #[serde(default)]
    cost_in_usd_ticks: Option<Number>,
}

#[derive(Clone, Copy, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<Count>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        let count = |c: Option<Count>| c.map_or(0, |c| c.0);
        let input = count(self.prompt_tokens);
        let mut output = count(self.completion_tokens);
        let reasoning = count(
            self.completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
        );
        let total = self.total_tokens.map(|c| c.0);
        // OpenAI counts reasoning tokens inside `completion_tokens`; xAI counts them beside it
        // (its total and its bill include them). The arithmetic tells which one this is.
        if reasoning > 0 && total == Some(input.saturating_add(output).saturating_add(reasoning)) {
            output = output.saturating_add(reasoning);
        }
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: total.unwrap_or(input.saturating_add(output)),
        }
    }

    fn cost(&self) -> Option<f64> {
        let usd = self
            .cost
            .map(|n| n.0)
            .or_else(|| self.cost_in_usd_ticks.map(|n| n.0 / 1e10))?;
        (usd.is_finite() && usd >= 0.0).then_some(usd)
    }
}

/// A string field read leniently: `null` is empty, escapes make it owned, and a list of
/// content parts (Mistral's reasoning models) is the concatenation of its `text` parts.
#[derive(Default)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, null or a list of text parts")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> core::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> core::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> core::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> core::result::Result<Text<'de>, E> {
                Ok(Text::default())
            }
            fn visit_none<E>(self) -> core::result::Result<Text<'de>, E> {
                Ok(Text::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> core::result::Result<Text<'de>, A::Error> {
                let mut out = String::new();
                while let Some(part) = seq.next_element::<TextPart<'de>>()? {
                    if part.kind.0.is_empty() || part.kind.0 == "text" {
                        out.push_str(&part.text.0);
                    }
                }
                Ok(Text(Cow::Owned(out)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Default, Deserialize)]
struct TextPart<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Text<'a>,
    #[serde(default, borrow)]
    text: Text<'a>,
}

/// Tool-call arguments: JSON text as OpenAI sends it, or (some servers) the JSON value itself,
/// which is then written out as text.
#[derive(Default)]
struct Args<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Args<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tool-call arguments")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> core::result::Result<Args<'de>, E> {
                Ok(Args(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> core::result::Result<Args<'de>, E> {
                Ok(Args(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> core::result::Result<Args<'de>, E> {
                Ok(Args(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> core::result::Result<Args<'de>, E> {
                Ok(Args::default())
            }
            fn visit_none<E>(self) -> core::result::Result<Args<'de>, E> {
                Ok(Args::default())
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                map: A,
            ) -> core::result::Result<Args<'de>, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Args(Cow::Owned(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                seq: A,
            ) -> core::result::Result<Args<'de>, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Args(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A count read leniently: an integer, a float (some servers send `12.0`), a numeric string;
/// anything negative or unreadable is 0 rather than failing the whole chunk.
#[derive(Clone, Copy, Default)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let n = Number::deserialize(d)?.0;
        // `as` saturates and maps NaN to 0.
        Ok(Count(if n > 0.0 { n as u64 } else { 0 }))
    }
}

/// A number read leniently (integer, float, numeric string, `null` as 0).
#[derive(Clone, Copy, Default)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E>(self, v: u64) -> core::result::Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> core::result::Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> core::result::Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_str<E>(self, v: &str) -> core::result::Result<Number, E> {
                Ok(Number(v.trim().parse().unwrap_or(0.0)))
            }
            fn visit_unit<E>(self) -> core::result::Result<Number, E> {
                Ok(Number(0.0))
            }
            fn visit_none<E>(self) -> core::result::Result<Number, E> {
                Ok(Number(0.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `choices` list, keeping only choice 0 (the first whose `index` is 0 or absent); an
/// empty list (Azure's first chunk, usage chunks) or `null` keeps nothing.
#[derive(Default)]
struct FirstChoice<'a>(Option<WireChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstChoice<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> core::result::Result<FirstChoice<'de>, A::Error> {
                let mut first = None;
                while let Some(choice) = seq.next_element::<WireChoice<'de>>()? {
                    if first.is_none() && choice.index.is_none_or(|i| i.0 == 0) {
                        first = Some(choice);
                    }
                }
                Ok(FirstChoice(first))
            }
            fn visit_unit<E>(self) -> core::result::Result<FirstChoice<'de>, E> {
                Ok(FirstChoice(None))
            }
            fn visit_none<E>(self) -> core::result::Result<FirstChoice<'de>, E> {
                Ok(FirstChoice(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// OpenAI's finish reasons, and the spellings other servers use for the same things.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" | "eos" | "end_turn" | "stop_sequence" => FinishReason::Stop,
        "length" | "max_tokens" | "model_length" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What an error body says, from any of the shapes OpenAI-compatible servers use:
/// `{"error":{"message","type","code"}}` (OpenAI, Groq, OpenRouter), `{"error":"…","code":"…"}`
/// (xAI), `{"object":"error","message","type","code"}` (Mistral, vLLM), `{"detail":"…"}`
/// (FastAPI servers).
#[derive(Default)]
struct ErrorInfo {
    message: Option<String>,
    /// `code` and `type`, lower case, joined by a space: matched by substring.
    kinds: String,
    /// A numeric `code` that is an HTTP status (OpenRouter puts the status there).
    status: Option<u16>,
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
        let v = match v {
            serde_json::Value::Array(items) => match items.first() {
                Some(first) => first,
                None => return info,
            },
            _ => v,
        };
        info.read(v);
        if let Some(inner) = v.get("error") {
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
                for key in ["message", "detail", "error"] {
                    if let Some(serde_json::Value::String(s)) = map.get(key) {
                        if !s.trim().is_empty() {
                            self.message = Some(s.clone());
                            break;
                        }
                    }
                }
                for key in ["code", "type"] {
                    match map.get(key) {
                        Some(serde_json::Value::String(s)) => {
                            self.kinds.push(' ');
                            self.kinds.push_str(&s.to_ascii_lowercase());
                        }
                        Some(serde_json::Value::Number(n)) => {
                            if let Some(status) = n
                                .as_u64()
                                .filter(|s| (100..=599).contains(s))
                                .and_then(|s| u16::try_from(s).ok())
                            {
                                self.status = Some(status);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn has(&self, word: &str) -> bool {
        self.kinds.contains(word)
    }

    fn message_has(&self, words: &[&str]) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            words.iter().all(|w| m.contains(w))
        })
    }
}

/// The error code for a status (none for errors inside a 200 stream) and what the body says.
fn classify(status: Option<u16>, info: &ErrorInfo) -> ErrorCode {
    // What the body names beats the status: OpenAI's out-of-credit answer is a 429 that must
    // not be retried, and xAI refuses a bad key with 400.
    // xAI refuses a team out of credits (or over its spending limit) with 403.
    if info.has("insufficient_quota")
        || info.has("billing")
        || (status == Some(403) && info.message_has(&["credits"]))
    {
        return ErrorCode::InsufficientQuota;
    }
    if info.has("invalid_api_key")
        || info.has("authentication")
        || info.message_has(&["incorrect api key"])
        || info.message_has(&["invalid api key"])
    {
        return ErrorCode::InvalidApiKey;
    }
    // Mistral's unknown model is a 400 `invalid_model`.
    if info.has("model_not_found") || info.has("invalid_model") {
        return ErrorCode::ModelNotFound;
    }
    match status.or(info.status) {
        Some(401 | 403) => ErrorCode::InvalidApiKey,
        Some(402) => ErrorCode::InsufficientQuota,
        Some(404)
            if info.message_has(&["model", "not exist"])
                || info.message_has(&["model", "not found"])
                || info.message_has(&["model", "does not have access"]) =>
        {
            ErrorCode::ModelNotFound
        }
        Some(408) => ErrorCode::NetworkError,
        Some(429) => ErrorCode::RateLimited,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) => ErrorCode::InvalidRequest,
        None => {
            // OpenAI's 429 bodies have type `requests` or `tokens`.
            if info.has("rate_limit") || info.has("requests") || info.has("tokens") {
                ErrorCode::RateLimited
            } else if info.has("invalid_request") || info.has("context_length") {
                ErrorCode::InvalidRequest
            } else {
                // An unexplained failure after the answer began is the server's.
                ErrorCode::ProviderUnavailable
            }
        }
    }
}

/// The error for an HTTP answer that is not 2xx.
///
/// 401/403 → `INVALID_API_KEY`; 402 → `INSUFFICIENT_QUOTA`; 404 about the model →
/// `MODEL_NOT_FOUND`; 429 `insufficient_quota` → `INSUFFICIENT_QUOTA` (never retried), other
/// 429 → `RATE_LIMITED` with `retry_after_ms`; 400/413/422 → `INVALID_REQUEST`; 408 →
/// `NETWORK_ERROR`; 5xx and 529 → `PROVIDER_UNAVAILABLE`; anything else by its class. What the
/// body names (`invalid_api_key`, `model_not_found` or Mistral's `invalid_model`,
/// `insufficient_quota`, xAI's 403 about credits) beats the status.
///
/// The message is the body's own `error.message`, redacted of `secrets` and of anything that
/// looks like a key (OpenAI's 401 echoes a masked key), else a generic one; the body is never
/// quoted otherwise (an HTML error page says nothing useful and may say too much).
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

/// The error for an error object that came inside a 200 answer.
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

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// Reads a non-streamed `chat.completion`.
///
/// Choice 0 is the answer; no choice at all gives an empty answer with finish reason `other`.
/// A refusal (`message.refusal`) becomes the content when there is none, with finish reason
/// `content_filter`.
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON (a cut-off answer; nothing of it is quoted); the
/// mapped error when it is an error object (its message redacted of anything that looks like a
/// key; the caller adds the provider).
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    // serde would also fill a struct from a JSON array, by position.
    if !body.trim_start().starts_with('{') {
        return Err(unreadable_whole(body));
    }
    let chunk: WireChunk<'_> = match serde_json::from_str(body) {
        Ok(c) => c,
        Err(_) => return Err(unreadable_whole(body)),
    };
    if let Some(err) = &chunk.error {
        return Err(embedded_error("", "", err, &[]));
    }
    let usage = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage));
    let model = Some(chunk.model.0.into_owned()).filter(|m| !m.is_empty());
    let Some(choice) = chunk.choices.0 else {
        return Ok(ChatResponse {
            content: String::new(),
            tool_calls: Vec::new(),
            usage: usage.map(|u| u.usage()).unwrap_or_default(),
            finish_reason: FinishReason::Other,
            model,
            reported_cost: usage.and_then(|u| u.cost()),
        });
    };
    let message = choice.message.or(choice.delta).unwrap_or_default();
    let mut content = message.content.0.into_owned();
    let refused = content.is_empty() && !message.refusal.0.is_empty();
    if refused {
        content = message.refusal.0.into_owned();
    }
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    for (n, call) in message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let function = call.function.unwrap_or_default();
        tool_calls.push(ToolCall {
            id: if call.id.0.is_empty() {
                synthetic_id(n)
            } else {
                call.id.0.into_owned()
            },
            name: function.name.0.into_owned(),
            arguments: function.arguments.0.into_owned(),
        });
    }
    let reason = if choice.finish_reason.0.is_empty() {
        None
    } else {
        Some(finish_reason(&choice.finish_reason.0))
    };
    Ok(ChatResponse {
        content,
        finish_reason: final_reason(reason, !tool_calls.is_empty(), refused),
        tool_calls,
        usage: usage.map(|u| u.usage()).unwrap_or_default(),
        model,
        reported_cost: usage.and_then(|u| u.cost()),
    })
}

fn unreadable_whole(body: &str) -> ByokError {
    // A body that is JSON of another shape may still be an error object.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            return embedded_error("", "", &v, &[]);
        }
        return ByokError::new(
            ErrorCode::ProviderUnavailable,
            "the answer is JSON but not a chat completion",
        );
    }
    ByokError::new(
        ErrorCode::NetworkError,
        "the answer is not valid JSON (was it cut off?)",
    )
}

/// The finish reason to report, from the one the server sent.
fn final_reason(sent: Option<FinishReason>, has_calls: bool, refused: bool) -> FinishReason {
    let reason = sent.unwrap_or(if has_calls {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    });
    match reason {
        FinishReason::Stop if has_calls => FinishReason::ToolCalls,
        FinishReason::Stop if refused => FinishReason::ContentFilter,
        other => other,
    }
}

/// An id for a tool call the server sent without one, so that pieces can still be told apart.
fn synthetic_id(n: usize) -> String {
    format!("call_byok_{n}")
}

/// Reads the answer of [`models_request`]: `{"data":[{"id":…}]}`, or a bare list (Together),
/// ids in order, duplicates dropped.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else that is not
/// a model list (often a wrong base URL answering with a web page).
pub fn parse_models(body: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Wrapped { data: Vec<Entry> },
        Bare(Vec<Entry>),
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        id: Option<String>,
    }
    let list = match serde_json::from_str::<List>(body) {
        Ok(List::Wrapped { data }) | Ok(List::Bare(data)) => data,
        Err(_) => {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
                if v.get("error").is_some_and(|e| !e.is_null()) {
                    return Err(embedded_error("", "", &v, &[]));
                }
            }
            return Err(ByokError::new(
                ErrorCode::ProviderUnavailable,
                "the answer is not a model list (is the base URL right?)",
            ));
        }
    };
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for id in list.into_iter().filter_map(|e| e.id) {
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// A tool call being streamed.
struct CallSlot {
    /// The server's `index`, when it sends one (Mistral does not).
    index: Option<u64>,
    id: String,
    name: String,
    /// A chunk has been emitted for it.
    announced: bool,
}

/// Decodes an OpenAI-dialect event stream (`stream: true`) into [`Chunk`]s.
///
/// - `data: [DONE]` ends the answer with a `done` chunk; anything after it is ignored.
/// - Content deltas become `content` chunks (one per delta, whatever the reads, so that any
///   chunking of the bytes gives the same chunks); refusal deltas too (see the module docs).
/// - Tool-call deltas are matched by `index`, or by `id`, or (neither) to the latest call;
///   every `tool_call` chunk carries the call's id and name. A call without an id gets
///   `call_byok_<n>`.
/// - `usage` (or Groq's `x_groq.usage`) becomes a `usage` chunk whenever it changes.
/// - An error object in the stream, an event that is not JSON, or text that is not an event
///   stream at all (a bare JSON error, an HTML page) is an error, its message redacted.
/// - The end of the body without `[DONE]` is `NETWORK_ERROR` from [`StreamDecoder::finish`].
pub struct OpenAiStream {
    sse: SseDecoder,
    /// Reused between reads to keep its capacity.
    events: Vec<SseEvent>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    model: Option<String>,
    usage: Usage,
    usage_seen: bool,
    cost: Option<f64>,
    finish_reason: Option<FinishReason>,
    refused: bool,
    calls: Vec<CallSlot>,
    done: bool,
    /// Text that was not part of any event, kept until it can be read as a whole.
    failed: Option<ByokError>,
}

impl fmt::Debug for OpenAiStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiStream")
            .field("provider", &self.provider_id)
            .field("model", &self.model)
            .field("usage", &self.usage)
            .field("tool_calls", &self.calls.len())
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl OpenAiStream {
    /// A decoder for one answer from `ep`; `provider_name` (e.g. `OpenAI`) is for messages,
    /// and `ep.secret` is remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        OpenAiStream {
            sse: SseDecoder::new(),
            events: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            model: None,
            usage: Usage::default(),
            usage_seen: false,
            cost: None,
            finish_reason: None,
            refused: false,
            calls: Vec::new(),
            done: false,
            failed: None,
        }
    }

    /// Whether `data: [DONE]` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<Chunk>) -> Result<()> {
        let data = ev.data.trim_ascii();
        if ev.event == "error" {
            return Err(self.error_event(data));
        }
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.on_done(out);
            return Ok(());
        }
        // serde would also fill a struct from a JSON array, by position.
        if !data.starts_with('{') {
            return Err(self.unreadable_event(data));
        }
        let chunk: WireChunk<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(_) => return Err(self.unreadable_event(data)),
        };
        if let Some(err) = &chunk.error {
            return Err(self.embedded(err));
        }
        if self.model.is_none() && !chunk.model.0.is_empty() {
            self.model = Some(chunk.model.0.into_owned());
        }
        if let Some(choice) = chunk.choices.0 {
            self.on_choice(choice, out);
        }
        if let Some(usage) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            self.on_usage(&usage, out);
        }
        Ok(())
    }

    fn on_choice(&mut self, choice: WireChoice<'_>, out: &mut Vec<Chunk>) {
        if let Some(delta) = choice.delta.or(choice.message) {
            if !delta.content.0.is_empty() {
                out.push(Chunk::Content {
                    delta: delta.content.0.into_owned(),
                });
            }
            if !delta.refusal.0.is_empty() {
                self.refused = true;
                out.push(Chunk::Content {
                    delta: delta.refusal.0.into_owned(),
                });
            }
            for call in delta.tool_calls.unwrap_or_default() {
                self.on_tool_delta(call, out);
            }
        }
        if !choice.finish_reason.0.is_empty() {
            self.finish_reason = Some(finish_reason(&choice.finish_reason.0));
        }
    }

    fn on_tool_delta(&mut self, call: WireToolCall<'_>, out: &mut Vec<Chunk>) {
        let index = call.index.map(|c| c.0);
        let id = call.id.0;
        let function = call.function.unwrap_or_default();
        let (name, args) = (function.name.0, function.arguments.0);
        let slot = match self.find_slot(index, &id) {
            Some(pos) => self.calls.get_mut(pos),
            None => {
                let id = if id.is_empty() {
                    synthetic_id(self.calls.len())
                } else {
                    id.into_owned()
                };
                self.calls.push(CallSlot {
                    index,
                    id,
                    name: String::new(),
                    announced: false,
                });
                self.calls.last_mut()
            }
        };
        let Some(slot) = slot else {
            return;
        };
        // Later pieces repeat the name as "" (seen from a Mistral-hosted model): keep the first.
        if slot.name.is_empty() && !name.is_empty() {
            slot.name = name.into_owned();
        }
        // The first piece is emitted even with no arguments yet, so a UI can show the call
        // starting; later empty pieces carry nothing.
        if !args.is_empty() || (!slot.announced && !slot.name.is_empty()) {
            slot.announced = true;
            out.push(Chunk::ToolCall {
                id: slot.id.clone(),
                name: slot.name.clone(),
                arguments_delta: args.into_owned(),
            });
        }
    }

    /// The call a delta continues, if any: by id when it has one (a new id is a new call), else
    /// by index, else the latest call.
    fn find_slot(&self, index: Option<u64>, id: &str) -> Option<usize> {
        if !id.is_empty() {
            return self.calls.iter().position(|s| s.id == id);
        }
        match index {
            Some(i) => self.calls.iter().rposition(|s| s.index == Some(i)),
            None => self.calls.len().checked_sub(1),
        }
    }

    fn on_usage(&mut self, wire: &WireUsage, out: &mut Vec<Chunk>) {
        let usage = wire.usage();
        if let Some(cost) = wire.cost() {
            self.cost = Some(cost);
        }
        // Some servers repeat the usage on every chunk; only changes are worth a chunk.
        if !self.usage_seen || usage != self.usage {
            out.push(Chunk::Usage { usage });
        }
        self.usage = usage;
        self.usage_seen = true;
    }

    fn on_done(&mut self, out: &mut Vec<Chunk>) {
        self.done = true;
        out.push(Chunk::Done {
            finish_reason: final_reason(self.finish_reason, !self.calls.is_empty(), self.refused),
            usage: self.usage,
            cost: None,
        });
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

    fn unreadable_event(&self, data: &str) -> ByokError {
        // JSON of an unexpected shape may still be an error object.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
            if v.get("error").is_some_and(|e| !e.is_null()) {
                return self.embedded(&v);
            }
        }
        // Never quote the event: it is the model's answer, or worse.
        super::unreadable_event(&self.provider_name, &self.provider_id)
    }

    fn error_event(&self, data: &str) -> ByokError {
        match serde_json::from_str::<serde_json::Value>(data) {
            Ok(v) => self.embedded(&v),
            Err(_) => super::unreadable_error_event(&self.provider_name, &self.provider_id),
        }
    }
}

impl sse_stream::SseDialect for OpenAiStream {
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
        // llama.cpp reports a failure as an `error: {…}` line.
        match self.sse.judge_stray(at_end, Some("error:")) {
            Stray::Nothing | Stray::Partial => Ok(()),
            Stray::Json(v)
                if v.get("error").is_some_and(|e| !e.is_null()) || v.get("message").is_some() =>
            {
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

impl StreamDecoder for OpenAiStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::feed(self, bytes, out)
    }

    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::finish(self, out)
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn reported_cost(&self) -> Option<f64> {
        self.cost
    }

    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod family_tests;
