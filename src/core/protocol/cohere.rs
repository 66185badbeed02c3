//! Cohere's v2 chat API (`POST {base}/chat`, base `https://api.cohere.com/v2`).
//!
//! The request is OpenAI-like with Cohere's own names (`p` for top-p, `stop_sequences`,
//! `tool_choice: "REQUIRED" | "NONE"`); the key goes in `authorization: Bearer`. The stream is
//! server-sent events whose JSON carries its own `type` (the `event:` line repeats it):
//! `message-start`, `content-start`, `content-delta` (`delta.message.content.text`),
//! `content-end`, `tool-plan-delta`, `tool-call-start` (id, name, first arguments),
//! `tool-call-delta` (arguments pieces), `tool-call-end`, `citation-start`/`citation-end` and
//! `message-end` (`delta.finish_reason`, `delta.usage`), which is the terminal event: a body
//! ending without it was cut off.
//!
//! Decisions worth knowing:
//! - **Usage** is `usage.billed_units` (what Cohere charges, so what the catalog prices), not
//!   `usage.tokens`, which also counts Cohere's own prompt template (507 tokens against 12
//!   billed for a one-line question in the recorded fixture). `tokens` is used only when a
//!   server sends no `billed_units`.
//! - **The model list** lives on the v1 API only: `GET {root}/v1/models`, where `{root}` is the
//!   base URL without its final `/v2` (a base URL without `/v2`, e.g. a proxy, gets
//!   `{base}/models`).
//! - **Top-p** is `p`, which Cohere accepts only in `[0.01, 0.99]`: byok's `[0, 1]` is clamped
//!   into it rather than refused.
//! - **A named `toolChoice`** has no Cohere form: only that tool is sent, with `REQUIRED`.
//! - **Tool plans** (`tool-plan-delta`, `message.tool_plan`) and **thinking** content are not
//!   part of the chunk set of `shared/API.md` and are skipped. An assistant message that called
//!   tools sends its text back as `tool_plan`, where Cohere expects it.
//! - **Finish reasons**: `COMPLETE`/`STOP_SEQUENCE` → `stop` (`tool_calls` when calls were
//!   made), `MAX_TOKENS`/`ERROR_LIMIT` → `length`, `TOOL_CALL` → `tool_calls`,
//!   `CONTENT_BLOCKED`/`ERROR_TOXIC` → `content_filter`; `ERROR` and `TIMEOUT` mean the
//!   generation failed: `PROVIDER_UNAVAILABLE`, with the usage of `message-end` still known.
//! - **Status codes**: 401, 403 and Cohere's own 498 (invalid token) → `INVALID_API_KEY`; 402 →
//!   `INSUFFICIENT_QUOTA`; 404 → `MODEL_NOT_FOUND`; 429 → `RATE_LIMITED`, except a trial key's
//!   monthly limit (`… / month`), which waiting does not cure → `INSUFFICIENT_QUOTA`; 499
//!   ("client closed request") reaching us means the request was cancelled on the way, not by
//!   the caller (whose abort never yields a status) → `NETWORK_ERROR`, retried like one.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::openai::{
    plain_text, wire_content, WireCall, WireContent, WireFunctionCall, WireFunctionDef, WireTool,
};
use super::{
    generic_detail, provider_error, sse_stream, status_error, ChatResponse, Chunk, Embeddings,
    Endpoint, HttpRequest, Method, StreamDecoder,
};
use crate::core::chat::{
    ChatRequest, FinishReason, Role, Stop, ToolCall, ToolChoice, ToolMode, Usage,
};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::sse::{SseDecoder, SseEvent, Stray};

/// Most texts Cohere embeds in one call.
pub const MAX_EMBED_TEXTS: usize = 96;

/// The bounds Cohere puts on `p`.
const P_MIN: f64 = 0.01;
const P_MAX: f64 = 0.99;

/// Cohere's v2 dialect as a [`super::Wire`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cohere;

