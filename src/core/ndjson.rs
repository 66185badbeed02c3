//! An incremental decoder for newline-delimited JSON bodies (NDJSON, `application/x-ndjson`), the
//! stream format of Ollama's native API: one JSON value per line.
//!
//! Like [`crate::core::sse`] it takes the body in whatever pieces the network delivers (a line
//! split across reads, a UTF-8 code point split across reads, `\r\n` split between them) and gives
//! the same lines for every chunking. It does not parse JSON: the protocol layer does, so that it
//! can tell an error object from an answer.
//!
//! Rules:
//! - Lines end with `\n`; a `\r` before it is dropped (some proxies rewrite line ends). A lone
//!   `\r` is not a line end: JSON text never holds a raw one, so it can only be noise.
//! - Blank lines (only spaces, tabs, `\r`) are skipped.
//! - A UTF-8 byte order mark at the very start is dropped.
//! - Bytes that are not UTF-8 are replaced (U+FFFD); the JSON parser then decides.
//! - One line is bounded in size, so a hostile or broken server cannot make the page buffer
//!   without limit; crossing the bound fails the decoder for good.
//! - [`NdjsonDecoder::finish`] hands over a last line that has no final `\n` (a server may end
//!   the body right after the last object), then resets for a new stream.

use std::fmt;

use crate::core::error::{ByokError, ErrorCode};

/// The default bound on one line: far above any real object (even one carrying a base64 image),
/// small enough that a runaway stream fails before it exhausts a browser tab.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes an NDJSON body that arrives in arbitrary pieces.
///
/// Feed every network read to [`NdjsonDecoder::feed`], then call [`NdjsonDecoder::finish`] at
/// the end of the body.
pub struct NdjsonDecoder {
    /// The start of a line whose end has not arrived yet. Only lines that straddle reads are
    /// copied here; lines complete inside one read are decoded straight from the read.
    line: Vec<u8>,
    max_line_bytes: usize,
    /// Nothing has been read yet, so a BOM may still have to be dropped.
    at_stream_start: bool,
    /// The size bound was crossed; the stream is no longer trusted.
    failed: bool,
}

