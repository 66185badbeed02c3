//! Catalog exports: synchronous, offline.

use super::convert::{from_value, to_json_text, to_value};
use super::error::{IntoJs, JsResult};
use super::state::{with_catalog, with_catalog_mut};
use crate::core::catalog::{ProviderConfig, ProviderModel};
use crate::core::chat::ChatRequest;
use crate::core::{cost, keys, sanitize};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Every provider with its key format, features and models.
#[wasm_bindgen(js_name = listProviders, unchecked_return_type = "ProviderConfig[]")]
pub fn list_providers() -> JsResult<JsValue> {
    let list = with_catalog(|c| {
        Ok(c.providers()
            .iter()
            .map(ProviderConfig::from)
            .collect::<Vec<_>>())
    })
    .js()?;
    to_value(&list)
}

/// The models of one provider, with prices per 1,000 tokens.
#[wasm_bindgen(js_name = getProviderModels, unchecked_return_type = "ProviderModel[]")]
pub fn get_provider_models(provider: &str) -> JsResult<JsValue> {
    let list = with_catalog(|c| {
        Ok(c.provider(provider)?
            .models
            .iter()
            .map(ProviderModel::from)
            .collect::<Vec<_>>())
    })
    .js()?;
    to_value(&list)
}

/// USD for a call: `calculateCost('openai','gpt-4o',1000,500) === 0.0075`.
#[wasm_bindgen(js_name = calculateCost)]
pub fn calculate_cost(
    provider: &str,
    model: &str,
    input_tokens: f64,
    output_tokens: f64,
) -> JsResult<f64> {
    with_catalog(|c| cost::calculate_cost(c, provider, model, input_tokens, output_tokens)).js()
}

/// USD for people: `formatCost(0.0075) === '$0.0075'`.
#[wasm_bindgen(js_name = formatCost)]
pub fn format_cost(usd: f64) -> JsResult<String> {
    cost::format_cost(usd).js()
}

/// A key for display: `'sk-proj-abc123def456'` → `'sk-pr••••••••f456'`.
#[wasm_bindgen(js_name = formatKeyDisplay)]
pub fn format_key_display(key: &str) -> String {
    keys::format_key_display(key)
}

/// Whether a key has its provider's shape, offline: `{ valid, error? }`.
#[wasm_bindgen(js_name = validateKeyFormat, unchecked_return_type = "KeyFormatResult")]
pub fn validate_key_format(provider: &str, key: &str) -> JsResult<JsValue> {
    let check = with_catalog(|c| keys::check_format(c, provider, key)).js()?;
    to_value(&check)
}

/// Merges newer prices and models: this project's catalog JSON or LiteLLM's
/// `model_prices_and_context_window.json`, as text or as a parsed object.
#[wasm_bindgen(js_name = updateCatalog, unchecked_return_type = "CatalogUpdateSummary")]
pub fn update_catalog(
    #[wasm_bindgen(unchecked_param_type = "string | object")] json: JsValue,
) -> JsResult<JsValue> {
    let text = match json.as_string() {
        Some(s) => s,
        None => to_json_text(&json, "updateCatalog's argument")?,
    };
    let summary = with_catalog_mut(|c| c.merge_json(&text)).js()?;
    to_value(&summary)
}

/// Checks a chat request without sending it: `{ request, notes }`, the request with its
/// settings clamped and `notes` saying what was adjusted; a `BYOKError` when it would be refused.
#[wasm_bindgen(js_name = checkRequest, unchecked_return_type = "CheckedRequest")]
pub fn check_request(
    #[wasm_bindgen(unchecked_param_type = "ChatRequest")] request: JsValue,
) -> JsResult<JsValue> {
    let request: ChatRequest = from_value(&request, "request")?;
    let checked = with_catalog(|c| sanitize::check_request(c, request)).js()?;
    #[derive(Serialize)]
    struct Out<'a> {
        request: &'a ChatRequest,
        notes: &'a [String],
    }
    to_value(&Out {
        request: &checked.request,
        notes: &checked.notes,
    })
}
