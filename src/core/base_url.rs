//! Checks a provider base URL before a key is ever sent to it: `https:`, or `http:` on a
//! loopback host only (a local Ollama or LM Studio), no credentials, no query or fragment.
//!
//! Written by hand rather than with the `url` crate: only scheme, authority and path matter
//! here, and `url` (with IDNA tables) would add far more to the wasm module than this check.

use crate::core::error::{ByokError, Result};

/// Longest base URL accepted.
pub const MAX_LEN: usize = 2048;

/// The normalized base URL (no trailing slash), or `INVALID_REQUEST` saying what is wrong.
pub fn check(url: &str) -> Result<String> {
    let bad = |why: &str| ByokError::invalid_request(format!("baseUrl {why}"));
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_LEN {
        return Err(bad(&format!("must be 1 to {MAX_LEN} characters")));
    }
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(bad(
            "may not hold spaces, control characters or backslashes",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must start with https://"))?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split('/').next().unwrap_or("");
    let path = &rest[authority.len()..];
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains('@') {
        return Err(bad("may not carry a user name or password"));
    }
    if path.contains('?') || path.contains('#') {
        return Err(bad("may not carry a query or fragment"));
    }
    let host = host_of(authority).ok_or_else(|| bad("has a malformed host or port"))?;
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(bad(
                "must be https:, or http: on this machine only (localhost, 127.0.0.1, [::1])",
            ))
        }
        _ => return Err(bad("must be https: or http:")),
    }
    Ok(
        format!("{scheme}://{}{}", authority.to_ascii_lowercase(), path)
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// The host of `host[:port]` or `[v6]:port`, lowercased; `None` when the port is not a number.
fn host_of(authority: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        (format!("[{v6}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Whether a host is this machine: `localhost` (and `*.localhost`), 127.0.0.0/8, `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "[::1]" {
        return true;
    }
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts[0] == "127"
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (input, want) in [
            ("https://api.openai.com/v1", "https://api.openai.com/v1"),
            ("https://API.OpenAI.com/v1/", "https://api.openai.com/v1"),
            ("http://localhost:11434", "http://localhost:11434"),
            (
                "http://127.0.0.1:8787/openai/v1",
                "http://127.0.0.1:8787/openai/v1",
            ),
            ("http://127.1.2.3:80", "http://127.1.2.3:80"),
            ("http://[::1]:1234/v1", "http://[::1]:1234/v1"),
            ("HTTPS://example.com:8443/x", "https://example.com:8443/x"),
        ] {
            assert_eq!(check(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn refused() {
        for input in [
            "",
            "api.openai.com/v1",
            "ftp://example.com",
            "javascript:alert(1)",
            "http://example.com/v1",
            "http://192.168.1.10:11434",
            "http://127.0.0.1.evil.com/",
            "http://localhost.evil.com:11434",
            "https://user:pass@example.com/v1",
            "https://example.com/v1?key=x",
            "https://example.com/v1#x",
            "https://exa mple.com",
            "https://example.com:port/v1",
            "https://:443/v1",
            "https:///v1",
            "http://256.0.0.1/",
            "https://example.com\\@evil.com",
        ] {
            assert!(check(input).is_err(), "{input} was accepted");
        }
    }
}
