//! Google's `generateContent` dialect, spoken by the Gemini API and by Vertex AI.
//!
//! Both take the same body (`contents` of `user` and `model` turns made of `parts`,
//! `systemInstruction`, `generationConfig`, `tools`, `toolConfig`) and answer with the same
//! `GenerateContentResponse`; they differ in where a model lives and how the caller proves who
//! it is ([`Gemini`]):
//!
//! | | Gemini API | Vertex AI |
//! | --- | --- | --- |
//! | base URL | `https://generativelanguage.googleapis.com/v1beta` | `https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}` (the user's own) |
//! | model | `{base}/models/{model}` | `{base}/publishers/google/models/{model}` |
//! | key | `x-goog-api-key: AIza…` (never `?key=`: URLs end up in logs and histories) | `authorization: Bearer ya29.…`, a short-lived OAuth access token |
//! | key check | `GET {base}/models?pageSize=1000` (the chat and embedding models) | `POST …/gemini-2.5-flash:countTokens` (free; there is no list of usable models for a token) |
//! | embeddings | `:batchEmbedContents` (reports no token counts: usage is 0) | `:predict` (token counts from `statistics.token_count`) |
//!
//! Decisions worth knowing:
//! - **Tool-call ids.** Gemini's calls have no ids (newer models sometimes send `id`, which is
//!   kept). byok names the calls of one answer `call_0`, `call_1`, … in the order they arrive,
//!   so the same answer always gives the same ids. A tool result must name its function on the
//!   wire: the name is taken from the latest earlier assistant message whose `toolCalls` hold
//!   the result's `toolCallId`, so ids repeated across turns are harmless. Ids are never sent.
//! - **Thought signatures.** Gemini 3 and later refuse a replayed `functionCall` part without
//!   its `thoughtSignature`, which byok's message shape has no place for; such parts carry
//!   Google's documented `skip_thought_signature_validator` sentinel instead (the model loses
//!   its earlier reasoning, not the conversation).
//! - **Tool schemas.** Gemini takes an OpenAPI subset: keywords it refuses
//!   (`additionalProperties`, `$schema`, `$id`, `const`, `oneOf`, `allOf`, `$ref`, unknown
//!   `format`s, …) are translated (`const` → `enum`, `oneOf` → `anyOf`, `["string","null"]` →
//!   `nullable`, local `$ref`s inlined) or left out; an object with no properties is left out,
//!   as the AI SDK's Google provider does, because Gemini refuses an `OBJECT` without them.
//! - **The end of a stream.** Gemini sends no terminator: the chunk with a `finishReason` (or a
//!   `promptFeedback.blockReason`) is the last one that matters. The `done` chunk is emitted when
//!   the body ends after it, so usage sent with or after it is counted; a body that ends without
//!   one was cut off (`NETWORK_ERROR`).
//! - **Usage** is cumulative on every chunk: the latest wins. Thinking tokens
//!   (`thoughtsTokenCount`) are billed as output and counted in `outputTokens`.
//! - **Vertex's streamed arguments** (`partialArgs` with `willContinue`) are assembled into the
//!   call's arguments object; the call is announced with an empty `argumentsDelta` when its
//!   name arrives and its whole JSON follows as one piece when it is complete.
//! - **Thought parts** (`thought: true`) are skipped; their tokens are still counted.

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{
    generic_detail, http_error, provider_error, sse_stream, ChatResponse, Chunk, Embeddings,
    Endpoint, HttpRequest, Method, StreamDecoder,
};
use crate::core::chat::{
    ChatRequest, Content, ContentPart, FinishReason, Message, Role, Stop, ToolChoice, ToolMode,
    Usage,
};
use crate::core::collect::Collector;
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::sse::{SseDecoder, SseEvent, Stray};

/// The model whose `countTokens` proves a Vertex token: a current, widely available model.
/// Counting tokens is free, and it checks the token, the project, the region and the
/// permission to call Gemini there, all at once.
pub const VERTEX_PROBE_MODEL: &str = "gemini-2.5-flash";

/// The most texts the Gemini API embeds in one `batchEmbedContents` call.
pub const MAX_GEMINI_EMBED_INPUTS: usize = 100;

/// The most texts Vertex AI embeds in one `predict` call.
pub const MAX_VERTEX_EMBED_INPUTS: usize = 250;

/// What replaces a Gemini 3 thought signature that byok cannot replay (see the module docs).
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// The highest array index a streamed argument path may name: far above any real tool
/// argument, low enough that a hostile stream cannot make the page allocate without bound.
const MAX_PARTIAL_INDEX: usize = 10_000;

/// How deep tool schemas are translated (and local `$ref`s inlined) before giving up.
const MAX_SCHEMA_DEPTH: usize = 32;

/// The `generateContent` dialect as a [`super::Wire`]: the Gemini API, or Vertex AI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemini {
    /// Vertex AI (OAuth bearer token, publisher model paths) rather than the Gemini API.
    pub vertex: bool,
}

impl Gemini {
    /// The Gemini API (`generativelanguage.googleapis.com`, `x-goog-api-key`).
    pub const fn api() -> Self {
        Gemini { vertex: false }
    }

    /// Vertex AI (`{region}-aiplatform.googleapis.com`, `authorization: Bearer`).
    pub const fn vertex() -> Self {
        Gemini { vertex: true }
    }

    fn name(self) -> &'static str {
        if self.vertex {
            "Vertex AI"
        } else {
            "the Gemini API"
        }
    }
}

impl super::Wire for Gemini {
    fn chat_request(
        &self,
        ep: &Endpoint<'_>,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<HttpRequest> {
        chat_request(*self, ep, req, stream)
    }

    fn models_request(&self, ep: &Endpoint<'_>) -> Result<HttpRequest> {
        models_request(*self, ep)
    }

    fn parse_models(&self, body: &str) -> Result<Vec<String>> {
        parse_models(*self, body)
    }

    fn parse_chat_response(&self, body: &str) -> Result<ChatResponse> {
        parse_chat_response(body)
    }

    fn stream_decoder(&self, provider_name: &str, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(GeminiStream::new(provider_name, ep))
    }

    fn map_error(
        &self,
        provider_name: &str,
        provider_id: &str,
        status: u16,
        retry_after_ms: Option<u64>,
        body: &str,
        secrets: &[&str],
    ) -> ByokError {
        map_error(
            *self,
            provider_name,
            provider_id,
            status,
            retry_after_ms,
            body,
            secrets,
        )
    }

    fn embed_request(
        &self,
        ep: &Endpoint<'_>,
        model: &str,
        input: &[String],
    ) -> Result<HttpRequest> {
        embed_request(*self, ep, model, input)
    }

