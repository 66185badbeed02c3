//! Key-format rules, masking for display, and redaction of secrets from any text.
//!
//! Nothing here ever puts a key, or a piece of one longer than the masked display form, into an
//! error message.

use crate::core::catalog::{Catalog, KeyFormatSpec, KeyRule, Provider};
use crate::core::error::Result;
use std::collections::HashSet;

/// What `validateKeyFormat` answers: `{ valid, error? }`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FormatCheck {
    /// Whether the key has the provider's shape.
    pub valid: bool,
    /// Why not, for people; never quotes the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FormatCheck {
    fn ok() -> Self {
        FormatCheck {
            valid: true,
            error: None,
        }
    }

    fn bad(msg: impl Into<String>) -> Self {
        FormatCheck {
            valid: false,
            error: Some(msg.into()),
        }
    }
}

/// Whether `key` (already trimmed) matches one of `rules`.
pub fn matches_any_rule(rules: &[KeyRule], key: &str) -> bool {
    rules.iter().any(|r| matches_rule(r, key))
}

fn matches_rule(rule: &KeyRule, key: &str) -> bool {
    let rest = match &rule.prefix {
        Some(p) => match key.strip_prefix(p.as_str()) {
            Some(rest) => rest,
            None => return false,
        },
        None => key,
    };
    let len = rest.chars().count();
    len >= rule.min_length as usize
        && len <= rule.max_length as usize
        && rest.chars().all(|c| rule.charset.contains(c))
}

/// The rules as one JavaScript regular expression (no flags needed), for `keyFormat.pattern`.
pub fn pattern_of(format: &KeyFormatSpec) -> String {
    let alternatives: Vec<String> = format
        .rules
        .iter()
        .map(|r| {
            let mut s = String::new();
            if let Some(p) = &r.prefix {
                for c in p.chars() {
                    // Only the characters that are special outside a class: escaping '-' would be
                    // an error under the `u` flag.
                    if "\\^$.|?*+()[]{}/".contains(c) {
                        s.push('\\');
                    }
                    s.push(c);
                }
            }
            s.push_str(r.charset.regex_class());
            s.push_str(&format!("{{{},{}}}", r.min_length, r.max_length));
            s
        })
        .collect();
    let body = alternatives.join("|");
    if format.optional {
        format!("^(?:{body})?$")
    } else if alternatives.len() == 1 {
        format!("^{body}$")
    } else {
        format!("^(?:{body})$")
    }
}

/// Checks a pasted key against a provider's format, offline. Surrounding whitespace is ignored
/// (vault calls trim it too); the message says what is wrong without quoting the key.
///
/// An unknown provider is an error (`UNSUPPORTED_PROVIDER`), not an invalid key.
pub fn check_format(catalog: &Catalog, provider_id: &str, key: &str) -> Result<FormatCheck> {
    let provider = catalog.provider(provider_id)?;
    Ok(check_against(catalog, provider, key))
}

fn check_against(catalog: &Catalog, provider: &Provider, key: &str) -> FormatCheck {
    let name = provider.display_name.as_str();
    let format = &provider.key_format;
    let key = key.trim();
    if key.is_empty() {
        return if format.optional {
            FormatCheck::ok()
        } else {
            FormatCheck::bad(format!("Paste your {name} API key."))
        };
    }
    if key.chars().any(char::is_whitespace) {
        return FormatCheck::bad("The key contains spaces or line breaks: paste it as one line.");
    }
    if !key.is_ascii() {
        return FormatCheck::bad(
            "The key contains characters that are not plain ASCII (a dash or quote changed by \
             a word processor?).",
        );
    }
    if matches_any_rule(&format.rules, key) {
        // A local server takes any key, so no other provider's prefix can make it wrong.
        if format.optional {
            return FormatCheck::ok();
        }
        return match more_specific_owner(catalog, provider, key) {
            Some(other) => FormatCheck::bad(format!(
                "This looks like {} key, not {} one.",
                with_article(other),
                with_article(name)
            )),
            None => FormatCheck::ok(),
        };
    }
    FormatCheck::bad(explain_mismatch(name, &format.rules, key))
}

/// Another provider whose key prefix is longer than every prefix of ours that the key matched:
/// `sk-ant-…` has OpenAI's shape (`sk-` + token) but is an Anthropic key.
fn more_specific_owner<'a>(catalog: &'a Catalog, ours: &Provider, key: &str) -> Option<&'a str> {
    let our_best = ours
        .key_format
        .rules
        .iter()
        .filter(|r| matches_rule(r, key))
        .map(|r| r.prefix.as_deref().map_or(0, str::len))
        .max()
        .unwrap_or(0);
    catalog
        .providers()
        .iter()
        .filter(|p| p.id != ours.id && !p.key_format.optional)
        .find(|p| {
            p.key_format
                .rules
                .iter()
                .any(|r| r.prefix.as_deref().map_or(0, str::len) > our_best && matches_rule(r, key))
        })
        .map(|p| p.display_name.as_str())
}

fn with_article(name: &str) -> String {
    let vowel = name
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    format!("{} {name}", if vowel { "an" } else { "a" })
}

