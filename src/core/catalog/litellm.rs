//! Import of LiteLLM's `model_prices_and_context_window.json`, so a page can ship newer prices
//! without a new build. Its entries are keyed by model name, with per-token USD prices and a
//! `litellm_provider`; only chat and embedding entries of providers byok speaks are taken.

use super::convert::price_from_per_1k;
use super::{Catalog, Model, ModelKind, UpdateSummary};
use crate::core::error::{ByokError, Result};
use serde_json::Value;

/// LiteLLM provider name → (byok provider id, routing prefixes LiteLLM puts before model ids).
const PROVIDERS: &[(&str, &str, &[&str])] = &[
    ("openai", "openai", &["openai/"]),
    ("anthropic", "anthropic", &["anthropic/"]),
    ("gemini", "google", &["gemini/"]),
    ("vertex_ai-language-models", "vertex", &["vertex_ai/"]),
    ("xai", "xai", &["xai/"]),
    ("mistral", "mistral", &["mistral/"]),
    ("cohere", "cohere", &["cohere/"]),
    ("cohere_chat", "cohere", &["cohere_chat/", "cohere/"]),
    ("azure", "azure", &["azure/"]),
    ("bedrock", "bedrock", &["bedrock/"]),
    (
        "bedrock_converse",
        "bedrock",
        &["bedrock/", "bedrock_converse/"],
    ),
    ("ollama", "ollama", &["ollama/", "ollama_chat/"]),
    ("groq", "groq", &["groq/"]),
    ("deepseek", "deepseek", &["deepseek/"]),
    ("openrouter", "openrouter", &["openrouter/"]),
    ("together_ai", "together", &["together_ai/"]),
    ("huggingface", "huggingface", &["huggingface/"]),
];

/// Merges every usable entry of a LiteLLM table into `catalog`.
pub fn merge_into(catalog: &mut Catalog, doc: &Value) -> Result<UpdateSummary> {
    let entries = doc.as_object().ok_or_else(|| {
        ByokError::invalid_request(
            "catalog update must be a JSON object: byok's format or LiteLLM's model table",
        )
    })?;
    let mut summary = UpdateSummary::default();
    for (key, entry) in entries {
        match entry_to_model(key, entry)? {
            Some((provider_id, model)) => {
                match catalog.providers.iter_mut().find(|p| p.id == provider_id) {
                    Some(provider) => {
                        let merged = match provider
                            .models
                            .iter()
                            .find(|m| m.id == model.id || m.aliases.contains(&model.id))
                        {
                            Some(old) => Model {
                                id: old.id.clone(),
                                name: old.name.clone(),
                                aliases: old.aliases.clone(),
                                reasoning: old.reasoning || model.reasoning,
                                vision: entry_flag(entry, "supports_vision").unwrap_or(old.vision),
                                function_calling: entry_flag(entry, "supports_function_calling")
                                    .unwrap_or(old.function_calling),
                                context_window: nonzero_or(
                                    model.context_window,
                                    old.context_window,
                                ),
                                max_output_tokens: nonzero_or(
                                    model.max_output_tokens,
                                    old.max_output_tokens,
                                ),
                                ..model
                            },
                            None => model,
                        };
                        provider.upsert_model(merged, &mut summary);
                    }
                    None => summary.skipped += 1,
                }
            }
            None => summary.skipped += 1,
        }
    }
    Ok(summary)
}

fn nonzero_or(new: u64, old: u64) -> u64 {
    if new == 0 {
        old
    } else {
        new
    }
}

fn entry_flag(entry: &Value, name: &str) -> Option<bool> {
    entry.get(name).and_then(Value::as_bool)
}

/// One LiteLLM entry → (byok provider id, model), or `None` when byok has no use for it.
/// A price that is present but absurd refuses the whole update: it is a broken table.
fn entry_to_model(key: &str, entry: &Value) -> Result<Option<(&'static str, Model)>> {
    let Some(obj) = entry.as_object() else {
        return Ok(None);
    };
    let Some(litellm_provider) = obj.get("litellm_provider").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(&(_, byok_id, prefixes)) = PROVIDERS.iter().find(|(l, _, _)| *l == litellm_provider)
    else {
        return Ok(None);
    };
    let kind = match obj.get("mode").and_then(Value::as_str).unwrap_or("chat") {
        "chat" => ModelKind::Chat,
        "embedding" => ModelKind::Embedding,
        _ => return Ok(None),
    };
    let per_token = |field: &str| obj.get(field).and_then(Value::as_f64);
    let Some(input) = per_token("input_cost_per_token") else {
        return Ok(None);
    };
    let output = per_token("output_cost_per_token").unwrap_or(0.0);
    let id = prefixes
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key);
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Ok(None);
    }
    let tokens = |field: &str| obj.get(field).and_then(Value::as_u64).unwrap_or(0);
    let what = format!("{byok_id}/{id}");
    Ok(Some((
        byok_id,
        Model {
            id: id.to_owned(),
            name: id.to_owned(),
            aliases: Vec::new(),
            kind,
            context_window: nonzero_or(tokens("max_input_tokens"), tokens("max_tokens")),
            max_output_tokens: tokens("max_output_tokens"),
            input_price: price_from_per_1k(&what, input * 1000.0)?,
            output_price: price_from_per_1k(&what, output * 1000.0)?,
            vision: entry_flag(entry, "supports_vision").unwrap_or(false),
            function_calling: entry_flag(entry, "supports_function_calling").unwrap_or(false),
            reasoning: entry_flag(entry, "supports_reasoning").unwrap_or(false),
        },
    )))
}
