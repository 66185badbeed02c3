//! `streamChat`, `collectStream` and `sendChat`, at module level (default vault) and on a vault.

use super::convert::{decode, to_value};
use super::error::to_js;
use super::state::with_catalog;
use super::vault::{boxed_promise, default_vault, promise, VaultHandle};
use crate::core::catalog::Catalog;
use crate::core::chat::ChatRequest;
use crate::core::collect::Collector;
use crate::core::embed::{self, EmbedRequest};
use crate::core::error::{ByokError, Result};
use crate::core::estimate;
use crate::core::protocol::Chunk;
use crate::core::sanitize;
use crate::core::usage::CallKind;
use crate::web::client::{self, ChatStream, Target, Tracker, WaitNotice};
use crate::web::vault::Vault;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

#[wasm_bindgen(module = "/js/stream.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeChunkStream)]
    fn make_chunk_stream(handle: ChatStreamHandle, signal: Option<AbortSignal>) -> JsValue;
}

/// Where a request's key comes from.
enum Source {
    Default,
    Vault(Vault),
}

impl Source {
    async fn vault(&self) -> Result<Vault> {
        match self {
            Source::Default => default_vault().await,
            Source::Vault(v) => Ok(v.clone()),
        }
    }
}

/// A request decoded and checked, with its AbortSignal.
struct Prepared {
    request: ChatRequest,
    signal: Option<AbortSignal>,
}

fn prepare(request: &JsValue) -> Result<Prepared> {
    let signal = js_sys::Reflect::get(request, &"signal".into())
        .ok()
        .and_then(|s| s.dyn_into::<AbortSignal>().ok());
    let decoded: ChatRequest = decode(request, "request")?;
    let checked = with_catalog(|c| sanitize::check_request(c, decoded))?;
    Ok(Prepared {
        request: checked.request,
        signal,
    })
}

async fn target_for(source: &Source, request: &ChatRequest) -> Result<(Target, Vault, String)> {
    let vault = source.vault().await?;
    let secret = vault
        .secret_for(&request.provider, request.key_id.as_deref())
        .await?;
    let base = secret.record.base_url.clone();
    let target =
        with_catalog(|c| Target::new(c, &request.provider, base.as_deref(), secret.key.clone()))?;
    Ok((target, vault, secret.record.id.clone()))
}

/// Records the use of a key without holding up the call.
fn mark_used(vault: Vault, record_id: String) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(records) = vault.records().await {
            if let Some(mut r) = records.into_iter().find(|r| r.id == record_id) {
                r.last_used = Some(js_sys::Date::now());
                // A failed metadata write must not fail the call that used the key.
                let _ = vault.update_record(&r).await;
            }
        }
    });
}

/// Tells a wait to the vault's listeners and, for streams, to the page as a `wait` chunk.
fn wait_notice(vault: &Vault, also: Option<js_sys::Function>) -> WaitNotice {
    let vault = vault.clone();
    Rc::new(move |chunk: &Chunk| {
        let Ok(value) = to_value(chunk) else { return };
        vault.emit_with("wait", &value);
        if let Some(f) = &also {
            // The page's callback failing is its own business.
            let _ = f.call1(&JsValue::NULL, &value);
        }
    })
}

/// The budget check and bookkeeping of a chat call.
async fn begin_chat(
    vault: &Vault,
    catalog: &Catalog,
    request: &ChatRequest,
    record_id: &str,
    kind: CallKind,
    notice: WaitNotice,
) -> Result<Tracker> {
    let meter = vault.meter();
    let call = meter.start(&request.provider, &request.model, Some(record_id), kind)?;
    let estimate = estimate::estimate_request(catalog, request);
    Tracker::begin(&meter, call, &estimate, request.max_wait_ms, Some(notice)).await
}

async fn open_stream(
    source: &Source,
    p: &Prepared,
    also: Option<js_sys::Function>,
) -> Result<ChatStream> {
    let (target, vault, record_id) = target_for(source, &p.request).await?;
    let catalog = with_catalog(|c| Ok(c.clone()))?;
    let notice = wait_notice(&vault, also);
    let track = begin_chat(
        &vault,
        &catalog,
        &p.request,
        &record_id,
        CallKind::Stream,
        notice,
    )
    .await?;
    let stream =
        client::start_stream(&catalog, target, &p.request, p.signal.clone(), track).await?;
    mark_used(vault, record_id);
    Ok(stream)
}

