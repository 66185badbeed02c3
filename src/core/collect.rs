//! Folds stream chunks into the one result of `collectStream` and `sendChat`.

use serde::Serialize;

use crate::core::chat::{FinishReason, ToolCall, Usage};
use crate::core::protocol::{ChatResponse, Chunk};

/// What `collectStream` and `sendChat` resolve to:
/// `{ content, toolCalls, usage, cost, finishReason, provider, model }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatResult {
    /// The answer's text.
    pub content: String,
    /// The calls the model made, `{ id, name, arguments }`, in the order they began.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    pub usage: Usage,
    /// USD from the catalog; `null` when it has no price for the model.
    pub cost: Option<f64>,
    /// Why generation stopped (`other` if the stream never said).
    pub finish_reason: FinishReason,
    /// The provider id.
    pub provider: String,
    /// The model id.
    pub model: String,
}

impl ChatResult {
    /// The result of a non-streamed answer; `cost` is the caller's to fill in.
    pub fn from_response(
        response: ChatResponse,
        provider: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        let mut tool_calls = response.tool_calls;
        for call in &mut tool_calls {
            complete_arguments(call);
        }
        ChatResult {
            content: response.content,
            tool_calls,
            usage: response.usage,
            cost: None,
            finish_reason: response.finish_reason,
            provider: provider.into(),
            model: model.into(),
        }
    }
}

/// Builds a [`ChatResult`] from the chunks of a stream, in order.
#[derive(Clone, Debug)]
pub struct Collector {
    result: ChatResult,
}

impl Collector {
    /// A collector for a call to `model` of `provider` (the ids reported in the result).
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Collector {
            result: ChatResult {
                content: String::new(),
                tool_calls: Vec::new(),
                usage: Usage::default(),
                cost: None,
                finish_reason: FinishReason::Other,
                provider: provider.into(),
                model: model.into(),
            },
        }
    }

    /// Takes the next chunk: text is appended, tool-call pieces are joined by call id (a new
    /// id starts a new call), the latest usage wins, `done` sets finish reason, usage and cost.
    pub fn push(&mut self, chunk: &Chunk) {
        let r = &mut self.result;
        match chunk {
            Chunk::Content { delta } => r.content.push_str(delta),
            Chunk::ToolCall {
                id,
                name,
                arguments_delta,
            } => match r.tool_calls.iter_mut().find(|c| &c.id == id) {
                Some(call) => {
                    if call.name.is_empty() {
                        call.name.clone_from(name);
                    }
                    call.arguments.push_str(arguments_delta);
                }
                None => r.tool_calls.push(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: arguments_delta.clone(),
                }),
            },
            Chunk::Usage { usage } => r.usage = *usage,
            Chunk::Wait { .. } => {}
            Chunk::Done {
                finish_reason,
                usage,
                cost,
            } => {
                r.finish_reason = *finish_reason;
                r.usage = *usage;
                r.cost = *cost;
            }
        }
    }

    /// The result so far (all of it after `done`).
    pub fn result(&self) -> &ChatResult {
        &self.result
    }

    /// The result. A call whose arguments never came gets `{}`: `arguments` is JSON text, and
    /// a call without arguments streams none (Anthropic sends `""`).
    pub fn finish(self) -> ChatResult {
        let mut result = self.result;
        for call in &mut result.tool_calls {
            complete_arguments(call);
        }
        result
    }
}

