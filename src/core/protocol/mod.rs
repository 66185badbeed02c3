//! Wire protocols: build a provider's HTTP request, decode its answer or its stream.
//!
//! This module holds what every dialect shares: the HTTP request the browser shell sends
//! ([`HttpRequest`]), where it goes ([`Endpoint`]), the chunks a stream yields ([`Chunk`], the
//! `streamChat` chunks of `shared/API.md`), the decoder interface ([`StreamDecoder`]), the
//! non-streamed answer ([`ChatResponse`]) and the error builder ([`http_error`]). One submodule per
//! dialect does the rest.
//!
//! Nothing here does I/O: the shell sends the request, feeds each network read to a decoder and
//! hands the chunks of that read to JavaScript together.

use core::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::core::catalog::{Model, Protocol, Provider};
use crate::core::chat::{ChatRequest, FinishReason, ToolCall, Usage};
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::keys;

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod ollama;
pub mod openai;
mod sse_stream;

/// One wire dialect, as the browser shell drives it: build a request, send it, read the answer
/// with [`Wire::parse_chat_response`] or a [`Wire::stream_decoder`], map an error status.
/// [`wire_for`] picks the implementation for a provider; adding a dialect means one module
/// implementing this trait and one line there.
pub trait Wire {
    /// The chat request, streamed or not.
    ///
    /// # Errors
    ///
    /// `INVALID_REQUEST` for what the dialect cannot carry.
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest>;

    /// The cheapest request that proves a key, normally the model list.
    ///
    /// # Errors
    ///
    /// When the provider has no such request.
    fn models_request(&self, ep: &Endpoint<'_>) -> Result<HttpRequest>;

    /// The model ids in the answer to [`Wire::models_request`].
    ///
    /// # Errors
    ///
    /// When the body is not a model list (or is an error object sent with 200).
    fn parse_models(&self, body: &str) -> Result<Vec<String>>;

    /// A whole, non-streamed answer.
    ///
    /// # Errors
    ///
    /// When the body is not an answer (or is an error object sent with 200).
    fn parse_chat_response(&self, body: &str) -> Result<ChatResponse>;

    /// A decoder for a streamed answer from `ep`.
    fn stream_decoder(&self, provider_name: &str, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder>;

    /// The error of a non-2xx answer, its body redacted of `secrets`.
    fn map_error(
        &self,
        provider_name: &str,
        provider_id: &str,
        status: u16,
        retry_after_ms: Option<u64>,
        body: &str,
        secrets: &[&str],
    ) -> ByokError;

    /// The embeddings request, where the dialect has one.
    ///
    /// # Errors
    ///
    /// `INVALID_REQUEST` when the dialect has no embeddings.
    fn embed_request(
        &self,
        ep: &Endpoint<'_>,
        model: &str,
        input: &[String],
    ) -> Result<HttpRequest> {
        let _ = (model, input);
        Err(ByokError::invalid_request(format!(
            "{} has no embeddings endpoint",
            ep.provider
        )))
    }

    /// The vectors and usage of an embeddings answer.
    ///
    /// # Errors
    ///
    /// When the body is not an embeddings answer.
    fn parse_embeddings(&self, body: &str) -> Result<Embeddings> {
        let _ = body;
        Err(ByokError::invalid_request("this dialect has no embeddings"))
    }
}

/// Vectors of an embeddings answer, in input order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Embeddings {
    /// One vector per input.
    pub embeddings: Vec<Vec<f64>>,
    /// Tokens read.
    pub usage: Usage,
}

/// The dialect of a provider (and model, where it changes the request). Every protocol of the
/// catalog has one now; the `Result` stays so that a protocol added to the catalog before its
/// dialect can be refused with `UNSUPPORTED_PROVIDER` again.
pub fn wire_for(provider: &Provider, model: Option<&Model>) -> Result<Box<dyn Wire>> {
    match provider.protocol {
        Protocol::Openai | Protocol::AzureOpenai => Ok(Box::new(openai::OpenAi(
            openai::dialect_for(provider, model),
        ))),
        Protocol::Anthropic => Ok(Box::new(anthropic::Anthropic::for_model(model))),
        Protocol::Gemini => Ok(Box::new(gemini::Gemini::api())),
        Protocol::Vertex => Ok(Box::new(gemini::Gemini::vertex())),
        Protocol::Bedrock => Ok(Box::new(bedrock::Bedrock)),
        Protocol::Cohere => Ok(Box::new(cohere::Cohere)),
        Protocol::Ollama => Ok(Box::new(ollama::Ollama)),
    }
}

/// The HTTP method of a provider call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET` (model lists).
    Get,
    /// `POST` (chat, embeddings).
    Post,
}