    fn parse_embeddings(&self, body: &str) -> Result<Embeddings> {
        parse_embeddings(body)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The path of a model below the base URL: `/models/{model}` (Gemini API) or
/// `/publishers/google/models/{model}` (Vertex AI). An id that already names its collection
/// (`tunedModels/…`, `publishers/…/models/…`, `endpoints/…`) is used as it is.
///
/// # Errors
///
/// `INVALID_REQUEST` for an id that could leave the model's path (a `..` segment, a `?`, a
/// `#`, a `%`, a `:`: anything but letters, digits and `-._/@`).
pub fn model_path(dialect: Gemini, model: &str) -> Result<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-._/@".contains(c);
    let bad_segment = model
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    if model.is_empty() || !model.chars().all(ok_char) || bad_segment {
        return Err(ByokError::invalid_request(format!(
            "the model id is not one {} can take (letters, digits and -._/@ only)",
            dialect.name()
        )));
    }
    let mut path = String::with_capacity(model.len() + 28);
    path.push('/');
    if !model.contains('/') {
        path.push_str(if dialect.vertex {
            "publishers/google/models/"
        } else {
            "models/"
        });
    }
    path.push_str(model);
    Ok(path)
}

/// The key header of a dialect, and `content-type` for a body: nothing else, because every
/// other header costs a CORS preflight that Google refuses for names it does not list.
fn headers(dialect: Gemini, ep: &Endpoint<'_>, json: bool) -> Vec<(String, Zeroizing<String>)> {
    let mut headers = Vec::with_capacity(2);
    if !ep.secret.is_empty() {
        if dialect.vertex {
            let mut value = Zeroizing::new(String::with_capacity(7 + ep.secret.len()));
            value.push_str("Bearer ");
            value.push_str(ep.secret);
            headers.push((String::from("authorization"), value));
        } else {
            headers.push((
                String::from("x-goog-api-key"),
                Zeroizing::new(String::from(ep.secret)),
            ));
        }
    }
    if json {
        headers.push((
            String::from("content-type"),
            Zeroizing::new(String::from("application/json")),
        ));
    }
    headers
}

fn post(dialect: Gemini, ep: &Endpoint<'_>, url: String, body: String) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url,
        headers: headers(dialect, ep, true),
        body: Some(body),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| ByokError::from_decode("the request body", &e.to_string()))
}

/// The request for a chat: `:generateContent`, or `:streamGenerateContent?alt=sse` (without
/// `alt=sse` Google streams one JSON array instead of events).
///
/// # Errors
///
/// `INVALID_REQUEST` for what the wire cannot carry: an unusable model id, a tool result
/// whose call is not in the conversation, tool-call arguments that are not a JSON object,
/// inline image data without its `mimeType`.
pub fn chat_request(
    dialect: Gemini,
    ep: &Endpoint<'_>,
    req: &ChatRequest,
    stream: bool,
) -> Result<HttpRequest> {
    let path = model_path(dialect, &req.model)?;
    let signature = needs_signature(&req.model).then_some(SKIP_THOUGHT_SIGNATURE);
    let (contents, system) = wire_contents(&req.messages, signature)?;
    let s = &req.settings;
    let stop_sequences: Vec<&str> = match &s.stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one.as_str()],
        Some(Stop::Many(many)) => many.iter().map(String::as_str).collect(),
    };
    let config = GenerationConfig {
        temperature: s.temperature,
        top_p: s.top_p,
        // `as` saturates; the sanitizer has already made it a whole number.
        max_output_tokens: s
            .max_tokens
            .filter(|m| m.is_finite() && *m >= 1.0)
            .map(|m| m as u64),
        stop_sequences,
    };
    let declarations: Vec<FunctionDeclaration<'_>> = req
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: &t.name,
            description: t.description.as_deref(),
            parameters: function_parameters(&t.parameters),
        })
        .collect();
    let tool_config = if declarations.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(|c| ToolConfig {
            function_calling_config: match c {
                ToolChoice::Mode(ToolMode::Auto) => CallingConfig::mode("AUTO"),
                ToolChoice::Mode(ToolMode::None) => CallingConfig::mode("NONE"),
                ToolChoice::Mode(ToolMode::Required) => CallingConfig::mode("ANY"),
                ToolChoice::Named { name } => CallingConfig {
                    mode: "ANY",
                    allowed_function_names: vec![name],
                },
            },
        })
    };
    let body = Body {
        contents,
        system_instruction: system,
        generation_config: (!config.is_empty()).then_some(config),
        tools: if declarations.is_empty() {
            Vec::new()
        } else {
            vec![WireTools {
                function_declarations: declarations,
            }]
        },
        tool_config,
    };
    let mut url = ep.url(&path);
    url.push_str(if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    });
    Ok(post(dialect, ep, url, to_json(&body)?))
}

/// The cheapest request that proves a key (see the module docs).
///
/// # Errors
///
/// Never for the two dialects; the signature is the trait's.
pub fn models_request(dialect: Gemini, ep: &Endpoint<'_>) -> Result<HttpRequest> {
    if !dialect.vertex {
        return Ok(HttpRequest {
            method: Method::Get,
            // One page of up to 1,000 models holds them all: the answer is also the model
            // list shown to the user, and a second page would cost a second call.
            url: ep.url("/models?pageSize=1000"),
            headers: headers(dialect, ep, false),
            body: None,
        });
    }
    let mut url = ep.url(&model_path(dialect, VERTEX_PROBE_MODEL)?);
    url.push_str(":countTokens");
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}"#;
    Ok(post(dialect, ep, url, body.to_owned()))
}

/// The embeddings request: `:batchEmbedContents` on the Gemini API, `:predict` on Vertex AI.
///
/// # Errors
///
/// `INVALID_REQUEST` for no input, too many inputs for one call, or an unusable model id.
pub fn embed_request(
    dialect: Gemini,
    ep: &Endpoint<'_>,
    model: &str,
    input: &[String],
) -> Result<HttpRequest> {
    let max = if dialect.vertex {
        MAX_VERTEX_EMBED_INPUTS
    } else {
        MAX_GEMINI_EMBED_INPUTS
    };
    if input.is_empty() || input.len() > max {
        return Err(ByokError::invalid_request(format!(
            "{} embeds 1 to {max} texts per call; {} were given",
            dialect.name(),
            input.len()
        )));
    }
    let path = model_path(dialect, model)?;
    let mut url = ep.url(&path);
    if dialect.vertex {
        url.push_str(":predict");
        let body = VertexEmbedBody {
            instances: input
                .iter()
                .map(|t| VertexInstance { content: t })
                .collect(),
        };
        return Ok(post(dialect, ep, url, to_json(&body)?));
    }
    url.push_str(":batchEmbedContents");
    // Each request names its model as `models/…`, the resource the URL points at.
    let name = path.trim_start_matches('/');
    let body = EmbedBody {
        requests: input
            .iter()
            .map(|t| EmbedRequest {
                model: name,
                content: WireContent {
                    role: None,
                    parts: vec![WirePart::text(Cow::Borrowed(t))],
                },
            })
            .collect(),
    };
    Ok(post(dialect, ep, url, to_json(&body)?))
}

/// Whether a model refuses replayed function calls without a thought signature: Gemini 3 and
/// later (`gemini-3-pro-preview`, `gemini-3.1-flash`, `models/gemini-4…`).
fn needs_signature(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    let Some(version) = name.strip_prefix("gemini-") else {
        return false;
    };
    let major: String = version.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 3)
}

