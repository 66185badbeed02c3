//! AWS Signature Version 4, as a plan the caller carries out.
//!
//! Signing needs SHA-256 and HMAC-SHA256. In the browser those come from WebCrypto, which is
//! asynchronous, and this module must stay pure and native-testable; so it does everything but
//! the hashing and hands the caller a [`SigningPlan`] (canonical request, scope, the four key
//! steps, the `Authorization` header) with the hashing steps spelt out:
//!
//! 1. `payload_hash = hex(SHA-256(body))`, then [`HttpPlan::new`] (or [`SigningPlan::new`]);
//! 2. `hex(SHA-256(plan.canonical_request))` → [`SigningPlan::string_to_sign`];
//! 3. `k = HMAC("AWS4" + secret, date)`, then `k = HMAC(k, step)` for the rest of
//!    [`SigningPlan::key_steps`] (region, service, `aws4_request`);
//! 4. `signature = hex(HMAC(k, string_to_sign))` → [`SigningPlan::authorization`] or
//!    [`HttpPlan::apply`].
//!
//! Known answers: the AWS SigV4 test suite and a Bedrock signing vector, checked natively with
//! RustCrypto's `hmac` and `sha2` (see the tests).
//!
//! Decisions worth knowing:
//! - **Paths are encoded once more.** Every service but S3 signs the path URI-encoded again on
//!   top of the encoding it was sent with, after removing `.`/`..` segments and empty segments.
//!   So a Bedrock model id `…-v1:0` travels as `…-v1%3A0` and is signed as `…-v1%253A0`.
//!   [`canonical_uri`] takes the path exactly as it goes on the wire and does both.
//! - **Query strings** are decoded and encoded again strictly (RFC 3986 unreserved characters
//!   only), then sorted by name and value. `+` is taken literally, never as a space.
//! - **Credentials** are pasted as one string, `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`
//!   ([`Credentials::parse`]); no message ever quotes the secret or the token.

use core::fmt;

use zeroize::Zeroizing;

use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::protocol::HttpRequest;

/// The signing algorithm, first word of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// Hex SHA-256 of an empty payload (GET requests).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Longest access key id AWS issues (its API documents 16 to 128).
const MAX_ACCESS_KEY_ID: usize = 128;
/// Longest secret access key accepted (AWS's are 40 characters).
const MAX_SECRET: usize = 256;
/// Longest session token accepted (STS tokens run to about 2 KB).
const MAX_TOKEN: usize = 8192;

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

/// AWS credentials: an access key id, its secret and, for temporary credentials, a session
/// token. `Debug` shows the access key id only.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish()
    }
}

fn bad_key(why: &str) -> ByokError {
    ByokError::new(
        ErrorCode::InvalidApiKey,
        format!(
            "AWS credentials are pasted as ACCESS_KEY_ID:SECRET_ACCESS_KEY (or \
             ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN for temporary ones): {why}"
        ),
    )
}

/// Visible ASCII (no space, no control character): what AWS secrets and tokens are made of.
fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

