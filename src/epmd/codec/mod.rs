//! Sans-IO EPMD codec: every request and reply as bytes, with no sockets and no
//! runtime.
//!
//! Protocol reference: [EPMD protocol]. Requests travel as a `u16` big-endian
//! length followed by the body; replies have no length prefix and each request
//! uses its own connection (ALIVE2's connection stays open: it *is* the
//! registration).
//!
//! - Requests: [`Request`] encodes with [`Request::encode`] and decodes from a
//!   body with [`Request::decode`]; a daemon feeds raw bytes to a
//!   [`RequestDecoder`], which checks the length field against its limit before
//!   buffering anything.
//! - Replies: [`Alive2Response`] (ALIVE2_RESP and ALIVE2_X_RESP),
//!   [`Port2Response`], [`Names`], [`Dump`], [`KillResponse`] and
//!   [`StopResponse`]. Replies that have a length of their own decode
//!   incrementally ([`Decoded::Incomplete`] until enough bytes are there);
//!   replies that end when epmd closes the connection decode from the whole
//!   reply.
//!
//! ```
//! use beamlink::epmd::codec::{Decoded, NodeInfo, NodeType, Port2Response, Request};
//!
//! // The ALIVE2_REQ an OTP 25 node sends for `fx@host` on port 37833.
//! let node = NodeInfo::new("fx", 0x93c9).with_versions(6, 5);
//! let bytes = Request::Alive2(node).encode().unwrap();
//! assert_eq!(bytes, [0, 15, 120, 0x93, 0xc9, 77, 0, 0, 6, 0, 5, 0, 2, b'f', b'x', 0, 0]);
//!
//! // A PORT2_RESP arriving in two pieces.
//! let reply = [119, 0, 0x88, 0x19, 77, 0, 0, 6, 0, 5, 0, 2, b'e', b'3', 0, 0];
//! assert_eq!(Port2Response::decode(&reply[..5]).unwrap(), Decoded::Incomplete);
//! let Decoded::Complete(Port2Response::Found(info), used) = Port2Response::decode(&reply).unwrap() else {
//!     panic!("expected a complete reply")
//! };
//! assert_eq!((info.port, info.node_type, info.name.as_str(), used), (0x8819, NodeType::Normal, "e3", 16));
//! ```
//!
//! [EPMD protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#epmd-protocol

mod error;
mod request;
mod response;

pub use error::{NameError, RequestError, ResponseError};
pub use request::{Request, RequestDecoder};
pub use response::{Alive2Response, Dump, KillResponse, Names, Port2Response, StopResponse};

/// ALIVE2_REQ (`'x'`): register a node.
pub const ALIVE2_REQ: u8 = 120;
/// ALIVE2_RESP (`'y'`): registration reply with a 16-bit creation (nodes below version 6).
pub const ALIVE2_RESP: u8 = 121;
/// ALIVE2_X_RESP (`'v'`): registration reply with a 32-bit creation (nodes of version 6 and up).
pub const ALIVE2_X_RESP: u8 = 118;
/// PORT_PLEASE2_REQ (`'z'`): look a node up by name.
pub const PORT_PLEASE2_REQ: u8 = 122;
/// PORT2_RESP (`'w'`): lookup reply.
pub const PORT2_RESP: u8 = 119;
/// NAMES_REQ (`'n'`): list registered names.
pub const NAMES_REQ: u8 = 110;
/// DUMP_REQ (`'d'`): list everything epmd knows (a debugging aid).
pub const DUMP_REQ: u8 = 100;
/// KILL_REQ (`'k'`): ask epmd to exit.
pub const KILL_REQ: u8 = 107;
/// STOP_REQ (`'s'`): unregister a name by force.
pub const STOP_REQ: u8 = 115;

/// Longest node name in characters (a node name is an atom).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest node name in bytes: 255 characters of up to 4 UTF-8 bytes each.
pub const MAX_NAME_BYTES: usize = 4 * MAX_NAME_CHARS;
/// Longest `Extra` field epmd stores, in bytes (OTP's limit).
pub const MAX_EXTRA_BYTES: usize = 1020;
/// Largest valid request body: a full ALIVE2_REQ with the longest name and extra.
pub const MAX_REQUEST_LEN: usize = 13 + MAX_NAME_BYTES + MAX_EXTRA_BYTES;

/// The result byte of a refused registration.
pub const RESULT_ERROR: u8 = 1;
/// The creation OTP's epmd sends with a refused registration.
pub const REFUSED_CREATION: u32 = 99;

/// The node type stored with a registration. epmd stores and echoes it and
/// never interprets it; OTP always sends [`NodeType::Normal`], even for hidden
/// nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// 77 (`'M'`): a normal Erlang node.
    Normal,
    /// 72 (`'H'`): a hidden node (what `ei` C nodes send).
    Hidden,
    /// Any other byte, kept as it came (jinterface sends 110).
    Other(u8),
}