enum StreamState {
    NotStarted(Source, JsValue),
    Running(Box<ChatStream>),
    Busy,
    Ended,
}

/// The Rust side of a `streamChat` iterator: `pull()` gives the next batch of chunks.
#[wasm_bindgen]
pub struct ChatStreamHandle {
    state: Rc<RefCell<StreamState>>,
    /// The iterator's `notice(chunk)`: a wait is handed to the page while the pull that
    /// waits is still pending.
    notifier: Rc<RefCell<Option<js_sys::Function>>>,
}

#[wasm_bindgen]
impl ChatStreamHandle {
    /// The next chunks of the stream as an array, or `null` after the `done` chunk.
    #[wasm_bindgen(unchecked_return_type = "Promise<ChatChunk[] | null>")]
    pub fn pull(&self) -> js_sys::Promise {
        let state = self.state.clone();
        let notifier = self.notifier.borrow().clone();
        boxed_promise(Box::pin(async move {
            let current = std::mem::replace(&mut *state.borrow_mut(), StreamState::Busy);
            let mut stream = match current {
                StreamState::NotStarted(source, request) => {
                    match async { open_stream(&source, &prepare(&request)?, notifier).await }.await
                    {
                        Ok(s) => Box::new(s),
                        Err(e) => {
                            *state.borrow_mut() = StreamState::Ended;
                            return Err(to_js(e));
                        }
                    }
                }
                StreamState::Running(s) => s,
                StreamState::Busy => {
                    *state.borrow_mut() = StreamState::Busy;
                    return Err(to_js(ByokError::invalid_request(
                        "a stream is read one chunk at a time: await each next()",
                    )));
                }
                StreamState::Ended => return Ok(JsValue::NULL),
            };
            match stream.next_batch().await {
                Ok(Some(batch)) => {
                    let value = to_value(&batch)?;
                    *state.borrow_mut() = StreamState::Running(stream);
                    Ok(value)
                }
                Ok(None) => {
                    *state.borrow_mut() = StreamState::Ended;
                    Ok(JsValue::NULL)
                }
                Err(e) => {
                    *state.borrow_mut() = StreamState::Ended;
                    Err(to_js(e))
                }
            }
        }))
    }

    /// Called by the iterator with its `notice` function, before the first pull.
    #[wasm_bindgen(js_name = setNotifier)]
    pub fn set_notifier(&self, f: js_sys::Function) {
        *self.notifier.borrow_mut() = Some(f);
    }

    /// Stops the stream; the connection closes at once.
    pub fn cancel(&self) {
        let previous = std::mem::replace(&mut *self.state.borrow_mut(), StreamState::Ended);
        if let StreamState::Running(mut s) = previous {
            s.cancel();
        }
    }
}

fn stream_chat_from(source: Source, request: JsValue) -> JsValue {
    let signal = js_sys::Reflect::get(&request, &"signal".into())
        .ok()
        .and_then(|s| s.dyn_into::<AbortSignal>().ok());
    make_chunk_stream(
        ChatStreamHandle {
            state: Rc::new(RefCell::new(StreamState::NotStarted(source, request))),
            notifier: Rc::new(RefCell::new(None)),
        },
        signal,
    )
}

async fn collect_from(
    source: Source,
    request: JsValue,
    on_chunk: Option<js_sys::Function>,
) -> Result<JsValue> {
    let prepared = prepare(&request)?;
    let mut stream = open_stream(&source, &prepared, on_chunk.clone()).await?;
    let mut collector = Collector::new(stream.provider(), stream.model());
    while let Some(batch) = stream.next_batch().await? {
        for chunk in &batch {
            collector.push(chunk);
            if let Some(f) = &on_chunk {
                let value = to_value(chunk)
                    .map_err(|_| ByokError::invalid_request("cannot encode a chunk"))?;
                // The page's callback failing is its own business; the stream goes on.
                let _ = f.call1(&JsValue::NULL, &value);
            }
        }
    }
    to_value(&collector.finish())
        .map_err(|_| ByokError::invalid_request("cannot encode the result"))
}

async fn send_from(source: Source, request: JsValue) -> Result<JsValue> {
    let p = prepare(&request)?;
    let (target, vault, record_id) = target_for(&source, &p.request).await?;
    let catalog = with_catalog(|c| Ok(c.clone()))?;
    let notice = wait_notice(&vault, None);
    let track = begin_chat(
        &vault,
        &catalog,
        &p.request,
        &record_id,
        CallKind::Chat,
        notice,
    )
    .await?;
    let result = client::send_chat(&catalog, target, &p.request, p.signal, track).await?;
    mark_used(vault, record_id);
    to_value(&result).map_err(|_| ByokError::invalid_request("cannot encode the result"))
}