impl super::Wire for Cohere {
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
        Box::new(CohereStream::new(provider_name, ep))
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

/// The chat request, streamed or not: `POST {base}/chat`.
///
/// Absent settings are left out, never sent as `null`.
///
/// # Errors
///
/// `INVALID_REQUEST` for inline image data without its `mimeType`, a tool message without its
/// `toolCallId`, or a `toolChoice` naming a tool that is not in `tools`.
pub fn chat_request(ep: &Endpoint<'_>, req: &ChatRequest, stream: bool) -> Result<HttpRequest> {
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| wire_message(i, m))
        .collect::<Result<Vec<_>>>()?;
    let s = &req.settings;
    let stop_sequences = match &s.stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one.as_str()],
        Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    let (tools, tool_choice) = wire_tools(req)?;
    let body = Body {
        model: &req.model,
        messages,
        temperature: s.temperature.filter(|t| t.is_finite()),
        p: s.top_p
            .filter(|p| p.is_finite())
            .map(|p| p.clamp(P_MIN, P_MAX)),
        max_tokens: s
            .max_tokens
            .filter(|m| m.is_finite() && *m >= 1.0)
            // `as` saturates; the sanitizer has already made it a whole number.
            .map(|m| m as u64),
        stop_sequences,
        tools,
        tool_choice,
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
        url: ep.url("/chat"),
        headers,
        body: Some(json),
    })
}

/// Where the model list of a v2 base URL is: `{root}/v1/models` (see the module docs), all
/// pages at once (`page_size=1000`, Cohere's largest).
pub fn models_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match base.strip_suffix("/v2") {
        Some(root) => format!("{root}/v1/models?page_size=1000"),
        None => format!("{base}/models?page_size=1000"),
    }
}

/// The request for the model list (`GET {root}/v1/models`); it also proves a key valid.
pub fn models_request(ep: &Endpoint<'_>) -> HttpRequest {
    let mut headers = Vec::with_capacity(1);
    push_auth(ep, &mut headers);
    HttpRequest {
        method: Method::Get,
        url: models_url(ep.base_url),
        headers,
        body: None,
    }
}

/// The embeddings request, `POST {base}/embed`: float vectors of documents
/// (`input_type: "search_document"`, which Cohere's v3+ models require).
///
/// # Errors
///
/// `INVALID_REQUEST` for no input or more than [`MAX_EMBED_TEXTS`] texts.
pub fn embed_request(ep: &Endpoint<'_>, model: &str, input: &[String]) -> Result<HttpRequest> {
    if input.is_empty() || input.len() > MAX_EMBED_TEXTS {
        return Err(ByokError::invalid_request(format!(
            "Cohere embeds 1 to {MAX_EMBED_TEXTS} texts per call, not {}",
            input.len()
        ))
        .with_provider(ep.provider));
    }
    #[derive(Serialize)]
    struct EmbedBody<'a> {
        model: &'a str,
        texts: &'a [String],
        input_type: &'static str,
        embedding_types: [&'static str; 1],
    }
    let json = serde_json::to_string(&EmbedBody {
        model,
        texts: input,
        input_type: "search_document",
        embedding_types: ["float"],
    })
    .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    let mut headers = Vec::with_capacity(2);
    push_auth(ep, &mut headers);
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    Ok(HttpRequest {
        method: Method::Post,
        url: ep.url("/embed"),
        headers,
        body: Some(json),
    })
}

fn push_auth(ep: &Endpoint<'_>, headers: &mut Vec<(String, Zeroizing<String>)>) {
    if ep.secret.is_empty() {
        return;
    }
    let mut value = Zeroizing::new(String::with_capacity(7 + ep.secret.len()));
    value.push_str("Bearer ");
    value.push_str(ep.secret);
    headers.push((String::from("authorization"), value));
}

fn wire_tools(req: &ChatRequest) -> Result<(Vec<WireTool<'_>>, Option<&'static str>)> {
    if req.tools.is_empty() {
        return Ok((Vec::new(), None));
    }
    let named = match &req.tool_choice {
        Some(ToolChoice::Named { name }) => Some(name.as_str()),
        _ => None,
    };
    let tools: Vec<WireTool<'_>> = req
        .tools
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
        .collect();
    if tools.is_empty() {
        return Err(ByokError::invalid_request(
            "toolChoice names a tool that is not in tools",
        ));
    }
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Mode(ToolMode::Auto)) => None,
        Some(ToolChoice::Mode(ToolMode::None)) => Some("NONE"),
        Some(ToolChoice::Mode(ToolMode::Required) | ToolChoice::Named { .. }) => Some("REQUIRED"),
    };
    Ok((tools, choice))
}

