//! Request checking before any network call: limits, roles, clamps, tool and image rules.
//!
//! Prompt text is validated, never escaped: HTML-escaping a prompt corrupts it (the model
//! would read `&lt;`), and the text never reaches a page's DOM through byok.

use crate::core::catalog::Catalog;
use crate::core::chat::{ChatRequest, Content, ContentPart, Role, Settings, ToolChoice};
use crate::core::error::{ByokError, ErrorCode, Result};

/// Most messages in one request.
pub const MAX_MESSAGES: usize = 10_000;
/// Most text in one message, in bytes (a 2M-token context is about 8 MB of text).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most text and inline image data in the whole request, in bytes.
pub const MAX_REQUEST_BYTES: usize = 48 * 1024 * 1024;
/// Most inline data of one image (base64 text), in bytes: 20 MB of image, as OpenAI allows.
pub const MAX_IMAGE_BYTES: usize = 27 * 1024 * 1024;
/// Most tools in one request (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;
/// Most stop sequences.
pub const MAX_STOP: usize = 16;
/// Longest id (model, key id, tool call id).
pub const MAX_ID_LEN: usize = 256;

/// A request that passed the checks, with what was adjusted on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedRequest {
    /// The request with settings clamped.
    pub request: ChatRequest,
    /// What was adjusted, for people (e.g. "temperature 3 clamped to 2").
    pub notes: Vec<String>,
}

/// Checks and normalizes a chat request against the catalog. Unknown models are allowed (the
/// provider decides), but known limits and features are enforced.
pub fn check_request(catalog: &Catalog, request: ChatRequest) -> Result<CheckedRequest> {
    let mut request = request;
    let mut notes = Vec::new();
    let provider = catalog.provider(&request.provider)?;
    check_id("model", &request.model)?;
    if let Some(id) = &request.key_id {
        check_id("keyId", id)?;
    }
    let model = catalog.model(&provider.id, &request.model).ok();

    if request.messages.is_empty() {
        return Err(bad("messages must hold at least one message"));
    }
    if request.messages.len() > MAX_MESSAGES {
        return Err(bad(format!(
            "messages holds {} messages; at most {MAX_MESSAGES} are allowed",
            request.messages.len()
        )));
    }
    let mut total = 0usize;
    for (i, m) in request.messages.iter().enumerate() {
        total = total.saturating_add(check_message(i, m)?);
    }
    if total > MAX_REQUEST_BYTES {
        return Err(bad(format!(
            "the request holds {} MiB of text and images; at most {} MiB are allowed",
            total / (1024 * 1024),
            MAX_REQUEST_BYTES / (1024 * 1024)
        )));
    }

    let images = request.messages.iter().any(|m| m.content.has_image());
    if images {
        let model_refuses = model.is_some_and(|m| !m.vision);
        if !provider.features.vision || model_refuses {
            let who = match model {
                Some(m) if provider.features.vision => m.name.clone(),
                _ => provider.display_name.clone(),
            };
            return Err(bad(format!("{who} does not take images")).with_provider(&provider.id));
        }
    }

    check_tools(
        &request,
        provider.features.function_calling,
        &provider.display_name,
    )
    .map_err(|e| e.with_provider(&provider.id))?;

    let max_out = model.map_or(0, |m| m.max_output_tokens);
    clamp_settings(&mut request.settings, max_out, &mut notes)?;
    Ok(CheckedRequest { request, notes })
}

fn bad(msg: impl Into<String>) -> ByokError {
    ByokError::new(ErrorCode::InvalidRequest, msg)
}

fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(bad(format!("{what} must be 1 to {MAX_ID_LEN} characters")));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(format!(
            "{what} may not hold spaces or control characters"
        )));
    }
    Ok(())
}

/// Checks one message; returns its size in bytes.
fn check_message(i: usize, m: &crate::core::chat::Message) -> Result<usize> {
    let at = |msg: String| bad(format!("messages[{i}]: {msg}"));
    let check_text = |t: &str| -> Result<usize> {
        if t.contains('\0') {
            return Err(at(String::from("text may not hold NUL characters")));
        }
        Ok(t.len())
    };
    let mut text_size = 0usize;
    let mut image_size = 0usize;
    match &m.content {
        Content::Text(t) => text_size += check_text(t)?,
        Content::Parts(parts) => {
            for part in parts {
                match part {
                    ContentPart::Text { text } => text_size += check_text(text)?,
                    ContentPart::Image {
                        data,
                        url,
                        mime_type,
                    } => {
                        if m.role != Role::User {
                            return Err(at(String::from("only user messages may hold images")));
                        }
                        image_size +=
                            check_image(data.as_deref(), url.as_deref(), mime_type.as_deref())
                                .map_err(|e| at(e.message))?;
                    }
                }
            }
        }
    }
    if text_size > MAX_MESSAGE_BYTES {
        return Err(at(format!(
            "text is {} MiB; at most {} MiB are allowed in one message",
            text_size / (1024 * 1024),
            MAX_MESSAGE_BYTES / (1024 * 1024)
        )));
    }
    match m.role {
        Role::Tool => {
            let id = m.tool_call_id.as_deref().unwrap_or("");
            if id.is_empty() {
                return Err(at(String::from(
                    "a tool message needs the toolCallId of the call it answers",
                )));
            }
            check_id("toolCallId", id).map_err(|e| at(e.message))?;
        }
        _ if m.tool_call_id.is_some() => {
            return Err(at(String::from("only tool messages carry a toolCallId")));
        }
        _ => {}
    }
    if !m.tool_calls.is_empty() {
        if m.role != Role::Assistant {
            return Err(at(String::from("only assistant messages carry toolCalls")));
        }
        for c in &m.tool_calls {
            check_id("toolCalls[].id", &c.id).map_err(|e| at(e.message))?;
            check_tool_name(&c.name).map_err(|e| at(e.message))?;
            if serde_json::from_str::<serde_json::Value>(&c.arguments)
                .map(|v| !v.is_object())
                .unwrap_or(true)
            {
                return Err(at(format!(
                    "the arguments of tool call '{}' must be a JSON object text",
                    c.name
                )));
            }
        }
    } else if m.content.is_empty() && m.role != Role::Assistant {
        return Err(at(String::from("content is empty")));
    }
    Ok(text_size + image_size)
}

