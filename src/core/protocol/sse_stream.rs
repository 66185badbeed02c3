//! What every SSE-framed stream decoder (OpenAI, Anthropic, Cohere, Gemini) does alike around
//! its own events: feed the bytes to the SSE decoder, hand the decoded events to the dialect,
//! look at stray text, and at the end tell a complete answer from one that was cut off. A
//! failure sticks: every later call gives it again.
//!
//! Each dialect implements [`SseDialect`] (its events and its idea of "complete"); its
//! `StreamDecoder::feed` and `finish` are then [`feed`] and [`finish`].

use super::Chunk;
use crate::core::error::{ByokError, ErrorCode, Result};
use crate::core::sse::{SseDecoder, SseEvent};

/// The dialect-specific half of an SSE stream decoder.
pub(crate) trait SseDialect {
    /// The SSE decoder and the buffer its events go to.
    fn sse_parts(&mut self) -> (&mut SseDecoder, &mut Vec<SseEvent>);
    /// Where a failure is kept.
    fn failed_slot(&mut self) -> &mut Option<ByokError>;
    /// The provider id, for errors of the framing itself.
    fn provider(&self) -> &str;
    /// Handles the events decoded so far, appending chunks to `out`.
    fn drain(&mut self, out: &mut Vec<Chunk>) -> Result<()>;
    /// Judges the text seen outside any event (`at_end`: the body is over).
    fn check_stray(&mut self, at_end: bool) -> Result<()>;
    /// The error of a stream that ended before it was complete.
    fn truncated(&self) -> ByokError;
    /// At the end of the body, with every event handled: `Ok` if the answer is complete
    /// (a dialect may finish it here, appending its last chunks).
    fn complete(&mut self, out: &mut Vec<Chunk>) -> Result<()>;
    /// Whether the answer had ended before the body did (nothing is left to do at the end).
    fn ended_early(&self) -> bool {
        false
    }
}

/// The usual [`SseDialect::drain`]: each decoded event in turn to `on_event`, none after the
/// answer is `done` or after the first failure; the event buffer is kept for reuse.
pub(crate) fn drain_each<D: SseDialect>(
    d: &mut D,
    out: &mut Vec<Chunk>,
    on_event: fn(&mut D, &SseEvent, &mut Vec<Chunk>) -> Result<()>,
    done: fn(&D) -> bool,
) -> Result<()> {
    let mut events = std::mem::take(d.sse_parts().1);
    let mut result = Ok(());
    for ev in &events {
        if done(d) {
            break;
        }
        if let Err(e) = on_event(d, ev, out) {
            result = Err(e);
            break;
        }
    }
    events.clear();
    *d.sse_parts().1 = events;
    result
}

fn remember<D: SseDialect>(d: &mut D, result: Result<()>) -> Result<()> {
    if let Err(e) = &result {
        *d.failed_slot() = Some(e.clone());
    }
    result
}

/// `StreamDecoder::feed` of an SSE dialect.
pub(crate) fn feed<D: SseDialect>(d: &mut D, bytes: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
    if let Some(e) = d.failed_slot() {
        return Err(e.clone());
    }
    let (sse, events) = d.sse_parts();
    let decoded = sse.feed(bytes, events);
    let provider = d.provider().to_owned();
    // Events decoded before an oversized one are still delivered.
    let result = d
        .drain(out)
        .and_then(|()| decoded.map_err(|e| e.with_provider(provider)))
        .and_then(|()| d.check_stray(false));
    remember(d, result)
}

/// `StreamDecoder::finish` of an SSE dialect.
pub(crate) fn finish<D: SseDialect>(d: &mut D, out: &mut Vec<Chunk>) -> Result<()> {
    if let Some(e) = d.failed_slot() {
        return Err(e.clone());
    }
    if d.ended_early() {
        return Ok(());
    }
    let (sse, events) = d.sse_parts();
    let decoded = sse.finish(events);
    let provider = d.provider().to_owned();
    let result = d
        .drain(out)
        // An event left unreadable at the end of the body is one that was cut off.
        .map_err(|e| {
            if e.code == ErrorCode::NetworkError {
                d.truncated()
            } else {
                e
            }
        })
        .and_then(|()| decoded.map_err(|e| e.with_provider(provider)))
        .and_then(|()| d.check_stray(true))
        .and_then(|()| d.complete(out));
    remember(d, result)
}