/// The conversation as `contents` and `systemInstruction`.
///
/// System messages, wherever they are, become the system instruction (Gemini has no system
/// turn). Tool results become `user` turns of `functionResponse` parts. Consecutive turns of
/// one role are merged, which Gemini always accepts (older models refuse two `user` turns in
/// a row). Empty text is left out: Gemini refuses a part with no data.
fn wire_contents<'a>(
    messages: &'a [Message],
    signature: Option<&'static str>,
) -> Result<(Vec<WireContent<'a>>, Option<WireContent<'a>>)> {
    let mut contents: Vec<WireContent<'a>> = Vec::with_capacity(messages.len());
    let mut system: Vec<WirePart<'a>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let bad = |what: &str| ByokError::invalid_request(format!("messages[{i}]: {what}"));
        let (role, parts) = match m.role {
            Role::System => {
                let text = plain_text(&m.content);
                if !text.is_empty() {
                    system.push(WirePart::text(text));
                }
                continue;
            }
            Role::User => ("user", user_parts(&m.content).map_err(bad)?),
            Role::Assistant => {
                let mut parts = Vec::with_capacity(1 + m.tool_calls.len());
                let text = plain_text(&m.content);
                if !text.is_empty() {
                    parts.push(WirePart::text(text));
                }
                for (j, call) in m.tool_calls.iter().enumerate() {
                    let args = arguments_object(&call.arguments).ok_or_else(|| {
                        bad(&format!("toolCalls[{j}].arguments is not a JSON object"))
                    })?;
                    parts.push(WirePart {
                        function_call: Some(FunctionCallOut {
                            name: &call.name,
                            args,
                        }),
                        thought_signature: signature,
                        ..WirePart::default()
                    });
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .ok_or_else(|| bad("a tool message needs its toolCallId"))?;
                let name = call_name(messages, i, id).ok_or_else(|| {
                    bad("no earlier assistant message holds a tool call with this toolCallId")
                })?;
                let part = WirePart {
                    function_response: Some(FunctionResponseOut {
                        name,
                        response: tool_response(&plain_text(&m.content)),
                    }),
                    ..WirePart::default()
                };
                ("user", vec![part])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => contents.push(WireContent {
                role: Some(role),
                parts,
            }),
        }
    }
    let system = (!system.is_empty()).then_some(WireContent {
        role: None,
        parts: system,
    });
    Ok((contents, system))
}

/// The name of the call `id` answers: from the latest assistant message before `at` that
/// made a call with that id.
fn call_name<'a>(messages: &'a [Message], at: usize, id: &str) -> Option<&'a str> {
    messages.get(..at)?.iter().rev().find_map(|m| {
        m.tool_calls
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    })
}

/// Tool-call arguments as the object Gemini wants; `""` (a call without arguments) is `{}`.
fn arguments_object(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// A tool's result as the object `functionResponse.response` must be: a JSON object is sent
/// as it is, any other JSON value or plain text as `{"content": …}`.
fn tool_response(text: &str) -> Value {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => return v,
        Ok(v) => v,
        Err(_) => Value::String(text.to_owned()),
    };
    let mut map = Map::new();
    map.insert(String::from("content"), value);
    Value::Object(map)
}

/// The text of a message whose role takes no images, borrowed when it is one string.
fn plain_text(c: &Content) -> Cow<'_, str> {
    match c {
        Content::Text(t) => Cow::Borrowed(t.as_str()),
        Content::Parts(_) => Cow::Owned(c.text()),
    }
}

fn user_parts(c: &Content) -> core::result::Result<Vec<WirePart<'_>>, &'static str> {
    let parts = match c {
        Content::Text(t) if t.is_empty() => return Ok(Vec::new()),
        Content::Text(t) => return Ok(vec![WirePart::text(Cow::Borrowed(t))]),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text { text } if text.is_empty() => {}
            ContentPart::Text { text } => out.push(WirePart::text(Cow::Borrowed(text))),
            ContentPart::Image {
                data,
                url,
                mime_type,
            } => out.push(image_part(
                data.as_deref(),
                url.as_deref(),
                mime_type.as_deref(),
            )?),
        }
    }
    Ok(out)
}

/// An image: inline base64 (also from a `data:` URL) as `inlineData`, a URL as `fileData`.
fn image_part<'a>(
    data: Option<&'a str>,
    url: Option<&'a str>,
    mime: Option<&'a str>,
) -> core::result::Result<WirePart<'a>, &'static str> {
    let inline = |mime_type: &'a str, data: &'a str| WirePart {
        inline_data: Some(InlineData { mime_type, data }),
        ..WirePart::default()
    };
    if let Some(data) = data {
        if let Some((mime_type, b64)) = split_data_url(data) {
            return Ok(inline(mime_type, b64));
        }
        return match mime {
            Some(m) => Ok(inline(m, data)),
            None => Err("inline image data needs its mimeType"),
        };
    }
    let Some(url) = url else {
        return Err("an image part needs data or url");
    };
    if let Some((mime_type, b64)) = split_data_url(url) {
        return Ok(inline(mime_type, b64));
    }
    Ok(WirePart {
        file_data: Some(FileData {
            mime_type: mime.or_else(|| mime_from_extension(url)),
            file_uri: url,
        }),
        ..WirePart::default()
    })
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    (!mime.is_empty()).then_some((mime, data))
}

/// The image type a URL's file name suggests; Vertex requires one with `fileData`.
fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Tool schemas
// ---------------------------------------------------------------------------------------------

/// A tool's JSON Schema as Gemini's `parameters`, or `None` for a tool without parameters
/// (Gemini refuses an object schema with no properties).
pub fn function_parameters(schema: &Value) -> Option<Value> {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object);
    convert_schema(schema, defs, 0)
}

/// The keywords of Gemini's `Schema` that carry over unchanged.
const KEPT_KEYWORDS: &[&str] = &[
    "title",
    "description",
    "nullable",
    "enum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "propertyOrdering",
    "default",
    "example",
];

/// The `format`s Gemini accepts; any other (`email`, `uri`, …) is refused, so it is left out.
const KEPT_FORMATS: &[&str] = &["enum", "date-time", "int32", "int64", "float", "double"];

fn is_empty_object(schema: &Map<String, Value>) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
        && schema
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        && !schema.contains_key("anyOf")
}

