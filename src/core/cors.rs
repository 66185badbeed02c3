//! What to tell the user when the browser blocks a call or cannot reach the provider: which
//! provider, and what they can do about it (catalog data: `corsHint`), instead of something that
//! looks like a wrong key.

use crate::core::base_url;
use crate::core::catalog::Provider;
use crate::core::error::{ByokError, ErrorCode};

/// `CORS_BLOCKED` for a call to `provider` at `url` from a page at `origin`.
pub fn blocked(provider: &Provider, origin: &str, url: &str) -> ByokError {
    let mut message = format!(
        "the browser blocked the call to {}: the server answered, but its CORS rules do not allow \
         this page ({origin}).",
        provider.display_name
    );
    if let Some(hint) = &provider.cors_hint {
        message.push(' ');
        message.push_str(&hint.replace("{origin}", origin));
    }
    if origin.starts_with("https://") && is_loopback_http(url) {
        message.push_str(
            " An https page calling a server on this machine can also be stopped by the browser's \
             local-network protection: allow it in the site settings, or open the page from \
             http://localhost.",
        );
    }
    ByokError::new(ErrorCode::CorsBlocked, message).with_provider(&provider.id)
}

/// `NETWORK_ERROR` for a provider that did not answer at all. `detail` is the shell's own
/// account when it knows more (a cross-origin-isolated page cannot tell blocked from absent).
pub fn unreachable(provider: &Provider, url: &str, detail: &str) -> ByokError {
    if detail.contains("blocked") {
        // A cross-origin-isolated page cannot tell a refusal from an absent server: give the
        // provider's CORS advice too, since a refusal is the likelier case for local servers.
        let mut message = detail.to_owned();
        if let Some(hint) = &provider.cors_hint {
            message.push_str(". If it is running: ");
            message.push_str(&hint.replace("{origin}", "this page's origin"));
        }
        return ByokError::new(ErrorCode::NetworkError, message).with_provider(&provider.id);
    }
    let host = host_of(url);
    let message = if provider.local || is_loopback_http(url) {
        format!(
            "{} could not be reached at {host}: is it running, and on that port?",
            provider.display_name
        )
    } else {
        format!(
            "{} could not be reached at {host} (offline, or the address is wrong)",
            provider.display_name
        )
    };
    ByokError::new(ErrorCode::NetworkError, message).with_provider(&provider.id)
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_owned(),
    };
    base_url::is_loopback(&host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::Catalog;

    #[test]
    fn blocked_names_the_provider_and_the_fix() {
        let c = Catalog::embedded().unwrap();
        let ollama = c.provider("ollama").unwrap();
        let e = blocked(
            ollama,
            "https://chat.example",
            "http://localhost:11434/api/chat",
        );
        assert_eq!(e.code, ErrorCode::CorsBlocked);
        assert_eq!(e.provider.as_deref(), Some("ollama"));
        assert!(e.message.contains("Ollama"), "{}", e.message);
        assert!(
            e.message.contains("OLLAMA_ORIGINS=https://chat.example"),
            "{}",
            e.message
        );
        assert!(e.message.contains("local-network"), "{}", e.message);
        let openai = c.provider("openai").unwrap();
        let e = blocked(
            openai,
            "http://localhost:8080",
            "https://api.openai.com/v1/models",
        );
        assert!(!e.message.contains("local-network"));
        assert!(e.message.contains("OpenAI"));
    }

    #[test]
    fn unreachable_says_where() {
        let c = Catalog::embedded().unwrap();
        let e = unreachable(
            c.provider("lmstudio").unwrap(),
            "http://localhost:1234/v1/models",
            "",
        );
        assert_eq!(e.code, ErrorCode::NetworkError);
        assert!(e.message.contains("localhost:1234") && e.message.contains("running"));
        let e = unreachable(
            c.provider("openai").unwrap(),
            "https://api.openai.com/v1/models",
            "",
        );
        assert!(e.message.contains("api.openai.com") && e.message.contains("offline"));
    }

    #[test]
    fn an_isolated_page_gets_both_readings_and_the_hint() {
        let c = Catalog::embedded().unwrap();
        let e = unreachable(
            c.provider("ollama").unwrap(),
            "http://localhost:11434/api/chat",
            "Ollama could not be reached, or the browser blocked the call",
        );
        assert_eq!(e.code, ErrorCode::NetworkError);
        assert!(
            e.message.contains("OLLAMA_ORIGINS=this page's origin"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("{origin}"));
    }
}
