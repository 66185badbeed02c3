//! Incremental decoder of AWS event-stream framing (`application/vnd.amazon.eventstream`),
//! the binary framing of Bedrock's `ConverseStream`.
//!
//! A message is:
//!
//! ```text
//! total length u32 BE | headers length u32 BE | prelude CRC32 (of the 8 bytes before)
//! headers: { name length u8, name, type u8, value }*
//! payload
//! message CRC32 (of everything before it)
//! ```
//!
//! Like [`crate::core::sse`], the decoder takes whole network reads ([`EventStreamDecoder::feed`])
//! and appends every message they complete, so a message may be split across reads anywhere.
//!
//! Both CRCs are checked before anything of a message is used; a mismatch, a malformed header
//! or a length out of bounds is `NETWORK_ERROR` and quotes nothing (the bytes are the model's
//! answer). Lengths are checked against [`MAX_MESSAGE_BYTES`] and [`MAX_HEADERS_BYTES`] as soon
//! as the 12-byte prelude is in and its CRC holds, and no buffer is ever sized from a length
//! field: memory grows only with bytes actually received.
//!
//! CRC32 (IEEE, the zlib one) is written here with a table built at compile time: a few lines,
//! where a crate would be one more dependency for the wasm module.

use crate::core::error::{ByokError, ErrorCode, Result};

/// The largest message accepted, in bytes (the limit of AWS's own event-stream codecs).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The largest headers section accepted, in bytes (AWS's limit).
pub const MAX_HEADERS_BYTES: usize = 128 * 1024;

/// Prelude: two lengths and the prelude CRC.
const PRELUDE_BYTES: usize = 12;
/// The smallest message: a prelude and the message CRC.
const MIN_MESSAGE_BYTES: usize = PRELUDE_BYTES + 4;

// ---------------------------------------------------------------------------------------------
// CRC32
// ---------------------------------------------------------------------------------------------

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        // `as` is exact: i < 256.
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32 (IEEE 802.3, reflected, as zlib computes it) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        // The index is masked to 0..=255.
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// A header value, by its wire type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6, with a u16 length.
    Bytes(Vec<u8>),
    /// Type 7, UTF-8 with a u16 length.
    String(String),
    /// Type 8, milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// One header of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name, e.g. `:event-type`.
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

/// One decoded message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The headers, in wire order.
    pub headers: Vec<Header>,
    /// The payload (JSON for Bedrock).
    pub payload: Vec<u8>,
}

impl core::fmt::Debug for Message {
    /// Names the headers but gives the payload's size only (it is the model's answer).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("headers", &self.headers)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

impl Message {
    /// The value of the header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The value of the string header `name`, if present and a string.
    pub fn str_header(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// `:message-type`: `event`, `exception` or `error` (absent is taken as `event`).
    pub fn message_type(&self) -> &str {
        self.str_header(":message-type").unwrap_or("event")
    }
}

// ---------------------------------------------------------------------------------------------
// The decoder
// ---------------------------------------------------------------------------------------------

fn corrupt(what: &str) -> ByokError {
    ByokError::new(
        ErrorCode::NetworkError,
        format!("the event stream is corrupted ({what})"),
    )
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Incremental event-stream decoder: bytes in, messages out, for any split of the bytes.
#[derive(Debug)]
pub struct EventStreamDecoder {
    /// Bytes of a message not yet complete.
    buf: Vec<u8>,
    max_message_bytes: usize,
    failed: Option<ByokError>,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        EventStreamDecoder::new()
    }
}

impl EventStreamDecoder {
    /// A decoder with the default limit, [`MAX_MESSAGE_BYTES`].
    pub fn new() -> Self {
        EventStreamDecoder::with_limit(MAX_MESSAGE_BYTES)
    }

    /// A decoder refusing messages longer than `max_message_bytes` (at most
    /// [`MAX_MESSAGE_BYTES`]).
    pub fn with_limit(max_message_bytes: usize) -> Self {
        EventStreamDecoder {
            buf: Vec::new(),
            max_message_bytes: max_message_bytes.clamp(MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES),
            failed: None,
        }
    }

    /// Bytes held of a message not yet complete.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decodes one network read, appending every message it completes to `out`.
    ///
    /// # Errors
    ///
    /// `NETWORK_ERROR` for a CRC mismatch, a length out of bounds or a malformed header.
    /// Messages completed before the bad one are still appended; after an error every call
    /// fails the same way.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = if self.buf.is_empty() {
            // The common case: decode straight from the read and keep only its unfinished tail.
            let (used, result) = decode_all(bytes, self.max_message_bytes, out);
            if result.is_ok() {
                self.buf
                    .extend_from_slice(bytes.get(used..).unwrap_or_default());
            }
            result
        } else {
            self.buf.extend_from_slice(bytes);
            let (used, result) = decode_all(&self.buf, self.max_message_bytes, out);
            self.buf.drain(..used.min(self.buf.len()));
            result
        };
        if let Err(e) = &result {
            self.buf = Vec::new();
            self.failed = Some(e.clone());
        }
        result
    }