impl fmt::Debug for NdjsonDecoder {
    /// Sizes only: the buffered text is the model's answer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NdjsonDecoder")
            .field("pending_bytes", &self.line.len())
            .field("max_line_bytes", &self.max_line_bytes)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    /// A decoder bounded at [`DEFAULT_MAX_LINE_BYTES`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_line_bytes(DEFAULT_MAX_LINE_BYTES)
    }

    /// A decoder that fails once one line (without its line end) exceeds `n` bytes.
    #[must_use]
    pub fn with_max_line_bytes(n: usize) -> Self {
        NdjsonDecoder {
            line: Vec::new(),
            max_line_bytes: n,
            at_stream_start: true,
            failed: false,
        }
    }

    /// Decodes one network read, appending every line it completes to `out` (without its line
    /// end; blank lines skipped).
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NetworkError`] once a line exceeds the bound; from then on every call returns
    /// the same error. Lines completed earlier in the same read are still appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), ByokError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut rest = bytes;
        if self.at_stream_start && !rest.is_empty() {
            // The BOM itself may be split across reads: wait until three bytes are known.
            let known = self.line.len() + rest.len();
            if known < BOM.len() && BOM.starts_with(&[self.line.as_slice(), rest].concat()) {
                self.line.extend_from_slice(rest);
                return Ok(());
            }
            self.at_stream_start = false;
            if !self.line.is_empty() {
                let mut head = std::mem::take(&mut self.line);
                head.extend_from_slice(rest);
                let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
                let head = head.get(start..).unwrap_or_default().to_vec();
                return self.feed_bytes(&head, out);
            }
            rest = rest.strip_prefix(BOM).unwrap_or(rest);
        }
        self.feed_bytes(rest, out)
    }

    fn feed_bytes(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), ByokError> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, newline_and_after) = rest.split_at(end);
            rest = newline_and_after.get(1..).unwrap_or_default();
            self.check_bound(line.len())?;
            if self.line.is_empty() {
                push_line(line, out);
            } else {
                self.line.extend_from_slice(line);
                push_line(&self.line, out);
                self.line.clear();
            }
        }
        if !rest.is_empty() {
            self.check_bound(rest.len())?;
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Ends the body: hands over a last line without its `\n`, then resets for a new stream.
    ///
    /// # Errors
    ///
    /// The same [`ErrorCode::NetworkError`] as [`NdjsonDecoder::feed`] if the bound was crossed.
    pub fn finish(&mut self, out: &mut Vec<String>) -> Result<(), ByokError> {
        if self.failed {
            return Err(self.too_large());
        }
        // A stream that ends while a BOM prefix is still pending holds only those bytes.
        if !(self.at_stream_start && BOM.starts_with(&self.line)) {
            push_line(&self.line, out);
        }
        self.line.clear();
        self.at_stream_start = true;
        Ok(())
    }

    /// Fails the decoder for good if `extra` more bytes would push the line past the bound.
    fn check_bound(&mut self, extra: usize) -> Result<(), ByokError> {
        if self.line.len().saturating_add(extra) <= self.max_line_bytes {
            return Ok(());
        }
        self.failed = true;
        self.line = Vec::new();
        Err(self.too_large())
    }

    /// The bound error. Its message never quotes the stream, which may hold private text.
    fn too_large(&self) -> ByokError {
        ByokError::new(
            ErrorCode::NetworkError,
            format!(
                "the stream sent a line larger than the {}-byte limit; the stream was abandoned",
                self.max_line_bytes
            ),
        )
    }
}

/// Appends `line` without a trailing `\r`, unless it is blank.
fn push_line(line: &[u8], out: &mut Vec<String>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
        return;
    }
    out.push(String::from_utf8_lossy(line).into_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `bytes` fed whole, byte by byte, and split in two at every position.
    fn decode_every_way(bytes: &[u8]) -> Vec<String> {
        let whole = decode([bytes]);
        assert_eq!(decode(bytes.chunks(1)), whole, "byte by byte");
        assert_eq!(decode(bytes.chunks(3)), whole, "3 bytes at a time");
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(decode([a, b]), whole, "split at {at}");
            for at2 in at..=bytes.len().min(at + 8) {
                let (b1, b2) = b.split_at(at2 - at);
                assert_eq!(decode([a, b1, b2]), whole, "split at {at} and {at2}");
            }
        }
        whole
    }

    fn decode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn lines_in_every_chunking() {
        let body = "{\"a\":\"héllo 🌍\"}\n{\"b\":2}\r\n\n  \n{\"c\":\"—\"}";
        assert_eq!(
            decode_every_way(body.as_bytes()),
            ["{\"a\":\"héllo 🌍\"}", "{\"b\":2}", "{\"c\":\"—\"}"]
        );
        // With a final line end, and CRLF everywhere.
        let body = "{\"a\":1}\r\n{\"b\":\"😀\"}\r\n";
        assert_eq!(
            decode_every_way(body.as_bytes()),
            ["{\"a\":1}", "{\"b\":\"😀\"}"]
        );
        assert!(decode_every_way(b"").is_empty());
        assert!(decode_every_way(b"\n\r\n \t\n").is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_dropped_once_even_when_split() {
        let body = "\u{FEFF}{\"a\":1}\n\u{FEFF}x\n";
        assert_eq!(
            decode_every_way(body.as_bytes()),
            ["{\"a\":1}", "\u{FEFF}x"]
        );
        // A body that is only part of a BOM gives nothing.
        assert!(decode_every_way(&BOM[..2]).is_empty());
        // Bytes that only look like the start of a BOM are kept.
        assert_eq!(decode_every_way(b"\xEFa\n"), ["\u{FFFD}a"]);
    }

    #[test]
    fn a_lone_carriage_return_is_not_a_line_end() {
        assert_eq!(decode_every_way(b"a\rb\n"), ["a\rb"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            decode_every_way(b"{\"a\":\"\xFF\"}\n"),
            ["{\"a\":\"\u{FFFD}\"}"]
        );
    }

    #[test]
    fn lines_are_appended_to_what_out_holds() {
        let mut d = NdjsonDecoder::new();
        let mut out = vec![String::from("old")];
        d.feed(b"1\n2\n3", &mut out).unwrap();
        assert_eq!(out, ["old", "1", "2"]);
        d.finish(&mut out).unwrap();
        assert_eq!(out, ["old", "1", "2", "3"]);
        // finish resets: a new stream starts clean (and may begin with a BOM again).
        d.feed("\u{FEFF}4\n".as_bytes(), &mut out).unwrap();
        assert_eq!(out.last().map(String::as_str), Some("4"));
    }

    #[test]
    fn the_size_bound_is_an_error_that_sticks() {
        const SECRET: &str = "private-user-text";
        // Exactly at the bound is fine, the line end not counted.
        let fits = format!("{}\n", "a".repeat(16));
        let mut d = NdjsonDecoder::with_max_line_bytes(16);
        let mut out = Vec::new();
        for piece in fits.as_bytes().chunks(3) {
            d.feed(piece, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);

        for stream in [
            format!("ok\n{}\n", "b".repeat(17)),
            format!("ok\n{SECRET}{SECRET}"),
        ] {
            for size in [1, 4, 100] {
                let mut d = NdjsonDecoder::with_max_line_bytes(16);
                let mut out = Vec::new();
                let mut result = Ok(());
                for piece in stream.as_bytes().chunks(size) {
                    result = d.feed(piece, &mut out);
                    if result.is_err() {
                        break;
                    }
                }
                let e = result.unwrap_err();
                assert_eq!(e.code, ErrorCode::NetworkError);
                assert!(e.message.contains("16-byte limit"));
                assert!(!e.message.contains(SECRET));
                assert_eq!(out, ["ok"], "lines before the bad one are kept");
                assert_eq!(d.feed(b"\nfine\n", &mut out), Err(e.clone()));
                assert_eq!(d.finish(&mut out), Err(e.clone()));
                assert_eq!(out, ["ok"]);
                assert!(!format!("{d:?}").contains("private"));
            }
        }
    }

    #[test]
    fn debug_shows_no_text() {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        d.feed(b"{\"secret\":1", &mut out).unwrap();
        let shown = format!("{d:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("pending_bytes: 11"), "{shown}");
    }

    #[test]
    fn random_streams_never_depend_on_chunking() {
        // A tiny xorshift generator keeps the test deterministic and dependency-free.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: &[u8] = b"{}\"a:\n\r\n \t\xEF\xBB\xBF\xF0\x9F\x98\x80\xFF";
        for _ in 0..300 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let whole = decode([bytes.as_slice()]);
            assert_eq!(decode(bytes.chunks(1)), whole);
            let mut pieces = Vec::new();
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let (p, t) = rest.split_at(((next() % 9) as usize).min(rest.len()));
                pieces.push(p);
                rest = t;
            }
            assert_eq!(decode(pieces), whole);
        }
    }
}