fn convert_schema(
    schema: &Value,
    defs: Option<&Map<String, Value>>,
    depth: usize,
) -> Option<Value> {
    if depth > MAX_SCHEMA_DEPTH {
        return None;
    }
    let Value::Object(input) = schema else {
        // `true` (anything) has no Gemini form; `false` cannot be satisfied.
        return None;
    };
    if let Some(target) = input.get("$ref").and_then(Value::as_str) {
        let name = target
            .strip_prefix("#/$defs/")
            .or_else(|| target.strip_prefix("#/definitions/"))?;
        let mut merged = defs?.get(name)?.clone();
        // Keywords beside the `$ref` (a description, mostly) describe this use of it.
        if let Value::Object(m) = &mut merged {
            for (k, v) in input.iter().filter(|(k, _)| *k != "$ref") {
                m.insert(k.clone(), v.clone());
            }
        }
        return convert_schema(&merged, defs, depth + 1);
    }
    let mut out = Map::new();
    for key in KEPT_KEYWORDS {
        if let Some(v) = input.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    if let Some(c) = input.get("const") {
        out.insert(String::from("enum"), Value::Array(vec![c.clone()]));
    }
    if let Some(f) = input.get("format").and_then(Value::as_str) {
        if KEPT_FORMATS.contains(&f) {
            out.insert(String::from("format"), Value::String(f.to_owned()));
        }
    }
    match input.get("type") {
        Some(Value::String(t)) if t == "null" => {
            out.insert(String::from("nullable"), Value::Bool(true));
        }
        Some(Value::String(t)) => {
            out.insert(String::from("type"), Value::String(t.clone()));
        }
        Some(Value::Array(types)) => {
            let mut names = types.iter().filter_map(Value::as_str);
            let non_null: Vec<&str> = names.clone().filter(|t| *t != "null").collect();
            if names.any(|t| t == "null") {
                out.insert(String::from("nullable"), Value::Bool(true));
            }
            if let Some(first) = non_null.first() {
                out.insert(String::from("type"), Value::String((*first).to_owned()));
            }
        }
        _ => {}
    }
    if let Some(props) = input.get("properties").and_then(Value::as_object) {
        let mut converted = Map::new();
        for (name, sub) in props {
            if let Some(s) = convert_schema(sub, defs, depth + 1) {
                converted.insert(name.clone(), s);
            }
        }
        if let Some(Value::Array(required)) = input.get("required") {
            // A property left out (it had no Gemini form) cannot stay required.
            let kept: Vec<Value> = required
                .iter()
                .filter(|r| r.as_str().is_some_and(|n| converted.contains_key(n)))
                .cloned()
                .collect();
            if !kept.is_empty() {
                out.insert(String::from("required"), Value::Array(kept));
            }
        }
        out.insert(String::from("properties"), Value::Object(converted));
        if !out.contains_key("type") {
            out.insert(String::from("type"), Value::String(String::from("object")));
        }
    }
    if let Some(items) = input.get("items") {
        // A tuple (`items: [...]`) has no Gemini form: its first member stands for all.
        let first = match items {
            Value::Array(list) => list.first(),
            other => Some(other),
        };
        if let Some(s) = first.and_then(|i| convert_schema(i, defs, depth + 1)) {
            out.insert(String::from("items"), s);
        }
    }
    let alternatives = input
        .get("anyOf")
        .or_else(|| input.get("oneOf"))
        .and_then(Value::as_array);
    if let Some(list) = alternatives {
        let is_null = |s: &&Value| s.get("type").and_then(Value::as_str) == Some("null");
        if list.iter().any(|s| is_null(&s)) {
            out.insert(String::from("nullable"), Value::Bool(true));
        }
        let mut rest: Vec<Value> = list
            .iter()
            .filter(|s| !is_null(s))
            .filter_map(|s| convert_schema(s, defs, depth + 1))
            .collect();
        if rest.len() == 1 {
            if let Some(Value::Object(only)) = rest.pop() {
                for (k, v) in only {
                    out.entry(k).or_insert(v);
                }
            }
        } else if !rest.is_empty() {
            out.insert(String::from("anyOf"), Value::Array(rest));
        }
    }
    if let Some(Value::Array(all)) = input.get("allOf") {
        // Gemini has no `allOf`: the members' keywords are merged, the first one winning.
        for member in all {
            if let Some(Value::Object(m)) = convert_schema(member, defs, depth + 1) {
                for (k, v) in m {
                    match (out.get_mut(&k), v) {
                        (Some(Value::Object(mine)), Value::Object(theirs)) if k == "properties" => {
                            for (pk, pv) in theirs {
                                mine.entry(pk).or_insert(pv);
                            }
                        }
                        (None, v) => {
                            out.insert(k, v);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if is_empty_object(&out) || out.is_empty() {
        return None;
    }
    Some(Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// Request wire types
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTools<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
}

#[derive(Serialize)]
struct WireContent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<WirePart<'a>>,
}

/// One part: exactly one of its data fields is set.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct WirePart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<InlineData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponseOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'static str>,
}

impl<'a> WirePart<'a> {
    fn text(text: Cow<'a, str>) -> Self {
        WirePart {
            text: Some(text),
            ..WirePart::default()
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a str>,
    file_uri: &'a str,
}

#[derive(Serialize)]
struct FunctionCallOut<'a> {
    name: &'a str,
    args: Value,
}

#[derive(Serialize)]
struct FunctionResponseOut<'a> {
    name: &'a str,
    response: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTools<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
struct FunctionDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    function_calling_config: CallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_function_names: Vec<&'a str>,
}

impl CallingConfig<'_> {
    fn mode(mode: &'static str) -> Self {
        CallingConfig {
            mode,
            allowed_function_names: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct EmbedBody<'a> {
    requests: Vec<EmbedRequest<'a>>,
}

#[derive(Serialize)]
struct EmbedRequest<'a> {
    model: &'a str,
    content: WireContent<'a>,
}

#[derive(Serialize)]
struct VertexEmbedBody<'a> {
    instances: Vec<VertexInstance<'a>>,
}

#[derive(Serialize)]
struct VertexInstance<'a> {
    content: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Answers: lenient readers over `serde_json::Value`
// ---------------------------------------------------------------------------------------------

/// A count read leniently: an integer, a float, a numeric string (Google's JSON mapping sends
/// 64-bit integers as strings); anything negative or unreadable is absent.
fn count(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The token counts of a `usageMetadata`, or `None` when it holds none (Vertex sends
/// `{"trafficType":"ON_DEMAND"}` alone on its first chunks).
fn usage_of(meta: &Value) -> Option<Usage> {
    let prompt = count(meta, "promptTokenCount");
    let candidates = count(meta, "candidatesTokenCount");
    let thoughts = count(meta, "thoughtsTokenCount");
    let tool_prompt = count(meta, "toolUsePromptTokenCount");
    let total = count(meta, "totalTokenCount");
    if prompt.is_none() && candidates.is_none() && thoughts.is_none() && total.is_none() {
        return None;
    }
    // Thinking is billed as output; the prompts of Google's own tools as input.
    let input = prompt.unwrap_or(0).saturating_add(tool_prompt.unwrap_or(0));
    let output = candidates
        .unwrap_or(0)
        .saturating_add(thoughts.unwrap_or(0));
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: total.unwrap_or(input.saturating_add(output)),
    })
}

/// Gemini's finish reasons in byok's vocabulary (`STOP` with calls is settled later).
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// A tool call whose arguments Vertex is still streaming.
struct PartialCall {
    id: String,
    name: String,
    args: Value,
}

/// One step of a streamed argument's path: `$.recipe.items[0].name`.
enum Seg {
    Key(String),
    Index(usize),
}

/// `$.a.b[2].c` → `a`, `b`, `2`, `c`; `None` for an index beyond [`MAX_PARTIAL_INDEX`].
fn parse_path(path: &str) -> Option<Vec<Seg>> {
    let rest = path.strip_prefix('$').unwrap_or(path);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    let mut segs = Vec::new();
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (key, mut brackets) = match part.find('[') {
            Some(at) => part.split_at(at),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_owned()));
        }
        while let Some(inner) = brackets.strip_prefix('[') {
            let (index, after) = inner.split_once(']')?;
            let n: usize = index.trim().parse().ok()?;
            if n > MAX_PARTIAL_INDEX {
                return None;
            }
            segs.push(Seg::Index(n));
            brackets = after;
        }
    }
    Some(segs)
}

/// The container at `seg` below `cur`, made (an array when `array`, else an object) if absent.
fn child_mut<'v>(cur: &'v mut Value, seg: &Seg, array: bool) -> Option<&'v mut Value> {
    let fresh = || {
        if array {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    };
    let slot = match (seg, cur) {
        (Seg::Key(k), Value::Object(map)) => map.entry(k.clone()).or_insert(Value::Null),
        (Seg::Index(n), Value::Array(items)) => {
            if items.len() <= *n {
                items.resize(n + 1, Value::Null);
            }
            items.get_mut(*n)?
        }
        _ => return None,
    };
    if slot.is_null() {
        *slot = fresh();
    }
    Some(slot)
}

/// Sets `value` at `segs` below `root`; a string continues a string already there.
fn set_path(root: &mut Value, segs: &[Seg], value: Value) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = root;
    for (i, seg) in parents.iter().enumerate() {
        let array = matches!(segs.get(i + 1), Some(Seg::Index(_)));
        cur = match child_mut(cur, seg, array) {
            Some(next) => next,
            None => return,
        };
    }
    let slot = match (last, cur) {
        (Seg::Key(k), Value::Object(map)) => map.entry(k.clone()).or_insert(Value::Null),
        (Seg::Index(n), Value::Array(items)) => {
            if items.len() <= *n {
                items.resize(n + 1, Value::Null);
            }
            match items.get_mut(*n) {
                Some(s) => s,
                None => return,
            }
        }
        _ => return,
    };
    match (slot, value) {
        (Value::String(existing), Value::String(more)) => existing.push_str(&more),
        (slot, value) => *slot = value,
    }
}