impl Credentials {
    /// Reads `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` (surrounding white space
    /// ignored).
    ///
    /// # Errors
    ///
    /// `INVALID_API_KEY` saying which part is wrong, never quoting the secret or the token:
    /// not two or three parts, an access key id that is not 16 to 128 letters and digits, an
    /// empty or non-ASCII secret or token, temporary (`ASIA…`) credentials without their token.
    pub fn parse(text: &str) -> Result<Credentials> {
        let text = text.trim();
        let mut parts = text.split(':');
        let id = parts.next().unwrap_or("");
        let secret = parts.next();
        let token = parts.next();
        if parts.next().is_some() {
            return Err(bad_key("there are more than three ':'-separated parts"));
        }
        let Some(secret) = secret else {
            return Err(bad_key(
                "the ':' between the access key id and the secret is missing",
            ));
        };
        if id.len() < 16 || id.len() > MAX_ACCESS_KEY_ID {
            return Err(bad_key(&format!(
                "the access key id (before the first ':') must be 16 to \
                 {MAX_ACCESS_KEY_ID} characters, this one has {}",
                id.len()
            )));
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad_key(
                "the access key id (before the first ':') may hold only letters and digits",
            ));
        }
        if secret.is_empty() {
            return Err(bad_key(
                "the secret access key (after the first ':') is empty",
            ));
        }
        if secret.len() > MAX_SECRET || !is_visible_ascii(secret) {
            return Err(bad_key(&format!(
                "the secret access key (after the first ':') must be at most {MAX_SECRET} \
                 visible ASCII characters without spaces"
            )));
        }
        let session_token = match token {
            None => None,
            Some("") => return Err(bad_key("the session token (after the second ':') is empty")),
            Some(t) if t.len() > MAX_TOKEN || !is_visible_ascii(t) => {
                return Err(bad_key(&format!(
                    "the session token (after the second ':') must be at most {MAX_TOKEN} \
                     visible ASCII characters without spaces"
                )))
            }
            Some(t) => Some(Zeroizing::new(t.to_owned())),
        };
        // STS hands out ASIA… ids; without the token AWS refuses them with a vaguer message.
        if id.starts_with("ASIA") && session_token.is_none() {
            return Err(bad_key(
                "temporary credentials (ASIA…) need their session token after a second ':'",
            ));
        }
        Ok(Credentials {
            access_key_id: id.to_owned(),
            secret_access_key: Zeroizing::new(secret.to_owned()),
            session_token,
        })
    }

    /// The access key id (not a secret: it is sent in every `Authorization` header).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The session token of temporary credentials.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_ref().map(|t| t.as_str())
    }

    /// The key of the first HMAC step: `"AWS4"` followed by the secret access key.
    pub fn key_seed(&self) -> Zeroizing<Vec<u8>> {
        let mut seed = Zeroizing::new(Vec::with_capacity(4 + self.secret_access_key.len()));
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(self.secret_access_key.as_bytes());
        seed
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte of `bytes` but RFC 3986's unreserved characters (and `/` when
/// `keep_slash`), with upper-case hex, as SigV4 requires.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// The canonical URI of a path as it goes on the wire: `.` and `..` segments and empty
/// segments removed (a trailing `/` kept), then every byte URI-encoded once more, so `%3A`
/// becomes `%253A` (the double encoding of every service but S3).
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/') {
        trailing_slash = false;
        match seg {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.push_str(&uri_encode(seg.as_bytes(), false));
    }
    if segments.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// The canonical query string: each `name=value` pair decoded and encoded again strictly,
/// sorted by name then value, joined with `&`; a name without `=` gets an empty value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(name), false),
                uri_encode(&percent_decode(value), false),
            )
        })
        .collect();
    sort_small(&mut pairs);
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Sorts a short list of pairs by name, then value. An insertion sort: the lists hold a handful
/// of headers or query parameters, and `slice::sort` would add kilobytes of wasm for them.
fn sort_small(v: &mut [(String, String)]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v.get(j - 1) > v.get(j) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// A header value as SigV4 signs it: trimmed, runs of spaces folded into one.
fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.trim().chars() {
        if c == ' ' || c == '\t' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Dates and regions
// ---------------------------------------------------------------------------------------------

/// The `x-amz-date` form (`20150830T123600Z`) of a time in milliseconds since the Unix epoch
/// (what `Date.now()` gives).
///
/// # Errors
///
/// `INVALID_REQUEST` for a time before 1970 or after 9999 (a broken clock).
pub fn amz_date(unix_ms: f64) -> Result<String> {
    // 253402300800 s is 10000-01-01T00:00:00Z.
    if !unix_ms.is_finite() || !(0.0..253_402_300_800_000.0).contains(&unix_ms) {
        return Err(ByokError::invalid_request(
            "this device's clock is not set to a usable date, so the AWS request cannot be signed",
        ));
    }
    // `as` truncates toward zero; the value is in range and not negative.
    let secs = (unix_ms / 1000.0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Ok(format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// exact for the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `label` looks like an AWS region: two letters, one or more words, a number
/// (`us-east-1`, `us-gov-west-1`, `ap-southeast-3`).
fn is_region(label: &str) -> bool {
    let mut parts = label.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((number, words)) = rest.split_last() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The region named in a host (`bedrock-runtime.eu-west-3.amazonaws.com` → `eu-west-3`), the
/// first label that looks like one; `None` for hosts that name none (a proxy, a stand-in).
pub fn region_of_host(host: &str) -> Option<&str> {
    host.split('.').find(|l| is_region(l))
}

/// The parts of a URL that SigV4 needs: the `Host` header value (without a default port, as
/// browsers send it), the path (`/` when empty) and the query (without `?`).
///
/// # Errors
///
/// `INVALID_REQUEST` when the URL has no `scheme://host`.
pub fn split_url(url: &str) -> Result<(String, &str, &str)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| ByokError::invalid_request("the request URL has no scheme"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    let after = rest.get(end..).unwrap_or("");
    if authority.is_empty() {
        return Err(ByokError::invalid_request("the request URL has no host"));
    }
    let after = after.split('#').next().unwrap_or("");
    let (path, query) = after.split_once('?').unwrap_or((after, ""));
    let path = if path.is_empty() { "/" } else { path };
    let mut host = authority.to_ascii_lowercase();
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    if !default_port.is_empty() && host.ends_with(default_port) {
        host.truncate(host.len() - default_port.len());
    }
    Ok((host, path, query))
}

// ---------------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------------

/// What is signed: the request as it will be sent.
#[derive(Clone, Copy, Debug)]
pub struct CanonicalInput<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as it goes on the wire (already percent-encoded where needed).
    pub path: &'a str,
    /// The query string without `?` (empty for none).
    pub query: &'a str,
    /// Every header to sign (`host` and `x-amz-date` included), any case; repeated names are
    /// joined with `,` in order, as AWS does.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lower-case hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// Everything of a signature but the hashing (see the module docs for the steps).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningPlan {
    /// `20150830T123600Z`.
    amz_date: String,
    region: String,
    service: String,
    /// The canonical request; holds the session token when there is one, so it is wiped on
    /// drop and left out of `Debug`.
    canonical_request: Zeroizing<String>,
    /// `host;x-amz-date;…`.
    signed_headers: String,
}

impl fmt::Debug for SigningPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningPlan")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope())
            .field("signed_headers", &self.signed_headers)
            .finish()
    }
}

fn check_scope_part(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.contains(['/', '\n']) || !is_visible_ascii(value) {
        return Err(ByokError::invalid_request(format!(
            "the AWS signing {what} is malformed"
        )));
    }
    Ok(())
}

impl SigningPlan {
    /// The plan for `input`, signed at `amz_date` (`20150830T123600Z`) for `region` and
    /// `service` (the signing name: `bedrock` for both Bedrock endpoints).
    ///
    /// # Errors
    ///
    /// `INVALID_REQUEST` for a malformed date, region, service or payload hash.
    pub fn new(
        input: &CanonicalInput<'_>,
        amz_date: &str,
        region: &str,
        service: &str,
    ) -> Result<SigningPlan> {
        let date_ok = amz_date.len() == 16
            && amz_date.bytes().enumerate().all(|(i, b)| match i {
                8 => b == b'T',
                15 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        if !date_ok {
            return Err(ByokError::invalid_request(
                "the AWS signing date is malformed",
            ));
        }
        check_scope_part("region", region)?;
        check_scope_part("service", service)?;
        if input.payload_sha256.len() != 64
            || !input
                .payload_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ByokError::invalid_request(
                "the payload hash to sign is malformed",
            ));
        }

        let mut headers: Vec<(String, String)> = Vec::with_capacity(input.headers.len());
        for (name, value) in input.headers {
            let name = name.trim().to_ascii_lowercase();
            let value = canonical_header_value(value);
            match headers.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(&value);
                }
                None => headers.push((name, value)),
            }
        }
        sort_small(&mut headers);
        let signed_headers = headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");

        let mut creq = Zeroizing::new(String::with_capacity(256));
        creq.push_str(&input.method.to_ascii_uppercase());
        creq.push('\n');
        creq.push_str(&canonical_uri(input.path));
        creq.push('\n');
        creq.push_str(&canonical_query(input.query));
        creq.push('\n');
        for (name, value) in &headers {
            creq.push_str(name);
            creq.push(':');
            creq.push_str(value);
            creq.push('\n');
        }
        creq.push('\n');
        creq.push_str(&signed_headers);
        creq.push('\n');
        creq.push_str(input.payload_sha256);

        Ok(SigningPlan {
            amz_date: amz_date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            canonical_request: creq,
            signed_headers,
        })
    }

    /// The canonical request, to hash (step 2).
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }

    /// `host;x-amz-date;…`, the names signed.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The signing time, `20150830T123600Z`.
    pub fn amz_date(&self) -> &str {
        &self.amz_date
    }

    /// The credential scope, `20150830/us-east-1/service/aws4_request`.
    pub fn scope(&self) -> String {
        let [date, region, service, terminator] = self.key_steps();
        format!("{date}/{region}/{service}/{terminator}")
    }

    /// The data of the four key-derivation HMACs, in order: the date (under the key
    /// `"AWS4" + secret`, [`Credentials::key_seed`]), then region, service and `aws4_request`,
    /// each under the previous result.
    pub fn key_steps(&self) -> [&str; 4] {
        [
            self.amz_date.get(..8).unwrap_or(""),
            &self.region,
            &self.service,
            TERMINATOR,
        ]
    }

    /// The string to sign, from the hex SHA-256 of [`SigningPlan::canonical_request`].
    pub fn string_to_sign(&self, canonical_request_sha256: &str) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{canonical_request_sha256}",
            self.amz_date,
            self.scope()
        )
    }

    /// The `Authorization` header value for the hex `signature`.
    pub fn authorization(&self, access_key_id: &str, signature: &str) -> String {
        format!(
            "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={signature}",
            self.scope(),
            self.signed_headers
        )
    }
}

