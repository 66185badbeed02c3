//! Calls to a provider: choosing the wire protocol, sending with retries, mapping errors,
//! validating a key, and streaming a chat as batches of chunks.

use crate::core::base_url;
use crate::core::catalog::{Catalog, Provider};
use crate::core::chat::{ChatRequest, Usage, DEFAULT_MAX_WAIT_MS};
use crate::core::collect::ChatResult;
use crate::core::cors;
use crate::core::cost;
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::keys;
use crate::core::protocol::{wire_for, Chunk, Endpoint, HttpRequest, StreamDecoder, Wire};
use crate::core::ratelimit::{Decision, LimitKey, WaitReason};
use crate::core::retry::{self, RetryPolicy};
use crate::core::usage::CallKind;
use crate::web::fetch::{self, Answer, Body};
use crate::web::meter::{CallEnd, CallStart, Meter};
use std::cell::Cell;
use std::rc::Rc;
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

/// Tells the caller that a call waits: a `wait` chunk of a stream, or a vault event.
pub type WaitNotice = Rc<dyn Fn(&Chunk)>;

/// The bookkeeping of one call: the ledger entry it will make, the rate limiter's bucket, and
/// where its waits are told. Every call that goes out is written to the ledger exactly once,
/// by [`Tracker::finish`], however it ends.
pub struct Tracker {
    meter: Meter,
    call: CallStart,
    limit_key: LimitKey,
    /// Tokens the limiter counts for it (input estimate plus the output asked for).
    tokens: u64,
    max_wait_ms: u64,
    retries: Cell<u32>,
    notice: Option<WaitNotice>,
    finished: Cell<bool>,
}

impl Tracker {
    /// Begins the bookkeeping of a call that passed its budget check.
    pub fn new(
        meter: &Meter,
        call: CallStart,
        tokens: u64,
        max_wait_ms: u64,
        notice: Option<WaitNotice>,
    ) -> Tracker {
        Tracker {
            meter: meter.clone(),
            limit_key: LimitKey::new(&call.provider, call.key_id.as_deref()),
            call,
            tokens,
            max_wait_ms,
            retries: Cell::new(0),
            notice,
            finished: Cell::new(false),
        }
    }

    /// Before a call goes out: its budget check (`BUDGET_EXCEEDED`, before the network),
    /// then its bookkeeping. `estimate` is the call's estimated tokens and cost.
    pub async fn begin(
        meter: &Meter,
        call: CallStart,
        estimate: &crate::core::estimate::Estimate,
        max_wait_ms: Option<u64>,
        notice: Option<WaitNotice>,
    ) -> Result<Tracker> {
        meter.check_budget(&call, estimate.cost_femto).await?;
        let tokens = estimate.input_tokens.saturating_add(estimate.output_tokens);
        Ok(Tracker::new(
            meter,
            call,
            tokens,
            max_wait_ms.unwrap_or(DEFAULT_MAX_WAIT_MS),
            notice,
        ))
    }

    fn tell(&self, ms: u64, reason: WaitReason) {
        if let Some(n) = &self.notice {
            n(&Chunk::Wait {
                wait_ms: ms,
                reason,
                message: reason.describe().to_owned(),
            });
        }
    }

    /// Waits until the rate limiter lets the call go, telling the caller; a wait longer than
    /// the caller allows is `RATE_LIMITED` at once.
    async fn admit(&self, signal: Option<&AbortSignal>) -> Result<()> {
        loop {
            match self.meter.acquire(&self.limit_key, self.tokens).await? {
                Decision::Go => return Ok(()),
                Decision::Wait { ms, reason } => {
                    if ms > self.max_wait_ms {
                        let mut e = ByokError::new(
                            ErrorCode::RateLimited,
                            format!(
                                "{}: the call would wait {} s, longer than the {} s allowed (maxWaitMs)",
                                reason.describe(),
                                ms.div_ceil(1000),
                                self.max_wait_ms / 1000
                            ),
                        )
                        .with_provider(&self.call.provider);
                        e.retry_after_ms = Some(ms);
                        return Err(e);
                    }
                    self.tell(ms, reason);
                    fetch::sleep(ms, signal).await?;
                }
            }
        }
    }

    /// Writes the call to the ledger (once; later calls do nothing).
    pub async fn finish(&self, mut end: CallEnd) {
        if self.finished.replace(true) {
            return;
        }
        end.retries = self.retries.get();
        // The answer is the user's whatever happens to the bookkeeping; a failed write
        // (full storage) is not worth failing a call that has happened.
        let _ = self.meter.finish(&self.call, &end).await;
    }