/// One `partialArgs` entry applied to the arguments built so far.
fn apply_partial_arg(args: &mut Value, arg: &Value) {
    let Some(segs) = arg
        .get("jsonPath")
        .and_then(Value::as_str)
        .and_then(parse_path)
    else {
        return;
    };
    if segs.is_empty() {
        return;
    }
    let value = if let Some(s) = arg.get("stringValue").and_then(Value::as_str) {
        Value::String(s.to_owned())
    } else if let Some(n) = arg.get("numberValue").filter(|n| n.is_number()) {
        n.clone()
    } else if let Some(b) = arg.get("boolValue").filter(|b| b.is_boolean()) {
        b.clone()
    } else if arg.get("nullValue").is_some() {
        Value::Null
    } else {
        return;
    };
    set_path(args, &segs, value);
}

/// Turns `GenerateContentResponse` objects into chunks; shared by streams and whole answers.
#[derive(Default)]
struct Answer {
    model: Option<String>,
    usage: Usage,
    usage_seen: bool,
    finish: Option<FinishReason>,
    blocked: bool,
    calls: usize,
    partial: Option<PartialCall>,
}

impl Answer {
    /// Whether the answer said it is complete (a finish reason, or a blocked prompt).
    fn complete(&self) -> bool {
        self.finish.is_some() || self.blocked
    }

    /// Reads one response object (its error, if any, is the caller's to check first).
    fn on_response(&mut self, mut v: Value, out: &mut Vec<Chunk>) {
        if self.model.is_none() {
            if let Some(m) = str_of(&v, "modelVersion") {
                self.model = Some(m.to_owned());
            }
        }
        if let Some(reason) = v
            .get("promptFeedback")
            .and_then(|f| str_of(f, "blockReason"))
        {
            if reason != "BLOCK_REASON_UNSPECIFIED" {
                self.blocked = true;
            }
        }
        if let Some(candidate) = first_candidate(&mut v) {
            if let Some(Value::Array(parts)) = candidate
                .get_mut("content")
                .and_then(|c| c.get_mut("parts"))
                .map(Value::take)
            {
                for part in parts {
                    self.on_part(part, out);
                }
            }
            if let Some(reason) = str_of(candidate, "finishReason") {
                self.finish = Some(finish_reason(reason));
                // A call still open when the answer ends is as complete as it will get.
                self.close_partial(out);
            }
        }
        if let Some(usage) = v.get("usageMetadata").and_then(usage_of) {
            if !self.usage_seen || usage != self.usage {
                out.push(Chunk::Usage { usage });
            }
            self.usage = usage;
            self.usage_seen = true;
        }
    }

    fn on_part(&mut self, mut part: Value, out: &mut Vec<Chunk>) {
        if part.get("functionCall").is_some_and(Value::is_object) {
            let call = part.get_mut("functionCall").map(Value::take);
            if let Some(call) = call {
                self.on_call(call, out);
            }
            return;
        }
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(Value::String(text)) = part.get_mut("text").map(Value::take) {
            if !text.is_empty() {
                out.push(Chunk::Content { delta: text });
            }
        }
    }

    fn next_id(&mut self, given: Option<&str>) -> String {
        let id = match given {
            Some(id) => id.to_owned(),
            None => format!("call_{}", self.calls),
        };
        self.calls += 1;
        id
    }

    /// A `functionCall` part: whole (`name` + `args`), or one piece of a call Vertex streams
    /// (`partialArgs`, `willContinue`, and an empty `{}` that ends it).
    fn on_call(&mut self, call: Value, out: &mut Vec<Chunk>) {
        let name = str_of(&call, "name");
        let args = call.get("args").filter(|a| !a.is_null());
        let partial = call.get("partialArgs").and_then(Value::as_array);
        let will_continue = call.get("willContinue").and_then(Value::as_bool);
        let id = str_of(&call, "id");
        let streaming = partial.is_some() || (name.is_some() && will_continue == Some(true));
        if streaming {
            if let Some(name) = name {
                self.close_partial(out);
                let id = self.next_id(id);
                out.push(Chunk::ToolCall {
                    id: id.clone(),
                    name: name.to_owned(),
                    arguments_delta: String::new(),
                });
                self.partial = Some(PartialCall {
                    id,
                    name: name.to_owned(),
                    args: Value::Object(Map::new()),
                });
            }
            if let (Some(list), Some(p)) = (partial, self.partial.as_mut()) {
                for arg in list {
                    apply_partial_arg(&mut p.args, arg);
                }
                let ends = will_continue != Some(true)
                    && list
                        .iter()
                        .all(|a| a.get("willContinue").and_then(Value::as_bool) != Some(true));
                if ends {
                    self.close_partial(out);
                }
            }
            return;
        }
        let Some(name) = name else {
            // `{}`: the end of a streamed call.
            self.close_partial(out);
            return;
        };
        self.close_partial(out);
        let arguments = match args {
            Some(Value::String(s)) => s.clone(),
            Some(a) => a.to_string(),
            None => String::from("{}"),
        };
        let id = self.next_id(id);
        out.push(Chunk::ToolCall {
            id,
            name: name.to_owned(),
            arguments_delta: arguments,
        });
    }