fn explain_mismatch(name: &str, rules: &[KeyRule], key: &str) -> String {
    let prefixes: Vec<&str> = rules.iter().filter_map(|r| r.prefix.as_deref()).collect();
    let prefixed: Vec<&KeyRule> = rules
        .iter()
        .filter(|r| r.prefix.as_deref().is_none_or(|p| key.starts_with(p)))
        .collect();
    if prefixed.is_empty() {
        let list = quote_list(&prefixes);
        return format!("{name} keys start with {list}.");
    }
    // Explain against the rule whose prefix the key has (the longest, if several).
    let rule = prefixed
        .iter()
        .max_by_key(|r| r.prefix.as_deref().map_or(0, str::len))
        .copied()
        .unwrap_or(&rules[0]);
    let prefix = rule.prefix.as_deref().unwrap_or("");
    let rest = &key[prefix.len()..];
    let after = if prefix.is_empty() {
        String::from("The key")
    } else {
        format!("After '{prefix}' the key")
    };
    if !rest.chars().all(|c| rule.charset.contains(c)) {
        return format!(
            "{after} may hold only {}: check that it was copied whole.",
            rule.charset.describe()
        );
    }
    let total_min = prefix.len() + rule.min_length as usize;
    let total_max = prefix.len() + rule.max_length as usize;
    let len = key.len();
    let expected = if total_min == total_max {
        format!("exactly {total_min} characters")
    } else if len < total_min {
        format!("at least {total_min} characters")
    } else {
        format!("at most {total_max} characters")
    };
    let which = if len < total_min {
        "too short"
    } else {
        "too long"
    };
    format!("The key is {which}: {name} keys have {expected}, this one has {len}.")
}

fn quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match quoted.as_slice() {
        [] => String::from("a known prefix"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// How a key is shown: the first 5 characters, 8 bullets, the last 4
/// (`sk-proj-abc123def456` → `sk-pr••••••••f456`). A key shorter than 20 characters shows
/// less, at most a quarter of it on each side, so a short secret is never mostly revealed.
pub fn format_key_display(key: &str) -> String {
    const BULLETS: &str = "••••••••";
    let chars: Vec<char> = key.trim().chars().collect();
    let n = chars.len();
    let (head, tail) = if n >= 20 { (5, 4) } else { (n / 4, n / 5) };
    let mut out = String::with_capacity(head + tail + BULLETS.len());
    out.extend(&chars[..head]);
    out.push_str(BULLETS);
    out.extend(&chars[n - tail..]);
    out
}

/// The text that stands where a secret was.
pub const REDACTED: &str = "[REDACTED]";

/// Key prefixes that mark a token as a credential wherever it appears.
const SECRET_PREFIXES: &[&str] = &[
    "sk-", "sk_", "AIza", "xai-", "gsk_", "hf_", "ya29.", "AKIA", "ASIA", "ABSK", "tgp_",
];

/// The shortest run of a secret that counts as an echo of it.
const ECHO_WINDOW: usize = 8;

/// Removes secrets from text that came from outside (a provider's error body, a URL): every
/// run of 8 or more bytes of any of `secrets`, and every token that looks like a credential
/// (a known key prefix, or a long mix of letters and digits), masked echoes included.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let bytes = text.as_bytes();
    let mut hidden = vec![false; bytes.len()];
    let windows: HashSet<&[u8]> = secrets
        .iter()
        .filter(|s| s.len() >= ECHO_WINDOW)
        .flat_map(|s| s.as_bytes().windows(ECHO_WINDOW))
        .collect();
    if !windows.is_empty() {
        for (i, w) in bytes.windows(ECHO_WINDOW).enumerate() {
            if windows.contains(w) {
                hidden[i..i + ECHO_WINDOW]
                    .iter_mut()
                    .for_each(|h| *h = true);
            }
        }
    }
    let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*' | b'.');
    let mut i = 0;
    while i < bytes.len() {
        if !is_token(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_token(bytes[i]) {
            i += 1;
        }
        let run = &text[start..i];
        if looks_like_secret(run) {
            hidden[start..i].iter_mut().for_each(|h| *h = true);
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut in_hidden = false;
    for (i, c) in text.char_indices() {
        if hidden[i] {
            if !in_hidden {
                out.push_str(REDACTED);
            }
            in_hidden = true;
        } else {
            in_hidden = false;
            out.push(c);
        }
    }
    out
}

fn looks_like_secret(run: &str) -> bool {
    let run = run.trim_end_matches('.');
    if SECRET_PREFIXES
        .iter()
        .any(|p| run.starts_with(p) && run.len() >= p.len() + 8)
    {
        return true;
    }
    // A long unbroken mix of letters and digits is a key, not a word (hex ids of 32+ too).
    let alnum = run.bytes().filter(u8::is_ascii_alphanumeric).count();
    let digits = run.bytes().filter(u8::is_ascii_digit).count();
    alnum >= 24 && digits >= 2 && digits < alnum && !run.contains('.')
}

#[cfg(test)]
mod tests;
