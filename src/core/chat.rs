//! The unified chat request of `shared/API.md`, one shape for every provider.
//!
//! These types deserialize straight from the JavaScript request object (camelCase), are checked
//! by [`crate::core::sanitize`], and are translated by each wire protocol.

use serde::{Deserialize, Serialize};

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// One part of a multi-part message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, given inline as base64 (`data`) or by URL.
    #[serde(rename_all = "camelCase")]
    Image {
        /// Base64 of the image bytes (a `data:` URL is accepted too).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        /// An `https:` or `data:` URL of the image.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
    },
}

/// A message's content: a plain string or a list of parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and images.
    Parts(Vec<ContentPart>),
}

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl Content {
    /// The text of the content, parts joined without separator; images left out.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::Image { .. } => None,
                })
                .collect(),
        }
    }

    /// Whether there is neither text nor an image.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(t) => t.is_empty(),
            Content::Parts(parts) => parts.iter().all(|p| match p {
                ContentPart::Text { text } => text.is_empty(),
                ContentPart::Image { .. } => false,
            }),
        }
    }

    /// Whether any part is an image.
    pub fn has_image(&self) -> bool {
        matches!(self, Content::Parts(parts) if parts.iter().any(|p| matches!(p, ContentPart::Image { .. })))
    }
}

/// A call the model made: `arguments` is the complete JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The provider's id for the call, echoed back with the result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    #[serde(default)]
    pub content: Content,
    /// On an assistant message: the tool calls it made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a tool message: which call this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// Stop sequences: one string or several.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// Sampling settings; all optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// 0 to 2; clamped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// At least 1; clamped to the model's output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<f64>,
    /// 0 to 1; clamped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `[A-Za-z0-9_-]{1,64}`.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema object.
    #[serde(default = "empty_object_schema")]
    pub parameters: serde_json::Value,
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({ "type": "object", "properties": {} })
}

/// Whether and which tool the model must call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `'auto' | 'none' | 'required'`.
    Mode(ToolMode),
    /// `{ name }`: that tool.
    Named {
        /// The tool's name.
        name: String,
    },
}

/// The string forms of [`ToolChoice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// The model decides.
    Auto,
    /// No tool.
    None,
    /// Some tool.
    Required,
}

/// How long a call may wait for the rate limiter unless the request says otherwise, ms.
pub const DEFAULT_MAX_WAIT_MS: u64 = 60_000;

/// The request of `streamChat`, `collectStream` and `sendChat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatRequest {
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling settings.
    #[serde(default)]
    pub settings: Settings,
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Which stored key; default the newest valid key of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The longest wait, ms, the caller accepts from the rate limiter (its own limits or the
    /// provider's Retry-After) before the call fails with `RATE_LIMITED`; default
    /// [`DEFAULT_MAX_WAIT_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_ms: Option<u64>,
    /// The AbortSignal lives in JavaScript; it is named here only so that it is not refused
    /// as an unknown field.
    #[serde(default, skip_serializing)]
    pub signal: Option<serde::de::IgnoredAny>,
}

// `#[serde(untagged)]` deserializers buffer the input into serde's `Content` tree and try each
// variant in turn: several kilobytes of wasm each, and errors that say only "did not match any
// variant". These visitors dispatch on the JSON type directly.

struct ContentVisitor;

impl<'de> serde::de::Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a string or an array of content parts")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Text(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content::Text(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Content, E> {
        Ok(Content::default())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut parts = Vec::new();
        while let Some(p) = seq.next_element()? {
            parts.push(p);
        }
        Ok(Content::Parts(parts))
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct StopVisitor;

impl<'de> serde::de::Visitor<'de> for StopVisitor {
    type Value = Stop;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Stop, E> {
        Ok(Stop::One(v.to_owned()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Stop, A::Error> {
        let mut all = Vec::new();
        while let Some(s) = seq.next_element()? {
            all.push(s);
        }
        Ok(Stop::Many(all))
    }
}

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StopVisitor)
    }
}

struct ToolChoiceVisitor;

impl<'de> serde::de::Visitor<'de> for ToolChoiceVisitor {
    type Value = ToolChoice;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("'auto', 'none', 'required' or { name }")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ToolChoice, E> {
        match v {
            "auto" => Ok(ToolChoice::Mode(ToolMode::Auto)),
            "none" => Ok(ToolChoice::Mode(ToolMode::None)),
            "required" => Ok(ToolChoice::Mode(ToolMode::Required)),
            _ => Err(E::unknown_variant(v, &["auto", "none", "required"])),
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ToolChoice, A::Error> {
        let mut name: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "name" {
                return Err(serde::de::Error::unknown_field(&key, &["name"]));
            }
            name = Some(map.next_value()?);
        }
        name.map(|name| ToolChoice::Named { name })
            .ok_or_else(|| serde::de::Error::missing_field("name"))
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ToolChoiceVisitor)
    }
}

/// Why generation stopped, in one vocabulary for every provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished.
    Stop,
    /// The output limit was reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// A safety filter or refusal stopped it.
    ContentFilter,
    /// Anything else the provider said.
    Other,
}

/// Token counts of a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_stop_and_tool_choice_decode_by_json_type() {
        let m: Message = serde_json::from_str(r#"{"role":"user","content":"hi"}"#).unwrap();
        assert_eq!(m.content, Content::Text("hi".into()));
        let m: Message = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","url":"https://x/y.png"}]}"#,
        )
        .unwrap();
        assert!(m.content.has_image());
        assert_eq!(m.content.text(), "a");
        let m: Message = serde_json::from_str(r#"{"role":"assistant","content":null}"#).unwrap();
        assert!(m.content.is_empty());
        assert!(serde_json::from_str::<Message>(r#"{"role":"user","content":5}"#).is_err());

        let s: Settings = serde_json::from_str(r#"{"stop":"END"}"#).unwrap();
        assert_eq!(s.stop.unwrap().to_vec(), vec!["END"]);
        let s: Settings = serde_json::from_str(r#"{"stop":["a","b"]}"#).unwrap();
        assert_eq!(s.stop.unwrap().to_vec(), vec!["a", "b"]);

        for (json, want) in [
            (r#""auto""#, ToolChoice::Mode(ToolMode::Auto)),
            (r#""none""#, ToolChoice::Mode(ToolMode::None)),
            (r#""required""#, ToolChoice::Mode(ToolMode::Required)),
            (r#"{"name":"f"}"#, ToolChoice::Named { name: "f".into() }),
        ] {
            assert_eq!(serde_json::from_str::<ToolChoice>(json).unwrap(), want);
            let back = serde_json::to_string(&want).unwrap();
            assert_eq!(serde_json::from_str::<ToolChoice>(&back).unwrap(), want);
        }
        for bad in [r#""sometimes""#, r#"{}"#, r#"{"name":"f","x":1}"#, "3"] {
            assert!(serde_json::from_str::<ToolChoice>(bad).is_err(), "{bad}");
        }
    }
}