    fn close_partial(&mut self, out: &mut Vec<Chunk>) {
        if let Some(p) = self.partial.take() {
            out.push(Chunk::ToolCall {
                id: p.id,
                name: p.name,
                arguments_delta: p.args.to_string(),
            });
        }
    }

    /// The `done` chunk (after closing a call left open).
    fn end(&mut self, out: &mut Vec<Chunk>) {
        self.close_partial(out);
        out.push(Chunk::Done {
            finish_reason: self.final_reason(),
            usage: self.usage,
            cost: None,
        });
    }

    fn final_reason(&self) -> FinishReason {
        if self.blocked {
            return FinishReason::ContentFilter;
        }
        match self.finish {
            Some(FinishReason::Stop) | None if self.calls > 0 => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Other,
        }
    }
}

/// The candidate byok reads: the one with `index` 0 (or none), never by position alone.
fn first_candidate(v: &mut Value) -> Option<&mut Value> {
    let list = v.get_mut("candidates")?.as_array_mut()?;
    list.iter_mut()
        .find(|c| count(c, "index").is_none_or(|i| i == 0))
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Decodes `streamGenerateContent?alt=sse` into [`Chunk`]s.
///
/// - Events are `data: {GenerateContentResponse}` framed with CRLF; there is no terminator.
/// - Text parts become `content` chunks, function calls `tool_call` chunks (see the module
///   docs for ids and Vertex's streamed arguments), changed usage a `usage` chunk.
/// - `data: {"error": …}`, or an error object sent bare (outside any event, possibly
///   pretty-printed over several reads), is an error, its message redacted.
/// - The end of the body after a `finishReason` or a blocked prompt gives the `done` chunk;
///   without one, [`StreamDecoder::finish`] fails with `NETWORK_ERROR`.
pub struct GeminiStream {
    sse: SseDecoder,
    /// Reused between reads to keep its capacity.
    events: Vec<SseEvent>,
    provider_name: String,
    provider_id: String,
    /// The key, only to redact it from error messages.
    secret: Zeroizing<String>,
    answer: Answer,
    done: bool,
    /// Text that was not part of any event, kept until it can be read as a whole.
    failed: Option<ByokError>,
}

impl fmt::Debug for GeminiStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiStream")
            .field("provider", &self.provider_id)
            .field("model", &self.answer.model)
            .field("usage", &self.answer.usage)
            .field("tool_calls", &self.answer.calls)
            .field("done", &self.done)
            .field("failed", &self.failed.as_ref().map(|e| e.code))
            .finish()
    }
}

impl GeminiStream {
    /// A decoder for one answer from `ep`; `provider_name` (e.g. `Google Gemini API`) is for
    /// messages, and `ep.secret` is remembered only to redact it from them.
    pub fn new(provider_name: &str, ep: &Endpoint<'_>) -> Self {
        GeminiStream {
            sse: SseDecoder::new(),
            events: Vec::new(),
            provider_name: provider_name.to_owned(),
            provider_id: ep.provider.to_owned(),
            secret: Zeroizing::new(ep.secret.to_owned()),
            answer: Answer::default(),
            done: false,
            failed: None,
        }
    }

    /// Whether the `done` chunk has been emitted.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<Chunk>) -> Result<()> {
        let data = ev.data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        let value = match serde_json::from_str::<Value>(data) {
            Ok(v) => v,
            Err(_) => return Err(self.unreadable_event()),
        };
        match value {
            Value::Object(_) if has_error(&value) => Err(self.embedded(&value)),
            Value::Object(_) => {
                self.answer.on_response(value, out);
                Ok(())
            }
            // An array is an error list, or not an event of this dialect.
            Value::Array(ref items) if items.first().is_some_and(has_error) => {
                Err(self.embedded(&value))
            }
            _ => Err(self.unreadable_event()),
        }
    }

    fn embedded(&self, value: &Value) -> ByokError {
        embedded_error(
            &self.provider_name,
            &self.provider_id,
            value,
            &[self.secret.as_str()],
        )
    }

    fn unreadable_event(&self) -> ByokError {
        // Never quote the event: it is the model's answer, or worse.
        super::unreadable_event(&self.provider_name, &self.provider_id)
    }
}

impl sse_stream::SseDialect for GeminiStream {
    fn sse_parts(&mut self) -> (&mut SseDecoder, &mut Vec<SseEvent>) {
        (&mut self.sse, &mut self.events)
    }

    fn failed_slot(&mut self) -> &mut Option<ByokError> {
        &mut self.failed
    }

    fn provider(&self) -> &str {
        &self.provider_id
    }

    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        let mut events = mem::take(&mut self.events);
        let mut result = Ok(());
        for ev in events.drain(..) {
            if let Err(e) = self.on_event(ev, out) {
                result = Err(e);
                break;
            }
        }
        self.events = events;
        result
    }

    /// Looks at text that was not part of any event: Google sends an error that happens
    /// after the answer began as bare JSON. Anything else means the body is not an event
    /// stream.
    fn check_stray(&mut self, at_end: bool) -> Result<()> {
        match self.sse.judge_stray(at_end, None) {
            Stray::Nothing | Stray::Partial => Ok(()),
            Stray::Json(v)
                if has_error(&v) || v.as_array().and_then(|a| a.first()).is_some_and(has_error) =>
            {
                Err(self.embedded(&v))
            }
            _ => Err(super::not_an_event_stream(
                &self.provider_name,
                &self.provider_id,
            )),
        }
    }

    fn truncated(&self) -> ByokError {
        ByokError::new(
            ErrorCode::NetworkError,
            format!(
                "the stream from {} ended before it was complete",
                self.provider_name
            ),
        )
        .with_provider(self.provider_id.as_str())
    }

    fn complete(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        if self.answer.complete() {
            self.answer.end(out);
            self.done = true;
            Ok(())
        } else {
            Err(self.truncated())
        }
    }

    fn ended_early(&self) -> bool {
        self.done
    }
}

impl StreamDecoder for GeminiStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::feed(self, bytes, out)
    }

    fn finish(&mut self, out: &mut Vec<Chunk>) -> Result<()> {
        sse_stream::finish(self, out)
    }

    fn usage(&self) -> Usage {
        self.answer.usage
    }

    fn reported_cost(&self) -> Option<f64> {
        None
    }

    fn model(&self) -> Option<&str> {
        self.answer.model.as_deref()
    }
}

// ---------------------------------------------------------------------------------------------
// Whole answers, model lists, embeddings
// ---------------------------------------------------------------------------------------------

