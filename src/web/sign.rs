//! Request signing before each send: AWS SigV4 for Bedrock with AWS credentials, carried out
//! with WebCrypto (SHA-256 and HMAC-SHA256) on the plan of [`crate::core::sigv4`].
//!
//! Every other request (other providers, Bedrock API keys, which are bearer tokens) passes
//! through untouched and uncopied. A retry is signed afresh, so its `x-amz-date` is current.

use std::borrow::Cow;

use zeroize::Zeroizing;

use crate::core::catalog::Protocol;
use crate::core::error::Result;
use crate::core::protocol::{bedrock, HttpRequest};
use crate::core::sigv4::{self, Credentials, HttpPlan};
use crate::web::client::Target;
use crate::web::crypto;

/// `req` ready to send to `target`: signed with SigV4 when `target` is Bedrock with AWS
/// credentials (the time taken from `Date.now()`), else `req` itself.
///
/// # Errors
///
/// `INVALID_API_KEY` for malformed credentials, `INVALID_REQUEST` for a clock that is not set
/// to a usable date, `ENCRYPTION_FAILED` when WebCrypto refuses.
pub async fn prepare<'a>(req: &'a HttpRequest, target: &Target) -> Result<Cow<'a, HttpRequest>> {
    if target.provider.protocol != Protocol::Bedrock || !bedrock::needs_signing(&target.secret) {
        return Ok(Cow::Borrowed(req));
    }
    let creds =
        Credentials::parse(&target.secret).map_err(|e| e.with_provider(&target.provider.id))?;
    let amz_date = sigv4::amz_date(js_sys::Date::now())?;
    sign(req, &creds, bedrock::region_for_url(&req.url), &amz_date)
        .await
        .map(Cow::Owned)
}

/// Signs `req` with `creds` for `region` at `amz_date` (`20150830T123600Z`).
///
/// # Errors
///
/// `INVALID_REQUEST` for a malformed URL or date, `ENCRYPTION_FAILED` when WebCrypto refuses.
pub async fn sign(
    req: &HttpRequest,
    creds: &Credentials,
    region: &str,
    amz_date: &str,
) -> Result<HttpRequest> {
    let body = req.body.as_deref().unwrap_or("");
    let payload = sigv4::hex(&crypto::sha256(body.as_bytes()).await?);
    let http = HttpPlan::new(
        req,
        creds.session_token(),
        region,
        bedrock::SIGNING_SERVICE,
        amz_date,
        &payload,
    )?;
    let plan = http.plan();
    let canonical = sigv4::hex(&crypto::sha256(plan.canonical_request().as_bytes()).await?);
    let string_to_sign = plan.string_to_sign(&canonical);
    let [date, region, service, terminator] = plan.key_steps();
    // The derived keys are as good as the secret for a day: wiped as soon as they are used.
    let mut key = Zeroizing::new(crypto::hmac_sha256(&creds.key_seed(), date.as_bytes()).await?);
    for step in [region, service, terminator] {
        key = Zeroizing::new(crypto::hmac_sha256(key.as_slice(), step.as_bytes()).await?);
    }
    let signature =
        sigv4::hex(&crypto::hmac_sha256(key.as_slice(), string_to_sign.as_bytes()).await?);
    Ok(http.apply(req, creds.access_key_id(), &signature))
}