impl Method {
    /// The method as it goes on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request ready for `fetch`.
///
/// Only the headers the provider needs are listed: a browser sends a CORS preflight for any
/// other header, and providers that do not allow it there refuse the call. Header values may
/// hold the API key, so they are [`Zeroizing`] and left out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: Method,
    /// The full URL; never holds a key.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, Zeroizing<String>)>,
    /// The JSON body of a `POST`; never holds a key.
    pub body: Option<String>,
}

impl fmt::Debug for HttpRequest {
    /// Names the headers but never shows their values (one of them is the key), and gives the
    /// body's size only (it is the user's prompt).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.as_ref().map(String::len))
            .finish()
    }
}

/// Where a call goes and with which key.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    /// The provider id of `shared/API.md` (`openai`, `xai`, …).
    pub provider: &'a str,
    /// The base URL, e.g. `https://api.openai.com/v1`; a trailing `/` is accepted.
    pub base_url: &'a str,
    /// The API key; empty for a local server that takes none.
    pub secret: &'a str,
}

impl Endpoint<'_> {
    /// `base_url` joined with `path` (which starts with `/`), with exactly one `/` between.
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(base);
        url.push_str(path);
        url
    }
}

impl fmt::Debug for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("secret", &if self.secret.is_empty() { "" } else { "…" })
            .finish()
    }
}

/// One chunk of `streamChat`, serialized exactly as `shared/API.md` names it:
/// `{type:'content',delta}`, `{type:'tool_call',id,name,argumentsDelta}`,
/// `{type:'usage',usage}`, `{type:'done',finishReason,usage,cost}`; and byok's own
/// `{type:'wait',waitMs,reason,message}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Chunk {
    /// A piece of the answer's text.
    Content {
        /// The text, to append to what came before.
        delta: String,
    },
    /// A piece of a tool call. `id` and `name` are given on every piece; the `arguments_delta`
    /// pieces of one id concatenate to the call's complete JSON arguments.
    ToolCall {
        /// The provider's id of the call.
        id: String,
        /// The tool's name.
        name: String,
        /// The next piece of the arguments' JSON text (may be empty on the first piece).
        arguments_delta: String,
    },
    /// The token counts so far (providers send them once, near the end).
    Usage {
        /// Token counts.
        usage: Usage,
    },
    /// The call waits before it goes out (the user's rate limit, or the provider's
    /// Retry-After): told as it starts, so a page can show it instead of a silent stall.
    /// Never produced by decoders.
    Wait {
        /// How long, ms.
        wait_ms: u64,
        /// Why.
        reason: crate::core::ratelimit::WaitReason,
        /// Why, for people.
        message: String,
    },
    /// The last chunk of a complete answer.
    Done {
        /// Why generation stopped.
        finish_reason: FinishReason,
        /// The final token counts.
        usage: Usage,
        /// USD from the catalog, filled in by the caller; decoders leave `None` (`null`).
        cost: Option<f64>,
    },
}

/// A stream decoder for one dialect.
///
/// Feed it every network read as it arrives and hand the chunks of that read to JavaScript
/// together: one call per read, not per event, keeps the JS↔wasm crossings few.
pub trait StreamDecoder {
    /// Decodes one network read, appending every chunk it completes to `out`.
    ///
    /// # Errors
    ///
    /// A [`ByokError`] when the provider reports an error inside the stream or the stream is
    /// not readable. Chunks completed before the error are still appended; after an error
    /// every call fails the same way.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()>;

    /// Ends the stream at the end of the body.
    ///
    /// # Errors
    ///
    /// `NETWORK_ERROR` when the body ended before the dialect's terminal event (the stream was
    /// cut off); [`StreamDecoder::usage`] still tells what was known.
    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()>;

    /// The best token counts known so far, for aborted or broken streams.
    fn usage(&self) -> Usage;

    /// The cost the provider or gateway itself reported, in USD, when it did.
    fn reported_cost(&self) -> Option<f64>;

    /// The model id the provider reports answering with.
    fn model(&self) -> Option<&str>;
}