    /// Ends the stream.
    ///
    /// # Errors
    ///
    /// `NETWORK_ERROR` when the stream ended inside a message (it was cut off), or an earlier
    /// error.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.buf = Vec::new();
        let e = ByokError::new(
            ErrorCode::NetworkError,
            "the event stream ended in the middle of a message",
        );
        self.failed = Some(e.clone());
        Err(e)
    }
}

/// Decodes every complete message at the start of `data`; returns the bytes used.
fn decode_all(data: &[u8], max: usize, out: &mut Vec<Message>) -> (usize, Result<()>) {
    let mut at = 0usize;
    loop {
        let rest = data.get(at..).unwrap_or_default();
        match frame_len(rest, max) {
            Ok(Some(len)) => match rest.get(..len) {
                Some(frame) => match decode_message(frame) {
                    Ok(m) => {
                        out.push(m);
                        at += len;
                    }
                    Err(e) => return (at, Err(e)),
                },
                None => return (at, Ok(())),
            },
            Ok(None) => return (at, Ok(())),
            Err(e) => return (at, Err(e)),
        }
    }
}

/// The length of the message starting `data`, once its prelude is in and checked; `None`
/// while fewer than 12 bytes are there.
fn frame_len(data: &[u8], max: usize) -> Result<Option<usize>> {
    let (Some(total), Some(headers), Some(crc)) =
        (be_u32(data, 0), be_u32(data, 4), be_u32(data, 8))
    else {
        return Ok(None);
    };
    if crc32(data.get(..8).unwrap_or_default()) != crc {
        return Err(corrupt("prelude checksum mismatch"));
    }
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let headers = usize::try_from(headers).unwrap_or(usize::MAX);
    if total < MIN_MESSAGE_BYTES || total > max {
        return Err(corrupt("message length out of bounds"));
    }
    if headers > MAX_HEADERS_BYTES || headers > total - MIN_MESSAGE_BYTES {
        return Err(corrupt("headers length out of bounds"));
    }
    Ok(Some(total))
}

/// Decodes one whole message (its prelude already checked by [`frame_len`]).
fn decode_message(frame: &[u8]) -> Result<Message> {
    let body_end = frame.len().saturating_sub(4);
    let want = be_u32(frame, body_end).ok_or_else(|| corrupt("message too short"))?;
    if crc32(frame.get(..body_end).unwrap_or_default()) != want {
        return Err(corrupt("message checksum mismatch"));
    }
    let headers_len = be_u32(frame, 4)
        .and_then(|h| usize::try_from(h).ok())
        .ok_or_else(|| corrupt("message too short"))?;
    let headers_end = PRELUDE_BYTES + headers_len;
    let headers = frame
        .get(PRELUDE_BYTES..headers_end)
        .ok_or_else(|| corrupt("headers length out of bounds"))?;
    let payload = frame
        .get(headers_end..body_end)
        .ok_or_else(|| corrupt("headers length out of bounds"))?;
    Ok(Message {
        headers: decode_headers(headers)?,
        payload: payload.to_vec(),
    })
}

/// A cursor over the headers section.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| corrupt("malformed header"))?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| corrupt("malformed header"))?;
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }
}

fn decode_headers(bytes: &[u8]) -> Result<Vec<Header>> {
    let mut r = Reader { bytes, at: 0 };
    let mut headers = Vec::new();
    while r.at < bytes.len() {
        let name_len = usize::from(r.u8()?);
        if name_len == 0 {
            return Err(corrupt("malformed header"));
        }
        let name = core::str::from_utf8(r.take(name_len)?)
            .map_err(|_| corrupt("malformed header"))?
            .to_owned();
        let value = match r.u8()? {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(r.array()?)),
            3 => HeaderValue::Short(i16::from_be_bytes(r.array()?)),
            4 => HeaderValue::Int(i32::from_be_bytes(r.array()?)),
            5 => HeaderValue::Long(i64::from_be_bytes(r.array()?)),
            6 => {
                let n = r.u16()?;
                HeaderValue::Bytes(r.take(n)?.to_vec())
            }
            7 => {
                let n = r.u16()?;
                HeaderValue::String(
                    core::str::from_utf8(r.take(n)?)
                        .map_err(|_| corrupt("malformed header"))?
                        .to_owned(),
                )
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(r.array()?)),
            9 => HeaderValue::Uuid(r.array()?),
            _ => return Err(corrupt("unknown header type")),
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

// The test module's frame encoder is used by the Bedrock decoder's tests too.
#[cfg(test)]
pub(crate) mod tests;
