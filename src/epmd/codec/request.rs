//! EPMD requests: encoding, decoding, and an incremental decoder for daemons.

use super::error::{NameError, RequestError};
use super::{
    ALIVE2_REQ, Alive2Request, DUMP_REQ, KILL_REQ, MAX_EXTRA_BYTES, MAX_REQUEST_LEN, NAMES_REQ, NodeInfo, NodeType,
    PORT_PLEASE2_REQ, STOP_REQ, be_u16, validate_name, validate_name_bytes,
};

/// A request to epmd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// ALIVE2_REQ: register a node; the connection stays open as long as the
    /// registration lives.
    Alive2(Alive2Request),
    /// PORT_PLEASE2_REQ: look up a node by name.
    PortPlease2 {
        /// The node name without `@host`.
        name: String,
    },
    /// NAMES_REQ: list registered names and ports.
    Names,
    /// DUMP_REQ: list everything (local peers only).
    Dump,
    /// KILL_REQ: ask epmd to exit (local peers only).
    Kill,
    /// STOP_REQ: unregister a name by force (local peers, relaxed command check).
    Stop {
        /// The node name to unregister.
        name: String,
    },
}

impl Request {
    /// The request's name as the protocol documentation spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Alive2(_) => "ALIVE2_REQ",
            Request::PortPlease2 { .. } => "PORT_PLEASE2_REQ",
            Request::Names => "NAMES_REQ",
            Request::Dump => "DUMP_REQ",
            Request::Kill => "KILL_REQ",
            Request::Stop { .. } => "STOP_REQ",
        }
    }

    /// The request on the wire: `u16` length, then the body. Fails when a
    /// name or the extra data breaks epmd's limits (it would be refused).
    pub fn encode(&self) -> Result<Vec<u8>, NameError> {
        let mut body = Vec::new();
        match self {
            Request::Alive2(node) => {
                node.validate()?;
                body.push(ALIVE2_REQ);
                body.extend_from_slice(&node.port.to_be_bytes());
                body.push(node.node_type.to_byte());
                body.push(node.protocol);
                body.extend_from_slice(&node.highest_version.to_be_bytes());
                body.extend_from_slice(&node.lowest_version.to_be_bytes());
                push_u16_len(&mut body, node.name.as_bytes());
                push_u16_len(&mut body, &node.extra);
            }
            Request::PortPlease2 { name } => {
                validate_name(name)?;
                body.push(PORT_PLEASE2_REQ);
                body.extend_from_slice(name.as_bytes());
            }
            Request::Names => body.push(NAMES_REQ),
            Request::Dump => body.push(DUMP_REQ),
            Request::Kill => body.push(KILL_REQ),
            Request::Stop { name } => {
                validate_name(name)?;
                body.push(STOP_REQ);
                body.extend_from_slice(name.as_bytes());
            }
        }
        // Validated names and extra keep the body under MAX_REQUEST_LEN, far below u16::MAX.
        let len = u16::try_from(body.len()).map_err(|_| NameError::ExtraTooLong { bytes: body.len() })?;
        let mut out = Vec::with_capacity(2 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes a request body (the bytes after the length field) with the
    /// checks OTP's epmd makes, in the same order.
    ///
    /// - Truncated fields, NUL bytes in names and unknown request types are
    ///   errors that close the connection.
    /// - An ALIVE2_REQ with an empty, non-UTF-8 or over-long name, or with
    ///   over-long extra data, is [`RequestError::RejectedAlive2`], which gets
    ///   an error reply.
    /// - Bytes after the fields of ALIVE2, NAMES, DUMP and KILL are ignored,
    ///   as OTP's epmd ignores them.
    pub fn decode(body: &[u8]) -> Result<Request, RequestError> {
        let Some((&tag, rest)) = body.split_first() else {
            return Err(RequestError::ZeroLength);
        };
        match tag {
            ALIVE2_REQ => decode_alive2(rest).map(Request::Alive2),
            PORT_PLEASE2_REQ => decode_name("PORT_PLEASE2_REQ", rest).map(|name| Request::PortPlease2 { name }),
            NAMES_REQ => Ok(Request::Names),
            DUMP_REQ => Ok(Request::Dump),
            KILL_REQ => Ok(Request::Kill),
            STOP_REQ => decode_name("STOP_REQ", rest).map(|name| Request::Stop { name }),
            other => Err(RequestError::UnknownRequest(other)),
        }
    }
}

fn push_u16_len(out: &mut Vec<u8>, field: &[u8]) {
    // Callers validated the field against limits far below u16::MAX.
    let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// ALIVE2_REQ after its tag: `Port u16, Type u8, Proto u8, High u16, Low u16,
/// Nlen u16, Name, Elen u16, Extra`.
fn decode_alive2(b: &[u8]) -> Result<NodeInfo, RequestError> {
    const REQ: &str = "ALIVE2_REQ";
    let truncated = |detail| RequestError::Truncated { request: REQ, detail };
    // OTP requires at least one byte of name: 13 header bytes after the tag.
    if b.len() < 13 {
        return Err(truncated("shorter than the fixed fields"));
    }
    let field = |at| be_u16(b, at).ok_or(truncated("fixed fields"));
    let port = field(0)?;
    let node_type = NodeType::from_byte(b[2]);
    let protocol = b[3];
    let highest_version = field(4)?;
    let lowest_version = field(6)?;
    let name_len = usize::from(field(8)?);
    let name_end = 10 + name_len;
    let extra_len_at = name_end;
    let Some(extra_len) = be_u16(b, extra_len_at) else {
        return Err(truncated("name length runs past the end"));
    };
    let extra_len = usize::from(extra_len);
    let extra_start = extra_len_at + 2;
    let extra_end = extra_start + extra_len;
    let (Some(name), Some(extra)) = (b.get(10..name_end), b.get(extra_start..extra_end)) else {
        return Err(truncated("extra length runs past the end"));
    };
    if name.contains(&0) {
        return Err(RequestError::NulInName { request: REQ });
    }
    let rejected = |reason| RequestError::RejectedAlive2 { highest_version, reason };
    let name = validate_name_bytes(name).map_err(rejected)?;
    if extra.len() > MAX_EXTRA_BYTES {
        return Err(rejected(NameError::ExtraTooLong { bytes: extra.len() }));
    }
    Ok(NodeInfo {
        port,
        node_type,
        protocol,
        highest_version,
        lowest_version,
        name: name.to_owned(),
        extra: extra.to_vec(),
    })
}

/// The name of PORT_PLEASE2_REQ or STOP_REQ: the rest of the packet, one
/// trailing NUL tolerated (older clients sent one).
fn decode_name(request: &'static str, b: &[u8]) -> Result<String, RequestError> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Err(RequestError::Truncated { request, detail: "no node name" });
    }
    if b.contains(&0) {
        return Err(RequestError::NulInName { request });
    }
    validate_name_bytes(b).map(str::to_owned).map_err(|source| RequestError::InvalidName { request, source })
}

/// Incremental request decoder for one connection: feed it bytes as they
/// arrive; it yields the request once its last byte is in.
///
/// The length field is checked against the limit before anything is
/// buffered, so a client announcing 65,535 bytes is refused after two bytes
/// and the buffer never grows past the limit. One connection carries one
/// request: bytes after it are an error.
///
/// ```
/// use beamlink::epmd::codec::{Request, RequestDecoder, RequestError};
///
/// let mut d = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
/// assert_eq!(d.feed(&[0]), Ok(None));
/// assert_eq!(d.feed(&[1]), Ok(None));
/// assert_eq!(d.feed(&[110]), Ok(Some(Request::Names)));
///
/// let mut d = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
/// assert!(matches!(d.feed(&[0xff, 0xff]), Err(RequestError::TooLarge { len: 65535, .. })));
/// ```
#[derive(Debug)]
pub struct RequestDecoder {
    max_len: usize,
    header: [u8; 2],
    header_got: usize,
    body: Vec<u8>,
    want: usize,
    done: bool,
}

impl RequestDecoder {
    /// The largest valid request body (a full ALIVE2_REQ), a good limit.
    pub const DEFAULT_MAX_LEN: usize = MAX_REQUEST_LEN;

    /// A decoder that refuses requests whose body is longer than `max_len`.
    pub fn new(max_len: usize) -> RequestDecoder {
        RequestDecoder { max_len, header: [0; 2], header_got: 0, body: Vec::new(), want: 0, done: false }
    }

    /// How many body bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.body.len()
    }

    /// True once the header has arrived and the body is still incomplete, or
    /// when some of the header has arrived.
    pub fn is_partial(&self) -> bool {
        !self.done && (self.header_got > 0)
    }

    /// Feeds bytes. Returns `Ok(Some(request))` when the request is complete,
    /// `Ok(None)` when more bytes are needed, or the reason to close.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Option<Request>, RequestError> {
        if self.done {
            return if input.is_empty() {
                Ok(None)
            } else {
                Err(RequestError::DataAfterRequest { extra: input.len() })
            };
        }
        while self.header_got < 2 {
            let Some((&b, rest)) = input.split_first() else { return Ok(None) };
            self.header[self.header_got] = b;
            self.header_got += 1;
            input = rest;
            if self.header_got == 2 {
                let len = usize::from(u16::from_be_bytes(self.header));
                if len == 0 {
                    return Err(RequestError::ZeroLength);
                }
                if len > self.max_len {
                    return Err(RequestError::TooLarge { len, max: self.max_len });
                }
                self.want = len;
                self.body.reserve_exact(len);
            }
        }
        let missing = self.want - self.body.len();
        if input.len() > missing {
            return Err(RequestError::DataAfterRequest { extra: input.len() - missing });
        }
        self.body.extend_from_slice(input);
        if self.body.len() < self.want {
            return Ok(None);
        }
        self.done = true;
        Request::decode(&self.body).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ALIVE2_REQ captured from OTP 25.2.3 (`fx`, port 0x93c9, High 6, Low 5).
    const OTP_ALIVE2: [u8; 17] =
        [0x00, 0x0f, 0x78, 0x93, 0xc9, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x02, 0x66, 0x78, 0x00, 0x00];

    fn decode_all(bytes: &[u8]) -> Result<Option<Request>, RequestError> {
        RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN).feed(bytes)
    }

    #[test]
    fn captured_otp_alive2_decodes() {
        let Ok(Some(Request::Alive2(node))) = decode_all(&OTP_ALIVE2) else { panic!("captured ALIVE2 rejected") };
        assert_eq!(node.port, 0x93c9);
        assert_eq!(node.node_type, NodeType::Normal);
        assert_eq!(node.protocol, 0);
        assert_eq!((node.highest_version, node.lowest_version), (6, 5));
        assert_eq!(node.name, "fx");
        assert!(node.extra.is_empty());
    }

    #[test]
    fn captured_otp_alive2_is_what_we_encode() {
        let node = NodeInfo::new("fx", 0x93c9).with_versions(6, 5);
        assert_eq!(Request::Alive2(node).encode().unwrap(), OTP_ALIVE2);
    }

    #[test]
    fn every_request_round_trips() {
        let mut node = NodeInfo::new("ñode", 4000).with_versions(6, 5);
        node.node_type = NodeType::Hidden;
        node.extra = b"xyz".to_vec();
        let requests = [
            Request::Alive2(node),
            Request::PortPlease2 { name: "e3".into() },
            Request::Names,
            Request::Dump,
            Request::Kill,
            Request::Stop { name: "a".into() },
        ];
        for req in requests {
            let bytes = req.encode().unwrap();
            assert_eq!(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])), bytes.len() - 2);
            assert_eq!(decode_all(&bytes), Ok(Some(req.clone())), "{}", req.kind());
        }
    }

    #[test]
    fn simple_requests_have_the_documented_bytes() {
        assert_eq!(Request::Names.encode().unwrap(), [0, 1, 110]);
        assert_eq!(Request::Dump.encode().unwrap(), [0, 1, 100]);
        assert_eq!(Request::Kill.encode().unwrap(), [0, 1, 107]);
        assert_eq!(Request::PortPlease2 { name: "e3".into() }.encode().unwrap(), [0, 3, 122, b'e', b'3']);
        assert_eq!(Request::Stop { name: "e3".into() }.encode().unwrap(), [0, 3, 115, b'e', b'3']);
    }

    #[test]
    fn encoding_refuses_what_epmd_would_refuse() {
        assert_eq!(Request::PortPlease2 { name: String::new() }.encode(), Err(NameError::Empty));
        assert!(Request::Alive2(NodeInfo::new("a".repeat(256), 1)).encode().is_err());
        let mut big = NodeInfo::new("a", 1);
        big.extra = vec![0; 1021];
        assert!(Request::Alive2(big).encode().is_err());
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let mut d = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
        for (i, b) in OTP_ALIVE2.iter().enumerate() {
            let r = d.feed(&[*b]).unwrap();
            assert_eq!(r.is_some(), i == OTP_ALIVE2.len() - 1);
        }
        assert_eq!(d.feed(&[]), Ok(None));
        assert_eq!(d.feed(&[0]), Err(RequestError::DataAfterRequest { extra: 1 }));
    }

    // Fault matrix E2: 1 byte, the length only, and a partial packet are incomplete (the daemon times them out).
    #[test]
    fn partial_packets_are_incomplete() {
        let mut d = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
        assert_eq!(d.feed(&[0]), Ok(None));
        assert!(d.is_partial());
        assert_eq!(d.feed(&[100]), Ok(None));
        assert_eq!(d.feed(b"za"), Ok(None));
        assert_eq!(d.buffered(), 2);
        assert!(d.is_partial());
    }

    // E3
    #[test]
    fn zero_length_is_an_error() {
        assert_eq!(decode_all(&[0, 0]), Err(RequestError::ZeroLength));
    }

    // E4: refused on the header alone; nothing is buffered.
    #[test]
    fn oversized_lengths_are_refused_before_buffering() {
        for len in [63_000u16, 65_535, (MAX_REQUEST_LEN + 1) as u16] {
            let mut d = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
            let [a, b] = len.to_be_bytes();
            assert_eq!(d.feed(&[a, b]), Err(RequestError::TooLarge { len: len.into(), max: MAX_REQUEST_LEN }));
            assert_eq!(d.buffered(), 0);
            assert_eq!(d.body.capacity(), 0);
        }
        let mut small = RequestDecoder::new(10);
        assert!(matches!(small.feed(&[0, 11]), Err(RequestError::TooLarge { len: 11, max: 10 })));
    }

    #[test]
    fn bytes_after_the_packet_are_an_error() {
        assert_eq!(decode_all(&[0, 1, 110, 0]), Err(RequestError::DataAfterRequest { extra: 1 }));
    }

    #[test]
    fn unknown_request_types_are_errors() {
        assert_eq!(decode_all(&[0, 1, b'Q']), Err(RequestError::UnknownRequest(b'Q')));
        // The pre-R6 requests are gone from OTP's epmd too.
        assert_eq!(decode_all(&[0, 1, b'a']), Err(RequestError::UnknownRequest(b'a')));
    }

    fn alive2_body(name: &[u8], name_len: u16, extra: &[u8], extra_len: u16) -> Vec<u8> {
        let mut b = vec![ALIVE2_REQ, 0x10, 0x00, 77, 0, 0, 6, 0, 5];
        b.extend_from_slice(&name_len.to_be_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&extra_len.to_be_bytes());
        b.extend_from_slice(extra);
        b
    }

    // E5: truncated, lying lengths, NUL in the name, over-long name.
    #[test]
    fn malformed_alive2_requests() {
        let truncated = |r| matches!(r, Err(RequestError::Truncated { request: "ALIVE2_REQ", .. }));
        assert!(truncated(Request::decode(&[ALIVE2_REQ, 0, 1, 77])));
        let ok = alive2_body(b"ab", 2, b"", 0);
        for cut in 1..ok.len() {
            assert!(Request::decode(&ok[..cut]).is_err(), "cut at {cut} accepted");
        }
        assert!(truncated(Request::decode(&alive2_body(b"ab", 300, b"", 0))));
        assert!(truncated(Request::decode(&alive2_body(b"ab", 2, b"x", 2))));
        assert!(truncated(Request::decode(&alive2_body(b"ab", 2, b"", 65535))));
        assert_eq!(
            Request::decode(&alive2_body(b"a\0", 2, b"", 0)),
            Err(RequestError::NulInName { request: "ALIVE2_REQ" })
        );
        assert_eq!(
            Request::decode(&alive2_body(b"\0b", 2, b"", 0)),
            Err(RequestError::NulInName { request: "ALIVE2_REQ" })
        );
        let long = vec![b'a'; 256];
        let Err(e) = Request::decode(&alive2_body(&long, 256, b"", 0)) else { panic!("256-byte name accepted") };
        assert!(matches!(e, RequestError::RejectedAlive2 { highest_version: 6, reason: NameError::TooLong { .. } }));
        assert_eq!(e.error_reply(), Some(vec![118, 1, 0, 0, 0, 99]));
        // OTP wants 13 bytes after the tag, so an empty name needs one byte of extra to get this far.
        let Err(e) = Request::decode(&alive2_body(b"", 0, b"x", 1)) else { panic!("empty name accepted") };
        assert_eq!(e, RequestError::RejectedAlive2 { highest_version: 6, reason: NameError::Empty });
        let Err(e) = Request::decode(&alive2_body(&[0xc3, 0x28], 2, b"", 0)) else { panic!("bad UTF-8 accepted") };
        assert_eq!(e, RequestError::RejectedAlive2 { highest_version: 6, reason: NameError::InvalidUtf8 });
        let extra = vec![1; 1021];
        let Err(e) = Request::decode(&alive2_body(b"a", 1, &extra, 1021)) else { panic!("big extra accepted") };
        assert!(matches!(e, RequestError::RejectedAlive2 { reason: NameError::ExtraTooLong { bytes: 1021 }, .. }));
        // Trailing bytes after a consistent request are ignored, as OTP's epmd ignores them.
        let mut trailing = alive2_body(b"ab", 2, b"", 0);
        trailing.push(9);
        assert!(matches!(Request::decode(&trailing), Ok(Request::Alive2(n)) if n.name == "ab"));
    }

    #[test]
    fn v5_rejection_uses_the_short_reply() {
        let mut body = alive2_body(b"", 0, b"x", 1);
        body[6] = 5; // High = 5
        let Err(e) = Request::decode(&body) else { panic!("empty name accepted") };
        assert_eq!(e.error_reply(), Some(vec![121, 1, 0, 99]));
    }

    #[test]
    fn lookup_names() {
        assert_eq!(Request::decode(b"ze3"), Ok(Request::PortPlease2 { name: "e3".into() }));
        assert_eq!(Request::decode(b"ze3\0"), Ok(Request::PortPlease2 { name: "e3".into() }));
        assert!(matches!(Request::decode(b"z"), Err(RequestError::Truncated { .. })));
        assert!(matches!(Request::decode(b"z\0"), Err(RequestError::Truncated { .. })));
        assert!(matches!(Request::decode(b"ze\x003"), Err(RequestError::NulInName { .. })));
        assert!(matches!(Request::decode(b"z\xff"), Err(RequestError::InvalidName { .. })));
        let mut long = vec![b'z'];
        long.extend_from_slice(&[b'a'; 256]);
        assert!(matches!(Request::decode(&long), Err(RequestError::InvalidName { .. })));
        assert_eq!(Request::decode(b"sfoo"), Ok(Request::Stop { name: "foo".into() }));
        assert!(matches!(Request::decode(b"s"), Err(RequestError::Truncated { .. })));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // A deterministic sweep standing in for a fuzzer: every prefix of every
        // request kind, with every byte value in the tag and first field positions.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 57)) as u8).collect();
            let mut d = RequestDecoder::new(64);
            let _ = d.feed(&bytes);
            assert!(d.buffered() <= 64);
            let _ = Request::decode(&bytes);
        }
    }
}
