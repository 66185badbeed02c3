//! Amazon Bedrock's Converse API: `POST {base}/model/{modelId}/converse` and
//! `/converse-stream`, one request shape for every model Bedrock hosts.
//!
//! - **Keys.** Two kinds are accepted, told apart by a `:`. AWS credentials are pasted as
//!   `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` and every request is signed with SigV4
//!   (signing name `bedrock`, region from the host, see [`region_for_url`]); the requests built
//!   here carry no auth header and the browser shell signs them ([`crate::core::sigv4`], done
//!   in `web::sign` with WebCrypto). A Bedrock API key (`ABSK…`, or a short-term
//!   `bedrock-api-key-…`) is a bearer token, sent as `authorization: Bearer` unsigned.
//! - **Streams** are AWS event-stream frames ([`crate::core::eventstream`]), one JSON payload
//!   per frame named by its `:event-type` header: `messageStart`, `contentBlockStart`,
//!   `contentBlockDelta`, `contentBlockStop`, `messageStop` (the stop reason) and `metadata`
//!   (usage). The answer is complete once both `messageStop` and `metadata` have come, in
//!   either order (recorded streams show both orders); a body that ends after `messageStop`
//!   without `metadata` is still complete, with the usage known so far. Exception frames
//!   (`:message-type: exception`) are errors. Payloads wrapped in their event name
//!   (`{"contentBlockDelta":{…}}`, as some proxies and SDK recordings show them) are read too.
//! - **Validation.** The runtime has no model list. [`Wire::models_request`] asks the control
//!   plane instead: `GET https://bedrock.<region>.amazonaws.com/foundation-models?byOutputModality=TEXT`
//!   (same signing name, same credentials; Bedrock API keys work there too). For a base URL
//!   that is not an AWS runtime host (a proxy, the stand-in) the control plane is taken to be
//!   under the same base URL.
//! - **Requests.** System messages go to `system`; tool results go in a user message as
//!   `toolResult` blocks; consecutive messages of one role are merged (Bedrock wants the roles
//!   to alternate); empty texts are left out (Bedrock refuses blank blocks). Images must be
//!   inline (Bedrock takes no https image URLs). `toolChoice: 'none'` has no Bedrock form: the
//!   tools are left out, unless the conversation already holds tool blocks (Bedrock then
//!   requires `toolConfig`), in which case they are sent without a choice. `temperature` is
//!   capped at 1, Converse's maximum.
//! - **Errors.** The error type travels in the `x-amzn-errortype` header, which a page cannot
//!   read across origins; errors are mapped by status and message (and `__type` when the body
//!   has one).

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    generic_detail, http_error, provider_error, ChatResponse, Chunk, Endpoint, HttpRequest, Method,
    StreamDecoder, Wire,
};
use crate::core::chat::{
    ChatRequest, Content, ContentPart, FinishReason, Role, Stop, ToolCall, ToolChoice, ToolMode,
    Usage,
};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::eventstream::{EventStreamDecoder, Message as Frame};
use crate::core::sigv4::{self, Credentials};

/// The SigV4 signing name of both Bedrock endpoints (runtime and control plane).
pub const SIGNING_SERVICE: &str = "bedrock";

/// The region signed for when the host names none (a proxy, the stand-in).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The most bytes of a JSON body read where an event stream was expected.
const MAX_JSON_BODY: usize = 64 * 1024;

/// Whether `secret` is a Bedrock API key (a bearer token) rather than AWS credentials: keys
/// hold no `:`, credentials always do.
pub fn is_bearer(secret: &str) -> bool {
    !secret.trim().contains(':')
}

/// Whether requests made with `secret` must be signed with SigV4.
pub fn needs_signing(secret: &str) -> bool {
    !secret.trim().is_empty() && !is_bearer(secret)
}

/// The region to sign for: the one the URL's host names, else [`DEFAULT_REGION`].
pub fn region_for_url(url: &str) -> &str {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    sigv4::region_of_host(authority).unwrap_or(DEFAULT_REGION)
}

/// The Bedrock dialect as a [`Wire`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bedrock;

impl Wire for Bedrock {
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest> {
        chat_request(ep, req, stream)
    }

    fn models_request(&self, ep: &Endpoint<'_>) -> Result<HttpRequest> {
        models_request(ep)
    }

    fn parse_models(&self, body: &str) -> Result<Vec<String>> {
        parse_models(body)
    }

    fn parse_chat_response(&self, body: &str) -> Result<ChatResponse> {
        parse_chat_response(body)
    }