/// The plan for an [`HttpRequest`], with the headers signing adds to it.
///
/// Signed: `host` (from the URL, as the browser will send it), every header of the request
/// (`content-type`), `x-amz-content-sha256`, `x-amz-date` and, for temporary credentials,
/// `x-amz-security-token`. The browser adds others (`origin`, `user-agent`, `sec-fetch-*`);
/// they are not signed, which SigV4 allows.
#[derive(Clone, Debug)]
pub struct HttpPlan {
    plan: SigningPlan,
    added: Vec<(String, Zeroizing<String>)>,
}

impl HttpPlan {
    /// Plans the signature of `req`, whose body hashes to `payload_sha256` (hex).
    ///
    /// # Errors
    ///
    /// `INVALID_REQUEST` for a malformed URL, date, region, service or hash.
    pub fn new(
        req: &HttpRequest,
        session_token: Option<&str>,
        region: &str,
        service: &str,
        amz_date: &str,
        payload_sha256: &str,
    ) -> Result<HttpPlan> {
        let (host, path, query) = split_url(&req.url)?;
        let mut added: Vec<(String, Zeroizing<String>)> = vec![
            (
                String::from("x-amz-content-sha256"),
                Zeroizing::new(payload_sha256.to_owned()),
            ),
            (
                String::from("x-amz-date"),
                Zeroizing::new(amz_date.to_owned()),
            ),
        ];
        if let Some(token) = session_token {
            added.push((
                String::from("x-amz-security-token"),
                Zeroizing::new(token.to_owned()),
            ));
        }
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 4);
        headers.push(("host", host.as_str()));
        headers.extend(req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        headers.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let plan = SigningPlan::new(
            &CanonicalInput {
                method: req.method.as_str(),
                path,
                query,
                headers: &headers,
                payload_sha256,
            },
            amz_date,
            region,
            service,
        )?;
        Ok(HttpPlan { plan, added })
    }

    /// The signing plan.
    pub fn plan(&self) -> &SigningPlan {
        &self.plan
    }

    /// `req` with the signing headers and `Authorization` added.
    pub fn apply(&self, req: &HttpRequest, access_key_id: &str, signature: &str) -> HttpRequest {
        let mut out = req.clone();
        out.headers.extend(self.added.iter().cloned());
        out.headers.push((
            String::from("authorization"),
            Zeroizing::new(self.plan.authorization(access_key_id, signature)),
        ));
        out
    }
}

// Native only: the known answers are checked with RustCrypto, a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