fn wire_message(i: usize, m: &crate::core::chat::Message) -> Result<WireMessage<'_>> {
    let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
    Ok(match m.role {
        Role::System => WireMessage::text("system", plain_text(&m.content)),
        Role::User => WireMessage {
            // Text without images goes as one string, however many parts it came in.
            content: Some(if m.content.has_image() {
                wire_content(&m.content).map_err(bad)?
            } else {
                WireContent::Text(plain_text(&m.content))
            }),
            ..WireMessage::empty("user")
        },
        Role::Assistant => {
            let text = plain_text(&m.content);
            if m.tool_calls.is_empty() {
                return Ok(WireMessage::text("assistant", text));
            }
            WireMessage {
                tool_plan: Some(text).filter(|t| !t.is_empty()),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .map(|c| WireCall {
                        id: &c.id,
                        kind: "function",
                        function: WireFunctionCall {
                            name: &c.name,
                            arguments: json_arguments(&c.arguments),
                        },
                    })
                    .collect(),
                ..WireMessage::empty("assistant")
            }
        }
        Role::Tool => WireMessage {
            content: Some(WireContent::Text(plain_text(&m.content))),
            tool_call_id: Some(
                m.tool_call_id
                    .as_deref()
                    .ok_or_else(|| bad("a tool message needs its toolCallId"))?,
            ),
            ..WireMessage::empty("tool")
        },
    })
}

/// Arguments as JSON text: a call without arguments (`""`, or Cohere's own `null`) is `{}`.
fn json_arguments(args: &str) -> &str {
    let t = args.trim();
    if t.is_empty() || t == "null" {
        "{}"
    } else {
        args
    }
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "is_false")]
    stream: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_plan: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

