//! Calls to a provider: choosing the wire protocol, sending with retries, mapping errors,
//! validating a key, and streaming a chat as batches of chunks.

use crate::core::base_url;
use crate::core::catalog::{Catalog, Provider};
use crate::core::chat::{ChatRequest, Usage};
use crate::core::collect::ChatResult;
use crate::core::cors;
use crate::core::cost;
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::keys;
use crate::core::protocol::{wire_for, Chunk, Endpoint, HttpRequest, StreamDecoder, Wire};
use crate::core::retry::{self, RetryPolicy};
use crate::web::fetch::{self, Answer, Body};
use web_sys::AbortSignal;
use zeroize::Zeroizing;

/// Most bytes of an error body or a non-streamed answer read into memory.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes of an error body kept for the message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Where and how one call goes: provider, base URL and key.
pub struct Target {
    /// The provider, from the catalog.
    pub provider: Provider,
    /// The checked base URL, without trailing slash.
    pub base_url: String,
    /// The key, wiped on drop.
    pub secret: Zeroizing<String>,
}

impl Target {
    /// A target from a catalog provider, an optional custom base URL and a key.
    pub fn new(
        catalog: &Catalog,
        provider: &str,
        base_url_override: Option<&str>,
        secret: Zeroizing<String>,
    ) -> Result<Target> {
        let provider = catalog.provider(provider)?.clone();
        let base_url = resolve_base_url(&provider, base_url_override)?;
        Ok(Target {
            provider,
            base_url,
            secret,
        })
    }

    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            provider: &self.provider.id,
            base_url: &self.base_url,
            secret: self.secret.as_str(),
        }
    }
}

/// The base URL to use: a custom one (checked: https, or http on loopback), else the catalog's
/// default, which must not be a template (Azure and Vertex need the user's own).
pub fn resolve_base_url(provider: &Provider, custom: Option<&str>) -> Result<String> {
    match custom.filter(|u| !u.trim().is_empty()) {
        Some(u) => base_url::check(u),
        None if provider.base_url.contains('{') => Err(ByokError::invalid_request(format!(
            "{} needs your own baseUrl ({})",
            provider.display_name, provider.base_url
        ))),
        None => base_url::check(&provider.base_url),
    }
}

/// The origin of the page (or worker) byok runs in, for messages.
fn page_origin() -> String {
    js_sys::Reflect::get(&js_sys::global(), &"location".into())
        .ok()
        .and_then(|l| js_sys::Reflect::get(&l, &"origin".into()).ok())
        .and_then(|o| o.as_string())
        .unwrap_or_else(|| String::from("this page"))
}

/// Sends with the retry policy: short Retry-After waits and 5xx before the first byte are
/// retried with backoff; anything else fails at once.
async fn send_with_retry(
    target: &Target,
    wire: &dyn Wire,
    req: &HttpRequest,
    signal: Option<&AbortSignal>,
) -> Result<Answer> {
    let policy = RetryPolicy::default();
    let mut attempt = 0u32;
    loop {
        let req = &crate::web::sign::prepare(req, target).await?;
        let outcome = match fetch::send(req, signal, &target.provider.display_name).await {
            Ok(answer) if (200..300).contains(&answer.status()) => return Ok(answer),
            Ok(answer) => {
                let status = answer.status();
                let wait =
                    retry::retry_after_from_headers(|h| answer.header(h), js_sys::Date::now());
                let body = answer
                    .text(MAX_ERROR_BODY_BYTES, signal)
                    .await
                    .unwrap_or_default();
                wire.map_error(
                    &target.provider.display_name,
                    &target.provider.id,
                    status,
                    wait,
                    &body,
                    &[target.secret.as_str()],
                )
            }
            Err(e) => match e.code {
                ErrorCode::CorsBlocked => cors::blocked(&target.provider, &page_origin(), &req.url),
                ErrorCode::NetworkError => {
                    cors::unreachable(&target.provider, &req.url, &e.message)
                }
                _ => e.with_provider(&target.provider.id),
            },
        };
        match retry::retry_delay(&policy, attempt, &outcome, false, js_sys::Math::random()) {
            Some(ms) => {
                fetch::sleep(ms, signal).await?;
                attempt += 1;
            }
            None => return Err(outcome),
        }
    }
}

/// Proves a key with the cheapest call (the models list) and returns the model ids it sees.
/// A malformed key fails before any network call.
pub async fn validate(
    catalog: &Catalog,
    target: &Target,
    signal: Option<&AbortSignal>,
) -> Result<Vec<String>> {
    let check = keys::check_format(catalog, &target.provider.id, &target.secret)?;
    if !check.valid {
        return Err(ByokError::new(
            ErrorCode::InvalidApiKey,
            check.error.unwrap_or_else(|| String::from("malformed key")),
        )
        .with_provider(&target.provider.id));
    }
    let wire = wire_for(&target.provider, None)?;
    let req = wire.models_request(&target.endpoint())?;
    let answer = send_with_retry(target, wire.as_ref(), &req, signal).await?;
    let body = answer.text(MAX_BODY_BYTES, signal).await?;
    wire.parse_models(&body)
        .map_err(|e| e.with_provider(&target.provider.id))
}

/// A chat being streamed: batches of chunks, one batch per network read.
pub struct ChatStream {
    target: Target,
    model: String,
    body: Body,
    decoder: Box<dyn StreamDecoder>,
    signal: Option<AbortSignal>,
    catalog: Catalog,
    finished: bool,
    pending_error: Option<ByokError>,
}

