//! Length-prefixed framing: 2-byte or 4-byte big-endian lengths.
//!
//! OTP's TCP carrier frames handshake messages with 2-byte lengths and
//! switches to 4-byte lengths once connected; its TLS carrier uses 4-byte
//! lengths from the first handshake message. Once connected, a frame of
//! length zero is a tick (a keep-alive), never a message.
//!
//! The decoder never allocates ahead of the data: a length is checked
//! against the limit as soon as its prefix arrives, and the frame is
//! returned only when all of its bytes have.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The width of a frame's length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthPrefix {
    /// 2 bytes (handshake over plain TCP).
    U16,
    /// 4 bytes (handshake inside TLS, and every connected-mode packet).
    U32,
}

impl LengthPrefix {
    /// How many bytes the prefix takes.
    pub const fn width(self) -> usize {
        match self {
            LengthPrefix::U16 => 2,
            LengthPrefix::U32 => 4,
        }
    }

    /// The largest length the prefix can express.
    pub const fn max_len(self) -> usize {
        match self {
            LengthPrefix::U16 => u16::MAX as usize,
            LengthPrefix::U32 => u32::MAX as usize,
        }
    }
}

/// A frame the decoder refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Where a handshake message was expected, the peer sent the start of a
    /// TLS record (an alert or a handshake: `15 03`/`16 03`), whose length
    /// would read as 5379 or 5635 bytes: the peer runs TLS distribution and
    /// this connection is plain TCP.
    #[error(
        "the peer sent a TLS record (bytes {first:02x} 03) where a distribution handshake message was expected: it runs \
         TLS distribution and this connection is plain TCP; give this node TLS settings (--ca, --cert and --key, or \
         --ssl-dist-optfile)"
    )]
    TlsRecord {
        /// The record's content type: 0x15 (alert) or 0x16 (handshake).
        first: u8,
    },
    /// A zero-length frame where ticks are not allowed (the handshake).
    #[error("empty frame during the handshake")]
    Empty,
    /// The payload does not fit the prefix width (an encoding error on our side).
    #[error("payload of {len} bytes does not fit a {width}-byte length prefix")]
    Unencodable {
        /// The payload length.
        len: usize,
        /// The prefix width.
        width: usize,
    },
}

/// Splits a byte stream into frames.
#[derive(Clone, Copy, Debug)]
pub struct FrameDecoder {
    prefix: LengthPrefix,
    limit: usize,
    allow_empty: bool,
}

impl FrameDecoder {
    /// A decoder for handshake messages: no empty frames.
    pub fn handshake(prefix: LengthPrefix, limit: usize) -> FrameDecoder {
        FrameDecoder { prefix, limit: limit.min(prefix.max_len()), allow_empty: false }
    }

    /// A decoder for connected-mode packets: 4-byte lengths, empty frames are ticks.
    pub fn connected(limit: usize) -> FrameDecoder {
        FrameDecoder { prefix: LengthPrefix::U32, limit: limit.min(u32::MAX as usize), allow_empty: true }
    }

    /// How many more bytes are needed before the frame at the front of `buf`
    /// is complete (0 when one is ready). Lets a reader size its next read
    /// without trusting the length beyond the limit.
    pub fn wanted(&self, buf: &[u8]) -> Result<usize, FrameError> {
        let width = self.prefix.width();
        if buf.len() < width {
            return Ok(width - buf.len());
        }
        let len = self.peek_len(buf)?;
        Ok((width + len).saturating_sub(buf.len()))
    }

    /// Takes the next complete frame off the front of `buf`: `Ok(None)` when
    /// more bytes are needed. A connected-mode tick is returned as an empty frame.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let width = self.prefix.width();
        if buf.len() < width {
            return Ok(None);
        }
        let len = self.peek_len(buf)?;
        if buf.len() < width + len {
            return Ok(None);
        }
        buf.advance(width);
        Ok(Some(buf.split_to(len).freeze()))
    }

    fn peek_len(&self, buf: &[u8]) -> Result<usize, FrameError> {
        let len = match self.prefix {
            LengthPrefix::U16 => u16::from_be_bytes([buf[0], buf[1]]) as usize,
            LengthPrefix::U32 => u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize,
        };
        if len == 0 && !self.allow_empty {
            return Err(FrameError::Empty);
        }
        if len > self.limit {
            // Only the plain handshake's 2-byte lengths can be mistaken for
            // a TLS record header; connected mode and TLS-framed handshakes
            // (4-byte lengths) never meet one.
            if self.prefix == LengthPrefix::U16 && !self.allow_empty && matches!(buf[..2], [0x15 | 0x16, 0x03]) {
                return Err(FrameError::TlsRecord { first: buf[0] });
            }
            return Err(FrameError::TooLarge { len, limit: self.limit });
        }
        Ok(len)
    }
}

/// Appends `payload` with its length prefix.
pub fn encode_frame(prefix: LengthPrefix, payload: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
    put_len(prefix, payload.len(), out)?;
    out.put_slice(payload);
    Ok(())
}

