//! fetch, hardened: no cookies (`credentials: 'omit'`), no referrer, no cache, redirects not
//! followed, the caller's AbortSignal honoured; the body read as a stream, one network read at
//! a time, so the decoder sees whole reads (batch-friendly).

use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::protocol::{HttpRequest, Method};
use gloo_net::http::{RequestBuilder, Response};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, ReadableStreamDefaultReader, ReferrerPolicy, RequestCache, RequestCredentials,
    RequestMode, RequestRedirect, ResponseType,
};

/// An answer whose status line and headers have arrived; the body is not read yet.
pub struct Answer {
    response: Response,
}

impl Answer {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.response.status()
    }

    /// A response header, if the provider exposes it to the page (CORS hides most).
    pub fn header(&self, name: &str) -> Option<String> {
        self.response.headers().get(name)
    }

    /// The whole body as text (for errors and non-streamed answers), at most `limit` bytes.
    pub async fn text(self, limit: usize, signal: Option<&AbortSignal>) -> Result<String> {
        let mut body = self.into_body()?;
        let mut out = Vec::new();
        while let Some(bytes) = body.read(signal).await? {
            if out.len() + bytes.len() > limit {
                body.cancel();
                return Err(ByokError::new(
                    ErrorCode::NetworkError,
                    format!("the provider's answer is larger than {limit} bytes"),
                ));
            }
            out.extend_from_slice(&bytes);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The body as a stream of network reads.
    pub fn into_body(self) -> Result<Body> {
        let stream = self.response.body().ok_or_else(|| {
            ByokError::new(ErrorCode::NetworkError, "the provider's answer has no body")
        })?;
        let reader: ReadableStreamDefaultReader = stream
            .get_reader()
            .dyn_into()
            .map_err(|_| ByokError::new(ErrorCode::NetworkError, "cannot read the answer"))?;
        Ok(Body { reader })
    }
}

/// A response body being read.
pub struct Body {
    reader: ReadableStreamDefaultReader,
}

impl Body {
    /// The next network read, `None` at the end. An abort or a broken connection is an error.
    pub async fn read(&mut self, signal: Option<&AbortSignal>) -> Result<Option<Vec<u8>>> {
        let result = JsFuture::from(self.reader.read())
            .await
            .map_err(|e| read_error(&e, signal))?;
        let done = js_sys::Reflect::get(&result, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(None);
        }
        let value = js_sys::Reflect::get(&result, &"value".into())
            .map_err(|_| ByokError::new(ErrorCode::NetworkError, "unreadable stream data"))?;
        let bytes = value
            .dyn_into::<js_sys::Uint8Array>()
            .map_err(|_| ByokError::new(ErrorCode::NetworkError, "unreadable stream data"))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Stops reading and lets the browser close the connection.
    pub fn cancel(&self) {
        let _ = self.reader.cancel();
    }
}

fn aborted(signal: Option<&AbortSignal>) -> bool {
    signal.is_some_and(AbortSignal::aborted)
}

fn abort_error() -> ByokError {
    ByokError::new(ErrorCode::StreamAborted, "the call was aborted")
}

fn js_error_name(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default()
}

fn read_error(e: &JsValue, signal: Option<&AbortSignal>) -> ByokError {
    if aborted(signal) || js_error_name(e) == "AbortError" {
        abort_error()
    } else {
        ByokError::new(
            ErrorCode::NetworkError,
            "the connection to the provider broke off during the answer",
        )
    }
}

/// Sends a request. `provider_name` is for messages only.
pub async fn send(
    req: &HttpRequest,
    signal: Option<&AbortSignal>,
    provider_name: &str,
) -> Result<Answer> {
    if aborted(signal) {
        return Err(abort_error());
    }
    let mut builder = RequestBuilder::new(&req.url)
        .method(match req.method {
            Method::Get => gloo_net::http::Method::GET,
            Method::Post => gloo_net::http::Method::POST,
        })
        .credentials(RequestCredentials::Omit)
        .referrer_policy(ReferrerPolicy::NoReferrer)
        .cache(RequestCache::NoStore)
        .mode(RequestMode::Cors)
        // A redirect could carry the key's request to another origin: never follow one.
        .redirect(RequestRedirect::Manual)
        .abort_signal(signal);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    let request = match &req.body {
        Some(body) => builder.body(body.as_str()),
        None => builder.build(),
    }
    .map_err(|_| ByokError::invalid_request("the request could not be built"))?;
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Err(send_error(e, signal, &req.url, provider_name).await),
    };
    if response.type_() == ResponseType::Opaqueredirect {
        return Err(ByokError::new(
            ErrorCode::NetworkError,
            format!("{provider_name} answered with a redirect, which byok does not follow"),
        ));
    }
    Ok(Answer { response })
}

async fn send_error(
    e: gloo_net::Error,
    signal: Option<&AbortSignal>,
    url: &str,
    provider_name: &str,
) -> ByokError {
    let name = match &e {
        gloo_net::Error::JsError(j) => j.name.clone(),
        _ => String::new(),
    };
    if aborted(signal) || name == "AbortError" {
        return abort_error();
    }
    // The browser reports a refused CORS check and an unreachable host alike ("Failed to
    // fetch"). A no-cors probe tells them apart: it resolves (opaquely) when the host answered.
    // The caller words the message (it knows the provider and the page's origin).
    if probe_reachable(url).await {
        ByokError::new(
            ErrorCode::CorsBlocked,
            format!("the browser blocked the call to {provider_name}"),
        )
    } else if cross_origin_isolated() {
        // Under COEP the probe itself is refused unless the server sends CORP, so a failed
        // probe proves nothing: say both.
        ByokError::new(
            ErrorCode::NetworkError,
            format!(
                "{provider_name} could not be reached, or the browser blocked the call (this page \
                 is cross-origin isolated, which hides the difference)"
            ),
        )
    } else {
        ByokError::new(
            ErrorCode::NetworkError,
            format!("{provider_name} could not be reached"),
        )
    }
}

fn cross_origin_isolated() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

async fn probe_reachable(url: &str) -> bool {
    // Plain `fetch` with a literal init: no headers, no body, no key, no cookie. (No redirect
    // mode either: fetch refuses a no-cors request whose redirect mode is not `follow`.)
    let global = js_sys::global();
    let Some(fetch) = js_sys::Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return false;
    };
    let init = js_sys::Object::new();
    for (k, v) in [
        ("mode", "no-cors"),
        ("credentials", "omit"),
        ("cache", "no-store"),
        ("referrerPolicy", "no-referrer"),
    ] {
        if js_sys::Reflect::set(&init, &k.into(), &v.into()).is_err() {
            return false;
        }
    }
    let Ok(promise) = fetch.call2(&global, &url.into(), &init) else {
        return false;
    };
    match promise.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await.is_ok(),
        Err(_) => false,
    }
}

/// Waits `ms` milliseconds (a retry backoff); an abort during the wait ends it early.
pub async fn sleep(ms: u64, signal: Option<&AbortSignal>) -> Result<()> {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(f) => {
                let _ = f.call2(&global, &resolve, &JsValue::from_f64(ms as f64));
            }
            None => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
        if let Some(s) = signal {
            // A listener, not `onabort`: the page may have its own handler there.
            let _ = s.add_event_listener_with_callback("abort", &resolve);
        }
    });
    let _ = JsFuture::from(promise).await;
    if aborted(signal) {
        return Err(abort_error());
    }
    Ok(())
}