const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

fn check_image(data: Option<&str>, url: Option<&str>, mime: Option<&str>) -> Result<usize> {
    if let Some(mime) = mime {
        if !IMAGE_TYPES.contains(&mime) {
            return Err(bad(format!(
                "image mimeType must be one of {}",
                IMAGE_TYPES.join(", ")
            )));
        }
    }
    match (data, url) {
        (Some(d), None) => {
            let b64 = d.strip_prefix("data:").map_or(d, |rest| {
                rest.split_once(";base64,").map_or(rest, |(_, b)| b)
            });
            if b64.is_empty() || b64.len() > MAX_IMAGE_BYTES {
                return Err(bad(format!(
                    "image data must be 1 byte to {} MiB of base64",
                    MAX_IMAGE_BYTES / (1024 * 1024)
                )));
            }
            if !b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            {
                return Err(bad("image data must be base64"));
            }
            if mime.is_none() && !d.starts_with("data:") {
                return Err(bad("inline image data needs its mimeType"));
            }
            Ok(b64.len())
        }
        (None, Some(u)) => {
            if !(u.starts_with("https://") || u.starts_with("data:image/")) {
                return Err(bad("an image url must be https: or a data:image/ URL"));
            }
            if u.len() > MAX_IMAGE_BYTES {
                return Err(bad("image url is too long"));
            }
            Ok(u.len())
        }
        _ => Err(bad("an image part needs exactly one of data or url")),
    }
}

fn check_tool_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad(format!(
            "tool name '{}' must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'",
            crate::core::catalog::printable_id(name)
        )));
    }
    Ok(())
}

fn check_tools(request: &ChatRequest, supported: bool, provider_name: &str) -> Result<()> {
    let history_has_tools = request
        .messages
        .iter()
        .any(|m| !m.tool_calls.is_empty() || m.role == Role::Tool);
    if request.tools.is_empty() {
        if matches!(request.tool_choice, Some(ToolChoice::Named { .. })) {
            return Err(bad("toolChoice names a tool but tools is empty"));
        }
        if history_has_tools && !supported {
            return Err(bad(format!("{provider_name} has no function calling")));
        }
        return Ok(());
    }
    if !supported {
        return Err(bad(format!("{provider_name} has no function calling")));
    }
    if request.tools.len() > MAX_TOOLS {
        return Err(bad(format!("at most {MAX_TOOLS} tools are allowed")));
    }
    for (i, t) in request.tools.iter().enumerate() {
        check_tool_name(&t.name)?;
        if request.tools[..i].iter().any(|u| u.name == t.name) {
            return Err(bad(format!("tool '{}' is listed twice", t.name)));
        }
        let is_object_schema = t.parameters.is_object()
            && t.parameters
                .get("type")
                .is_none_or(|ty| ty == &serde_json::Value::from("object"));
        if !is_object_schema {
            return Err(bad(format!(
                "the parameters of tool '{}' must be a JSON Schema of type object",
                t.name
            )));
        }
    }
    if let Some(ToolChoice::Named { name }) = &request.tool_choice {
        if !request.tools.iter().any(|t| &t.name == name) {
            return Err(bad(format!(
                "toolChoice names '{}', which is not in tools",
                crate::core::catalog::printable_id(name)
            )));
        }
    }
    Ok(())
}

fn clamp_settings(s: &mut Settings, model_max_out: u64, notes: &mut Vec<String>) -> Result<()> {
    if let Some(t) = s.temperature {
        if t.is_nan() {
            return Err(bad("settings.temperature must be a number"));
        }
        let c = t.clamp(0.0, 2.0);
        if c != t {
            notes.push(format!("temperature {} clamped to {}", num(t), num(c)));
            s.temperature = Some(c);
        }
    }
    if let Some(p) = s.top_p {
        if p.is_nan() {
            return Err(bad("settings.topP must be a number"));
        }
        let c = p.clamp(0.0, 1.0);
        if c != p {
            notes.push(format!("topP {} clamped to {}", num(p), num(c)));
            s.top_p = Some(c);
        }
    }
    if let Some(m) = s.max_tokens {
        if m.is_nan() || m < 1.0 || m.fract() != 0.0 {
            return Err(bad("settings.maxTokens must be a whole number, 1 or more"));
        }
        if model_max_out > 0 && m > model_max_out as f64 {
            notes.push(format!(
                "maxTokens {} clamped to the model's limit of {model_max_out}",
                num(m)
            ));
            s.max_tokens = Some(model_max_out as f64);
        }
    }
    if let Some(stop) = &s.stop {
        let list = stop.to_vec();
        if list.len() > MAX_STOP {
            return Err(bad(format!(
                "settings.stop holds at most {MAX_STOP} sequences"
            )));
        }
        if list.iter().any(|x| x.is_empty() || x.len() > 1024) {
            return Err(bad("each stop sequence must be 1 to 1024 bytes"));
        }
    }
    Ok(())
}

/// A number for a note, via serde_json's formatter: `{}` on an f64 would pull core's float
/// formatting (over 10 KB of wasm) in for a message.
fn num(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

#[cfg(test)]
mod tests;