    fn stream_decoder(&self, provider_name: &str, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(BedrockStream::new(provider_name, ep))
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

/// The auth headers of a request from `ep`: `authorization: Bearer` for an API key, none for
/// credentials (the shell signs), after checking the credentials' shape so that a malformed
/// key fails before any network call.
fn auth_headers(ep: &Endpoint<'_>) -> Result<Vec<(String, Zeroizing<String>)>> {
    let secret = ep.secret.trim();
    if secret.is_empty() {
        return Err(ByokError::new(
            ErrorCode::InvalidApiKey,
            "Amazon Bedrock needs AWS credentials (ACCESS_KEY_ID:SECRET_ACCESS_KEY) or a \
             Bedrock API key",
        )
        .with_provider(ep.provider));
    }
    let mut headers = Vec::with_capacity(2);
    if is_bearer(secret) {
        let mut value = Zeroizing::new(String::with_capacity(7 + secret.len()));
        value.push_str("Bearer ");
        value.push_str(secret);
        headers.push((String::from("authorization"), value));
    } else {
        Credentials::parse(secret).map_err(|e| e.with_provider(ep.provider))?;
    }
    Ok(headers)
}

/// The path of a model operation, the model id encoded as one path segment (`:` → `%3A`).
pub fn model_path(model: &str, operation: &str) -> String {
    format!(
        "/model/{}/{operation}",
        sigv4::uri_encode(model.as_bytes(), false)
    )
}

/// The request for `Converse` (or `ConverseStream` when `stream`).
///
/// # Errors
///
/// `INVALID_API_KEY` for malformed credentials; `INVALID_REQUEST` for what Bedrock cannot
/// carry: an image by https URL or of another type than png, jpeg, gif or webp, a tool
/// message without its `toolCallId`, tool-call arguments that are not JSON.
pub fn chat_request(ep: &Endpoint<'_>, req: &ChatRequest, stream: bool) -> Result<HttpRequest> {
    let mut headers = auth_headers(ep)?;
    let (system, messages, has_tool_blocks) = wire_messages(req)?;
    let s = &req.settings;
    let stop_sequences = match &s.stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one.as_str()],
        Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    let inference_config = InferenceConfig {
        max_tokens: s
            .max_tokens
            .filter(|m| m.is_finite() && *m >= 1.0)
            // `as` saturates; the sanitizer has already made it a whole number.
            .map(|m| m as u64),
        // Converse takes 0 to 1 (the sanitizer allows OpenAI's 0 to 2): the top of the
        // common range is the model's most random setting either way.
        temperature: s.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: s.top_p,
        stop_sequences,
    };
    let tool_config = tool_config(req, has_tool_blocks);
    let body = Body {
        messages,
        system,
        inference_config: (!inference_config.is_empty()).then_some(inference_config),
        tool_config,
    };
    let json = serde_json::to_string(&body)
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))?;
    headers.push((
        String::from("content-type"),
        Zeroizing::new(String::from("application/json")),
    ));
    let operation = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    Ok(HttpRequest {
        method: Method::Post,
        url: ep.url(&model_path(&req.model, operation)),
        headers,
        body: Some(json),
    })
}

/// The control-plane base URL for a runtime base URL: `bedrock-runtime[-fips].<region>…` →
/// `bedrock[-fips].<region>…`; any other base URL is its own control plane.
pub fn control_plane_base(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    // The control plane answers at its root: the runtime's path (normally none) is dropped.
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    let aws = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    for (runtime, control) in [
        ("bedrock-runtime-fips.", "bedrock-fips."),
        ("bedrock-runtime.", "bedrock."),
    ] {
        if let (true, Some(rest)) = (aws, host.strip_prefix(runtime)) {
            return format!("{scheme}://{control}{rest}");
        }
    }
    base.to_owned()
}

/// `GET {control plane}/foundation-models?byOutputModality=TEXT`: the text models of the
/// account's region, which also proves the key (see the module docs).
///
/// # Errors
///
/// `INVALID_API_KEY` for malformed credentials.
pub fn models_request(ep: &Endpoint<'_>) -> Result<HttpRequest> {
    let headers = auth_headers(ep)?;
    Ok(HttpRequest {
        method: Method::Get,
        url: format!(
            "{}/foundation-models?byOutputModality=TEXT",
            control_plane_base(ep.base_url)
        ),
        headers,
        body: None,
    })
}

/// System blocks, messages, and whether any message holds tool blocks.
type WireConversation<'a> = (Vec<TextBlock<'a>>, Vec<WireMessage<'a>>, bool);

