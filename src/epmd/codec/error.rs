//! Errors of the EPMD codec, one type per direction.

use thiserror::Error;

/// Why a node name (or the extra data beside it) is not acceptable to epmd.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("node name is empty")]
    Empty,
    /// The name contains a NUL byte.
    #[error("node name contains a NUL byte")]
    ContainsNul,
    /// The name is not valid UTF-8.
    #[error("node name is not valid UTF-8")]
    InvalidUtf8,
    /// The name is longer than 255 characters.
    #[error("node name is too long: {chars} characters ({bytes} bytes), the limit is 255 characters")]
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// Its length in bytes.
        bytes: usize,
    },
    /// The extra data is longer than epmd stores.
    #[error("extra data is too long: {bytes} bytes, the limit is 1020")]
    ExtraTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
}

/// Why a request from a client cannot be served. Every variant means "close
/// the connection", except [`RequestError::RejectedAlive2`], which OTP's epmd
/// answers with an error reply first (see [`RequestError::error_reply`]).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The length field is 0.
    #[error("request length is 0")]
    ZeroLength,
    /// The length field exceeds the decoder's limit.
    #[error("request length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length the client announced.
        len: usize,
        /// The decoder's limit.
        max: usize,
    },
    /// Bytes arrived after the end of the request.
    #[error("{extra} unexpected bytes after the request")]
    DataAfterRequest {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A field's length points past the end of the request.
    #[error("{request} is truncated: {detail}")]
    Truncated {
        /// The request kind.
        request: &'static str,
        /// What was missing.
        detail: &'static str,
    },
    /// The node name contains a NUL byte (OTP's epmd closes without a reply).
    #[error("{request}: node name contains a NUL byte")]
    NulInName {
        /// The request kind.
        request: &'static str,
    },
    /// The name of a lookup or STOP is unacceptable.
    #[error("{request}: {source}")]
    InvalidName {
        /// The request kind.
        request: &'static str,
        /// What is wrong with the name.
        source: NameError,
    },
    /// A well-formed ALIVE2_REQ with an unacceptable name or extra data; epmd
    /// answers it with result 1 and creation 99.
    #[error("ALIVE2_REQ refused: {reason}")]
    RejectedAlive2 {
        /// The node's highest version, which picks the reply format.
        highest_version: u16,
        /// What is wrong.
        reason: NameError,
    },
    /// The first body byte is not a request epmd knows.
    #[error("unknown request type {0}")]
    UnknownRequest(u8),
}

impl RequestError {
    /// The bytes to send before closing, if OTP's epmd sends any for this
    /// error (only a refused ALIVE2_REQ gets an answer).
    pub fn error_reply(&self) -> Option<Vec<u8>> {
        match self {
            RequestError::RejectedAlive2 { highest_version, .. } => {
                Some(super::Alive2Response::refused(*highest_version).encode())
            }
            _ => None,
        }
    }
}

/// Why a reply from epmd cannot be understood.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The reply starts with the wrong tag byte.
    #[error("expected a {reply} (tag {expected}), got tag {got}")]
    UnexpectedTag {
        /// The reply expected.
        reply: &'static str,
        /// The tag expected.
        expected: u8,
        /// The tag received.
        got: u8,
    },
    /// The reply ended early.
    #[error("{reply} is truncated: {detail}")]
    Truncated {
        /// The reply kind.
        reply: &'static str,
        /// What was missing.
        detail: &'static str,
    },
    /// The reply is larger than a client accepts.
    #[error("{reply} is larger than {limit} bytes")]
    TooLarge {
        /// The reply kind.
        reply: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A name in the reply is unacceptable.
    #[error("{reply}: {source}")]
    BadName {
        /// The reply kind.
        reply: &'static str,
        /// What is wrong with the name.
        source: NameError,
    },
    /// The reply is not in the expected text format.
    #[error("{reply}: unexpected text {text:?}")]
    Malformed {
        /// The reply kind.
        reply: &'static str,
        /// The offending text, shortened to 80 characters.
        text: String,
    },
}

/// Shortens text taken from the network for an error message.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(80).collect()
}
