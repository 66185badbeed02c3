use super::*;
use crate::core::error::ErrorCode;

fn catalog() -> Catalog {
    Catalog::embedded().expect("embedded catalog parses")
}

#[test]
fn display_form_of_the_api_example() {
    assert_eq!(
        format_key_display("sk-proj-abc123def456"),
        "sk-pr••••••••f456"
    );
    assert_eq!(
        format_key_display("  sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789  "),
        "sk-an••••••••6789"
    );
}

#[test]
fn short_keys_reveal_at_most_a_quarter_per_side() {
    for n in 0..20usize {
        let key: String = "ABCDEFGHIJKLMNOPQRST".chars().take(n).collect();
        let shown = format_key_display(&key);
        let visible = shown.chars().filter(|c| *c != '•').count();
        assert!(visible * 2 <= n, "n={n}: {shown}");
        assert!(shown.contains("••••••••"), "n={n}");
    }
    // Counting is by characters, not bytes: no panic on multi-byte input.
    assert_eq!(
        format_key_display("ééééééééééééééééééééé").chars().count(),
        17
    );
}

#[test]
fn format_table() {
    let c = catalog();
    let cases: &[(&str, &str, bool, &str)] = &[
        (
            "openai",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            true,
            "",
        ),
        (
            "openai",
            "  sk-proj-abcdefghijklmnopqrstuvwxyz012345\n",
            true,
            "",
        ),
        ("openai", "", false, "Paste your OpenAI API key."),
        (
            "openai",
            "pk-abcdefghijklmnopqrstuvwxyz",
            false,
            "start with 'sk-'",
        ),
        ("openai", "sk-abc", false, "too short"),
        ("openai", "sk-abc def ghi jkl mno pqr stu", false, "spaces"),
        (
            "openai",
            "sk-proj-abcdefghijklmnopqrstu\u{2014}xyz",
            false,
            "ASCII",
        ),
        (
            "openai",
            "sk-proj-abcdefghij!klmnopqrstuvwxyz",
            false,
            "may hold only",
        ),
        (
            "openai",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
            false,
            "Anthropic",
        ),
        (
            "anthropic",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
            true,
            "",
        ),
        (
            "anthropic",
            "sk-proj-abcdefghijklmnopqrstuvwxyz",
            false,
            "start with 'sk-ant-'",
        ),
        (
            "google",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            true,
            "",
        ),
        ("google", "AIzaSyA1234567890", false, "exactly 39"),
        ("ollama", "", true, ""),
        // Bedrock: long-term API keys, short-term API keys, and access key credentials.
        ("bedrock", "ABSKQmVkcm9ja0FQSUtleS1zdGFuZGlu", true, ""),
        (
            "bedrock",
            "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbA==",
            true,
            "",
        ),
        (
            "bedrock",
            "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            true,
            "",
        ),
        ("bedrock", "bedrock-key", false, "start with"),
    ];
    for &(provider, key, valid, needle) in cases {
        let r = check_format(&c, provider, key).unwrap();
        assert_eq!(r.valid, valid, "{provider} {key:?}: {r:?}");
        if !valid {
            let msg = r.error.as_deref().unwrap_or("");
            assert!(msg.contains(needle), "{provider} {key:?}: {msg}");
        }
    }
}

#[test]
fn messages_never_quote_the_key() {
    let c = catalog();
    let keys = [
        "sk-abc",
        "sk-proj-SECRETSECRETSECRET!!",
        "sk-ant-api03-SECRETSECRETSECRETSECRETSECRET",
        "AIzaSECRETSECRET",
        "xai-SECRET",
    ];
    for p in c.providers() {
        for key in keys {
            let r = check_format(&c, &p.id, key).unwrap();
            if let Some(msg) = r.error {
                assert!(!msg.contains("SECRET"), "{}: {msg}", p.id);
            }
        }
    }
}

#[test]
fn unknown_provider_is_an_error() {
    let e = check_format(&catalog(), "nope", "sk-x").unwrap_err();
    assert_eq!(e.code, ErrorCode::UnsupportedProvider);
}

#[test]
fn every_example_validates_for_its_provider() {
    let c = catalog();
    for p in c.providers() {
        let r = check_format(&c, &p.id, &p.key_format.example).unwrap();
        assert!(r.valid, "{}: {:?}", p.id, r.error);
    }
}

#[test]
fn redact_removes_the_key_and_its_echoes() {
    let key = "sk-proj-abc123def456ghi789jkl012mno345";
    let body = format!(
        "Incorrect API key provided: {key}. Or partially: abc123def456 and \
         sk-proj-********************o345. See https://platform.openai.com/account/api-keys."
    );
    let out = redact(&body, &[key]);
    assert!(!out.contains("abc123def456"), "{out}");
    assert!(!out.contains("o345"), "{out}");
    assert!(
        out.contains("https://platform.openai.com/account/api-keys"),
        "{out}"
    );
    assert!(
        out.starts_with("Incorrect API key provided: [REDACTED]"),
        "{out}"
    );
}

#[test]
fn redact_catches_keys_it_was_not_told_about() {
    let out = redact(
        "keys AIzaSyA1234567890abcdefghijklmnopqrstu and xai-abcdefghijklmnopqrstu and \
         A1b2C3d4E5f6G7h8I9j0K1l2M3n4 leaked",
        &[],
    );
    assert_eq!(out, "keys [REDACTED] and [REDACTED] and [REDACTED] leaked");
    // Ordinary prose and model ids are left alone.
    let prose = "The model `claude-3-5-sonnet-20241022` does not exist (request 42).";
    assert_eq!(redact(prose, &[]), prose);
}

#[test]
fn redact_is_safe_on_any_text() {
    let key = "ééééééééé-sk";
    let text = "é".repeat(50) + key + "日本語";
    let out = redact(&text, &[key, "", "short"]);
    assert!(!out.contains(key));
    assert_eq!(redact("", &[key]), "");
}
