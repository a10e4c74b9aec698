//! The distribution handshake as a sans-IO state machine.
//!
//! Implements [the version 6 handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake)
//! (OTP 23+) for both roles, the way OTP's `dist_util` runs it for every
//! carrier. The state machines see only message bodies: the carrier frames
//! them (2-byte lengths over TCP, 4-byte inside TLS) and the driver in
//! [`crate::conn`] moves the bytes and enforces the setup timeout.
//!
//! The contract, for both [`Initiator`] and [`Acceptor`]:
//! - feed each received message to `handle`, which returns what happened;
//! - after every call, drain `poll_transmit` and send what it yields, in
//!   order — also after an error, so a refusal status reaches the peer;
//! - when `handle` asks for a decision (the acceptor's status, the
//!   initiator's answer to `alive`), give it with `decide`/`answer_alive`.
//!
//! ```
//! use std::sync::Arc;
//! use beamlink::proto::{DistFlags, NodeName};
//! use beamlink::proto::handshake::*;
//!
//! let config = |name: &str| Arc::new(HandshakeConfig::new(NodeName::new(name).unwrap(), 7, b"cookie".to_vec()));
//! let (a, b) = (config("a@h"), config("b@h"));
//! let mut initiator = Initiator::new(a, NodeName::new("b@h").unwrap());
//! let mut acceptor = Acceptor::new(b);
//!
//! // send_name → the acceptor asks the node what to answer.
//! let msg = initiator.poll_transmit().unwrap();
//! let AcceptorEvent::Decide(hello) = acceptor.handle(&msg).unwrap() else { panic!() };
//! assert_eq!(hello.name.as_str(), "a@h");
//! acceptor.decide(AcceptDecision::Accept).unwrap();
//! // status and challenge → challenge_reply → challenge_ack.
//! while let Some(msg) = acceptor.poll_transmit() { initiator.handle(&msg).unwrap(); }
//! let reply = initiator.poll_transmit().unwrap();
//! let AcceptorEvent::Established(at_b) = acceptor.handle(&reply).unwrap() else { panic!() };
//! let ack = acceptor.poll_transmit().unwrap();
//! let InitiatorEvent::Established(at_a) = initiator.handle(&ack).unwrap() else { panic!() };
//! assert_eq!((at_a.peer.as_str(), at_b.peer.as_str()), ("b@h", "a@h"));
//! assert!(at_a.flags.contains(DistFlags::MANDATORY));
//! ```

mod acceptor;
pub mod digest;
mod initiator;
pub mod messages;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

pub use acceptor::{AcceptDecision, Acceptor, AcceptorEvent, PeerHello};
pub use initiator::{Initiator, InitiatorEvent};

use super::{DistFlags, NameError, NodeName};

/// What a node brings to every handshake. Its `Debug` form leaves the cookie out.
pub struct HandshakeConfig {
    /// This node's name.
    pub name: NodeName,
    /// This node's creation (from EPMD, or random when running without it). Never 0.
    pub creation: u32,
    /// The flags this node advertises.
    pub flags: DistFlags,
    /// The flags a peer must have (after expanding the OTP 25 digest).
    pub required: DistFlags,
    /// The cookie shared with peers.
    pub cookie: Vec<u8>,
    /// Challenges this node has issued and not yet seen answered, across all
    /// handshakes, to refuse a peer that reflects one back (see [`OutstandingChallenges`]).
    pub outstanding: Arc<OutstandingChallenges>,
}

impl std::fmt::Debug for HandshakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("name", &self.name)
            .field("creation", &self.creation)
            .field("flags", &self.flags)
            .field("required", &self.required)
            .field("cookie", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl HandshakeConfig {
    /// A configuration with beamlink's default flags (hidden) and OTP 26's mandatory set.
    pub fn new(name: NodeName, creation: u32, cookie: Vec<u8>) -> HandshakeConfig {
        HandshakeConfig {
            name,
            creation,
            flags: DistFlags::DEFAULT,
            required: DistFlags::MANDATORY,
            cookie,
            outstanding: Arc::new(OutstandingChallenges::default()),
        }
    }
}

/// The challenges a node has sent as acceptor and not yet seen answered.
///
/// A peer that receives our challenge on one connection could try to make us
/// answer that same challenge on a connection we initiate to it, and replay
/// our answer. An initiator therefore refuses a challenge that is still
/// outstanding here, and an acceptor refuses a reply whose challenge is one
/// of ours.
#[derive(Debug, Default)]
pub struct OutstandingChallenges {
    set: Mutex<HashSet<u32>>,
}

impl OutstandingChallenges {
    fn insert(&self, challenge: u32) {
        if let Ok(mut set) = self.set.lock() {
            set.insert(challenge);
        }
    }

    fn remove(&self, challenge: u32) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&challenge);
        }
    }

    fn contains(&self, challenge: u32) -> bool {
        self.set.lock().map(|set| set.contains(&challenge)).unwrap_or(false)
    }
}