    /// Like [`Tracker::finish`], without waiting: for a stream dropped mid-way.
    fn finish_later(self: &Rc<Self>, end: CallEnd) {
        if self.finished.get() {
            return;
        }
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move { me.finish(end).await });
    }

    /// The ledger's end of a call that failed with `e` (usage as far as known).
    pub fn failure(e: &ByokError) -> CallEnd {
        CallEnd {
            error: Some(e.code),
            ..CallEnd::default()
        }
    }
}

impl Drop for Tracker {
    /// A call that never went out (its request could not be built) gives back its budget
    /// reservation; one that did was written by `finish`, which released it already.
    fn drop(&mut self) {
        self.meter.release(&self.call.id);
    }
}

/// The femto-dollar cost of `usage` at catalog prices, by the model asked for or the one the
/// provider reports; `None` when the catalog has no price.
fn femto_of(
    catalog: &Catalog,
    provider: &str,
    models: &[Option<&str>],
    usage: Usage,
) -> Option<u128> {
    models.iter().flatten().find_map(|m| {
        cost::cost_femto(
            catalog,
            provider,
            m,
            usage.input_tokens,
            usage.output_tokens,
        )
        .ok()
    })
}

/// A cost for the ledger: femto-dollars, 0 when unpriced.
fn ledger_femto(femto: Option<u128>) -> u64 {
    femto.map_or(0, |f| u64::try_from(f).unwrap_or(u64::MAX))
}

/// Sends `req`, reads the whole answer and parses it; a failure at any step is written to the
/// ledger here (a success is written by the caller, which knows its usage).
async fn whole_answer<T>(
    target: &Target,
    wire: &dyn Wire,
    req: &HttpRequest,
    signal: Option<&AbortSignal>,
    track: &Tracker,
    parse: impl FnOnce(&dyn Wire, &str) -> Result<T>,
) -> Result<T> {
    let result = async {
        let answer = send_with_retry(target, wire, req, signal, track).await?;
        let body = answer.text(MAX_BODY_BYTES, signal).await?;
        parse(wire, &body).map_err(|e| e.with_provider(&target.provider.id))
    }
    .await;
    if let Err(e) = &result {
        track.finish(Tracker::failure(e)).await;
    }
    result
}

