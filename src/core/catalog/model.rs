//! The catalog's data types: what `catalog.json` holds and what `listProviders()` returns.
//!
//! Prices are kept as integers, in USD × 10⁻¹⁵ per token ("femto-dollars per token", which is
//! the same number as pico-dollars per 1,000 tokens). Costs are then exact integer sums, and the
//! one division at the end rounds correctly: `calculateCost('openai','gpt-4o',1000,500)` is the
//! double nearest 0.0075, which is what the literal `0.0075` is. Float prices summed token by
//! token would drift (0.0025 + 0.005 ≠ 0.0075 in binary).

use serde::{Deserialize, Serialize};

/// Femto-dollars (USD × 10⁻¹⁵) per token.
pub type FemtoUsdPerToken = u64;

/// How many femto-dollars make a dollar.
pub const FEMTO_PER_USD: f64 = 1e15;

/// Which wire dialect a provider speaks; one module of `core::protocol` per dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// OpenAI chat completions and the many servers that copy it.
    Openai,
    /// Azure OpenAI: OpenAI's bodies behind deployment URLs and the `api-key` header.
    AzureOpenai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini API (generateContent).
    Gemini,
    /// Google Vertex AI (Gemini models behind OAuth).
    Vertex,
    /// Cohere v2 chat.
    Cohere,
    /// Ollama's native API.
    Ollama,
    /// AWS Bedrock Converse.
    Bedrock,
}

/// The characters a key may hold after its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Charset {
    /// `A-Z a-z 0-9`.
    Alnum,
    /// `A-Z a-z 0-9 - _`: most `sk-` style tokens.
    Token,
    /// `0-9 a-f A-F`.
    Hex,
    /// `A-Z a-z 0-9 + / = - _ .`: base64 in either alphabet, and JWT-like tokens.
    Base64,
    /// Any printable ASCII but space: credential strings with separators.
    Printable,
}

impl Charset {
    /// Whether `c` belongs to the set.
    pub fn contains(self, c: char) -> bool {
        match self {
            Charset::Alnum => c.is_ascii_alphanumeric(),
            Charset::Token => c.is_ascii_alphanumeric() || c == '-' || c == '_',
            Charset::Hex => c.is_ascii_hexdigit(),
            Charset::Base64 => {
                c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '.')
            }
            Charset::Printable => c.is_ascii_graphic(),
        }
    }

    /// The same set as a JavaScript regular-expression class.
    pub fn regex_class(self) -> &'static str {
        match self {
            Charset::Alnum => "[A-Za-z0-9]",
            Charset::Token => "[A-Za-z0-9_-]",
            Charset::Hex => "[0-9a-fA-F]",
            Charset::Base64 => "[A-Za-z0-9+/=._-]",
            Charset::Printable => "[!-~]",
        }
    }

    /// A phrase for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Charset::Alnum => "letters and digits",
            Charset::Token => "letters, digits, '-' and '_'",
            Charset::Hex => "hexadecimal digits",
            Charset::Base64 => "base64 characters",
            Charset::Printable => "printable characters without spaces",
        }
    }
}

/// One accepted shape of key: a prefix, then `min..=max` characters of a charset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRule {
    /// What the key starts with, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// What follows the prefix.
    pub charset: Charset,
    /// The least number of characters after the prefix.
    pub min_length: u32,
    /// The most characters after the prefix.
    pub max_length: u32,
}

/// The key format of a provider as `catalog.json` states it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFormatSpec {
    /// A made-up key of the right shape, for placeholders.
    pub example: String,
    /// The accepted shapes; a key is well formed when it matches any of them.
    pub rules: Vec<KeyRule>,
    /// Local servers run without a key: an empty key is then well formed.
    #[serde(default)]
    pub optional: bool,
}

/// What a provider (or a model) can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// Streams answers.
    pub streaming: bool,
    /// Takes `tools` and returns tool calls.
    pub function_calling: bool,
    /// Takes image parts.
    pub vision: bool,
    /// Has an embeddings endpoint.
    pub embeddings: bool,
}