/// A completed handshake: who the peer is and what the connection may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Established {
    /// The peer's node name.
    pub peer: NodeName,
    /// The peer's creation.
    pub peer_creation: u32,
    /// The flags both sides have: what the connection uses.
    pub flags: DistFlags,
    /// The flags the peer advertised (digest expanded).
    pub peer_flags: DistFlags,
}

impl Established {
    /// Whether the peer is hidden (did not advertise PUBLISHED).
    pub fn peer_hidden(&self) -> bool {
        !self.peer_flags.contains(DistFlags::PUBLISHED)
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A message was shorter than its fields.
    #[error("truncated {message} message")]
    Truncated {
        /// Which message.
        message: &'static str,
    },
    /// A message had bytes after its last field where OTP allows none.
    #[error("{message} message has trailing bytes")]
    TrailingBytes {
        /// Which message.
        message: &'static str,
    },
    /// A message arrived that does not fit the handshake's current state.
    #[error("expected {expected}, got a message tagged {:?}", *tag as char)]
    Unexpected {
        /// What the state machine was waiting for.
        expected: &'static str,
        /// The tag byte that arrived.
        tag: u8,
    },
    /// A message arrived after the handshake ended, or while a decision was pending.
    #[error("message received while {0}")]
    OutOfTurn(&'static str),
    /// The acceptor answered with a version 5 challenge.
    #[error("peer sent a version 5 challenge; only the version 6 handshake (OTP 23+) is supported")]
    LegacyChallenge,
    /// The peer's node name is invalid.
    #[error("peer sent an invalid node name: {0}")]
    BadName(#[from] NameError),
    /// The peer's name is not valid UTF-8.
    #[error("peer sent a node name that is not UTF-8")]
    NameNotUtf8,
    /// The acceptor's name differs from the name we dialled.
    #[error("dialled {dialled} but the peer calls itself {answered}")]
    NameMismatch {
        /// The name we dialled.
        dialled: NodeName,
        /// The name in the challenge.
        answered: String,
    },
    /// The peer lacks flags we require.
    #[error("peer {peer} lacks required distribution capabilities: {}", missing.names().join(", "))]
    MissingFlags {
        /// The peer.
        peer: String,
        /// What it lacks.
        missing: DistFlags,
    },
    /// We lack flags the peer requires (it answered `not_allowed`).
    #[error("{peer} refused the connection (not_allowed): this node is not allowed or lacks a capability it requires")]
    NotAllowed {
        /// The peer.
        peer: NodeName,
    },
    /// The peer's own simultaneous attempt wins (`nok`).
    #[error("{peer} is connecting to us at the same time and its attempt wins (nok)")]
    Nok {
        /// The peer.
        peer: NodeName,
    },
    /// We answered `alive` and the peer said it still has a live connection.
    #[error("{peer} already has a connection to this node and keeps it")]
    PeerKeepsOld {
        /// The peer.
        peer: NodeName,
    },
    /// The acceptor refused us with `alive`, and we keep our connection.
    #[error("{peer} reports a connection to this node that is still alive")]
    AlreadyConnected {
        /// The peer.
        peer: NodeName,
    },
    /// The acceptor closed the connection right after our answer to its
    /// challenge: OTP does that when our digest is wrong.
    #[error("{peer} closed the connection after checking our answer to its challenge: the cookies most likely differ")]
    ClosedAfterReply {
        /// The peer.
        peer: NodeName,
    },
    /// An unknown status text.
    #[error("unknown handshake status {0:?}")]
    UnknownStatus(String),
    /// The peer assigned us a dynamic name we did not ask for.
    #[error("peer sent a dynamic name although none was requested")]
    UnexpectedNamed,
    /// The peer's digest was wrong: the cookies differ.
    #[error("{peer} answered the cookie challenge wrongly: the cookies differ")]
    BadCookie {
        /// The peer.
        peer: String,
    },
    /// The peer sent one of our own challenges back.
    #[error("{peer} reflected one of this node's own challenges")]
    ReflectedChallenge {
        /// The peer.
        peer: String,
    },
    /// The peer's creation is 0, which is reserved.
    #[error("{peer} sent creation 0, which is reserved")]
    ZeroCreation {
        /// The peer.
        peer: String,
    },
}

/// Messages waiting to be sent, shared by both roles.
#[derive(Debug, Default)]
struct Outbox(VecDeque<Vec<u8>>);

impl Outbox {
    fn push(&mut self, msg: Vec<u8>) {
        self.0.push_back(msg);
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        self.0.pop_front()
    }
}

/// Checks the peer's flags against what we require; returns the negotiated set.
fn negotiate(config: &HandshakeConfig, peer: &str, peer_flags: DistFlags) -> Result<DistFlags, HandshakeError> {
    let missing = peer_flags.missing(config.required);
    if !missing.is_empty() {
        return Err(HandshakeError::MissingFlags { peer: peer.to_string(), missing });
    }
    Ok(config.flags & peer_flags)
}

#[cfg(test)]
mod tests;