/// `streamChat(request)`: an async iterable of chunks, using the default vault.
#[wasm_bindgen(js_name = streamChat, unchecked_return_type = "AsyncIterableIterator<ChatChunk>")]
pub fn stream_chat(
    #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
) -> JsValue {
    stream_chat_from(Source::Default, request)
}

/// `collectStream(request, onChunk?)`: streams, calls `onChunk` per chunk, resolves to the result.
#[wasm_bindgen(js_name = collectStream, unchecked_return_type = "Promise<ChatResult>")]
pub fn collect_stream(
    #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "(chunk: ChatChunk) => void")] on_chunk: Option<
        js_sys::Function,
    >,
) -> js_sys::Promise {
    promise(collect_from(Source::Default, request, on_chunk))
}

/// `sendChat(request)`: one non-streamed call.
#[wasm_bindgen(js_name = sendChat, unchecked_return_type = "Promise<ChatResult>")]
pub fn send_chat(
    #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
) -> js_sys::Promise {
    promise(send_from(Source::Default, request))
}

#[wasm_bindgen(js_class = Vault)]
impl VaultHandle {
    /// `vault.streamChat(request)`.
    #[wasm_bindgen(js_name = streamChat, unchecked_return_type = "AsyncIterableIterator<ChatChunk>")]
    pub fn stream_chat(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
    ) -> JsValue {
        stream_chat_from(Source::Vault(self.inner()), request)
    }

    /// `vault.collectStream(request, onChunk?)`.
    #[wasm_bindgen(js_name = collectStream, unchecked_return_type = "Promise<ChatResult>")]
    pub fn collect_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(chunk: ChatChunk) => void")] on_chunk: Option<
            js_sys::Function,
        >,
    ) -> js_sys::Promise {
        promise(collect_from(Source::Vault(self.inner()), request, on_chunk))
    }

    /// `vault.sendChat(request)`.
    #[wasm_bindgen(js_name = sendChat, unchecked_return_type = "Promise<ChatResult>")]
    pub fn send_chat(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
    ) -> js_sys::Promise {
        promise(send_from(Source::Vault(self.inner()), request))
    }
}

async fn embed_from(source: Source, request: JsValue) -> Result<JsValue> {
    let signal = js_sys::Reflect::get(&request, &"signal".into())
        .ok()
        .and_then(|s| s.dyn_into::<AbortSignal>().ok());
    let r: EmbedRequest = decode(&request, "embed request")?;
    with_catalog(|c| embed::check(c, &r))?;
    let vault = source.vault().await?;
    let secret = vault.secret_for(&r.provider, r.key_id.as_deref()).await?;
    let base = secret.record.base_url.clone();
    let record_id = secret.record.id.clone();
    let target =
        with_catalog(|c| Target::new(c, &r.provider, base.as_deref(), secret.key.clone()))?;
    let catalog = with_catalog(|c| Ok(c.clone()))?;
    let meter = vault.meter();
    let call = meter.start(&r.provider, &r.model, Some(&record_id), CallKind::Embed)?;
    let est = estimate::estimate_embed(&catalog, &r.provider, &r.model, &r.input);
    let track = Tracker::begin(&meter, call, &est, None, Some(wait_notice(&vault, None))).await?;
    let result = client::embed(&catalog, target, &r, signal, track).await?;
    mark_used(vault, record_id);
    to_value(&result).map_err(|_| ByokError::invalid_request("cannot encode the result"))
}

/// `embed({ provider, model, input })`: vectors with usage and cost, using the default vault.
#[wasm_bindgen(js_name = embed, unchecked_return_type = "Promise<EmbedResult>")]
pub fn embed_default(
    #[wasm_bindgen(unchecked_param_type = "EmbedRequest")] request: JsValue,
) -> js_sys::Promise {
    promise(embed_from(Source::Default, request))
}

#[wasm_bindgen(js_class = Vault)]
impl VaultHandle {
    /// `vault.embed({ provider, model, input })`.
    #[wasm_bindgen(js_name = embed, unchecked_return_type = "Promise<EmbedResult>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EmbedRequest")] request: JsValue,
    ) -> js_sys::Promise {
        promise(embed_from(Source::Vault(self.inner()), request))
    }
}
