//! Tests of the event-stream decoder: an encoder written here builds frames; recorded Bedrock
//! streams are replayed; every split position, corrupted checksums, truncation and hostile
//! lengths are tried.

use super::*;
use base64::Engine;

/// Encodes one message (the inverse of the decoder, written from the format description).
pub(crate) fn encode(headers: &[(&str, HeaderValue)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap());
        h.extend_from_slice(name.as_bytes());
        match value {
            HeaderValue::Bool(true) => h.push(0),
            HeaderValue::Bool(false) => h.push(1),
            HeaderValue::Byte(v) => {
                h.push(2);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                h.push(3);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                h.push(4);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                h.push(5);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                h.push(6);
                h.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                h.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                h.push(7);
                h.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                h.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                h.push(8);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                h.push(9);
                h.extend_from_slice(v);
            }
        }
    }
    let total = u32::try_from(16 + h.len() + payload.len()).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An `event` message as Bedrock sends it.
pub(crate) fn event(event_type: &str, payload: &str) -> Vec<u8> {
    encode(
        &[
            (":event-type", HeaderValue::String(event_type.into())),
            (
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            (":message-type", HeaderValue::String("event".into())),
        ],
        payload.as_bytes(),
    )
}

fn decode(bytes: &[u8], pieces: &[usize]) -> Result<Vec<Message>> {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in pieces {
        d.feed(&bytes[at..cut], &mut out)?;
        at = cut;
    }
    d.feed(&bytes[at..], &mut out)?;
    d.finish()?;
    Ok(out)
}

fn live_stream() -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/bedrock-converse-stream.live.eventstream.json"
    ))
    .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(v["response"]["bodyBase64"].as_str().unwrap())
        .unwrap()
}

#[test]
fn crc32_known_answers() {
    // The standard check value of CRC-32/ISO-HDLC, and the empty string.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
}