/// A whole, non-streamed chat answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The answer's text.
    pub content: String,
    /// The calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    pub usage: Usage,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// The model id the provider reports.
    pub model: Option<String>,
    /// The cost the provider or gateway reported, in USD.
    pub reported_cost: Option<f64>,
}

/// The error of an answer that should be an event stream and is not (an HTML page, text).
pub fn not_an_event_stream(provider_name: &str, provider_id: &str) -> ByokError {
    provider_error(
        provider_name,
        provider_id,
        ErrorCode::NetworkError,
        "the answer is not an event stream",
        &[],
    )
}

/// The error of a stream event that could not be read. The event is never quoted: it is the
/// model's answer, or worse.
pub fn unreadable_event(provider_name: &str, provider_id: &str) -> ByokError {
    provider_error(
        provider_name,
        provider_id,
        ErrorCode::NetworkError,
        "the stream held an event that could not be read",
        &[],
    )
}

/// The error of a stream's error event whose body could not be read.
pub fn unreadable_error_event(provider_name: &str, provider_id: &str) -> ByokError {
    provider_error(
        provider_name,
        provider_id,
        ErrorCode::ProviderUnavailable,
        "the service reported an error in the stream",
        &[],
    )
}

/// The longest provider text put into an error message, in characters: enough for any real
/// explanation, short enough that a hostile body cannot flood a page's error display.
pub const MAX_DETAIL_CHARS: usize = 300;

/// An error about a provider's answer: the message is `"<provider_name>: <detail>"` with the
/// detail redacted of `secrets` (and anything else that looks like a key), made one line and
/// cut to [`MAX_DETAIL_CHARS`]; provider id, status and wait are set.
pub fn http_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    code: ErrorCode,
    detail: &str,
    secrets: &[&str],
) -> ByokError {
    let e = provider_error(provider_name, provider_id, code, detail, secrets).with_status(status);
    match retry_after_ms {
        Some(ms) => e.with_retry_after_ms(ms),
        None => e,
    }
}

/// The error of a non-2xx answer once its code is known: the provider's own `message` (else a
/// generic one naming the status), and the provider's wait kept only where waiting can help.
pub fn status_error(
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    code: ErrorCode,
    message: Option<String>,
    secrets: &[&str],
) -> ByokError {
    // A wait is no cure for an empty account or a refused key.
    let retry_after_ms = retry_after_ms.filter(|_| {
        matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        )
    });
    let detail = message.unwrap_or_else(|| format!("{} (HTTP {status})", generic_detail(code)));
    http_error(
        provider_name,
        provider_id,
        status,
        retry_after_ms,
        code,
        &detail,
        secrets,
    )
}

/// Like [`http_error`], for an error with no HTTP status of its own (one reported inside a
/// stream that began with 200).
pub fn provider_error(
    provider_name: &str,
    provider_id: &str,
    code: ErrorCode,
    detail: &str,
    secrets: &[&str],
) -> ByokError {
    let detail = clean_detail(detail, secrets);
    let message = if provider_name.is_empty() {
        detail
    } else {
        format!("{provider_name}: {detail}")
    };
    let e = ByokError::new(code, message);
    if provider_id.is_empty() {
        e
    } else {
        e.with_provider(provider_id)
    }
}

/// Redacts, folds runs of white space and control characters into one space, and cuts to
/// [`MAX_DETAIL_CHARS`] (an ellipsis included).
fn clean_detail(detail: &str, secrets: &[&str]) -> String {
    // Redact first: cutting first could split a key so that neither half is recognised.
    let redacted = keys::redact(detail.trim(), secrets);
    let mut out = String::with_capacity(redacted.len().min(MAX_DETAIL_CHARS * 4));
    let mut count = 0usize;
    let mut last_space = false;
    let mut chars = redacted.chars().peekable();
    while let Some(c) = chars.next() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if count + 1 == MAX_DETAIL_CHARS && chars.peek().is_some() {
            out.push('…');
            break;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out
}

/// A short account of an error code, for when the provider gave no explanation.
pub(crate) fn generic_detail(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidApiKey => "the API key was refused",
        ErrorCode::RateLimited => "too many requests; try again later",
        ErrorCode::ModelNotFound => "the model was not found for this key",
        ErrorCode::InsufficientQuota => "the account is out of credit or quota",
        ErrorCode::NetworkError => "the request timed out or the connection failed",
        ErrorCode::ProviderUnavailable => "the service is unavailable or overloaded",
        _ => "the request was refused",
    }
}

#[cfg(test)]
mod tests;