impl<'a> WireMessage<'a> {
    fn empty(role: &'static str) -> Self {
        WireMessage {
            role,
            content: None,
            tool_plan: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    fn text(role: &'static str, text: Cow<'a, str>) -> Self {
        WireMessage {
            content: Some(WireContent::Text(text)),
            ..WireMessage::empty(role)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient reading (shared with the Ollama dialect)
// ---------------------------------------------------------------------------------------------

/// A string field read leniently: `null` is empty, escapes make it owned, a number becomes its
/// text, and a list of content parts is the concatenation of its `text` parts (thinking parts
/// and images left out).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl Str<'_> {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the text is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, null or a list of text parts")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> core::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> core::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> core::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> core::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> core::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> core::result::Result<Str<'de>, E> {
                Ok(Str::default())
            }
            fn visit_none<E>(self) -> core::result::Result<Str<'de>, E> {
                Ok(Str::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> core::result::Result<Str<'de>, A::Error> {
                let mut out = String::new();
                while let Some(part) = seq.next_element::<TextPart<'de>>()? {
                    if part.kind.is_empty() || part.kind.as_str() == "text" {
                        out.push_str(part.text.as_str());
                    }
                }
                Ok(Str(Cow::Owned(out)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Default, Deserialize)]
struct TextPart<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Str<'a>,
    #[serde(default, borrow)]
    text: Str<'a>,
}

/// A count read leniently: an integer, a float, a numeric string; negative, `null` or
/// unreadable is 0 rather than failing the whole event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) u64);

impl Count {
    fn from_f64(v: f64) -> Count {
        // `as` saturates and maps NaN to 0.
        Count(if v > 0.0 { v as u64 } else { 0 })
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E>(self, v: u64) -> core::result::Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E>(self, v: i64) -> core::result::Result<Count, E> {
                Ok(Count(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E>(self, v: f64) -> core::result::Result<Count, E> {
                Ok(Count::from_f64(v))
            }
            fn visit_str<E>(self, v: &str) -> core::result::Result<Count, E> {
                Ok(Count::from_f64(v.trim().parse().unwrap_or(0.0)))
            }
            fn visit_unit<E>(self) -> core::result::Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E>(self) -> core::result::Result<Count, E> {
                Ok(Count(0))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Answers: lenient wire types
// ---------------------------------------------------------------------------------------------

/// One event of a stream: the fields byok reads, all optional.
#[derive(Default, Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Str<'a>,
    #[serde(default)]
    index: Option<Count>,
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    /// An error object (`{"message": …}`) sent where an event was expected.
    #[serde(default, borrow)]
    message: Str<'a>,
}

#[derive(Default, Deserialize)]
struct WireDelta<'a> {
    #[serde(default, borrow)]
    message: Option<WireDeltaMessage<'a>>,
    #[serde(default, borrow)]
    finish_reason: Str<'a>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// Cohere explains a failed generation here (`finish_reason: "ERROR"`).
    #[serde(default, borrow)]
    error: Str<'a>,
}

#[derive(Default, Deserialize)]
struct WireDeltaMessage<'a> {
    #[serde(default, borrow)]
    content: Option<WireDeltaContent<'a>>,
    #[serde(default, borrow)]
    tool_calls: OneCall<'a>,
}

#[derive(Default, Deserialize)]
struct WireDeltaContent<'a> {
    /// Thinking deltas carry `thinking` instead, which is left unread.
    #[serde(default, borrow)]
    text: Str<'a>,
}

#[derive(Default, Deserialize)]
struct WireToolCall<'a> {
    #[serde(default, borrow)]
    id: Str<'a>,
    #[serde(default, borrow)]
    function: Option<WireFunction<'a>>,
}

#[derive(Default, Deserialize)]
struct WireFunction<'a> {
    #[serde(default, borrow)]
    name: Str<'a>,
    #[serde(default, borrow)]
    arguments: Str<'a>,
}

/// The `tool_calls` of a stream delta: one call object (as Cohere sends it), or a list of which
/// the first is taken.
#[derive(Default)]
struct OneCall<'a>(Option<WireToolCall<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for OneCall<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneCall<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tool call or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> core::result::Result<OneCall<'de>, A::Error> {
                let call =
                    WireToolCall::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(OneCall(Some(call)))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> core::result::Result<OneCall<'de>, A::Error> {
                let mut first = None;
                while let Some(call) = seq.next_element::<WireToolCall<'de>>()? {
                    first = first.or(Some(call));
                }
                Ok(OneCall(first))
            }
            fn visit_unit<E>(self) -> core::result::Result<OneCall<'de>, E> {
                Ok(OneCall(None))
            }
            fn visit_none<E>(self) -> core::result::Result<OneCall<'de>, E> {
                Ok(OneCall(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    billed_units: Option<Units>,
    #[serde(default)]
    tokens: Option<Units>,
}

#[derive(Clone, Copy, Default, Deserialize)]
struct Units {
    #[serde(default)]
    input_tokens: Option<Count>,
    #[serde(default)]
    output_tokens: Option<Count>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        let units = self.billed_units.or(self.tokens).unwrap_or_default();
        let input = units.input_tokens.map_or(0, |c| c.0);
        let output = units.output_tokens.map_or(0, |c| c.0);
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.saturating_add(output),
        }
    }
}

/// A whole, non-streamed answer.
#[derive(Default, Deserialize)]
struct WireResponse<'a> {
    #[serde(default, borrow)]
    message: Option<WireResponseMessage<'a>>,
    #[serde(default, borrow)]
    finish_reason: Str<'a>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Default, Deserialize)]
struct WireResponseMessage<'a> {
    /// A list of `{type: "text", text}` parts (thinking parts are skipped), or a string.
    #[serde(default, borrow)]
    content: Str<'a>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
}

/// What a `finish_reason` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    /// A normal end, with this reason.
    Reason(Option<FinishReason>),
    /// The generation failed (`ERROR`, `TIMEOUT`).
    Failed,
}