fn wire_messages(req: &ChatRequest) -> Result<WireConversation<'_>> {
    let mut system: Vec<TextBlock<'_>> = Vec::new();
    let mut messages: Vec<WireMessage<'_>> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, m) in req.messages.iter().enumerate() {
        let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
        let (role, blocks) = match m.role {
            Role::System => {
                let text = m.content.text();
                if !text.trim().is_empty() {
                    system.push(TextBlock {
                        text: Cow::Owned(text),
                    });
                }
                continue;
            }
            Role::User => ("user", user_blocks(&m.content).map_err(bad)?),
            Role::Assistant => {
                let mut blocks = Vec::with_capacity(1 + m.tool_calls.len());
                let text = m.content.text();
                if !text.trim().is_empty() {
                    blocks.push(Block::Text(Cow::Owned(text)));
                }
                for (k, c) in m.tool_calls.iter().enumerate() {
                    has_tool_blocks = true;
                    let input = if c.arguments.trim().is_empty() {
                        serde_json::Value::Object(serde_json::Map::new())
                    } else {
                        serde_json::from_str(&c.arguments).map_err(|_| {
                            bad(&format!("the arguments of toolCalls[{k}] are not JSON"))
                        })?
                    };
                    blocks.push(Block::ToolUse(WireToolUse {
                        tool_use_id: &c.id,
                        name: &c.name,
                        input,
                    }));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                has_tool_blocks = true;
                let id = m
                    .tool_call_id
                    .as_deref()
                    .ok_or_else(|| bad("a tool message needs its toolCallId"))?;
                let text = m.content.text();
                (
                    "user",
                    vec![Block::ToolResult(WireToolResult {
                        tool_use_id: id,
                        content: vec![TextBlock {
                            text: Cow::Owned(text),
                        }],
                    })],
                )
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    Ok((system, messages, has_tool_blocks))
}

fn user_blocks(c: &Content) -> core::result::Result<Vec<Block<'_>>, &'static str> {
    let parts = match c {
        Content::Text(t) if t.trim().is_empty() => return Ok(Vec::new()),
        Content::Text(t) => return Ok(vec![Block::Text(Cow::Borrowed(t))]),
        Content::Parts(parts) => parts,
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text { text } if text.trim().is_empty() => {}
            ContentPart::Text { text } => blocks.push(Block::Text(Cow::Borrowed(text))),
            ContentPart::Image {
                data,
                url,
                mime_type,
            } => {
                let (mime, bytes) = match (data, url) {
                    (Some(d), _) if d.starts_with("data:") => split_data_url(d)?,
                    (Some(d), _) => (
                        mime_type
                            .as_deref()
                            .ok_or("inline image data needs its mimeType")?,
                        d.as_str(),
                    ),
                    (None, Some(u)) if u.starts_with("data:") => split_data_url(u)?,
                    (None, Some(_)) => {
                        return Err(
                            "Amazon Bedrock takes images inline only (data or a data: URL), \
                             not by https URL",
                        )
                    }
                    (None, None) => return Err("an image part needs data or url"),
                };
                blocks.push(Block::Image(WireImage {
                    format: image_format(mime)?,
                    source: WireImageSource { bytes },
                }));
            }
        }
    }
    Ok(blocks)
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
fn split_data_url(url: &str) -> core::result::Result<(&str, &str), &'static str> {
    let rest = url.strip_prefix("data:").unwrap_or(url);
    let (meta, data) = rest
        .split_once(',')
        .ok_or("a data: URL needs a ',' before its data")?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or("a data: URL image must be base64")?;
    Ok((mime, data))
}

fn image_format(mime: &str) -> core::result::Result<&'static str, &'static str> {
    match mime.trim().to_ascii_lowercase().as_str() {
        "image/png" => Ok("png"),
        "image/jpeg" | "image/jpg" => Ok("jpeg"),
        "image/gif" => Ok("gif"),
        "image/webp" => Ok("webp"),
        _ => Err("Amazon Bedrock takes png, jpeg, gif or webp images"),
    }
}

fn tool_config(req: &ChatRequest, has_tool_blocks: bool) -> Option<WireToolConfig<'_>> {
    if req.tools.is_empty() {
        return None;
    }
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Mode(ToolMode::Auto)) => Some(WireToolChoice::Auto(Empty {})),
        Some(ToolChoice::Mode(ToolMode::Required)) => Some(WireToolChoice::Any(Empty {})),
        Some(ToolChoice::Named { name }) => Some(WireToolChoice::Tool(WireName { name })),
        Some(ToolChoice::Mode(ToolMode::None)) if has_tool_blocks => None,
        Some(ToolChoice::Mode(ToolMode::None)) => return None,
    };
    Some(WireToolConfig {
        tools: req
            .tools
            .iter()
            .map(|t| WireToolEntry {
                tool_spec: WireToolSpec {
                    name: &t.name,
                    // Bedrock refuses an empty description.
                    description: t.description.as_deref().filter(|d| !d.trim().is_empty()),
                    input_schema: WireSchema {
                        json: &t.parameters,
                    },
                },
            })
            .collect(),
        tool_choice: choice,
    })
}

#[derive(Serialize)]
struct Body<'a> {
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<TextBlock<'a>>,
    #[serde(rename = "inferenceConfig", skip_serializing_if = "Option::is_none")]
    inference_config: Option<InferenceConfig<'a>>,
    #[serde(rename = "toolConfig", skip_serializing_if = "Option::is_none")]
    tool_config: Option<WireToolConfig<'a>>,
}

#[derive(Serialize)]
struct InferenceConfig<'a> {
    #[serde(rename = "maxTokens", skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(rename = "topP", skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(rename = "stopSequences", skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    text: Cow<'a, str>,
}