fn has_error(v: &Value) -> bool {
    v.get("error").is_some_and(|e| !e.is_null())
}

/// A body as JSON, or the error it is: `NETWORK_ERROR` when it is not JSON (cut off; never
/// quoted), the mapped error when it is an error object or an error list.
fn parse_body(body: &str) -> Result<Value> {
    let v = serde_json::from_str::<Value>(body).map_err(|_| {
        ByokError::new(
            ErrorCode::NetworkError,
            "the answer is not valid JSON (was it cut off?)",
        )
    })?;
    if has_error(&v) || v.as_array().and_then(|a| a.first()).is_some_and(has_error) {
        return Err(embedded_error("", "", &v, &[]));
    }
    Ok(v)
}

fn not_a(what: &str) -> ByokError {
    ByokError::new(
        ErrorCode::ProviderUnavailable,
        format!("the answer is JSON but not {what} (is the base URL right?)"),
    )
}

/// Reads a non-streamed `GenerateContentResponse`, with the same rules as the stream (an
/// answer without a finish reason ends with `other` rather than failing: it is whole).
///
/// # Errors
///
/// `NETWORK_ERROR` when the body is not JSON; the mapped error for an error object;
/// `PROVIDER_UNAVAILABLE` for JSON of another shape.
pub fn parse_chat_response(body: &str) -> Result<ChatResponse> {
    let v = parse_body(body)?;
    if !v.is_object() {
        return Err(not_a("a Gemini answer"));
    }
    let mut answer = Answer::default();
    let mut chunks = Vec::new();
    answer.on_response(v, &mut chunks);
    answer.end(&mut chunks);
    let mut collector = Collector::new("", "");
    for chunk in &chunks {
        collector.push(chunk);
    }
    let r = collector.finish();
    Ok(ChatResponse {
        content: r.content,
        tool_calls: r.tool_calls,
        usage: r.usage,
        finish_reason: r.finish_reason,
        model: answer.model,
        reported_cost: None,
    })
}

