//! The frame decoder on arbitrary bytes cut into arbitrary chunks: the frames
//! (and the error, if any) must not depend on how the bytes arrived, every
//! frame must respect the limit, `wanted` must agree with `decode`, and the
//! frames re-encoded must give back the bytes they came from.
//!
//! Input: a control byte (prefix width, handshake or connected mode, limit),
//! a chunk-size byte, then the stream.
#![no_main]

use beamlink::proto::frame::{FrameDecoder, FrameError, LengthPrefix, encode_frame};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fn decoder(control: u8) -> (FrameDecoder, LengthPrefix, usize, bool) {
    let limit = [0usize, 1, 5, 255, 4096, 65_535, 1 << 20, usize::MAX][usize::from(control >> 3) % 8];
    let handshake = control & 2 == 0;
    let prefix = if control & 1 == 0 { LengthPrefix::U16 } else { LengthPrefix::U32 };
    if handshake {
        (FrameDecoder::handshake(prefix, limit), prefix, limit.min(prefix.max_len()), true)
    } else {
        (FrameDecoder::connected(limit), LengthPrefix::U32, limit.min(u32::MAX as usize), false)
    }
}

/// Decodes `stream` arriving in pieces of `chunk` bytes.
fn run(dec: &FrameDecoder, stream: &[u8], chunk: usize) -> (Vec<Bytes>, Option<FrameError>, usize) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let wanted = dec.wanted(&buf);
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert_eq!(wanted, Ok(0), "a frame was ready but `wanted` asked for more");
                    frames.push(frame);
                }
                Ok(None) => {
                    let wanted = wanted.expect("`wanted` failed where `decode` did not");
                    assert!(wanted > 0, "`wanted` says ready but no frame came");
                    break;
                }
                Err(e) => {
                    assert_eq!(wanted, Err(e.clone()), "`wanted` and `decode` disagree on the error");
                    return (frames, Some(e), buf.len());
                }
            }
        }
    }
    (frames, None, buf.len())
}

fuzz_target!(|data: &[u8]| {
    let [control, chunk, stream @ ..] = data else { return };
    let (dec, prefix, limit, handshake) = decoder(*control);
    let whole = run(&dec, stream, stream.len().max(1));
    let pieces = run(&dec, stream, usize::from(*chunk).max(1));
    assert_eq!(whole.0, pieces.0, "frames depend on chunking");
    assert_eq!(whole.1, pieces.1, "the error depends on chunking");

    let (frames, error, left) = whole;
    let mut wire = BytesMut::new();
    for f in &frames {
        assert!(f.len() <= limit, "a frame of {} bytes passed the limit {limit}", f.len());
        assert!(!(handshake && f.is_empty()), "an empty handshake frame");
        encode_frame(prefix, f, &mut wire).expect("a decoded frame re-encodes");
    }
    assert_eq!(&wire[..], &stream[..wire.len()], "re-encoded frames differ from the input");
    if error.is_none() {
        assert_eq!(wire.len() + left, stream.len(), "bytes went missing");
    }
});