fn complete_arguments(call: &mut ToolCall) {
    if call.arguments.trim().is_empty() {
        call.arguments = String::from("{}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::protocol::openai::OpenAiStream;
    use crate::core::protocol::{Endpoint, StreamDecoder};

    const TOOL_CALL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat.tool-call.raw.sse.txt");
    const PARALLEL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat.parallel-tool-calls.raw.sse.txt");

    fn decode(bytes: &[u8]) -> Vec<Chunk> {
        let ep = Endpoint {
            provider: "openai",
            base_url: "https://api.openai.com/v1",
            secret: "sk-test",
        };
        let mut d = OpenAiStream::new("OpenAI", &ep);
        let mut out = Vec::new();
        for piece in bytes.chunks(97) {
            d.feed(piece, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn collects_the_tool_call_fixture() {
        let mut c = Collector::new("openai", "gpt-4o");
        for chunk in decode(TOOL_CALL) {
            c.push(&chunk);
        }
        let r = c.finish();
        assert_eq!(r.content, "");
        assert_eq!(
            r.tool_calls,
            [ToolCall {
                id: "call_4XzlGBLtUe9dy3GVNV4jhq7h".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"New York City"}"#.into(),
            }]
        );
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 44,
                output_tokens: 16,
                total_tokens: 60
            }
        );
        assert_eq!(r.cost, None);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "content": "",
                "toolCalls": [{
                    "id": "call_4XzlGBLtUe9dy3GVNV4jhq7h",
                    "name": "get_weather",
                    "arguments": "{\"city\":\"New York City\"}"
                }],
                "usage": { "inputTokens": 44, "outputTokens": 16, "totalTokens": 60 },
                "cost": null,
                "finishReason": "tool_calls",
                "provider": "openai",
                "model": "gpt-4o"
            })
        );
    }

    #[test]
    fn collects_parallel_calls_in_first_seen_order() {
        let mut c = Collector::new("openai", "gpt-4o");
        for chunk in decode(PARALLEL) {
            c.push(&chunk);
        }
        let r = c.finish();
        let ids: Vec<_> = r.tool_calls.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "call_JMW1whyEaYG438VE1OIflxA2",
                "call_DNYTawLBoN8fj3KN6qU9N1Ou"
            ]
        );
        let args: Vec<serde_json::Value> = r
            .tool_calls
            .iter()
            .map(|t| serde_json::from_str(&t.arguments).unwrap())
            .collect();
        assert_eq!(
            args,
            [
                serde_json::json!({"city": "Edinburgh", "country": "GB", "units": "c"}),
                serde_json::json!({"ticker": "AAPL", "exchange": "NASDAQ"}),
            ]
        );
    }

    #[test]
    fn interleaved_pieces_text_cost_and_empty_arguments() {
        let mut c = Collector::new("xai", "grok-4");
        let call = |id: &str, name: &str, a: &str| Chunk::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments_delta: a.into(),
        };
        let usage = Usage {
            input_tokens: 1,
            output_tokens: 2,
            total_tokens: 3,
        };
        for chunk in [
            Chunk::Content {
                delta: "Hel".into(),
            },
            call("b", "second", ""),
            call("a", "first", "{\"x\":"),
            Chunk::Content { delta: "lo".into() },
            call("a", "first", "1}"),
            Chunk::Usage { usage },
            Chunk::Done {
                finish_reason: FinishReason::ToolCalls,
                usage,
                cost: Some(0.5),
            },
        ] {
            c.push(&chunk);
        }
        assert_eq!(c.result().tool_calls.first().unwrap().arguments, "");
        let r = c.finish();
        assert_eq!(r.content, "Hello");
        assert_eq!(
            r.tool_calls,
            [
                ToolCall {
                    id: "b".into(),
                    name: "second".into(),
                    arguments: "{}".into()
                },
                ToolCall {
                    id: "a".into(),
                    name: "first".into(),
                    arguments: "{\"x\":1}".into()
                },
            ]
        );
        assert_eq!(r.usage, usage);
        assert_eq!(r.cost, Some(0.5));
        assert_eq!(r.provider, "xai");
        assert_eq!(r.model, "grok-4");
    }

    #[test]
    fn without_done_the_reason_is_other() {
        let mut c = Collector::new("openai", "gpt-4o");
        c.push(&Chunk::Content { delta: "x".into() });
        let r = c.finish();
        assert_eq!(r.finish_reason, FinishReason::Other);
        assert_eq!(r.usage, Usage::default());
    }

    #[test]
    fn from_a_whole_response() {
        let response = ChatResponse {
            content: "hi".into(),
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: String::new(),
            }],
            usage: Usage::default(),
            finish_reason: FinishReason::ToolCalls,
            model: Some("gpt-4o-2024-08-06".into()),
            reported_cost: None,
        };
        let r = ChatResult::from_response(response, "openai", "gpt-4o");
        assert_eq!(r.tool_calls.first().unwrap().arguments, "{}");
        assert_eq!(r.model, "gpt-4o");
        assert_eq!(r.content, "hi");
    }
}
