//! Between the JSON shapes and the stored ones: price conversion and the checks that keep a
//! bad table (from the embedded file or a run-time update) from entering the catalog.

use super::model::*;
use crate::core::error::{ByokError, Result};
use crate::core::keys;

/// The highest price accepted, USD per 1,000 tokens: well above any real model, low enough
/// that a typo (a per-million price given per-thousand) is caught.
const MAX_PRICE_PER_1K: f64 = 1_000.0;

/// USD per 1,000 tokens → femto-dollars per token (USD × 10¹⁵ / 1,000).
pub(crate) fn price_from_per_1k(what: &str, usd_per_1k: f64) -> Result<FemtoUsdPerToken> {
    if !usd_per_1k.is_finite() || !(0.0..=MAX_PRICE_PER_1K).contains(&usd_per_1k) {
        return Err(ByokError::invalid_request(format!(
            "catalog price for {what} must be between 0 and {MAX_PRICE_PER_1K} USD per 1K tokens"
        )));
    }
    // In range, so the product fits u64 (at most 1e15) and the cast cannot saturate.
    Ok((usd_per_1k * 1e12).round() as u64)
}

/// Femto-dollars per token → USD per 1,000 tokens, the unit of `ProviderModel`.
pub fn price_to_per_1k(price: FemtoUsdPerToken) -> f64 {
    price as f64 / 1e12
}

pub(super) fn model_from_json(provider: &str, m: ModelJson) -> Result<Model> {
    check_id("model", &m.id, 256)?;
    let what = format!("{provider}/{}", m.id);
    Ok(Model {
        input_price: price_from_per_1k(&what, m.input_cost_per1k)?,
        output_price: price_from_per_1k(&what, m.output_cost_per1k)?,
        name: if m.name.trim().is_empty() {
            m.id.clone()
        } else {
            m.name
        },
        id: m.id,
        aliases: m.aliases,
        kind: m.kind,
        context_window: m.context_window,
        max_output_tokens: m.max_output_tokens,
        vision: m.vision,
        function_calling: m.function_calling,
        reasoning: m.reasoning,
    })
}

pub(super) fn provider_from_json(p: ProviderJson) -> Result<Provider> {
    check_id("provider", &p.id, 64)?;
    if !p
        .id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ByokError::invalid_request(format!(
            "provider id '{}' may hold only a-z, 0-9 and '-'",
            super::printable_id(&p.id)
        )));
    }
    check_key_format(&p.id, &p.key_format)?;
    let mut models: Vec<Model> = Vec::with_capacity(p.models.len());
    for m in p.models {
        let model = model_from_json(&p.id, m)?;
        if models.iter().any(|x| x.id == model.id) {
            return Err(ByokError::invalid_request(format!(
                "catalog lists model '{}' of {} twice",
                model.id, p.id
            )));
        }
        models.push(model);
    }
    Ok(Provider {
        id: p.id,
        name: p.name,
        display_name: p.display_name,
        protocol: p.protocol,
        base_url: p.base_url,
        keys_url: p.keys_url,
        cors_hint: p.cors_hint,
        local: p.local,
        key_format: p.key_format,
        features: p.features,
        models,
    })
}

fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    if id.is_empty() || id.len() > max || id.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ByokError::invalid_request(format!(
            "catalog {what} id '{}' must be 1 to {max} printable characters without spaces",
            super::printable_id(id)
        )));
    }
    Ok(())
}

fn check_key_format(provider: &str, f: &KeyFormatSpec) -> Result<()> {
    if f.rules.is_empty() {
        return Err(ByokError::invalid_request(format!(
            "provider {provider} has no key rules"
        )));
    }
    if let Some(r) = f.rules.iter().find(|r| r.min_length > r.max_length) {
        return Err(ByokError::invalid_request(format!(
            "provider {provider}: a key rule's minLength {} exceeds its maxLength {}",
            r.min_length, r.max_length
        )));
    }
    if !keys::matches_any_rule(&f.rules, &f.example) {
        return Err(ByokError::invalid_request(format!(
            "provider {provider}: the example key does not match its own rules"
        )));
    }
    Ok(())
}

/// The `ProviderConfig` of `shared/API.md`, with this project's extensions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    /// Provider id.
    pub id: String,
    /// Short name.
    pub name: String,
    /// Full name.
    pub display_name: String,
    /// Default base URL.
    pub base_url: String,
    /// Key shape for the UI.
    pub key_format: KeyFormatView,
    /// Capabilities.
    pub features: Features,
    /// Models with prices per 1,000 tokens.
    pub models: Vec<ProviderModel>,
    /// Extension: the wire dialect.
    pub protocol: Protocol,
    /// Extension: a server on the user's machine.
    pub local: bool,
    /// Extension: where to get a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_url: Option<String>,
}

/// `keyFormat` of `ProviderConfig`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFormatView {
    /// The prefix every accepted key starts with, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A JavaScript regular expression equivalent to the rules.
    pub pattern: String,
    /// A made-up key of the right shape.
    pub example: String,
    /// Extension: the key may be left empty (local servers).
    pub optional: bool,
}

/// The `ProviderModel` of `shared/API.md`, with this project's extensions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderModel {
    /// Model id.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Input tokens accepted.
    pub context_window: u64,
    /// Output tokens at most.
    pub max_output_tokens: u64,
    /// USD per 1,000 input tokens.
    pub input_cost_per1k: f64,
    /// USD per 1,000 output tokens.
    pub output_cost_per1k: f64,
    /// Extension: chat or embedding.
    pub kind: ModelKind,
    /// Extension: takes images.
    pub vision: bool,
    /// Extension: takes tools.
    pub function_calling: bool,
    /// Extension: a reasoning model.
    pub reasoning: bool,
}

impl From<&Model> for ProviderModel {
    fn from(m: &Model) -> Self {
        ProviderModel {
            id: m.id.clone(),
            name: m.name.clone(),
            context_window: m.context_window,
            max_output_tokens: m.max_output_tokens,
            input_cost_per1k: price_to_per_1k(m.input_price),
            output_cost_per1k: price_to_per_1k(m.output_price),
            kind: m.kind,
            vision: m.vision,
            function_calling: m.function_calling,
            reasoning: m.reasoning,
        }
    }
}

impl From<&Provider> for ProviderConfig {
    fn from(p: &Provider) -> Self {
        let prefix = p
            .key_format
            .rules
            .first()
            .and_then(|r| r.prefix.clone())
            .filter(|first| {
                p.key_format
                    .rules
                    .iter()
                    .all(|r| r.prefix.as_deref() == Some(first.as_str()))
            });
        ProviderConfig {
            id: p.id.clone(),
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            base_url: p.base_url.clone(),
            key_format: KeyFormatView {
                prefix,
                pattern: keys::pattern_of(&p.key_format),
                example: p.key_format.example.clone(),
                optional: p.key_format.optional,
            },
            features: p.features,
            models: p.models.iter().map(ProviderModel::from).collect(),
            protocol: p.protocol,
            local: p.local,
            keys_url: p.keys_url.clone(),
        }
    }
}