/// A content block: `{"text":…}`, `{"image":…}`, `{"toolUse":…}` or `{"toolResult":…}`.
#[derive(Serialize)]
enum Block<'a> {
    #[serde(rename = "text")]
    Text(Cow<'a, str>),
    #[serde(rename = "image")]
    Image(WireImage<'a>),
    #[serde(rename = "toolUse")]
    ToolUse(WireToolUse<'a>),
    #[serde(rename = "toolResult")]
    ToolResult(WireToolResult<'a>),
}

#[derive(Serialize)]
struct WireImage<'a> {
    format: &'static str,
    source: WireImageSource<'a>,
}

#[derive(Serialize)]
struct WireImageSource<'a> {
    /// Base64, as JSON carries a blob.
    bytes: &'a str,
}

#[derive(Serialize)]
struct WireToolUse<'a> {
    #[serde(rename = "toolUseId")]
    tool_use_id: &'a str,
    name: &'a str,
    input: serde_json::Value,
}

#[derive(Serialize)]
struct WireToolResult<'a> {
    #[serde(rename = "toolUseId")]
    tool_use_id: &'a str,
    content: Vec<TextBlock<'a>>,
}

#[derive(Serialize)]
struct WireToolConfig<'a> {
    tools: Vec<WireToolEntry<'a>>,
    #[serde(rename = "toolChoice", skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
}

#[derive(Serialize)]
struct WireToolEntry<'a> {
    #[serde(rename = "toolSpec")]
    tool_spec: WireToolSpec<'a>,
}

#[derive(Serialize)]
struct WireToolSpec<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "inputSchema")]
    input_schema: WireSchema<'a>,
}

#[derive(Serialize)]
struct WireSchema<'a> {
    json: &'a serde_json::Value,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
enum WireToolChoice<'a> {
    #[serde(rename = "auto")]
    Auto(Empty),
    #[serde(rename = "any")]
    Any(Empty),
    #[serde(rename = "tool")]
    Tool(WireName<'a>),
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Answers: lenient wire types
// ---------------------------------------------------------------------------------------------

/// Token counts, read leniently (floats and absent fields accepted).
#[derive(Clone, Copy, Default)]
struct WireUsage {
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
    total_tokens: Option<f64>,
}

fn count(n: Option<f64>) -> u64 {
    // `as` saturates and maps NaN to 0.
    n.map_or(0, |n| if n > 0.0 { n as u64 } else { 0 })
}

impl WireUsage {
    fn usage(&self) -> Usage {
        let input = count(self.input_tokens);
        let output = count(self.output_tokens);
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: self
                .total_tokens
                .map_or(input.saturating_add(output), |t| count(Some(t))),
        }
    }
}

/// One stream event's payload: the fields byok reads, all optional. Nested objects are read
/// as `Value`s: one derived decoder instead of six keeps the module smaller, and unknown
/// top-level fields (AWS's `p` padding) are still skipped without being stored.
#[derive(Default, Deserialize)]
struct WireEvent {
    #[serde(default, rename = "contentBlockIndex")]
    content_block_index: Option<f64>,
    #[serde(default)]
    delta: Option<serde_json::Value>,
    #[serde(default)]
    start: Option<serde_json::Value>,
    #[serde(default, rename = "stopReason")]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<serde_json::Value>,
}

/// Bedrock's stop reasons.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The finish reason to report: tool calls that end with `end_turn` end with `tool_calls`,
/// so a tool loop can rely on it.
fn final_reason(sent: Option<FinishReason>, has_calls: bool) -> FinishReason {
    match sent {
        None | Some(FinishReason::Stop) if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
        Some(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What an AWS error says: its type (lower case, namespace stripped: `throttlingexception`)
/// and its message.
#[derive(Default)]
struct AwsError {
    kind: String,
    message: Option<String>,
}

impl AwsError {
    fn from_body(body: &str) -> AwsError {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) => AwsError::from_value(&v),
            Err(_) => AwsError::default(),
        }
    }

    fn from_value(v: &serde_json::Value) -> AwsError {
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(|x| x.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let message = ["message", "Message", "errorMessage"]
            .iter()
            .find_map(|k| text(v.get(*k)));
        let kind = ["__type", "code", "Code"]
            .iter()
            .find_map(|k| text(v.get(*k)))
            .or_else(|| text(v.get("Output").and_then(|o| o.get("__type"))))
            .unwrap_or_default();
        AwsError {
            kind: normalize_kind(&kind),
            message,
        }
    }

    fn message_has(&self, words: &[&str]) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            words.iter().all(|w| m.contains(w))
        })
    }
}

/// `com.amazon.coral.service#UnknownOperationException` or
/// `ThrottlingException:http://internal.amazon.com/…` → `unknownoperationexception`,
/// `throttlingexception`.
fn normalize_kind(kind: &str) -> String {
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let kind = kind.split(':').next().unwrap_or(kind);
    kind.trim().to_ascii_lowercase()
}