/// Appends just a length prefix (the payload follows separately, e.g. by vectored write).
pub fn put_len(prefix: LengthPrefix, len: usize, out: &mut BytesMut) -> Result<(), FrameError> {
    if len > prefix.max_len() {
        return Err(FrameError::Unencodable { len, width: prefix.width() });
    }
    match prefix {
        LengthPrefix::U16 => out.put_u16(len as u16),
        LengthPrefix::U32 => out.put_u32(len as u32),
    }
    Ok(())
}

/// A connected-mode tick: a 4-byte zero length.
pub const TICK: [u8; 4] = [0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_across_arbitrary_chunks() {
        let mut wire = BytesMut::new();
        for p in [&b"one"[..], b"", b"three"] {
            encode_frame(LengthPrefix::U32, p, &mut wire).unwrap();
        }
        let dec = FrameDecoder::connected(1024);
        for chunk in 1..wire.len() {
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(f) = dec.decode(&mut buf).unwrap() {
                    out.push(f);
                }
            }
            assert_eq!(out, vec![&b"one"[..], b"", b"three"], "chunk {chunk}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn oversized_length_is_refused_before_any_body_arrives() {
        let dec = FrameDecoder::connected(1 << 20);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::TooLarge { len: u32::MAX as usize, limit: 1 << 20 }));
        assert!(dec.wanted(&buf).is_err());
    }

    #[test]
    fn handshake_frames_use_two_bytes_and_refuse_empty() {
        let dec = FrameDecoder::handshake(LengthPrefix::U16, 4096);
        let mut buf = BytesMut::new();
        encode_frame(LengthPrefix::U16, b"sok", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x00\x03sok");
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &b"sok"[..]);
        let mut empty = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(dec.decode(&mut empty), Err(FrameError::Empty));
        let mut big = BytesMut::from(&[0x20u8, 0x00][..]);
        assert!(matches!(dec.decode(&mut big), Err(FrameError::TooLarge { len: 0x2000, .. })));
    }

    #[test]
    fn a_tls_record_met_by_a_plain_handshake_says_so() {
        let dec = FrameDecoder::handshake(LengthPrefix::U16, 2048);
        // A TLS alert (what a TLS node answers to a plain send_name) and a ServerHello.
        for first in [0x15u8, 0x16] {
            let mut buf = BytesMut::from(&[first, 0x03, 0x03, 0x00, 0x02][..]);
            let err = dec.decode(&mut buf).unwrap_err();
            assert_eq!(err, FrameError::TlsRecord { first });
            assert!(err.to_string().contains("runs TLS distribution"), "{err}");
        }
        // Other large lengths stay what they are.
        let mut buf = BytesMut::from(&[0x17u8, 0x03][..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::TooLarge { len: 0x1703, .. })));
    }

    #[test]
    fn tls_handshake_frames_use_four_bytes_and_keep_the_limit() {
        // Inside TLS the handshake is framed with 4-byte lengths; the limit
        // still applies, on the prefix alone, and empty frames are refused.
        let dec = FrameDecoder::handshake(LengthPrefix::U32, 2048);
        let mut buf = BytesMut::new();
        encode_frame(LengthPrefix::U32, b"sok", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x00\x03sok");
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &b"sok"[..]);

        let mut at_limit = BytesMut::new();
        encode_frame(LengthPrefix::U32, &[b'N'; 2048], &mut at_limit).unwrap();
        assert_eq!(dec.decode(&mut at_limit).unwrap().unwrap().len(), 2048);
        assert!(at_limit.is_empty());

        for (prefix, len) in [([0, 0, 0x08, 0x01], 2049), ([0, 1, 0, 0], 65_536), ([0xff; 4], u32::MAX as usize)] {
            let mut buf = BytesMut::from(&prefix[..]);
            assert_eq!(dec.decode(&mut buf), Err(FrameError::TooLarge { len, limit: 2048 }), "{prefix:?}");
            assert_eq!(dec.wanted(&buf), Err(FrameError::TooLarge { len, limit: 2048 }), "{prefix:?}");
        }
        let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut empty), Err(FrameError::Empty));
        // A partial prefix is not an error yet.
        let mut partial = BytesMut::from(&[0u8, 0, 0x08][..]);
        assert_eq!(dec.decode(&mut partial), Ok(None));
        assert_eq!(dec.wanted(&partial), Ok(1));
    }

    #[test]
    fn wanted_reports_missing_bytes() {
        let dec = FrameDecoder::connected(100);
        assert_eq!(dec.wanted(&[0, 0]).unwrap(), 2);
        assert_eq!(dec.wanted(&[0, 0, 0, 10, 1, 2]).unwrap(), 8);
        assert_eq!(dec.wanted(&[0, 0, 0, 0]).unwrap(), 0);
    }

    #[test]
    fn unencodable_lengths_are_errors() {
        let mut out = BytesMut::new();
        assert!(encode_frame(LengthPrefix::U16, &vec![0; 70_000], &mut out).is_err());
        assert!(out.is_empty());
    }
}