/// Starts a chat stream: the request is sent and its status checked; no chunk is read yet.
pub async fn start_stream(
    catalog: &Catalog,
    target: Target,
    request: &ChatRequest,
    signal: Option<AbortSignal>,
) -> Result<ChatStream> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.chat_request(&target.endpoint(), request, true)?;
    let decoder = wire.stream_decoder(&target.provider.display_name, &target.endpoint());
    let answer = send_with_retry(&target, wire.as_ref(), &req, signal.as_ref()).await?;
    Ok(ChatStream {
        model: request.model.clone(),
        body: answer.into_body()?,
        decoder,
        signal,
        catalog: catalog.clone(),
        finished: false,
        pending_error: None,
        target,
    })
}

impl ChatStream {
    /// The next batch of chunks (never empty), or `None` after the `done` chunk. A stream
    /// that breaks off, is aborted or carries an error fails; [`ChatStream::usage`] still
    /// tells what was counted so far.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Chunk>>> {
        // An error decoded in the same read as some chunks comes after them, on the next call:
        // the page sees the text that arrived before the stream broke.
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if self.finished {
            return Ok(None);
        }
        let mut out = Vec::new();
        while out.is_empty() {
            let read = match self.body.read(self.signal.as_ref()).await {
                Ok(r) => r,
                Err(e) => return Err(self.fail(e)),
            };
            let step = match &read {
                Some(bytes) => self.decoder.feed(bytes, &mut out),
                None => self.decoder.finish(&mut out),
            };
            if let Err(e) = step {
                let e = self.fail(e);
                if out.is_empty() {
                    return Err(e);
                }
                self.pending_error = Some(e);
                break;
            }
            if read.is_none() {
                break;
            }
        }
        for chunk in &mut out {
            if let Chunk::Done { usage, cost, .. } = chunk {
                *cost = self.cost_of(*usage);
                self.finished = true;
            }
        }
        if out.is_empty() {
            return Err(self.fail(ByokError::new(
                ErrorCode::NetworkError,
                "the stream ended before it was complete",
            )));
        }
        Ok(Some(out))
    }

    fn fail(&mut self, e: ByokError) -> ByokError {
        self.finished = true;
        self.body.cancel();
        e.with_provider(&self.target.provider.id)
    }

    /// Stops the stream: the connection is closed at once.
    pub fn cancel(&mut self) {
        self.finished = true;
        self.body.cancel();
    }

    /// Tokens counted so far.
    pub fn usage(&self) -> Usage {
        self.decoder.usage()
    }

    /// The catalog price of `usage`, or `None` when the catalog has no price for the model.
    pub fn cost_of(&self, usage: Usage) -> Option<f64> {
        let by = |model: &str| {
            cost::cost_femto(
                &self.catalog,
                &self.target.provider.id,
                model,
                usage.input_tokens,
                usage.output_tokens,
            )
            .ok()
        };
        by(&self.model)
            .or_else(|| self.decoder.model().and_then(by))
            .map(cost::femto_to_usd)
    }

    /// The provider id.
    pub fn provider(&self) -> &str {
        &self.target.provider.id
    }

    /// The model asked for.
    pub fn model(&self) -> &str {
        &self.model
    }
}

/// A non-streamed chat (`sendChat`).
pub async fn send_chat(
    catalog: &Catalog,
    target: Target,
    request: &ChatRequest,
    signal: Option<AbortSignal>,
) -> Result<ChatResult> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.chat_request(&target.endpoint(), request, false)?;
    let answer = send_with_retry(&target, wire.as_ref(), &req, signal.as_ref()).await?;
    let body = answer.text(MAX_BODY_BYTES, signal.as_ref()).await?;
    let r = wire
        .parse_chat_response(&body)
        .map_err(|e| e.with_provider(&target.provider.id))?;
    let price = |m: &str| {
        cost::cost_femto(
            catalog,
            &target.provider.id,
            m,
            r.usage.input_tokens,
            r.usage.output_tokens,
        )
        .ok()
    };
    let cost = price(&request.model)
        .or_else(|| r.model.as_deref().and_then(price))
        .map(cost::femto_to_usd);
    Ok(ChatResult {
        content: r.content,
        tool_calls: r.tool_calls,
        usage: r.usage,
        cost,
        finish_reason: r.finish_reason,
        provider: target.provider.id.clone(),
        model: request.model.clone(),
    })
}

/// `embed`: vectors for `input`, with usage and the catalog cost.
pub async fn embed(
    catalog: &Catalog,
    target: Target,
    request: &crate::core::embed::EmbedRequest,
    signal: Option<AbortSignal>,
) -> Result<crate::core::embed::EmbedResult> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.embed_request(&target.endpoint(), &request.model, &request.input)?;
    let answer = send_with_retry(&target, wire.as_ref(), &req, signal.as_ref()).await?;
    let body = answer.text(MAX_BODY_BYTES, signal.as_ref()).await?;
    let e = wire
        .parse_embeddings(&body)
        .map_err(|e| e.with_provider(&target.provider.id))?;
    let cost = cost::cost_femto(
        catalog,
        &target.provider.id,
        &request.model,
        e.usage.input_tokens,
        0,
    )
    .ok()
    .map(cost::femto_to_usd);
    Ok(crate::core::embed::EmbedResult {
        embeddings: e.embeddings,
        usage: e.usage,
        cost,
        provider: target.provider.id.clone(),
        model: request.model.clone(),
    })
}