fn about_unknown_model(e: &AwsError) -> bool {
    e.message_has(&["model identifier", "invalid"])
        || e.message_has(&["could not resolve", "model"])
        || e.message_has(&["model", "not found"])
        || e.message_has(&["model", "does not exist"])
        || e.message_has(&["model", "doesn't exist"])
}

fn about_model_access(e: &AwsError) -> bool {
    e.message_has(&["access to the model"])
}

/// The error code for a status (none for errors inside a 200 stream) and what the body says.
fn classify(status: Option<u16>, e: &AwsError) -> ErrorCode {
    let has = |w: &str| e.kind.contains(w);
    if has("throttling") || has("servicequotaexceeded") || has("toomanyrequests") {
        return ErrorCode::RateLimited;
    }
    // AWS's wording for a bad key or signature, for when no type is readable.
    if e.message_has(&["security token", "invalid"])
        || e.message_has(&["security token", "expired"])
        || e.message_has(&["signature", "does not match"])
        || e.message_has(&["signature expired"])
        || e.message_has(&["api key", "invalid"])
        || e.message_has(&["authentication failed"])
    {
        return ErrorCode::InvalidApiKey;
    }
    if has("unrecognizedclient")
        || has("invalidsignature")
        || has("incompletesignature")
        || has("expiredtoken")
        || has("missingauthenticationtoken")
        || has("invalidclienttokenid")
        || has("signaturedoesnotmatch")
    {
        return ErrorCode::InvalidApiKey;
    }
    // "You don't have access to the model with the specified model ID": model access is not
    // enabled for this account, so the model does not exist for this key.
    if about_model_access(e) {
        return ErrorCode::ModelNotFound;
    }
    if has("accessdenied") {
        return ErrorCode::InvalidApiKey;
    }
    if has("resourcenotfound") || about_unknown_model(e) {
        return ErrorCode::ModelNotFound;
    }
    if has("validation") || has("serialization") || has("unknownoperation") {
        return ErrorCode::InvalidRequest;
    }
    if has("modelnotready")
        || has("modeltimeout")
        || has("modelerror")
        || has("modelstreamerror")
        || has("internalserver")
        || has("serviceunavailable")
    {
        return ErrorCode::ProviderUnavailable;
    }
    match status {
        Some(401 | 403) => ErrorCode::InvalidApiKey,
        Some(404) => ErrorCode::ModelNotFound,
        Some(408 | 424) => ErrorCode::ProviderUnavailable,
        Some(429) => ErrorCode::RateLimited,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) => ErrorCode::InvalidRequest,
        None => ErrorCode::ProviderUnavailable,
    }
}

/// The message of an error: AWS's own, with a hint where it helps; else a generic one.
fn detail_of(e: &AwsError, code: ErrorCode, status: Option<u16>) -> String {
    let Some(m) = &e.message else {
        if e.kind.contains("unknownoperation") {
            return String::from("the URL is not a Bedrock operation (is the base URL right?)");
        }
        return match status {
            Some(s) => format!("{} (HTTP {s})", generic_detail(code)),
            None => String::from(generic_detail(code)),
        };
    };
    if e.message_has(&["signature expired"]) || e.message_has(&["signature not yet current"]) {
        return format!("{m} (is this device's clock right?)");
    }
    m.clone()
}

/// The error for an HTTP answer that is not 2xx.
///
/// 400 `ValidationException` → `INVALID_REQUEST` (an unknown model id → `MODEL_NOT_FOUND`);
/// 403 (`AccessDenied`, `UnrecognizedClient`, `InvalidSignature`, expired token) →
/// `INVALID_API_KEY`, except a model whose access is not enabled → `MODEL_NOT_FOUND`; 404 →
/// `MODEL_NOT_FOUND`; 429 → `RATE_LIMITED`; 408, 424 and 5xx → `PROVIDER_UNAVAILABLE`. The
/// message is AWS's own (redacted of `secrets` and of anything that looks like a key).
pub fn map_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
    secrets: &[&str],
) -> ByokError {
    let e = AwsError::from_body(body);
    let code = classify(Some(status), &e);
    let retry_after_ms = retry_after_ms.filter(|_| {
        matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        )
    });
    http_error(
        provider_name,
        provider_id,
        status,
        retry_after_ms,
        code,
        &detail_of(&e, code, Some(status)),
        secrets,
    )
}

/// The error of an exception frame (`:exception-type` and its JSON payload) or an error frame
/// (`:error-code`, `:error-message`).
fn frame_error(
    provider_name: &str,
    provider_id: &str,
    frame: &Frame,
    secrets: &[&str],
) -> ByokError {
    let mut e = if frame.message_type() == "error" {
        AwsError {
            kind: String::new(),
            message: frame
                .str_header(":error-message")
                .map(str::to_owned)
                .filter(|m| !m.trim().is_empty()),
        }
    } else {
        let v = core::str::from_utf8(&frame.payload)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .unwrap_or_default();
        AwsError::from_value(&v)
    };
    let kind = frame
        .str_header(":exception-type")
        .or_else(|| frame.str_header(":error-code"))
        .unwrap_or("");
    if !kind.is_empty() {
        e.kind = normalize_kind(kind);
    }
    let code = classify(None, &e);
    provider_error(
        provider_name,
        provider_id,
        code,
        &detail_of(&e, code, None),
        secrets,
    )
}

