//! The offline catalog: providers, models, prices and features.
//!
//! The data lives in `catalog.json`, embedded at build time; [`Catalog::merge_json`] takes a newer
//! table at run time, in this project's format or LiteLLM's (see [`litellm`]).

mod convert;
pub mod litellm;
pub mod model;

pub use convert::{price_to_per_1k, KeyFormatView, ProviderConfig, ProviderModel};
pub use model::*;

use crate::core::error::{ByokError, ErrorCode, Result};

/// The catalog shipped with this build.
const EMBEDDED: &str = include_str!("catalog.json");

/// The most a run-time catalog update may weigh: LiteLLM's whole table is about 1.5 MB.
pub const MAX_UPDATE_BYTES: usize = 16 * 1024 * 1024;

/// All providers and their models, with integer prices.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    providers: Vec<Provider>,
    updated: String,
}

/// What a run-time update changed, for the page to show.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSummary {
    /// Providers that are new.
    pub providers_added: u32,
    /// Models that are new.
    pub models_added: u32,
    /// Models whose data changed.
    pub models_updated: u32,
    /// Entries left out (unknown provider, no price, not a chat or embedding model).
    pub skipped: u32,
}

impl Catalog {
    /// The catalog embedded in this build.
    pub fn embedded() -> Result<Self> {
        Self::from_json(EMBEDDED)
    }

    /// A catalog from this project's JSON format.
    pub fn from_json(json: &str) -> Result<Self> {
        let doc: CatalogJson = parse(json)?;
        let mut providers = Vec::with_capacity(doc.providers.len());
        for p in doc.providers {
            let provider = convert::provider_from_json(p)?;
            if providers.iter().any(|q: &Provider| q.id == provider.id) {
                return Err(ByokError::invalid_request(format!(
                    "catalog lists provider '{}' twice",
                    provider.id
                )));
            }
            providers.push(provider);
        }
        Ok(Catalog {
            providers,
            updated: doc.updated,
        })
    }

    /// Every provider, in catalog order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// When the prices were last checked.
    pub fn updated(&self) -> &str {
        &self.updated
    }

    /// The provider with this id, or `UNSUPPORTED_PROVIDER`.
    pub fn provider(&self, id: &str) -> Result<&Provider> {
        self.providers.iter().find(|p| p.id == id).ok_or_else(|| {
            ByokError::new(
                ErrorCode::UnsupportedProvider,
                format!("unknown provider '{}'", printable_id(id)),
            )
        })
    }

    /// The model of a provider, found by id, by alias, or by its id without a date suffix
    /// (`gpt-4o-2024-08-06` prices as `gpt-4o` when no entry names it), else `MODEL_NOT_FOUND`.
    pub fn model(&self, provider: &str, model: &str) -> Result<&Model> {
        let p = self.provider(provider)?;
        find_model(p, model).ok_or_else(|| {
            ByokError::new(
                ErrorCode::ModelNotFound,
                format!(
                    "the catalog has no model '{}' for {}",
                    printable_id(model),
                    p.display_name
                ),
            )
            .with_provider(&p.id)
        })
    }

    /// Merges a newer table: this project's format (an object with `providers`) or LiteLLM's
    /// `model_prices_and_context_window.json`. Nothing changes when the document is refused.
    pub fn merge_json(&mut self, json: &str) -> Result<UpdateSummary> {
        if json.len() > MAX_UPDATE_BYTES {
            return Err(ByokError::invalid_request(format!(
                "catalog update is larger than {} MiB",
                MAX_UPDATE_BYTES / (1024 * 1024)
            )));
        }
        let value: serde_json::Value = parse(json)?;
        let mut next = self.clone();
        let summary = if value.get("providers").is_some() {
            // Parsed again from the text rather than from `value`: a second set of serde
            // visitors for every catalog type (from_value) would cost kilobytes of wasm.
            let doc: CatalogJson = parse(json)?;
            let mut summary = UpdateSummary::default();
            for p in doc.providers {
                next.merge_provider(convert::provider_from_json(p)?, &mut summary);
            }
            if !doc.updated.is_empty() {
                next.updated = doc.updated;
            }
            summary
        } else {
            litellm::merge_into(&mut next, &value)?
        };
        *self = next;
        Ok(summary)
    }

    fn merge_provider(&mut self, incoming: Provider, summary: &mut UpdateSummary) {
        let Some(existing) = self.providers.iter_mut().find(|p| p.id == incoming.id) else {
            summary.providers_added += 1;
            summary.models_added += u32::try_from(incoming.models.len()).unwrap_or(u32::MAX);
            self.providers.push(incoming);
            return;
        };
        let models = incoming.models;
        *existing = Provider {
            models: core::mem::take(&mut existing.models),
            ..incoming
        };
        for m in models {
            existing.upsert_model(m, summary);
        }
    }
}

impl Provider {
    /// Adds a model or replaces the one with the same id, counting which.
    pub(crate) fn upsert_model(&mut self, model: Model, summary: &mut UpdateSummary) {
        match self.models.iter_mut().find(|m| m.id == model.id) {
            Some(slot) if *slot == model => {}
            Some(slot) => {
                *slot = model;
                summary.models_updated += 1;
            }
            None => {
                self.models.push(model);
                summary.models_added += 1;
            }
        }
    }
}

fn find_model<'a>(p: &'a Provider, id: &str) -> Option<&'a Model> {
    let direct = |id: &str| {
        p.models
            .iter()
            .find(|m| m.id == id || m.aliases.iter().any(|a| a == id))
    };
    direct(id).or_else(|| strip_date_suffix(id).and_then(direct))
}

/// `gpt-4o-2024-08-06` → `gpt-4o`, `claude-3-haiku-20240307` → `claude-3-haiku`: providers answer
/// with dated snapshot ids that price like their undated name.
fn strip_date_suffix(id: &str) -> Option<&str> {
    let (head, tail) = id.rsplit_once('-')?;
    if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) {
        return Some(head);
    }
    // `-YYYY-MM-DD`: three dash-separated numeric parts.
    let mut rest = id;
    for len in [2usize, 2, 4] {
        let (h, t) = rest.rsplit_once('-')?;
        if t.len() != len || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest = h;
    }
    Some(rest)
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(bad_catalog)
}

fn bad_catalog(e: serde_json::Error) -> ByokError {
    // serde_json's message names the field and position, never echoes the input.
    ByokError::invalid_request(format!("catalog JSON refused: {e}"))
}

/// An id from outside, made safe to put into a message: at most 64 characters, no controls.
pub fn printable_id(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
