//! An incremental decoder for `text/event-stream` bodies (Server-Sent Events).
//!
//! It follows the WHATWG HTML "event stream interpretation" rules, with three departures that
//! suit LLM streams rather than `EventSource`:
//!
//! - [`SseDecoder::finish`] dispatches an event whose closing blank line never came, because real
//!   recordings (Anthropic's among them) end right after the last `data:` line.
//! - Lines that are neither comments nor `data`/`event`/`id`/`retry` fields are kept as "stray"
//!   text, because a provider that breaks the format mid-stream (a bare JSON error object, a
//!   gateway's HTML page) is telling us why the stream failed.
//! - One event, together with the line being read, is bounded in size, so a hostile or broken
//!   server cannot make the page buffer without limit.
//!
//! The decoder never reconnects, so `retry` is recognised and otherwise ignored.

use std::fmt;
use std::mem;

use crate::core::error::{ByokError, ErrorCode};

/// The default bound on one event: far above any real LLM event (even a base64 image delta),
/// yet small enough that a runaway stream fails before it exhausts a browser tab.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The bound on kept stray text: enough for any provider's error object or the useful head of
/// an HTML error page; the rest of a misbehaving body is dropped.
pub const MAX_STRAY_BYTES: usize = 64 * 1024;

/// A UTF-8 byte order mark, which the spec drops once, at the very start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What [`SseDecoder::judge_stray`] makes of the text outside any event.
#[derive(Clone, Debug, PartialEq)]
pub enum Stray {
    /// None, or only whitespace.
    Nothing,
    /// The start of a JSON value, not complete yet.
    Partial,
    /// A complete JSON value: for the protocol to tell whether it is the provider's error.
    Json(serde_json::Value),
    /// Anything else: the answer is not an event stream.
    Garbage,
}

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `""` when the event had none; callers treat `""` as `"message"`.
    pub event: String,
    /// The `data:` lines of the event, joined with `\n`.
    pub data: String,
    /// The last event ID in force when the event was dispatched. As in the spec it carries over
    /// from earlier events until an `id` field changes it; `None` when no ID was ever set or an
    /// empty `id` field reset it.
    pub id: Option<String>,
}

/// Decodes an event stream that arrives in arbitrary pieces.
///
/// Feed every network read to [`SseDecoder::feed`] as it comes, then call
/// [`SseDecoder::finish`] at end of stream. Reads may split the stream anywhere: inside a line,
/// inside a UTF-8 code point, or between the `\r` and `\n` of a line end.
pub struct SseDecoder {
    /// The start of a line whose end has not arrived yet. Only lines that straddle reads are
    /// copied here; lines complete inside one read are decoded straight from the read.
    line: Vec<u8>,
    /// The data buffer of the event being built.
    data: String,
    /// Whether a `data` field was seen since the last dispatch. Kept apart from `data` because
    /// an empty `data:` line still makes an (empty) event, exactly as in the spec.
    has_data: bool,
    /// The event type buffer.
    event_type: String,
    /// The last event ID; empty means none.
    last_id: String,
    /// Stray lines, joined with `\n`, at most [`MAX_STRAY_BYTES`].
    stray: String,
    /// The bound on `data` plus the line being read.
    max_event_bytes: usize,
    /// The previous read ended in `\r`, which already ended its line; an `\n` opening the next
    /// read is the second half of that same `\r\n`, not a blank line.
    skip_lf: bool,
    /// No line has been decoded yet, so a BOM may still have to be dropped.
    at_stream_start: bool,
    /// The size bound was crossed; the stream is no longer trusted.
    failed: bool,
}

