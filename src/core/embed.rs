//! The `embed` request of `shared/API.md`: `{ provider, model, input }` → vectors, usage, cost.

use crate::core::catalog::{Catalog, ModelKind};
use crate::core::chat::Usage;
use crate::core::error::{ByokError, Result};
use serde::{Deserialize, Serialize};

/// Most inputs in one call (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;
/// Most text in one call, in bytes.
pub const MAX_TOTAL_BYTES: usize = 8 * 1024 * 1024;

/// `embed(request)`, decoded from JavaScript.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmbedRequest {
    /// Provider id.
    pub provider: String,
    /// Embedding model id.
    pub model: String,
    /// One text or several; always a list after decoding.
    #[serde(deserialize_with = "one_or_many")]
    pub input: Vec<String>,
    /// Which stored key; default the newest valid key of the provider.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The AbortSignal stays in JavaScript; named so it is not refused as unknown.
    #[serde(default)]
    pub signal: Option<serde::de::IgnoredAny>,
}

/// What `embed` resolves to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedResult {
    /// One vector per input, in input order.
    pub embeddings: Vec<Vec<f64>>,
    /// Tokens read.
    pub usage: Usage,
    /// USD from the catalog, or `null` when it has no price for the model.
    pub cost: Option<f64>,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> core::result::Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> core::result::Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> core::result::Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Checks an embeddings request before any network call: the provider has embeddings, the model
/// (when the catalog knows it) is an embedding model, and the input is within bounds.
pub fn check(catalog: &Catalog, r: &EmbedRequest) -> Result<()> {
    let p = catalog.provider(&r.provider)?;
    if !p.features.embeddings {
        return Err(
            ByokError::invalid_request(format!("{} has no embeddings", p.display_name))
                .with_provider(&p.id),
        );
    }
    if r.model.is_empty() || r.model.len() > 256 || r.model.chars().any(char::is_whitespace) {
        return Err(ByokError::invalid_request(
            "model must be 1 to 256 characters without spaces",
        ));
    }
    if let Ok(m) = catalog.model(&p.id, &r.model) {
        if m.kind != ModelKind::Embedding {
            return Err(ByokError::invalid_request(format!(
                "{} is not an embedding model",
                m.name
            ))
            .with_provider(&p.id));
        }
    }
    if r.input.is_empty() || r.input.len() > MAX_INPUTS {
        return Err(ByokError::invalid_request(format!(
            "input must hold 1 to {MAX_INPUTS} texts"
        )));
    }
    if r.input.iter().any(String::is_empty) {
        return Err(ByokError::invalid_request("input texts may not be empty"));
    }
    let total: usize = r.input.iter().map(String::len).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(ByokError::invalid_request(format!(
            "input holds more than {} MiB of text",
            MAX_TOTAL_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    fn req(json: &str) -> EmbedRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn decodes_one_or_many_and_checks() {
        let c = Catalog::embedded().unwrap();
        let r = req(r#"{"provider":"openai","model":"text-embedding-3-small","input":"hello"}"#);
        assert_eq!(r.input, vec!["hello"]);
        check(&c, &r).unwrap();
        let r = req(r#"{"provider":"openai","model":"text-embedding-3-small","input":["a","b"]}"#);
        assert_eq!(r.input.len(), 2);
        check(&c, &r).unwrap();
        for (json, code) in [
            (
                r#"{"provider":"anthropic","model":"x","input":"a"}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"provider":"openai","model":"gpt-4o","input":"a"}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"provider":"openai","model":"text-embedding-3-small","input":[]}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"provider":"openai","model":"text-embedding-3-small","input":[""]}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"provider":"nope","model":"m","input":"a"}"#,
                ErrorCode::UnsupportedProvider,
            ),
        ] {
            assert_eq!(check(&c, &req(json)).unwrap_err().code, code, "{json}");
        }
        assert!(serde_json::from_str::<EmbedRequest>(
            r#"{"provider":"openai","model":"m","input":5}"#
        )
        .is_err());
    }
}