impl NodeType {
    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            NodeType::Normal => 77,
            NodeType::Hidden => 72,
            NodeType::Other(b) => b,
        }
    }

    /// The node type for a wire byte; 77 and 72 map to the named variants.
    pub fn from_byte(b: u8) -> NodeType {
        match b {
            77 => NodeType::Normal,
            72 => NodeType::Hidden,
            other => NodeType::Other(other),
        }
    }
}

/// What epmd knows about a registered node: the body of an ALIVE2_REQ and of
/// a successful PORT2_RESP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's distribution listen port.
    pub port: u16,
    /// The node type byte.
    pub node_type: NodeType,
    /// The protocol byte (0 = TCP/IP).
    pub protocol: u8,
    /// Highest distribution protocol version the node speaks.
    pub highest_version: u16,
    /// Lowest distribution protocol version the node speaks.
    pub lowest_version: u16,
    /// The node's name without `@host` (UTF-8, 1–255 characters, no NUL).
    pub name: String,
    /// Opaque extra data, at most [`MAX_EXTRA_BYTES`].
    pub extra: Vec<u8>,
}

impl NodeInfo {
    /// A normal TCP node speaking distribution version 6 only, with no extra data.
    pub fn new(name: impl Into<String>, port: u16) -> NodeInfo {
        NodeInfo {
            port,
            node_type: NodeType::Normal,
            protocol: 0,
            highest_version: 6,
            lowest_version: 6,
            name: name.into(),
            extra: Vec::new(),
        }
    }

    /// The same node with another version range.
    pub fn with_versions(mut self, highest: u16, lowest: u16) -> NodeInfo {
        self.highest_version = highest;
        self.lowest_version = lowest;
        self
    }

    /// Checks the limits epmd enforces: a valid name and extra data of at most
    /// [`MAX_EXTRA_BYTES`].
    pub fn validate(&self) -> Result<(), NameError> {
        validate_name(&self.name)?;
        if self.extra.len() > MAX_EXTRA_BYTES {
            return Err(NameError::ExtraTooLong { bytes: self.extra.len() });
        }
        Ok(())
    }
}

/// An ALIVE2_REQ carries exactly the fields a successful PORT2_RESP returns.
pub type Alive2Request = NodeInfo;

/// The outcome of decoding a reply from a possibly partial buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More bytes are needed.
    Incomplete,
    /// The value and how many bytes of the buffer it used.
    Complete(T, usize),
}

/// Checks a node name as epmd does: 1–255 characters of UTF-8, no NUL.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.contains('\0') {
        return Err(NameError::ContainsNul);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS || name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { chars, bytes: name.len() });
    }
    Ok(())
}

/// Checks raw name bytes: the rules of [`validate_name`] plus valid UTF-8.
pub fn validate_name_bytes(bytes: &[u8]) -> Result<&str, NameError> {
    let name = std::str::from_utf8(bytes).map_err(|_| NameError::InvalidUtf8)?;
    validate_name(name)?;
    Ok(name)
}

/// The creation a node gets for an epmd creation counter: the counter itself
/// for version-6 nodes, `counter % 3 + 1` (1–3) for older ones, as OTP's epmd.
pub fn creation_for(counter: u32, highest_version: u16) -> u32 {
    if highest_version >= 6 { counter } else { counter % 3 + 1 }
}

/// Reads a big-endian `u16` at `at`, if the bytes are there.
fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian `u32` at `at`, if the bytes are there.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_type_bytes_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(NodeType::from_byte(b).to_byte(), b);
        }
        assert_eq!(NodeType::from_byte(77), NodeType::Normal);
        assert_eq!(NodeType::from_byte(72), NodeType::Hidden);
        assert_eq!(NodeType::from_byte(110), NodeType::Other(110));
    }

    #[test]
    fn names_are_checked_in_characters_not_bytes() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name("a\0b"), Err(NameError::ContainsNul));
        assert!(validate_name(&"a".repeat(255)).is_ok());
        assert_eq!(validate_name(&"a".repeat(256)), Err(NameError::TooLong { chars: 256, bytes: 256 }));
        // 255 three-byte characters: 765 bytes, still a legal atom.
        assert!(validate_name(&"é".repeat(100)).is_ok());
        assert!(validate_name(&"€".repeat(255)).is_ok());
        assert!(validate_name(&"€".repeat(256)).is_err());
        assert_eq!(validate_name_bytes(&[0xff, 0xfe]), Err(NameError::InvalidUtf8));
    }

    #[test]
    fn creation_follows_otp_rules() {
        assert_eq!(creation_for(0x6b06_0656, 6), 0x6b06_0656);
        assert_eq!(creation_for(0x6b06_0656, 7), 0x6b06_0656);
        for counter in [4u32, 5, 6, 7, 1_800_000_000] {
            let c = creation_for(counter, 5);
            assert!((1..=3).contains(&c), "v5 creation {c} out of 1..3");
        }
    }

    #[test]
    fn extra_is_limited() {
        let mut n = NodeInfo::new("a", 1);
        n.extra = vec![0; MAX_EXTRA_BYTES];
        assert!(n.validate().is_ok());
        n.extra.push(0);
        assert_eq!(n.validate(), Err(NameError::ExtraTooLong { bytes: MAX_EXTRA_BYTES + 1 }));
    }
}