/// Sends with the retry policy: short Retry-After waits and 5xx before the first byte are
/// retried with backoff; anything else fails at once. Each attempt first passes the rate
/// limiter, and each answer's rate-limit headers feed it.
async fn send_with_retry(
    target: &Target,
    wire: &dyn Wire,
    req: &HttpRequest,
    signal: Option<&AbortSignal>,
    track: &Tracker,
) -> Result<Answer> {
    let policy = RetryPolicy::default();
    let mut attempt = 0u32;
    loop {
        track.admit(signal).await?;
        let req = &crate::web::sign::prepare(req, target).await?;
        let outcome = match fetch::send(req, signal, &target.provider.display_name).await {
            Ok(answer) if (200..300).contains(&answer.status()) => {
                track
                    .meter
                    .observe_headers(&track.limit_key, |h| answer.header(h));
                return Ok(answer);
            }
            Ok(answer) => {
                let status = answer.status();
                track
                    .meter
                    .observe_headers(&track.limit_key, |h| answer.header(h));
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
        if let Some(ms) = outcome.retry_after_ms {
            // Later calls with this key wait it out too, not only this one's retry.
            track.meter.observe_retry_after(&track.limit_key, ms);
        }
        match retry::retry_delay(&policy, attempt, &outcome, false, js_sys::Math::random()) {
            Some(ms) => {
                if outcome.retry_after_ms.is_some() {
                    track.tell(ms, WaitReason::RetryAfter);
                }
                fetch::sleep(ms, signal).await?;
                attempt += 1;
                track.retries.set(attempt);
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
    meter: &Meter,
    key_id: Option<&str>,
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
    let call = meter.start(&target.provider.id, "", key_id, CallKind::Validate)?;
    let track = Tracker::new(meter, call, 0, DEFAULT_MAX_WAIT_MS, None);
    let models = whole_answer(target, wire.as_ref(), &req, signal, &track, |w, b| {
        w.parse_models(b)
    })
    .await?;
    track.finish(CallEnd::default()).await;
    Ok(models)
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
    track: Rc<Tracker>,
}

impl Drop for ChatStream {
    /// A stream let go before its end (the page stopped reading, or closed) is recorded as
    /// aborted, with the tokens counted so far.
    fn drop(&mut self) {
        let end = self.end(Some(ErrorCode::StreamAborted));
        self.track.finish_later(end);
    }
}

/// Starts a chat stream: the request is sent and its status checked; no chunk is read yet.
/// A failure to start is written to the ledger here.
pub async fn start_stream(
    catalog: &Catalog,
    target: Target,
    request: &ChatRequest,
    signal: Option<AbortSignal>,
    track: Tracker,
) -> Result<ChatStream> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.chat_request(&target.endpoint(), request, true)?;
    let decoder = wire.stream_decoder(&target.provider.display_name, &target.endpoint());
    let answer = match send_with_retry(&target, wire.as_ref(), &req, signal.as_ref(), &track)
        .await
        .and_then(Answer::into_body)
    {
        Ok(body) => body,
        Err(e) => {
            track.finish(Tracker::failure(&e)).await;
            return Err(e);
        }
    };
    Ok(ChatStream {
        model: request.model.clone(),
        body: answer,
        decoder,
        signal,
        catalog: catalog.clone(),
        finished: false,
        pending_error: None,
        target,
        track: Rc::new(track),
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
        let mut done = false;
        for chunk in &mut out {
            if let Chunk::Done { usage, cost, .. } = chunk {
                *cost = self.cost_of(*usage);
                self.finished = true;
                done = true;
            }
        }
        if out.is_empty() {
            return Err(self.fail(ByokError::new(
                ErrorCode::NetworkError,
                "the stream ended before it was complete",
            )));
        }
        if done {
            // Written before the last batch is handed over, so a report asked for right
            // after the stream ends already counts it.
            self.track.finish(self.end(None)).await;
        }
        Ok(Some(out))
    }

    /// The ledger's end of this stream, with the tokens counted so far.
    fn end(&self, error: Option<ErrorCode>) -> CallEnd {
        let usage = self.decoder.usage();
        CallEnd {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_femto: ledger_femto(femto_of(
                &self.catalog,
                &self.target.provider.id,
                &[Some(self.model.as_str()), self.decoder.model()],
                usage,
            )),
            reported_cost_usd: self.decoder.reported_cost(),
            error,
            retries: 0,
        }
    }

    fn fail(&mut self, e: ByokError) -> ByokError {
        self.finished = true;
        self.body.cancel();
        let e = e.with_provider(&self.target.provider.id);
        self.track.finish_later(self.end(Some(e.code)));
        e
    }

    /// Stops the stream: the connection is closed at once, and the call is recorded as
    /// aborted.
    pub fn cancel(&mut self) {
        self.finished = true;
        self.body.cancel();
        self.track
            .finish_later(self.end(Some(ErrorCode::StreamAborted)));
    }

    /// Tokens counted so far.
    pub fn usage(&self) -> Usage {
        self.decoder.usage()
    }

    /// The catalog price of `usage`, or `None` when the catalog has no price for the model.
    pub fn cost_of(&self, usage: Usage) -> Option<f64> {
        femto_of(
            &self.catalog,
            &self.target.provider.id,
            &[Some(self.model.as_str()), self.decoder.model()],
            usage,
        )
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
    track: Tracker,
) -> Result<ChatResult> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.chat_request(&target.endpoint(), request, false)?;
    let r = whole_answer(
        &target,
        wire.as_ref(),
        &req,
        signal.as_ref(),
        &track,
        |w, b| w.parse_chat_response(b),
    )
    .await?;
    let femto = femto_of(
        catalog,
        &target.provider.id,
        &[Some(request.model.as_str()), r.model.as_deref()],
        r.usage,
    );
    track
        .finish(CallEnd {
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
            cost_femto: ledger_femto(femto),
            reported_cost_usd: r.reported_cost,
            ..CallEnd::default()
        })
        .await;
    let cost = femto.map(cost::femto_to_usd);
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
    track: Tracker,
) -> Result<crate::core::embed::EmbedResult> {
    let model = catalog.model(&target.provider.id, &request.model).ok();
    let wire = wire_for(&target.provider, model)?;
    let req = wire.embed_request(&target.endpoint(), &request.model, &request.input)?;
    let e = whole_answer(
        &target,
        wire.as_ref(),
        &req,
        signal.as_ref(),
        &track,
        |w, b| w.parse_embeddings(b),
    )
    .await?;
    // Embeddings write nothing: only the input is priced.
    let read = Usage {
        output_tokens: 0,
        ..e.usage
    };
    let femto = femto_of(
        catalog,
        &target.provider.id,
        &[Some(request.model.as_str())],
        read,
    );
    let cost = femto.map(cost::femto_to_usd);
    track
        .finish(CallEnd {
            input_tokens: e.usage.input_tokens,
            cost_femto: ledger_femto(femto),
            ..CallEnd::default()
        })
        .await;
    Ok(crate::core::embed::EmbedResult {
        embeddings: e.embeddings,
        usage: e.usage,
        cost,
        provider: target.provider.id.clone(),
        model: request.model.clone(),
    })
}
