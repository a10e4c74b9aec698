//! The EPMD request decoder, as a daemon runs it: arbitrary bytes from a
//! client, fed all at once and in chunks of every size. Both ways must agree,
//! the buffer must never grow past the decoder's limit, and every request
//! that decodes must encode and decode back to itself.
//!
//! Input: one control byte (the decoder's limit and the chunk size), then the
//! bytes the client sends.
#![no_main]

use beamlink::epmd::codec::{Alive2Response, Decoded, Request, RequestDecoder, RequestError};
use libfuzzer_sys::fuzz_target;

/// Feeds `stream` in pieces of `chunk` bytes; returns the first error, else
/// the request (if one completed).
fn feed_chunked(max_len: usize, stream: &[u8], chunk: usize) -> Result<Option<Request>, RequestError> {
    let mut decoder = RequestDecoder::new(max_len);
    let mut request = None;
    for piece in stream.chunks(chunk) {
        let result = decoder.feed(piece);
        assert!(decoder.buffered() <= max_len, "buffered {} bytes with a limit of {max_len}", decoder.buffered());
        match result {
            Ok(Some(r)) => request = Some(r),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(request)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else { return };
    let max_len = match control & 3 {
        0 | 1 => RequestDecoder::DEFAULT_MAX_LEN,
        2 => 64,
        _ => 4,
    };
    let chunk = usize::from(control >> 2) + 1;

    let whole = feed_chunked(max_len, stream, stream.len().max(1));
    let chunked = feed_chunked(max_len, stream, chunk);
    match &whole {
        // With the whole stream at once, bytes after the request are noticed
        // before the body is decoded; in chunks, a body error may come first.
        Err(RequestError::DataAfterRequest { .. }) => assert!(chunked.is_err(), "{chunked:?}"),
        _ => assert_eq!(whole, chunked, "whole and chunked feeding disagree"),
    }

    // The body decoder on its own: errors that get a reply get a refusal.
    match Request::decode(stream) {
        Ok(request) => {
            let bytes = request.encode().expect("a decoded request encodes");
            assert!(bytes.len() - 2 <= RequestDecoder::DEFAULT_MAX_LEN);
            let again = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN).feed(&bytes);
            assert_eq!(again, Ok(Some(request.clone())), "{} does not round-trip", request.kind());
        }
        Err(e) => {
            if let Some(reply) = e.error_reply() {
                match Alive2Response::decode(&reply) {
                    Ok(Decoded::Complete(r, used)) => assert!(!r.is_ok() && used == reply.len()),
                    other => panic!("error reply {reply:?} does not decode: {other:?}"),
                }
            }
            let _ = e.to_string();
        }
    }
});