/// Reads the answer of [`models_request`].
///
/// Gemini API: `{"models":[{"name":"models/gemini-1.5-pro","supportedGenerationMethods":[…]}]}`
/// → the ids without `models/`, only the models that chat or embed (a model that lists no
/// methods is kept). Vertex AI: a `countTokens` answer → the probe model, the one model the
/// token is known to reach.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for anything else.
pub fn parse_models(dialect: Gemini, body: &str) -> Result<Vec<String>> {
    let v = parse_body(body)?;
    if dialect.vertex {
        if v.get("totalTokens").is_some() {
            return Ok(vec![VERTEX_PROBE_MODEL.to_owned()]);
        }
        return Err(not_a("a countTokens answer"));
    }
    if !v.is_object() {
        return Err(not_a("a model list"));
    }
    let useful = |m: &Value| match m.get("supportedGenerationMethods") {
        Some(Value::Array(methods)) => methods.iter().any(|x| {
            matches!(
                x.as_str(),
                Some("generateContent" | "streamGenerateContent" | "embedContent")
            )
        }),
        _ => true,
    };
    let mut ids: Vec<String> = Vec::new();
    // `{}` is what Google sends for an empty list.
    for m in v
        .get("models")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let Some(name) = str_of(m, "name") else {
            continue;
        };
        let id = name.strip_prefix("models/").unwrap_or(name);
        if useful(m) && !id.is_empty() && !ids.iter().any(|x| x == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

fn vector_of(v: &Value) -> Option<Vec<f64>> {
    v.get("values")?
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect()
}

/// Reads an embeddings answer, vectors in input order: `{"embeddings":[{"values"}]}`
/// (`batchEmbedContents`), `{"embedding":{"values"}}` (`embedContent`), or Vertex's
/// `{"predictions":[{"embeddings":{"values","statistics":{"token_count"}}}]}`.
///
/// The Gemini API reports no token counts for embeddings, so its usage is 0 (nothing is
/// estimated: a guess would be billed as if it were a count); Vertex's `token_count`s are
/// summed.
///
/// # Errors
///
/// The mapped error for an error object; `PROVIDER_UNAVAILABLE` for another shape.
pub fn parse_embeddings(body: &str) -> Result<Embeddings> {
    let v = parse_body(body)?;
    let bad = || not_a("an embeddings answer");
    let mut embeddings = Vec::new();
    let mut tokens = 0u64;
    if let Some(list) = v.get("embeddings").and_then(Value::as_array) {
        for e in list {
            embeddings.push(vector_of(e).ok_or_else(bad)?);
        }
    } else if let Some(one) = v.get("embedding") {
        embeddings.push(vector_of(one).ok_or_else(bad)?);
    } else if let Some(list) = v.get("predictions").and_then(Value::as_array) {
        for p in list {
            let e = p.get("embeddings").ok_or_else(bad)?;
            embeddings.push(vector_of(e).ok_or_else(bad)?);
            let n = e
                .get("statistics")
                .and_then(|s| count(s, "token_count"))
                .unwrap_or(0);
            tokens = tokens.saturating_add(n);
        }
    } else {
        return Err(bad());
    }
    if let Some(u) = v.get("usageMetadata").and_then(usage_of) {
        tokens = tokens.max(u.input_tokens);
    }
    Ok(Embeddings {
        embeddings,
        usage: Usage {
            input_tokens: tokens,
            output_tokens: 0,
            total_tokens: tokens,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What a Google error body says: `{"error":{"code","message","status","details":[…]}}`,
/// alone or as the first element of a list (what the non-SSE stream sends).
#[derive(Default)]
struct GoogleError {
    code: Option<u16>,
    message: Option<String>,
    /// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …
    status: String,
    /// The `reason`s of `google.rpc.ErrorInfo` details (`API_KEY_INVALID`, …).
    reasons: Vec<String>,
    /// `google.rpc.RetryInfo.retryDelay`, in milliseconds.
    retry_ms: Option<u64>,
    /// A quota whose limit is 0: no wait will help (a model the free tier does not offer).
    zero_quota: bool,
}

impl GoogleError {
    fn from_body(body: &str) -> GoogleError {
        serde_json::from_str::<Value>(body)
            .map(|v| GoogleError::from_value(&v))
            .unwrap_or_default()
    }

    fn from_value(v: &Value) -> GoogleError {
        let v = match v {
            Value::Array(items) => match items.first() {
                Some(first) => first,
                None => return GoogleError::default(),
            },
            other => other,
        };
        let mut info = GoogleError::default();
        let e = match v.get("error") {
            Some(Value::String(s)) => {
                info.message = Some(s.clone());
                return info;
            }
            Some(e @ Value::Object(_)) => e,
            _ => v,
        };
        info.code = count(e, "code")
            .filter(|c| (100..=599).contains(c))
            .and_then(|c| u16::try_from(c).ok());
        info.message = str_of(e, "message").map(str::to_owned);
        info.status = str_of(e, "status").unwrap_or_default().to_owned();
        if let Some(details) = e.get("details").and_then(Value::as_array) {
            for d in details {
                if let Some(reason) = str_of(d, "reason") {
                    info.reasons.push(reason.to_owned());
                }
                if d.get("metadata")
                    .and_then(|m| str_of(m, "quota_limit_value"))
                    == Some("0")
                {
                    info.zero_quota = true;
                }
                if let Some(delay) = str_of(d, "retryDelay").and_then(parse_duration_ms) {
                    info.retry_ms = Some(delay);
                }
                if let Some(violations) = d.get("violations").and_then(Value::as_array) {
                    if violations
                        .iter()
                        .any(|q| str_of(q, "quotaValue") == Some("0"))
                    {
                        info.zero_quota = true;
                    }
                }
            }
        }
        if info
            .message
            .as_deref()
            .is_some_and(|m| m.contains("limit: 0,") || m.ends_with("limit: 0"))
        {
            info.zero_quota = true;
        }
        info
    }

    fn has_reason(&self, reason: &str) -> bool {
        self.reasons.iter().any(|r| r == reason)
    }

    fn message_has(&self, words: &str) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains(words))
    }

    /// The token expired (Vertex's ACCESS_TOKEN_EXPIRED, or a message saying so).
    fn token_expired(&self) -> bool {
        self.has_reason("ACCESS_TOKEN_EXPIRED")
            || (self.status == "UNAUTHENTICATED" && self.message_has("expired"))
    }
}

/// A protobuf `Duration` in its JSON form (`"34s"`, `"0.500s"`, `"34.4s"`) in milliseconds,
/// rounded up.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let number = s.trim().strip_suffix('s')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds: f64 = number.parse().ok()?;
    let ms = (seconds * 1000.0).ceil();
    // `as` saturates.
    ms.is_finite().then_some(ms as u64)
}

/// The error code for an HTTP status (or the body's own `code` inside a 200 stream) and what
/// the body says.
fn classify(status: Option<u16>, e: &GoogleError) -> ErrorCode {
    // What the body names beats the status: Gemini refuses a bad key with 400.
    if e.has_reason("API_KEY_INVALID")
        || e.has_reason("API_KEY_EXPIRED")
        || e.message_has("api key not valid")
        || e.message_has("api key not found")
        || e.message_has("api key expired")
        || e.token_expired()
    {
        return ErrorCode::InvalidApiKey;
    }
    // Vertex refuses a project without billing with 403, which is no fault of the token.
    if e.has_reason("BILLING_DISABLED") {
        return ErrorCode::InsufficientQuota;
    }
    let status = status.or(e.code);
    let named = e.status.as_str();
    if matches!(status, Some(401 | 403)) || matches!(named, "UNAUTHENTICATED" | "PERMISSION_DENIED")
    {
        return ErrorCode::InvalidApiKey;
    }
    if status == Some(429) || named == "RESOURCE_EXHAUSTED" {
        return if e.zero_quota {
            ErrorCode::InsufficientQuota
        } else {
            ErrorCode::RateLimited
        };
    }
    if status == Some(404) || named == "NOT_FOUND" {
        // Google's 404 for a model names it; a wrong base URL answers with a web page.
        return if e.message_has("model") {
            ErrorCode::ModelNotFound
        } else {
            ErrorCode::InvalidRequest
        };
    }
    if named == "FAILED_PRECONDITION" && e.message_has("billing") {
        return ErrorCode::InsufficientQuota;
    }
    match status {
        Some(402) => ErrorCode::InsufficientQuota,
        Some(408 | 499) => ErrorCode::NetworkError,
        Some(s) if s >= 500 => ErrorCode::ProviderUnavailable,
        Some(_) => ErrorCode::InvalidRequest,
        None => match named {
            "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
                ErrorCode::InvalidRequest
            }
            "DEADLINE_EXCEEDED" | "CANCELLED" => ErrorCode::NetworkError,
            // An unexplained failure after the answer began is the server's.
            _ => ErrorCode::ProviderUnavailable,
        },
    }
}

/// What to tell people: the body's message, with what to do when the token expired.
fn detail(dialect_vertex: bool, e: &GoogleError, code: ErrorCode, status: Option<u16>) -> String {
    if e.token_expired() {
        return String::from(
            "the OAuth access token has expired; get a fresh one (for example with \
             `gcloud auth print-access-token`) and update the key",
        );
    }
    let base = match &e.message {
        Some(m) => m.clone(),
        None => match status {
            Some(s) => format!("{} (HTTP {s})", generic_detail(code)),
            None => generic_detail(code).to_owned(),
        },
    };
    if dialect_vertex && code == ErrorCode::InvalidApiKey && status == Some(401) {
        // Vertex tokens last an hour: a refused one has most likely expired.
        return format!(
            "{base} (access tokens expire after about an hour: get a fresh one, for example \
             with `gcloud auth print-access-token`)"
        );
    }
    base
}

/// The error for an HTTP answer that is not 2xx.
///
/// 400 `API_KEY_INVALID` (or "API key not valid"), 401, 403 → `INVALID_API_KEY` (an expired
/// Vertex token says so and how to get a new one); 429 `RESOURCE_EXHAUSTED` → `RATE_LIMITED`
/// with `retry_after_ms` from `RetryInfo.retryDelay` (else the header's), except a quota whose
/// limit is 0 → `INSUFFICIENT_QUOTA` (never retried: the model is not in the key's tier);
/// 404 about a model → `MODEL_NOT_FOUND`; 400 `FAILED_PRECONDITION` about billing →
/// `INSUFFICIENT_QUOTA`; other 4xx → `INVALID_REQUEST`; 5xx → `PROVIDER_UNAVAILABLE`.
///
/// The message is the body's own `error.message`, redacted of `secrets` and of anything that
/// looks like a key; the body is never quoted otherwise.
pub fn map_error(
    dialect: Gemini,
    provider_name: &str,
    provider_id: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
    secrets: &[&str],
) -> ByokError {
    let e = GoogleError::from_body(body);
    let code = classify(Some(status), &e);
    // A wait is no cure for a refused key or an empty quota.
    let retry_after_ms = e.retry_ms.or(retry_after_ms).filter(|_| {
        matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ProviderUnavailable | ErrorCode::NetworkError
        )
    });
    let text = detail(dialect.vertex, &e, code, Some(status));
    http_error(
        provider_name,
        provider_id,
        status,
        retry_after_ms,
        code,
        &text,
        secrets,
    )
}

/// The error for an error object inside a 200 answer (its `code` stands for the status).
fn embedded_error(
    provider_name: &str,
    provider_id: &str,
    value: &Value,
    secrets: &[&str],
) -> ByokError {
    let e = GoogleError::from_value(value);
    let code = classify(None, &e);
    let text = detail(false, &e, code, None);
    let err = provider_error(provider_name, provider_id, code, &text, secrets);
    match e.retry_ms.filter(|_| code == ErrorCode::RateLimited) {
        Some(ms) => err.with_retry_after_ms(ms),
        None => err,
    }
}

#[cfg(test)]
mod tests;