// ---------------------------------------------------------------------------------------------
// Whole answers
// ---------------------------------------------------------------------------------------------

/// An id for a tool call sent without one, so that calls can still be told apart.
fn synthetic_id(n: usize) -> String {
    format!("call_byok_{n}")
}

/// A tool call's input as JSON text (`{}` when absent).
fn input_text(input: Option<&serde_json::Value>) -> String {
    match input {
        None | Some(serde_json::Value::Null) => String::from("{}"),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Reads a whole `Converse` answer: `output.message.content` (text blocks joined, `toolUse`
/// blocks as tool calls), `stopReason`, `usage`.
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON (nothing of it is quoted); the mapped error when
/// it is an error object.
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    // Read through `Value` rather than typed structs: a whole answer is parsed once per call,
    // and `Value`'s decoder is in the module anyway, where each derived one adds kilobytes.
    let not_json = || {
        ByokError::new(
            ErrorCode::NetworkError,
            "the answer is not valid JSON (was it cut off?)",
        )
    };
    if !body.trim_start().starts_with('{') {
        return Err(not_json());
    }
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| not_json())?;
    let Some(message) = v
        .get("output")
        .and_then(|o| o.get("message"))
        .filter(|m| m.is_object())
    else {
        let e = AwsError::from_value(&v);
        if e.message.is_some() {
            let code = classify(None, &e);
            return Err(provider_error(
                "",
                "",
                code,
                &detail_of(&e, code, None),
                &[],
            ));
        }
        return Err(ByokError::new(
            ErrorCode::ProviderUnavailable,
            "the answer is JSON but not a Converse answer",
        ));
    };
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    let blocks = message.get("content").and_then(|c| c.as_array());
    for block in blocks.into_iter().flatten() {
        if let Some(text) = block.get("text").and_then(|t| t.as_str()) {
            content.push_str(text);
        }
        if let Some(t) = block.get("toolUse").filter(|t| t.is_object()) {
            let n = tool_calls.len();
            let text = |k: &str| t.get(k).and_then(|x| x.as_str()).unwrap_or("");
            tool_calls.push(ToolCall {
                id: Some(text("toolUseId"))
                    .filter(|i| !i.is_empty())
                    .map_or_else(|| synthetic_id(n), str::to_owned),
                name: text("name").to_owned(),
                arguments: input_text(t.get("input")),
            });
        }
    }
    let reason = v
        .get("stopReason")
        .and_then(|r| r.as_str())
        .map(finish_reason);
    Ok(ChatResponse {
        content,
        finish_reason: final_reason(reason, !tool_calls.is_empty()),
        tool_calls,
        usage: usage_of_value(v.get("usage")),
        model: None,
        reported_cost: None,
    })
}

/// Token counts from a `usage` object read as a `Value`.
fn usage_of_value(usage: Option<&serde_json::Value>) -> Usage {
    let n = |k: &str| usage.and_then(|u| u.get(k)).and_then(|x| x.as_f64());
    WireUsage {
        input_tokens: n("inputTokens"),
        output_tokens: n("outputTokens"),
        total_tokens: n("totalTokens"),
    }
    .usage()
}

/// Reads the answer of [`models_request`], `{"modelSummaries":[{"modelId":…},…]}`: ids in
/// order, duplicates dropped.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else that is not
/// a model list (often a wrong base URL answering with a web page).
pub fn parse_models(body: &str) -> Result<Vec<String>> {
    let v = serde_json::from_str::<serde_json::Value>(body).unwrap_or_default();
    let Some(list) = v.get("modelSummaries").and_then(|l| l.as_array()) else {
        let e = AwsError::from_value(&v);
        if e.message.is_some() {
            let code = classify(None, &e);
            return Err(provider_error(
                "",
                "",
                code,
                &detail_of(&e, code, None),
                &[],
            ));
        }
        return Err(ByokError::new(
            ErrorCode::ProviderUnavailable,
            "the answer is not a Bedrock model list (is the base URL right?)",
        ));
    };
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for id in list.iter().filter_map(|s| s.get("modelId")?.as_str()) {
        if !id.is_empty() && !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// A tool call being streamed: its content block index, id and name.
struct ToolSlot {
    index: Option<u64>,
    id: String,
    name: String,
}

/// Decodes a `ConverseStream` answer (AWS event-stream frames) into [`Chunk`]s.
///
/// - Text deltas become `content` chunks, one per delta.
/// - A `toolUse` block start becomes a `tool_call` chunk with empty arguments; its input
///   deltas become `tool_call` chunks carrying the same id and name.
/// - `metadata.usage` becomes a `usage` chunk; `done` follows once both `messageStop` and
///   `metadata` have come.
/// - Exception and error frames, a corrupted frame, a body that is not an event stream (a JSON
///   error is read as one) are errors, their messages redacted.
/// - The end of the body before `messageStop` is `NETWORK_ERROR` from
///   [`StreamDecoder::finish`].
pub struct BedrockStream {
    frames: EventStreamDecoder,
    /// Reused between reads to keep its capacity.
    messages: Vec<Frame>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    usage: Usage,
    usage_seen: bool,
    stop: Option<FinishReason>,
    stopped: bool,
    metadata_seen: bool,
    done: bool,
    calls: Vec<ToolSlot>,
    /// Set when the body began with `{`: a JSON body (an error) where frames were expected.
    json_body: Option<Vec<u8>>,
    started: bool,
    failed: Option<ByokError>,
}

impl fmt::Debug for BedrockStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockStream")
            .field("provider", &self.provider_id)
            .field("usage", &self.usage)
            .field("tool_calls", &self.calls.len())
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl BedrockStream {
    /// A decoder for one answer from `ep`; `provider_name` is for messages, and `ep.secret`
    /// is remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        BedrockStream {
            frames: EventStreamDecoder::new(),
            messages: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            usage: Usage::default(),
            usage_seen: false,
            stop: None,
            stopped: false,
            metadata_seen: false,
            done: false,
            calls: Vec::new(),
            json_body: None,
            started: false,
            failed: None,
        }
    }

    /// Whether the answer is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn remember<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn own_error(&self, e: ByokError) -> ByokError {
        if e.provider.is_some() {
            e
        } else {
            e.with_provider(self.provider_id.as_str())
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

    fn unreadable(&self) -> ByokError {
        // Never quote the event: it is the model's answer.
        super::unreadable_event(&self.provider_name, &self.provider_id)
    }

    /// Handles the frames decoded so far.
    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        let mut frames = mem::take(&mut self.messages);
        let mut result = Ok(());
        for frame in &frames {
            if self.done {
                break;
            }
            if let Err(e) = self.on_frame(frame, out) {
                result = Err(e);
                break;
            }
        }
        frames.clear();
        self.messages = frames;
        result
    }

    fn on_frame(&mut self, frame: &Frame, out: &mut Vec<Chunk>) -> Result<()> {
        match frame.message_type() {
            "event" => self.on_event(frame, out),
            "exception" | "error" => Err(frame_error(
                &self.provider_name,
                &self.provider_id,
                frame,
                &[self.secret.as_str()],
            )),
            // A message type this version does not know carries nothing it could show.
            _ => Ok(()),
        }
    }

    fn on_event(&mut self, frame: &Frame, out: &mut Vec<Chunk>) -> Result<()> {
        let text = core::str::from_utf8(&frame.payload).map_err(|_| self.unreadable())?;
        let text = text.trim();
        let owned_kind;
        let (kind, payload) = match frame.str_header(":event-type") {
            Some(kind) => (kind, unwrap_named(text, kind).unwrap_or(text)),
            None => {
                // No header: the payload must name its event, `{"<type>":{…}}`.
                let v: serde_json::Value =
                    serde_json::from_str(text).map_err(|_| self.unreadable())?;
                let map = v.as_object().ok_or_else(|| self.unreadable())?;
                match map.keys().next() {
                    Some(k) if map.len() == 1 => {
                        owned_kind = k.clone();
                        (
                            owned_kind.as_str(),
                            unwrap_named(text, &owned_kind).unwrap_or(text),
                        )
                    }
                    _ => return Err(self.unreadable()),
                }
            }
        };
        if payload.is_empty() {
            return Ok(());
        }
        if !payload.starts_with('{') {
            return Err(self.unreadable());
        }
        let ev: WireEvent = serde_json::from_str(payload).map_err(|_| self.unreadable())?;
        match kind {
            "contentBlockStart" => self.on_block_start(&ev, out),
            "contentBlockDelta" => self.on_block_delta(ev, out)?,
            "messageStop" => {
                self.stop = ev.stop_reason.as_deref().map(finish_reason);
                self.stopped = true;
                if self.metadata_seen {
                    self.on_done(out);
                }
            }
            "metadata" => {
                if ev.usage.as_ref().is_some_and(serde_json::Value::is_object) {
                    let usage = usage_of_value(ev.usage.as_ref());
                    if !self.usage_seen || usage != self.usage {
                        out.push(Chunk::Usage { usage });
                    }
                    self.usage = usage;
                    self.usage_seen = true;
                }
                self.metadata_seen = true;
                if self.stopped {
                    self.on_done(out);
                }
            }
            // messageStart, contentBlockStop and events newer than this code carry nothing
            // the chunks of shared/API.md have a place for.
            _ => {}
        }
        Ok(())
    }

    fn on_block_start(&mut self, ev: &WireEvent, out: &mut Vec<Chunk>) {
        let Some(start) = ev.start.as_ref().and_then(|s| s.get("toolUse")) else {
            return;
        };
        let text = |k: &str| start.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let index = ev.content_block_index.map(|i| count(Some(i)));
        let id = Some(text("toolUseId"))
            .filter(|i| !i.is_empty())
            .map_or_else(|| synthetic_id(self.calls.len()), str::to_owned);
        let name = text("name").to_owned();
        out.push(Chunk::ToolCall {
            id: id.clone(),
            name: name.clone(),
            arguments_delta: String::new(),
        });
        self.calls.push(ToolSlot { index, id, name });
    }

    fn on_block_delta(&mut self, ev: WireEvent, out: &mut Vec<Chunk>) -> Result<()> {
        use serde_json::Value;
        // `get_mut` and `take` rather than `remove`: BTreeMap's removal code is kilobytes of
        // wasm that nothing else here needs.
        let Some(Value::Object(mut delta)) = ev.delta else {
            return Ok(());
        };
        match delta.get_mut("text") {
            Some(Value::String(text)) if !text.is_empty() => {
                out.push(Chunk::Content {
                    delta: mem::take(text),
                });
            }
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => return Err(self.unreadable()),
        }
        let Some(Value::Object(tool)) = delta.get_mut("toolUse") else {
            return Ok(());
        };
        // JSON text in Bedrock's streams; a JSON value from some proxies, written out as text.
        let piece = match tool.get_mut("input") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => mem::take(s),
            Some(v) => v.to_string(),
        };
        let index = ev.content_block_index.map(|i| count(Some(i)));
        let pos = match self
            .calls
            .iter()
            .rposition(|s| index.is_none() || s.index == index)
        {
            Some(pos) => pos,
            None => {
                // Input without its block start: a call with a made-up id and no name.
                let id = synthetic_id(self.calls.len());
                out.push(Chunk::ToolCall {
                    id: id.clone(),
                    name: String::new(),
                    arguments_delta: String::new(),
                });
                self.calls.push(ToolSlot {
                    index,
                    id,
                    name: String::new(),
                });
                self.calls.len() - 1
            }
        };
        if piece.is_empty() {
            return Ok(());
        }
        if let Some(slot) = self.calls.get(pos) {
            out.push(Chunk::ToolCall {
                id: slot.id.clone(),
                name: slot.name.clone(),
                arguments_delta: piece,
            });
        }
        Ok(())
    }

    fn on_done(&mut self, out: &mut Vec<Chunk>) {
        if self.done {
            return;
        }
        self.done = true;
        out.push(Chunk::Done {
            finish_reason: final_reason(self.stop, !self.calls.is_empty()),
            usage: self.usage,
            cost: None,
        });
    }

    /// A JSON body where frames were expected: an error object, read once it is complete.
    fn check_json(&mut self, at_end: bool) -> Result<()> {
        let Some(body) = &self.json_body else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(body);
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => {
                let e = AwsError::from_value(&v);
                let code = classify(None, &e);
                Err(provider_error(
                    &self.provider_name,
                    &self.provider_id,
                    code,
                    &detail_of(&e, code, None),
                    &[self.secret.as_str()],
                ))
            }
            Err(e) if e.is_eof() && !at_end && body.len() < MAX_JSON_BODY => Ok(()),
            Err(_) => Err(provider_error(
                &self.provider_name,
                &self.provider_id,
                ErrorCode::NetworkError,
                "the answer is not an event stream",
                &[],
            )),
        }
    }
}