fn finish_of(wire: &str) -> Finish {
    if wire.is_empty() {
        return Finish::Reason(None);
    }
    let reason = match wire.to_ascii_uppercase().as_str() {
        "COMPLETE" | "STOP_SEQUENCE" | "END_TURN" => FinishReason::Stop,
        "MAX_TOKENS" | "ERROR_LIMIT" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        "CONTENT_BLOCKED" | "ERROR_TOXIC" => FinishReason::ContentFilter,
        "ERROR" | "TIMEOUT" => return Finish::Failed,
        _ => FinishReason::Other,
    };
    Finish::Reason(Some(reason))
}

/// The finish reason to report: `stop` (or nothing) after tool calls is `tool_calls`.
fn final_reason(sent: Option<FinishReason>, has_calls: bool) -> FinishReason {
    match sent {
        None | Some(FinishReason::Stop) if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
        Some(r) => r,
    }
}

/// The error of a generation that ended with `ERROR` or `TIMEOUT`.
fn failed_generation(
    provider_name: &str,
    provider_id: &str,
    finish: &str,
    detail: &str,
    secrets: &[&str],
) -> ByokError {
    let detail = if detail.trim().is_empty() {
        format!("the generation failed (finish reason {finish})")
    } else {
        detail.to_owned()
    };
    provider_error(
        provider_name,
        provider_id,
        ErrorCode::ProviderUnavailable,
        &detail,
        secrets,
    )
}

/// An id for a call the server sent without one, so that pieces can still be told apart.
fn synthetic_id(n: usize) -> String {
    format!("call_byok_{n}")
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The `message` (or `error`) of a Cohere error body, if it has one.
fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    message_of(&v)
}

fn message_of(v: &serde_json::Value) -> Option<String> {
    ["message", "error", "detail"]
        .iter()
        .find_map(|k| v.get(k).and_then(serde_json::Value::as_str))
        .filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
}

/// The error code for a status (none for an error inside a 200 answer) and Cohere's message.
fn classify(status: Option<u16>, message: Option<&str>) -> ErrorCode {
    let m = message.unwrap_or_default().to_ascii_lowercase();
    let says = |w: &str| m.contains(w);
    let bad_key = says("invalid api token")
        || says("no api key")
        || says("api key has expired")
        || says("invalid token");
    match status {
        Some(401 | 403 | 498) => ErrorCode::InvalidApiKey,
        Some(402) => ErrorCode::InsufficientQuota,
        Some(404) if m.is_empty() || says("model") => ErrorCode::ModelNotFound,
        // A trial key's monthly allowance is spent: waiting a minute will not help.
        Some(429) if says("/ month") || says("per month") => ErrorCode::InsufficientQuota,
        Some(429) => ErrorCode::RateLimited,
        Some(408 | 499) => ErrorCode::NetworkError,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) if bad_key => ErrorCode::InvalidApiKey,
        Some(_) => ErrorCode::InvalidRequest,
        None if bad_key => ErrorCode::InvalidApiKey,
        None if says("trial key") || says("rate limit") || says("too many requests") => {
            ErrorCode::RateLimited
        }
        None if says("not found") && says("model") => ErrorCode::ModelNotFound,
        None if says("invalid request") || says("too many tokens") => ErrorCode::InvalidRequest,
        // An unexplained failure after the answer began is the server's.
        None => ErrorCode::ProviderUnavailable,
    }
}