impl SseDecoder {
    /// A decoder bounded at [`DEFAULT_MAX_EVENT_BYTES`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails once one event's data plus the line being read exceed `n` bytes.
    #[must_use]
    pub fn with_max_event_bytes(n: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            event_type: String::new(),
            last_id: String::new(),
            stray: String::new(),
            max_event_bytes: n,
            skip_lf: false,
            at_stream_start: true,
            failed: false,
        }
    }

    /// Decodes one network read, appending every event it completes to `out`.
    ///
    /// A `\r` that ends a read ends its line at once (so the event it completes is not held back
    /// until the next read); an `\n` opening the next read is then taken as part of that `\r\n`.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NetworkError`] once an event's data plus the line being read exceed the
    /// bound; from then on every call returns the same error. Events completed earlier in the
    /// same read are still appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ByokError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut rest = bytes;
        if self.skip_lf {
            if let Some((&first, tail)) = rest.split_first() {
                self.skip_lf = false;
                if first == b'\n' {
                    rest = tail;
                }
            }
        }
        while let Some(end) = find_line_end(rest) {
            let (line, terminator_and_after) = rest.split_at(end);
            rest = match terminator_and_after.split_first() {
                Some((&b'\r', after)) => match after.split_first() {
                    Some((&b'\n', after_lf)) => after_lf,
                    Some(_) => after,
                    None => {
                        self.skip_lf = true;
                        after
                    }
                },
                Some((_, after)) => after,
                None => terminator_and_after,
            };
            self.check_bound(line.len())?;
            if self.line.is_empty() {
                self.process_line(line, out);
            } else {
                self.line.extend_from_slice(line);
                let whole = mem::take(&mut self.line);
                self.process_line(&whole, out);
                self.line = whole;
                self.line.clear();
            }
        }
        if !rest.is_empty() {
            self.check_bound(rest.len())?;
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Ends the stream: decodes an unterminated last line and dispatches the event it belongs
    /// to even without the closing blank line, then resets for a new stream.
    ///
    /// Stray text is kept for [`SseDecoder::take_stray`], since the last line is often the one
    /// that explains a failure.
    ///
    /// # Errors
    ///
    /// The same [`ErrorCode::NetworkError`] as [`SseDecoder::feed`] if the bound was crossed.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), ByokError> {
        if self.failed {
            return Err(self.too_large());
        }
        if !self.line.is_empty() {
            let last = mem::take(&mut self.line);
            self.process_line(&last, out);
            self.line = last;
        }
        self.dispatch(out);
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event_type.clear();
        self.last_id.clear();
        self.skip_lf = false;
        self.at_stream_start = true;
        Ok(())
    }

    /// What the stray text seen so far amounts to. It is kept, not taken: a provider's JSON
    /// error object, sent where events were expected, may arrive over several reads, so each
    /// read looks at all of it again. `prefix` is cut first (llama.cpp's `error: {…}` line).
    pub fn judge_stray(&self, at_end: bool, prefix: Option<&str>) -> Stray {
        let text = self.stray.trim();
        if text.is_empty() {
            return Stray::Nothing;
        }
        let json = prefix
            .and_then(|p| text.strip_prefix(p))
            .map_or(text, str::trim_start);
        match serde_json::from_str::<serde_json::Value>(json) {
            Ok(v) => Stray::Json(v),
            Err(e) if e.is_eof() && !at_end => Stray::Partial,
            Err(_) => Stray::Garbage,
        }
    }

    /// Hands over the stray lines seen so far (joined with `\n`) and forgets them.
    ///
    /// A protocol layer looks here for a provider's `{"error": ...}` object or an HTML error page
    /// that arrived where events were expected.
    pub fn take_stray(&mut self) -> String {
        mem::take(&mut self.stray)
    }

    /// Fails the decoder for good if `extra` more bytes would push the event past the bound.
    fn check_bound(&mut self, extra: usize) -> Result<(), ByokError> {
        let size = self
            .data
            .len()
            .saturating_add(self.line.len())
            .saturating_add(extra);
        if size <= self.max_event_bytes {
            return Ok(());
        }
        self.failed = true;
        // Nothing buffered will ever be dispatched now, so give the memory back.
        self.line = Vec::new();
        self.data = String::new();
        self.event_type = String::new();
        Err(self.too_large())
    }

    /// The bound error. Its message never quotes the stream, which may hold private text.
    fn too_large(&self) -> ByokError {
        ByokError::new(
            ErrorCode::NetworkError,
            format!(
                "the event stream sent an event larger than the {}-byte limit; the stream was abandoned",
                self.max_event_bytes
            ),
        )
    }

    /// Interprets one complete line, without its line end.
    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let mut line = line;
        if self.at_stream_start {
            self.at_stream_start = false;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        let Some((&first, _)) = line.split_first() else {
            self.dispatch(out);
            return;
        };
        if first == b':' {
            return;
        }
        // `:` is ASCII, so splitting bytes before decoding cannot cut a code point.
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (name, colon_and_value) = line.split_at(colon);
                let value = colon_and_value.get(1..).unwrap_or_default();
                (name, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                push_lossy(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => {
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            b"id" => {
                if !value.contains(&0) {
                    self.last_id.clear();
                    push_lossy(&mut self.last_id, value);
                }
            }
            b"retry" => {}
            _ => self.keep_stray(line),
        }
    }

    /// Runs the spec's "dispatch the event" step for a blank line (or end of stream).
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event_type.clear();
            return;
        }
        self.has_data = false;
        // Moving the buffers out hands the event the strings the line bytes were copied into,
        // so complete lines are copied exactly once.
        out.push(SseEvent {
            event: mem::take(&mut self.event_type),
            data: mem::take(&mut self.data),
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
        });
    }

    /// Keeps a stray line, up to [`MAX_STRAY_BYTES`] in all, cut on a code point boundary.
    fn keep_stray(&mut self, line: &[u8]) {
        let separator = usize::from(!self.stray.is_empty());
        let room = MAX_STRAY_BYTES.saturating_sub(self.stray.len().saturating_add(separator));
        if room == 0 {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        if separator == 1 {
            self.stray.push('\n');
        }
        self.stray.push_str(text.get(..end).unwrap_or_default());
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows sizes and state only: the buffers hold stream text that has no place in logs.
impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("max_event_bytes", &self.max_event_bytes)
            .field("pending_line_bytes", &self.line.len())
            .field("pending_data_bytes", &self.data.len())
            .field("stray_bytes", &self.stray.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Appends `bytes` decoded as UTF-8, with U+FFFD for invalid sequences as browsers do.
///
/// `from_utf8` checks valid text (nearly all of it) much faster than `from_utf8_lossy`, so the
/// lossy path is only taken for text that needs it.
fn push_lossy(dst: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => dst.push_str(text),
        Err(_) => dst.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// The index of the first `\r` or `\n` in `bytes`.
///
/// Lines of LLM streams run to hundreds of bytes, so this skips eight bytes at a time with the
/// classic "has a zero byte" word test before pinning the position down byte by byte.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CRS: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let mut start = 0;
    for word in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let word = u64::from_ne_bytes(word);
        let lf = word ^ LFS;
        let cr = word ^ CRS;
        if ((lf.wrapping_sub(ONES) & !lf) | (cr.wrapping_sub(ONES) & !cr)) & HIGHS != 0 {
            break;
        }
        start += 8;
    }
    let rest = bytes.get(start..)?;
    rest.iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI_TEXT: &[u8] = include_bytes!("../../tests/fixtures/openai-chat.text.raw.sse.txt");
    const OPENAI_TOOL_CALL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat.tool-call.raw.sse.txt");
    const OPENAI_FINISH_LENGTH: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat.finish-length-usage.raw.sse.txt");
    const OPENAI_PARALLEL_TOOLS: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat.parallel-tool-calls.raw.sse.txt");
    const ANTHROPIC_BASIC: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic.basic-response.raw.sse.txt");
    const ANTHROPIC_TOOL_USE: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic.tool-use-response.raw.sse.txt");

    /// What one decoding run produced: the events, the stray text, and whether it failed.
    #[derive(Debug, PartialEq)]
    struct Decoded {
        events: Vec<SseEvent>,
        stray: String,
        failed: bool,
    }

    fn decode_with<'a>(
        mut decoder: SseDecoder,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Decoded {
        let mut events = Vec::new();
        let mut failed = false;
        for chunk in chunks {
            if decoder.feed(chunk, &mut events).is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            failed = decoder.finish(&mut events).is_err();
        }
        Decoded {
            events,
            stray: decoder.take_stray(),
            failed,
        }
    }

    fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
        decode_with(SseDecoder::new(), chunks)
    }

    fn decode(bytes: &[u8]) -> Decoded {
        decode_chunks([bytes])
    }

    /// Decodes `bytes` whole, then in every chunking the tests care about, and insists the
    /// results agree.
    fn decode_every_way_with(bytes: &[u8], make: impl Fn() -> SseDecoder) -> Decoded {
        let whole = decode_with(make(), [bytes]);
        for size in [1, 2, 3, 7] {
            assert_eq!(
                decode_with(make(), bytes.chunks(size)),
                whole,
                "chunks of {size} bytes"
            );
        }
        for split in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(split);
            assert_eq!(
                decode_with(make(), [head, tail]),
                whole,
                "split at byte {split}"
            );
        }
        whole
    }

    fn decode_every_way(bytes: &[u8]) -> Decoded {
        decode_every_way_with(bytes, SseDecoder::new)
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn openai_fixtures_decode_the_same_in_every_chunking() {
        let table: [(&str, &[u8], usize); 4] = [
            ("openai-chat.text", OPENAI_TEXT, 34),
            ("openai-chat.tool-call", OPENAI_TOOL_CALL, 11),
            ("openai-chat.finish-length-usage", OPENAI_FINISH_LENGTH, 5),
            ("openai-chat.parallel-tool-calls", OPENAI_PARALLEL_TOOLS, 26),
        ];
        for (name, bytes, count) in table {
            let decoded = decode_every_way(bytes);
            assert!(!decoded.failed, "{name}");
            assert_eq!(decoded.stray, "", "{name}");
            assert_eq!(decoded.events.len(), count, "{name}");
            let (last, chunks) = decoded.events.split_last().unwrap();
            assert_eq!(last, &ev("", "[DONE]", None), "{name}");
            for event in chunks {
                assert_eq!(event.event, "", "{name}");
                assert_eq!(event.id, None, "{name}");
                assert!(event.data.starts_with("{\"id\":\"chatcmpl-"), "{name}");
                assert!(event.data.ends_with('}'), "{name}");
                assert!(event.data.contains("\"object\":\"chat.completion.chunk\""));
            }
        }
        let text = decode(OPENAI_TEXT).events;
        assert!(text[0].data.contains("\"role\":\"assistant\""));
        assert!(text[1].data.contains("\"content\":\"I'm\""));
    }

    #[test]
    fn anthropic_fixtures_decode_the_same_in_every_chunking() {
        let table: [(&str, &[u8], &[&str]); 2] = [
            (
                "anthropic.basic-response",
                ANTHROPIC_BASIC,
                &[
                    "message_start",
                    "content_block_start",
                    "ping",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_stop",
                    "message_delta",
                    "message_stop",
                ],
            ),
            (
                "anthropic.tool-use-response",
                ANTHROPIC_TOOL_USE,
                &[
                    "message_start",
                    "content_block_start",
                    "ping",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_stop",
                    "content_block_start",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_delta",
                    "content_block_stop",
                    "message_delta",
                    "message_stop",
                ],
            ),
        ];
        for (name, bytes, names) in table {
            assert!(
                !bytes.ends_with(b"\n"),
                "{name} should lack the final line end"
            );
            let decoded = decode_every_way(bytes);
            assert!(!decoded.failed, "{name}");
            assert_eq!(decoded.stray, "", "{name}");
            let got: Vec<&str> = decoded.events.iter().map(|e| e.event.as_str()).collect();
            assert_eq!(got, names, "{name}");
            for event in &decoded.events {
                // Each payload names its own type first (the ping is spaced: `{"type": "ping"}`).
                let tag = format!("{{\"type\":\"{}\"", event.event);
                let compact = event.data.replace("\": \"", "\":\"");
                assert!(compact.starts_with(&tag), "{name}: {}", event.data);
                assert_eq!(event.id, None);
            }
            assert_eq!(
                decoded.events.last().unwrap(),
                &ev("message_stop", "{\"type\":\"message_stop\"}", None)
            );

            // The last event is still pending after the whole file is fed: only finish() ends it.
            let mut decoder = SseDecoder::new();
            let mut out = Vec::new();
            decoder.feed(bytes, &mut out).unwrap();
            assert_eq!(out.len(), names.len() - 1, "{name}");
            assert_eq!(out.last().unwrap().event, "message_delta");
            decoder.finish(&mut out).unwrap();
            assert_eq!(out.len(), names.len(), "{name}");
            assert_eq!(out.last().unwrap().event, "message_stop");
        }
        let basic = decode(ANTHROPIC_BASIC).events;
        assert!(basic[4].data.contains("\"text\":\" there\""));
    }

    #[test]
    fn framing_and_fields_follow_the_spec() {
        type Case = (
            &'static str,
            &'static [u8],
            &'static [(&'static str, &'static str)],
        );
        let table: &[Case] = &[
            (
                "CRLF framing (Gemini)",
                b"data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n",
                &[("", "{\"a\":1}"), ("", "{\"b\":2}")],
            ),
            (
                "lone CR line ends",
                b"event: x\rdata: 1\r\rdata: 2\r\r",
                &[("x", "1"), ("", "2")],
            ),
            (
                "mixed line ends",
                b"data: a\r\ndata: b\rdata: c\n\r\n\r\rdata: d\n\n",
                &[("", "a\nb\nc"), ("", "d")],
            ),
            ("LF CR is two line ends", b"data: a\n\r", &[("", "a")]),
            (
                "comments are ignored",
                b": ping\n\ndata: x\n: keep-alive\n\n:\n\n",
                &[("", "x")],
            ),
            (
                "multi-line data joins with LF",
                b"data: a\ndata: b\ndata:\ndata: c\n\n",
                &[("", "a\nb\n\nc")],
            ),
            (
                "event without data is not dispatched and its name resets",
                b"event: ping\n\ndata: x\n\n",
                &[("", "x")],
            ),
            (
                "event name resets after each dispatch",
                b"event: one\ndata: 1\n\ndata: 2\n\nevent: three\ndata: 3\n\n",
                &[("one", "1"), ("", "2"), ("three", "3")],
            ),
            (
                "the last event field wins",
                b"event: a\nevent: b\ndata: x\n\n",
                &[("b", "x")],
            ),
            ("data with no colon is empty data", b"data\n\n", &[("", "")]),
            ("two bare data lines", b"data\ndata\n\n", &[("", "\n")]),
            ("empty data value", b"data:\n\n", &[("", "")]),
            ("data without space", b"data:x\n\n", &[("", "x")]),
            (
                "only one space is stripped",
                b"data:  two\n\n",
                &[("", " two")],
            ),
            (
                "colons after the first stay in the value",
                b"data: a:b: c\n\n",
                &[("", "a:b: c")],
            ),
            ("field names are case-sensitive", b"Data: x\n\n", &[]),
            (
                "retry is recognised and ignored",
                b"retry: 3000\nretry: soon\nretry\ndata: x\n\n",
                &[("", "x")],
            ),
            ("blank lines alone do nothing", b"\n\n\r\n\r\r\n", &[]),
            ("empty stream", b"", &[]),
            (
                "BOM is dropped",
                "\u{FEFF}data: x\n\n".as_bytes(),
                &[("", "x")],
            ),
            (
                "only the first BOM is dropped",
                "\u{FEFF}\u{FEFF}data: x\n\ndata: y\n\n".as_bytes(),
                &[("", "y")],
            ),
            (
                "a BOM after the first line is content",
                "data: a\n\n\u{FEFF}data: b\n\n".as_bytes(),
                &[("", "a")],
            ),
            (
                "BOM alone on the first line",
                "\u{FEFF}\ndata: x\n\n".as_bytes(),
                &[("", "x")],
            ),
            (
                "invalid UTF-8 becomes U+FFFD",
                b"data: a\xFFb\xC3\n\nevent: \xE2\x82\ndata: \xF0\x9F\x98\x80\xED\xA0\x80\n\n",
                &[
                    ("", "a\u{FFFD}b\u{FFFD}"),
                    ("\u{FFFD}", "\u{1F600}\u{FFFD}\u{FFFD}\u{FFFD}"),
                ],
            ),
            (
                "multi-byte text",
                "event: ÿ€\ndata: héllo 😀 世界\n\n".as_bytes(),
                &[("ÿ€", "héllo 😀 世界")],
            ),
            (
                "an unterminated last line is dispatched at finish",
                b"data: x",
                &[("", "x")],
            ),
            (
                "a missing blank line is forgiven at finish",
                b"event: e\ndata: x\n",
                &[("e", "x")],
            ),
            (
                "a trailing lone CR ends the last line",
                b"data: x\r",
                &[("", "x")],
            ),
            (
                "event without data at end of stream",
                b"data: x\n\nevent: only",
                &[("", "x")],
            ),
        ];
        for (name, input, expected) in table {
            let decoded = decode_every_way(input);
            let want: Vec<SseEvent> = expected.iter().map(|(e, d)| ev(e, d, None)).collect();
            assert_eq!(decoded.events, want, "{name}");
            assert!(!decoded.failed, "{name}");
        }
    }

    #[test]
    fn ids_persist_reset_and_refuse_nul() {
        let decoded = decode_every_way(
            b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 7\n\nid: x\0y\ndata: d\n\nid:\ndata: e\n\n",
        );
        assert_eq!(
            decoded.events,
            [
                ev("", "a", Some("1")),
                ev("", "b", Some("1")),
                ev("", "c", None),
                ev("", "d", Some("7")),
                ev("", "e", None),
            ]
        );
        assert_eq!(decoded.stray, "");
    }

    #[test]
    fn cr_at_the_end_of_a_read_joins_an_lf_in_the_next() {
        // Were the LF taken as a line of its own, "a" would be dispatched alone.
        let decoded = decode_chunks([&b"data: a\r"[..], b"\ndata: b\r\n\r", b"\n"]);
        assert_eq!(decoded.events, [ev("", "a\nb", None)]);

        // Two CRs are two line ends, wherever the read ends.
        let decoded = decode_chunks([&b"data: a\r"[..], b"\rdata: b\r\r"]);
        assert_eq!(decoded.events, [ev("", "a", None), ev("", "b", None)]);

        // An empty read between the CR and the LF changes nothing.
        let decoded = decode_chunks([&b"data: a\r"[..], b"", b"\n\r", b"", b"\n"]);
        assert_eq!(decoded.events, [ev("", "a", None)]);

        // A completed CRLF event is available without waiting for another read.
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(b"data: a\r\n\r", &mut out).unwrap();
        assert_eq!(out, [ev("", "a", None)]);
        decoder.feed(b"\ndata: b\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, [ev("", "a", None), ev("", "b", None)]);
    }

    #[test]
    fn an_emoji_split_at_every_offset_survives() {
        let emoji = "😀".as_bytes();
        assert_eq!(emoji.len(), 4);
        for offset in 0..=emoji.len() {
            let (first, second) = emoji.split_at(offset);
            let head = [&b"data: <"[..], first].concat();
            let tail = [second, b">\n\n"].concat();
            let decoded = decode_chunks([head.as_slice(), tail.as_slice()]);
            assert_eq!(decoded.events, [ev("", "<😀>", None)], "offset {offset}");
        }
        // And byte by byte, with the emoji on a line that straddles many reads.
        let stream = "data: 😀😀\ndata: 😀\n\n".as_bytes();
        let decoded = decode_every_way(stream);
        assert_eq!(decoded.events, [ev("", "😀😀\n😀", None)]);
    }

    #[test]
    fn events_are_appended_to_what_out_already_holds() {
        let mut decoder = SseDecoder::default();
        let mut out = vec![ev("old", "kept", None)];
        decoder.feed(b"data: 1\n\ndata: 2\n\n", &mut out).unwrap();
        assert_eq!(
            out,
            [
                ev("old", "kept", None),
                ev("", "1", None),
                ev("", "2", None)
            ]
        );
    }

    #[test]
    fn stray_json_error_is_captured() {
        // Gemini answering a bare, pretty-printed error object in the middle of an SSE stream.
        let error = "{\n  \"error\": {\n    \"code\": 429,\n    \"message\": \"Resource exhausted\",\n    \"status\": \"RESOURCE_EXHAUSTED\"\n  }\n}";
        let stream = format!("data: {{\"candidates\":[]}}\r\n\r\n{error}\n");
        let decoded = decode_every_way(stream.as_bytes());
        assert_eq!(decoded.events, [ev("", "{\"candidates\":[]}", None)]);
        assert_eq!(decoded.stray, error);

        // A gateway's HTML page, CRLF and without a final line end.
        let html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>";
        let decoded = decode_every_way(html);
        assert_eq!(decoded.events, []);
        assert_eq!(
            decoded.stray,
            "<html>\n<head><title>502 Bad Gateway</title></head>\n</html>"
        );
    }

    #[test]
    fn take_stray_hands_over_and_clears() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder
            .feed(b"{\"error\": \"bad\"}\ndata: x\n\n", &mut out)
            .unwrap();
        assert_eq!(decoder.take_stray(), "{\"error\": \"bad\"}");
        assert_eq!(decoder.take_stray(), "");
        decoder.feed(b"unknown: field\n", &mut out).unwrap();
        // finish() keeps stray text: the protocol layer reads it after the stream ends.
        decoder.finish(&mut out).unwrap();
        assert_eq!(decoder.take_stray(), "unknown: field");
        assert_eq!(out, [ev("", "x", None)]);
    }

    #[test]
    fn stray_text_is_bounded() {
        let line = "é".repeat(600); // 1200 bytes, all two-byte code points
        let stream = format!("{line}\n").repeat(100);
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(stream.as_bytes(), &mut out).unwrap();
        decoder.finish(&mut out).unwrap();
        let stray = decoder.take_stray();
        assert!(stray.len() <= MAX_STRAY_BYTES);
        assert!(stray.len() > MAX_STRAY_BYTES - 4);
        let full = vec![line; 100].join("\n");
        assert!(full.starts_with(&stray));
        assert!(out.is_empty());
    }

    #[test]
    fn the_size_bound_is_an_error_that_sticks() {
        const SECRET: &str = "private-user-text";
        // Exactly at the bound is fine: the line "data: " plus 58 bytes is 64 bytes.
        let fits = format!("data: {}\n\n", "a".repeat(58));
        let decoded =
            decode_every_way_with(fits.as_bytes(), || SseDecoder::with_max_event_bytes(64));
        assert!(!decoded.failed);
        assert_eq!(decoded.events.len(), 1);

        let table: [(&str, String); 4] = [
            ("one line too long", format!("data: {}\n\n", "a".repeat(59))),
            (
                "data lines accumulating",
                format!("data: {SECRET}\n").repeat(10),
            ),
            ("an endless line", format!("data: {SECRET}").repeat(10)),
            ("an endless stray line", SECRET.repeat(10)),
        ];
        for (name, stream) in table {
            let decoded =
                decode_every_way_with(stream.as_bytes(), || SseDecoder::with_max_event_bytes(64));
            assert!(decoded.failed, "{name}");
            assert!(decoded.events.is_empty(), "{name}");

            let mut decoder = SseDecoder::with_max_event_bytes(64);
            let mut out = Vec::new();
            let mut result = Ok(());
            for piece in stream.as_bytes().chunks(5) {
                result = decoder.feed(piece, &mut out);
                if result.is_err() {
                    break;
                }
            }
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::NetworkError, "{name}");
            assert!(error.message.contains("64-byte limit"), "{name}");
            assert!(!error.message.contains(SECRET), "{name}");
            assert!(!error.message.contains("aaa"), "{name}");
            // It sticks, whatever comes next.
            assert_eq!(
                decoder.feed(b"\n\ndata: ok\n\n", &mut out),
                Err(error.clone())
            );
            assert_eq!(decoder.feed(b"", &mut out), Err(error.clone()));
            assert_eq!(decoder.finish(&mut out), Err(error.clone()));
            assert!(out.is_empty(), "{name}");
        }

        // Events completed before the offending line are still delivered.
        let mut decoder = SseDecoder::with_max_event_bytes(16);
        let mut out = Vec::new();
        let result = decoder.feed(b"data: ok\n\ndata: this is far too long\n\n", &mut out);
        assert!(result.is_err());
        assert_eq!(out, [ev("", "ok", None)]);
    }

    #[test]
    fn finish_resets_for_a_new_stream() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder
            .feed(b"id: 1\nevent: e\ndata: pend", &mut out)
            .unwrap();
        assert!(out.is_empty());
        decoder.finish(&mut out).unwrap();
        assert_eq!(out, [ev("e", "pend", Some("1"))]);
        out.clear();
        decoder
            .feed("\u{FEFF}data: again\n\n".as_bytes(), &mut out)
            .unwrap();
        decoder.finish(&mut out).unwrap();
        assert_eq!(out, [ev("", "again", None)]);
        decoder.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn debug_output_does_not_show_stream_text() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder
            .feed(b"data: hidden\nstray text\npartial", &mut out)
            .unwrap();
        let shown = format!("{decoder:?}");
        assert!(!shown.contains("hidden"));
        assert!(!shown.contains("stray text"));
        assert!(!shown.contains("partial"));
        assert!(shown.contains("pending_data_bytes: 6"));
    }

    #[test]
    fn find_line_end_agrees_with_a_plain_scan() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        let alphabet: &[u8] = b"ab\r\n\x0b\x0c\x0e\x8a\x8d\xff\x00";
        for _ in 0..2000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(8) == 0 {
                        alphabet[rng.below(alphabet.len())]
                    } else {
                        b'a' + rng.below(26) as u8
                    }
                })
                .collect();
            let plain = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
            assert_eq!(find_line_end(&bytes), plain, "{bytes:?}");
        }
    }

    /// A tiny xorshift64 generator: deterministic, no dependencies.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn char(&mut self) -> char {
            let code = match self.below(10) {
                0..=4 => 0x20 + self.below(0x5F) as u32,
                5 => 0x80 + self.below(0x780) as u32,
                6 => 0x800 + self.below(0xD000) as u32,
                7 => 0x1_0000 + self.below(0x10_0000) as u32,
                8 => '\n' as u32,
                _ => [b':' as u32, b' ' as u32, 0, 0xFEFF][self.below(4)],
            };
            char::from_u32(code).unwrap()
        }

        fn text(&mut self, max_chars: usize) -> String {
            let len = self.below(max_chars + 1);
            (0..len).map(|_| self.char()).collect()
        }
    }

    #[test]
    fn random_streams_round_trip_in_random_chunks() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let mut last_id: Option<String> = None;
        let events = 2000;
        for index in 0..events {
            // One line-end style per event, so a CR is never followed by an LF-only blank line,
            // which the format itself would read as one CRLF.
            let eol: &[u8] = [&b"\n"[..], b"\r\n", b"\r"][rng.below(3)];
            let line = |stream: &mut Vec<u8>, text: &str| {
                stream.extend_from_slice(text.as_bytes());
                stream.extend_from_slice(eol);
            };
            if rng.below(4) == 0 {
                line(
                    &mut stream,
                    &format!(":{}", rng.text(8).replace(['\n', '\r'], "")),
                );
            }
            let name = if rng.below(2) == 0 {
                String::new()
            } else {
                let name = format!("type{}", rng.below(1000));
                line(&mut stream, &format!("event: {name}"));
                name
            };
            match rng.below(4) {
                0 => {
                    let id = format!("id-{}-é", rng.below(1_000_000));
                    line(&mut stream, &format!("id: {id}"));
                    last_id = Some(id);
                }
                1 if rng.below(4) == 0 => {
                    line(&mut stream, "id");
                    last_id = None;
                }
                _ => {}
            }
            let data = rng.text(40);
            for part in data.split('\n') {
                if part.starts_with(' ') || rng.below(2) == 0 {
                    line(&mut stream, &format!("data: {part}"));
                } else {
                    line(&mut stream, &format!("data:{part}"));
                }
            }
            if rng.below(5) == 0 {
                line(&mut stream, "retry: 1000");
            }
            let last = index + 1 == events;
            if !last || rng.below(2) == 0 {
                stream.extend_from_slice(eol);
            }
            expected.push(SseEvent {
                event: name,
                data,
                id: last_id.clone(),
            });
        }

        for round in 0..20 {
            let mut decoder = SseDecoder::new();
            let mut out = Vec::new();
            let mut rest = stream.as_slice();
            while !rest.is_empty() {
                let size = rng
                    .below(if round % 2 == 0 { 8 } else { 300 })
                    .min(rest.len());
                let (chunk, tail) = rest.split_at(size);
                decoder.feed(chunk, &mut out).unwrap();
                rest = tail;
            }
            decoder.finish(&mut out).unwrap();
            assert_eq!(out.len(), expected.len(), "round {round}");
            assert_eq!(out, expected, "round {round}");
            assert_eq!(decoder.take_stray(), "", "round {round}");
        }
    }

    #[test]
    fn random_bytes_never_panic_and_never_depend_on_chunking() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let alphabet: &[u8] =
            b"data:event:id:retry: \r\n\r\n\n\r\0:x{}\xEF\xBB\xBF\xF0\x9F\x98\x80\xFF\xC3";
        for _ in 0..300 {
            let len = rng.below(400);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            let bound = 1 + rng.below(200);
            let make = || SseDecoder::with_max_event_bytes(bound);
            let whole = decode_with(make(), [bytes.as_slice()]);
            let mut pieces = Vec::new();
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(rng.below(9).min(rest.len()));
                pieces.push(piece);
                rest = tail;
            }
            assert_eq!(decode_with(make(), pieces), whole);
            assert_eq!(decode_with(make(), bytes.chunks(1)), whole);
        }
    }

    #[test]
    fn stray_text_is_judged_whole_across_reads() {
        let mut d = SseDecoder::new();
        let mut events = Vec::new();
        assert_eq!(d.judge_stray(false, None), Stray::Nothing);
        d.feed(b"{\n  \"error\": {\n", &mut events).unwrap();
        assert_eq!(d.judge_stray(false, None), Stray::Partial);
        assert_eq!(
            d.judge_stray(true, None),
            Stray::Garbage,
            "cut off at the end"
        );
        d.feed(b"    \"message\": \"no\"\n  }\n}\n", &mut events)
            .unwrap();
        match d.judge_stray(false, None) {
            Stray::Json(v) => assert_eq!(v["error"]["message"], "no"),
            other => panic!("{other:?}"),
        }
        let mut d = SseDecoder::new();
        d.feed(b"error: {\"code\":500}\n", &mut events).unwrap();
        assert!(matches!(
            d.judge_stray(false, Some("error:")),
            Stray::Json(_)
        ));
        let mut d = SseDecoder::new();
        d.feed(b"<html>Bad gateway</html>\n", &mut events).unwrap();
        assert_eq!(d.judge_stray(false, None), Stray::Garbage);
        assert!(events.is_empty());
    }
}