/// The inner object of a payload wrapped in its event name, `{"<kind>":{…}}`.
fn unwrap_named<'t>(text: &'t str, kind: &str) -> Option<&'t str> {
    let rest = text.strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix('"')?
        .strip_prefix(kind)?
        .strip_prefix('"')?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let inner = rest.strip_suffix('}')?.trim_end();
    inner.starts_with('{').then_some(inner)
}

impl StreamDecoder for BedrockStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.started && !bytes.is_empty() {
            self.started = true;
            // A frame starts with its length, whose first byte is 0 for any frame the decoder
            // accepts; `{` starts a JSON body.
            if bytes.first() == Some(&b'{') {
                self.json_body = Some(Vec::new());
            }
        }
        if let Some(body) = &mut self.json_body {
            let room = MAX_JSON_BODY.saturating_sub(body.len());
            body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
            let result = self.check_json(false);
            return self.remember(result);
        }
        let decoded = self.frames.feed(bytes, &mut self.messages);
        // Frames decoded before a corrupted one are still delivered.
        let result = self
            .drain(out)
            .and_then(|()| decoded.map_err(|e| self.own_error(e)));
        self.remember(result)
    }

    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.json_body.is_some() {
            let result = self.check_json(true).and_then(|()| Err(self.truncated()));
            return self.remember(result);
        }
        let result = match self.frames.finish() {
            Err(_) => Err(self.truncated()),
            Ok(()) if self.done => Ok(()),
            Ok(()) if self.stopped => {
                // Complete but for the usage: the answer itself is whole.
                self.on_done(out);
                Ok(())
            }
            Ok(()) => Err(self.truncated()),
        };
        self.remember(result)
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