/// The error for an HTTP answer that is not 2xx (see the module docs for the mapping).
///
/// The message is Cohere's own `message`, redacted of `secrets` and of anything that looks like
/// a key, else a generic one; the body is never quoted otherwise.
pub fn map_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
    secrets: &[&str],
) -> ByokError {
    let message = error_message(body);
    let code = classify(Some(status), message.as_deref());
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

/// The error for an error object that came inside a 200 answer.
fn embedded_error(
    provider_name: &str,
    provider_id: &str,
    value: &serde_json::Value,
    secrets: &[&str],
) -> ByokError {
    let message = message_of(value);
    let code = classify(None, message.as_deref());
    let detail = message.as_deref().unwrap_or(generic_detail(code));
    provider_error(provider_name, provider_id, code, detail, secrets)
}

/// An answer that could not be read whole: an error object of another shape, JSON of the wrong
/// shape, or a cut-off body (nothing of it is quoted).
fn unreadable_whole(body: &str, what: &str) -> ByokError {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if message_of(&v).is_some() {
            return embedded_error("", "", &v, &[]);
        }
        return ByokError::new(
            ErrorCode::ProviderUnavailable,
            format!("the answer is JSON but not {what} (is the base URL right?)"),
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

/// Reads a non-streamed chat answer.
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON (a cut-off answer); the mapped error for an error
/// object; `PROVIDER_UNAVAILABLE` when the generation failed (`finish_reason: "ERROR"`).
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    // serde would also fill a struct from a JSON array, by position.
    if !body.trim_start().starts_with('{') {
        return Err(unreadable_whole(body, "a chat answer"));
    }
    let wire: WireResponse<'_> = match serde_json::from_str(body) {
        Ok(w) => w,
        Err(_) => return Err(unreadable_whole(body, "a chat answer")),
    };
    let Some(message) = wire.message else {
        return Err(unreadable_whole(body, "a chat answer"));
    };
    let reason = match finish_of(wire.finish_reason.as_str()) {
        Finish::Failed => {
            return Err(failed_generation(
                "",
                "",
                wire.finish_reason.as_str(),
                "",
                &[],
            ))
        }
        Finish::Reason(r) => r,
    };
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let f = c.function.unwrap_or_default();
            ToolCall {
                id: if c.id.is_empty() {
                    synthetic_id(n)
                } else {
                    c.id.0.into_owned()
                },
                name: f.name.0.into_owned(),
                arguments: json_arguments(f.arguments.as_str()).to_owned(),
            }
        })
        .collect();
    Ok(ChatResponse {
        content: message.content.0.into_owned(),
        finish_reason: final_reason(reason, !tool_calls.is_empty()),
        tool_calls,
        usage: wire.usage.map(|u| u.usage()).unwrap_or_default(),
        // Cohere's answers do not name the model.
        model: None,
        reported_cost: None,
    })
}