#[test]
fn recorded_bedrock_stream_decodes_in_every_split() {
    let bytes = live_stream();
    let whole = decode(&bytes, &[]).unwrap();
    let types: Vec<&str> = whole
        .iter()
        .map(|m| m.str_header(":event-type").unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(whole.iter().all(|m| m.message_type() == "event"));
    assert_eq!(
        whole[1].payload,
        br#"{"contentBlockIndex":0,"delta":{"text":"OK"},"p":"abcdefghijklmnopqrstuvwx"}"#
    );
    // Every single split position, every pair of nearby splits, and byte by byte.
    for cut in 0..=bytes.len() {
        assert_eq!(decode(&bytes, &[cut]).unwrap(), whole, "split at {cut}");
    }
    for a in (0..bytes.len()).step_by(7) {
        for b in a..bytes.len().min(a + 40) {
            assert_eq!(decode(&bytes, &[a, b]).unwrap(), whole, "split at {a},{b}");
        }
    }
    let all: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(decode(&bytes, &all).unwrap(), whole);
}

#[test]
fn recorded_exception_frame() {
    let text = include_str!(
        "../../../tests/fixtures/bedrock-converse-stream.model-stream-error.eventstream.base64.txt"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    let messages = decode(&bytes, &[]).unwrap();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.message_type(), "exception");
    assert_eq!(
        m.str_header(":exception-type"),
        Some("modelStreamErrorException")
    );
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(v["message"], "Model Stream Error");
}

#[test]
fn every_header_type_round_trips() {
    let headers = vec![
        ("t", HeaderValue::Bool(true)),
        ("f", HeaderValue::Bool(false)),
        ("b", HeaderValue::Byte(-7)),
        ("s", HeaderValue::Short(-300)),
        ("i", HeaderValue::Int(70_000)),
        ("l", HeaderValue::Long(-5_000_000_000)),
        ("y", HeaderValue::Bytes(vec![0, 1, 2, 255])),
        ("str", HeaderValue::String("héllo".into())),
        ("ts", HeaderValue::Timestamp(1_700_000_000_000)),
        ("u", HeaderValue::Uuid([7; 16])),
    ];
    let bytes = encode(&headers, b"payload");
    let m = decode(&bytes, &[]).unwrap().remove(0);
    assert_eq!(m.payload, b"payload");
    let got: Vec<(&str, &HeaderValue)> = m
        .headers
        .iter()
        .map(|h| (h.name.as_str(), &h.value))
        .collect();
    let want: Vec<(&str, &HeaderValue)> = headers.iter().map(|(n, v)| (*n, v)).collect();
    assert_eq!(got, want);
    assert_eq!(m.str_header("str"), Some("héllo"));
    assert_eq!(m.str_header("i"), None);
    assert_eq!(m.header("missing"), None);
    // No headers and no payload: the smallest message.
    let empty = encode(&[], b"");
    assert_eq!(empty.len(), 16);
    let m = decode(&empty, &[]).unwrap().remove(0);
    assert!(m.headers.is_empty() && m.payload.is_empty());
    assert_eq!(m.message_type(), "event");
    // Debug shows no payload.
    let shown = format!("{:?}", decode(&encode(&[], b"secret prompt"), &[]).unwrap());
    assert!(!shown.contains("secret"));
}

#[test]
fn many_frames_in_one_read_and_one_frame_over_many() {
    let mut bytes = Vec::new();
    for i in 0..200 {
        bytes.extend(event("contentBlockDelta", &format!("{{\"n\":{i}}}")));
    }
    let whole = decode(&bytes, &[]).unwrap();
    assert_eq!(whole.len(), 200);
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for chunk in bytes.chunks(13) {
        d.feed(chunk, &mut out).unwrap();
    }
    d.finish().unwrap();
    assert_eq!(out, whole);
}

#[test]
fn corrupted_checksums_are_network_errors_quoting_nothing() {
    let good = event("contentBlockDelta", r#"{"delta":{"text":"secret words"}}"#);
    for pos in 0..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x40;
        let e = decode(&bad, &[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "byte {pos}");
        assert!(!e.message.contains("secret"), "{}", e.message);
        // Split anywhere, the same error.
        let e2 = decode(&bad, &[pos / 2, pos]).unwrap_err();
        assert_eq!(e2.code, ErrorCode::NetworkError);
    }
    // A flipped message CRC says so.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(decode(&bad, &[])
        .unwrap_err()
        .message
        .contains("message checksum"));
    let mut bad = good.clone();
    bad[9] ^= 1;
    assert!(decode(&bad, &[]).unwrap_err().message.contains("prelude"));
}

#[test]
fn messages_before_a_bad_one_are_kept_and_the_error_sticks() {
    let mut bytes = event("messageStart", r#"{"role":"assistant"}"#);
    let mut bad = event("contentBlockDelta", "{}");
    let n = bad.len();
    bad[n - 2] ^= 0xFF;
    bytes.extend(bad);
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    assert!(d.feed(&bytes, &mut out).is_err());
    assert_eq!(out.len(), 1);
    assert!(d.feed(&event("x", "{}"), &mut out).is_err());
    assert!(d.finish().is_err());
    assert_eq!(out.len(), 1);
}

#[test]
fn truncated_streams_fail_at_finish() {
    let bytes = live_stream();
    let whole = decode(&bytes, &[]).unwrap();
    // Cut off anywhere: finish fails inside a message, the messages before are delivered.
    for cut in 1..bytes.len() {
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes[..cut], &mut out).unwrap();
        let complete = out.len();
        let boundary = d.buffered() == 0;
        let r = d.finish();
        assert_eq!(r.is_ok(), boundary, "cut at {cut}");
        if let Err(e) = r {
            assert_eq!(e.code, ErrorCode::NetworkError);
            assert!(e.message.contains("middle of a message"));
        }
        assert_eq!(out[..], whole[..complete]);
    }
}

/// A prelude with the given lengths and a correct prelude CRC.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&headers.to_be_bytes());
    let crc = crc32(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

#[test]
fn hostile_lengths_fail_at_the_prelude_without_buffering() {
    for (total, headers) in [
        (u32::MAX, 0),
        (16 * 1024 * 1024 + 1, 0),
        (15, 0),
        (0, 0),
        (100, 85),
        (200_000, 150_000),
        (u32::MAX, u32::MAX),
    ] {
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        let e = d.feed(&prelude(total, headers), &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{total} {headers}");
        assert!(e.message.contains("out of bounds"), "{}", e.message);
        assert_eq!(d.buffered(), 0);
    }
    // A lower limit is honoured too.
    let mut d = EventStreamDecoder::with_limit(1024);
    assert!(d.feed(&prelude(2048, 0), &mut Vec::new()).is_err());
    // Not an event stream at all (a JSON error, an HTML page): the prelude CRC fails.
    for text in [
        &br#"{"message":"The security token included in the request is invalid."}"#[..],
        b"<html><body>Bad gateway</body></html>",
    ] {
        let e = decode(text, &[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError);
        assert!(!e.message.contains("token"));
    }
}

#[test]
fn malformed_headers_are_refused() {
    // A headers section that runs past its declared length, a zero-length name, an unknown
    // type, a string that is not UTF-8: each framed with correct CRCs.
    let frame = |headers: &[u8]| {
        let total = u32::try_from(16 + headers.len()).unwrap();
        let mut out = prelude(total, u32::try_from(headers.len()).unwrap());
        out.extend_from_slice(headers);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    };
    for headers in [
        &[4u8, b'n', b'a', b'm', b'e', 7, 0, 10, b'x'][..],
        &[0u8, 7, 0, 0][..],
        &[1u8, b'n', 42][..],
        &[1u8, b'n', 7, 0, 2, 0xff, 0xfe][..],
        &[1u8, b'n', 4, 0, 0][..],
        &[2u8, 0xff, 0xfe, 0][..],
    ] {
        let e = decode(&frame(headers), &[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{headers:?}");
    }
}