/// What kind of model an entry is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ModelKind {
    /// A chat (text generation) model.
    #[default]
    Chat,
    /// An embedding model.
    Embedding,
}

/// A model as stored: prices as integers (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The id sent to the provider, e.g. `gpt-4o`.
    pub id: String,
    /// A name for people, e.g. `GPT-4o`.
    pub name: String,
    /// Other ids the provider answers with for the same model (dated snapshots).
    pub aliases: Vec<String>,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// Input tokens the model accepts, 0 when unknown.
    pub context_window: u64,
    /// Output tokens it produces at most, 0 when unknown.
    pub max_output_tokens: u64,
    /// Price of one input token.
    pub input_price: FemtoUsdPerToken,
    /// Price of one output token.
    pub output_price: FemtoUsdPerToken,
    /// Takes images.
    pub vision: bool,
    /// Takes tools.
    pub function_calling: bool,
    /// A reasoning model (OpenAI o-series wants `max_completion_tokens`).
    pub reasoning: bool,
}

/// A provider as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// The id of `shared/API.md`, e.g. `openai`.
    pub id: String,
    /// A short name, e.g. `Gemini`.
    pub name: String,
    /// The full name for people, e.g. `Google Gemini API`.
    pub display_name: String,
    /// The wire dialect.
    pub protocol: Protocol,
    /// The default base URL (a key may override it).
    pub base_url: String,
    /// Where a user gets a key.
    pub keys_url: Option<String>,
    /// What to do when the browser blocks a call (CORS); `{origin}` stands for the page's origin.
    pub cors_hint: Option<String>,
    /// A server on the user's own machine, free to call.
    pub local: bool,
    /// Key shapes.
    pub key_format: KeyFormatSpec,
    /// Capabilities.
    pub features: Features,
    /// Known models.
    pub models: Vec<Model>,
}

/// A model as JSON carries it: the shape of `ProviderModel` in `shared/API.md` plus extensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelJson {
    /// See [`Model::id`].
    pub id: String,
    /// See [`Model::name`].
    pub name: String,
    /// See [`Model::context_window`].
    #[serde(default)]
    pub context_window: u64,
    /// See [`Model::max_output_tokens`].
    #[serde(default)]
    pub max_output_tokens: u64,
    /// USD per 1,000 input tokens.
    pub input_cost_per1k: f64,
    /// USD per 1,000 output tokens.
    pub output_cost_per1k: f64,
    /// See [`Model::kind`].
    #[serde(default)]
    pub kind: ModelKind,
    /// See [`Model::aliases`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// See [`Model::vision`].
    #[serde(default)]
    pub vision: bool,
    /// See [`Model::function_calling`].
    #[serde(default)]
    pub function_calling: bool,
    /// See [`Model::reasoning`].
    #[serde(default)]
    pub reasoning: bool,
}

/// A provider as `catalog.json` carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderJson {
    /// See [`Provider::id`].
    pub id: String,
    /// See [`Provider::name`].
    pub name: String,
    /// See [`Provider::display_name`].
    pub display_name: String,
    /// See [`Provider::protocol`].
    pub protocol: Protocol,
    /// See [`Provider::base_url`].
    pub base_url: String,
    /// See [`Provider::keys_url`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_url: Option<String>,
    /// See [`Provider::cors_hint`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_hint: Option<String>,
    /// See [`Provider::local`].
    #[serde(default)]
    pub local: bool,
    /// See [`Provider::key_format`].
    pub key_format: KeyFormatSpec,
    /// See [`Provider::features`].
    pub features: Features,
    /// See [`Provider::models`].
    #[serde(default)]
    pub models: Vec<ModelJson>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogJson {
    /// The format version; only 1 exists.
    pub version: u32,
    /// When the prices were last checked (ISO date).
    #[serde(default)]
    pub updated: String,
    /// The providers.
    pub providers: Vec<ProviderJson>,
}