/// Reads the answer of [`models_request`]: `{"models":[{"name":…}]}`, names in order,
/// duplicates dropped.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else that is not a
/// model list.
pub fn parse_models(body: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct List {
        models: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        name: Option<String>,
    }
    let list = match serde_json::from_str::<List>(body) {
        Ok(l) if body.trim_start().starts_with('{') => l.models,
        _ => return Err(unreadable_whole(body, "a model list")),
    };
    let mut names: Vec<String> = Vec::with_capacity(list.len());
    for name in list.into_iter().filter_map(|e| e.name) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Reads an embeddings answer: `embeddings.float`, tokens from `meta.billed_units`.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for another shape.
pub fn parse_embeddings(body: &str) -> Result<Embeddings> {
    #[derive(Deserialize)]
    struct Answer {
        embeddings: ByType,
        #[serde(default)]
        meta: Option<Meta>,
    }
    #[derive(Deserialize)]
    struct ByType {
        float: Vec<Vec<f64>>,
    }
    #[derive(Deserialize)]
    struct Meta {
        #[serde(default)]
        billed_units: Option<Units>,
    }
    let answer = match serde_json::from_str::<Answer>(body) {
        Ok(a) if body.trim_start().starts_with('{') => a,
        _ => return Err(unreadable_whole(body, "an embeddings answer")),
    };
    let input = answer
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|u| u.input_tokens)
        .map_or(0, |c| c.0);
    Ok(Embeddings {
        embeddings: answer.embeddings.float,
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

/// A tool call being streamed.
struct CallSlot {
    /// The event's `index`, when it has one.
    index: Option<u64>,
    id: String,
    name: String,
    /// Some argument text has been emitted.
    has_args: bool,
    /// `tool-call-end` has not arrived yet.
    open: bool,
}

/// Decodes a Cohere v2 chat stream into [`Chunk`]s.
///
/// - Text deltas become `content` chunks, one per delta whatever the reads.
/// - `tool-call-start` opens a call (its id and name on every chunk of it; an id is made up
///   when Cohere sends none), `tool-call-delta` continues it (matched by `index`, else the
///   latest open call); a call whose arguments stayed empty gets `{}` at `tool-call-end`, so
///   the pieces always concatenate to JSON.
/// - `message-end` gives a `usage` chunk and the `done` chunk; nothing after it is read.
/// - An error object, an event that is not JSON, or a body that is not an event stream is an
///   error, its message redacted; the end of the body without `message-end` is
///   `NETWORK_ERROR` from [`StreamDecoder::finish`].
pub struct CohereStream {
    sse: SseDecoder,
    /// Reused between reads to keep its capacity.
    events: Vec<SseEvent>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    usage: Usage,
    calls: Vec<CallSlot>,
    done: bool,
    /// Text that was not part of any event, kept until it can be read as a whole.
    failed: Option<ByokError>,
}

impl fmt::Debug for CohereStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CohereStream")
            .field("provider", &self.provider_id)
            .field("usage", &self.usage)
            .field("tool_calls", &self.calls.len())
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl CohereStream {
    /// A decoder for one answer from `ep`; `provider_name` is for messages, and `ep.secret` is
    /// remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        CohereStream {
            sse: SseDecoder::new(),
            events: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            usage: Usage::default(),
            calls: Vec::new(),
            done: false,
            failed: None,
        }
    }

    /// Whether `message-end` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn secrets(&self) -> [&str; 1] {
        [self.secret.as_str()]
    }

    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<Chunk>) -> Result<()> {
        let data = ev.data.trim_ascii();
        if ev.event == "error" {
            return Err(self.error_event(data));
        }
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        // serde would also fill a struct from a JSON array, by position.
        if !data.starts_with('{') {
            return Err(self.unreadable_event(data));
        }
        let wire: WireEvent<'_> = match serde_json::from_str(data) {
            Ok(w) => w,
            Err(_) => return Err(self.unreadable_event(data)),
        };
        let kind = if wire.kind.is_empty() {
            ev.event.as_str()
        } else {
            wire.kind.as_str()
        };
        let index = wire.index.map(|c| c.0);
        let delta = wire.delta.unwrap_or_default();
        match kind {
            "content-start" | "content-delta" => {
                let text = delta
                    .message
                    .and_then(|m| m.content)
                    .map(|c| c.text)
                    .unwrap_or_default();
                if !text.is_empty() {
                    out.push(Chunk::Content {
                        delta: text.0.into_owned(),
                    });
                }
            }
            "tool-call-start" => {
                let call = delta.message.and_then(|m| m.tool_calls.0);
                self.on_call_start(index, call.unwrap_or_default(), out);
            }
            "tool-call-delta" => {
                let args = delta
                    .message
                    .and_then(|m| m.tool_calls.0)
                    .and_then(|c| c.function)
                    .map(|f| f.arguments)
                    .unwrap_or_default();
                self.on_call_delta(index, args.as_str(), out);
            }
            "tool-call-end" => {
                if let Some(pos) = self.find_open(index) {
                    self.close_call(pos, out);
                }
            }
            "message-end" => return self.on_end(&delta, out),
            "" if !wire.message.is_empty() => {
                return Err(provider_error(
                    &self.provider_name,
                    &self.provider_id,
                    classify(None, Some(wire.message.as_str())),
                    wire.message.as_str(),
                    &self.secrets(),
                ));
            }
            // message-start, content-end, tool-plan-delta, citations, and anything newer.
            _ => {}
        }
        Ok(())
    }

    fn on_call_start(&mut self, index: Option<u64>, call: WireToolCall<'_>, out: &mut Vec<Chunk>) {
        let f = call.function.unwrap_or_default();
        let id = if call.id.is_empty() {
            synthetic_id(self.calls.len())
        } else {
            call.id.0.into_owned()
        };
        let args = f.arguments.as_str();
        self.calls.push(CallSlot {
            index,
            id: id.clone(),
            name: f.name.0.into_owned(),
            has_args: !args.is_empty(),
            open: true,
        });
        // The first piece is emitted even without arguments, so a UI can show the call
        // starting.
        out.push(Chunk::ToolCall {
            id,
            name: self
                .calls
                .last()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            arguments_delta: args.to_owned(),
        });
    }

    fn on_call_delta(&mut self, index: Option<u64>, args: &str, out: &mut Vec<Chunk>) {
        if args.is_empty() {
            return;
        }
        let pos = match self.find_open(index) {
            Some(pos) => pos,
            None => {
                // A delta without its start: keep its text under a made-up id rather than lose it.
                self.calls.push(CallSlot {
                    index,
                    id: synthetic_id(self.calls.len()),
                    name: String::new(),
                    has_args: false,
                    open: true,
                });
                self.calls.len() - 1
            }
        };
        if let Some(slot) = self.calls.get_mut(pos) {
            slot.has_args = true;
            out.push(Chunk::ToolCall {
                id: slot.id.clone(),
                name: slot.name.clone(),
                arguments_delta: args.to_owned(),
            });
        }
    }

    /// The open call an event continues: by `index` when it has one, else the latest.
    fn find_open(&self, index: Option<u64>) -> Option<usize> {
        match index {
            Some(i) => self
                .calls
                .iter()
                .rposition(|c| c.open && c.index == Some(i))
                .or_else(|| self.calls.iter().rposition(|c| c.open && c.index.is_none())),
            None => self.calls.iter().rposition(|c| c.open),
        }
    }

    fn close_call(&mut self, pos: usize, out: &mut Vec<Chunk>) {
        if let Some(slot) = self.calls.get_mut(pos) {
            slot.open = false;
            if !slot.has_args {
                slot.has_args = true;
                out.push(Chunk::ToolCall {
                    id: slot.id.clone(),
                    name: slot.name.clone(),
                    arguments_delta: String::from("{}"),
                });
            }
        }
    }

    fn on_end(&mut self, delta: &WireDelta<'_>, out: &mut Vec<Chunk>) -> Result<()> {
        for pos in 0..self.calls.len() {
            if self.calls.get(pos).is_some_and(|c| c.open) {
                self.close_call(pos, out);
            }
        }
        if let Some(u) = &delta.usage {
            self.usage = u.usage();
            out.push(Chunk::Usage { usage: self.usage });
        }
        self.done = true;
        let reason = match finish_of(delta.finish_reason.as_str()) {
            Finish::Failed => {
                return Err(failed_generation(
                    &self.provider_name,
                    &self.provider_id,
                    delta.finish_reason.as_str(),
                    delta.error.as_str(),
                    &self.secrets(),
                ))
            }
            Finish::Reason(r) => r,
        };
        out.push(Chunk::Done {
            finish_reason: final_reason(reason, !self.calls.is_empty()),
            usage: self.usage,
            cost: None,
        });
        Ok(())
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
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
            if message_of(&v).is_some() && v.get("type").is_none() {
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

impl sse_stream::SseDialect for CohereStream {
    fn sse_parts(&mut self) -> (&mut SseDecoder, &mut Vec<SseEvent>) {
        (&mut self.sse, &mut self.events)
    }

    fn failed_slot(&mut self) -> &mut Option<ByokError> {
        &mut self.failed
    }

    fn provider(&self) -> &str {
        &self.provider_id
    }

    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::drain_each(self, out, Self::on_event, |s| s.done)
    }

    /// Looks at text that was not part of any event. A bare JSON error object (sent where
    /// events were expected, possibly over several reads) is read once complete; anything else
    /// means the answer is not an event stream.
    fn check_stray(&mut self, at_end: bool) -> Result<()> {
        if self.done {
            return Ok(());
        }
        match self.sse.judge_stray(at_end, None) {
            Stray::Nothing | Stray::Partial => Ok(()),
            Stray::Json(v) if message_of(&v).is_some() => Err(self.embedded(&v)),
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

impl StreamDecoder for CohereStream {
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
        None
    }

    fn model(&self) -> Option<&str> {
        None
    }
}

#[cfg(test)]
mod tests;
