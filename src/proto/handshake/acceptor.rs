//! The accepting side (OTP's `handshake_other_started`).

use std::sync::Arc;

use super::digest;
use super::messages::{
    Challenge, ChallengeAck, ChallengeReply, Complement, SendName, SendNameV5, Status, decode_alive_answer,
};
use super::{Established, HandshakeConfig, HandshakeError, Outbox, negotiate};
use crate::proto::{DistFlags, NodeName};

/// Who is knocking: what the node needs to decide the status to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    /// The initiator's node name.
    pub name: NodeName,
    /// The initiator's flags (digest expanded).
    pub flags: DistFlags,
    /// The initiator's creation.
    pub creation: u32,
}

/// The node's answer to a [`PeerHello`], following OTP's `net_kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptDecision {
    /// No connection or attempt to this peer exists: `ok`.
    Accept,
    /// This node was dialling the peer too and gives way, because its name
    /// is not greater: `ok_simultaneous`.
    AcceptSimultaneous,
    /// This node was dialling the peer too and its attempt wins, because its
    /// name is greater: `nok`.
    Reject,
    /// The peer is not allowed: `not_allowed`.
    NotAllowed,
    /// A connection to the peer is already up: `alive`; the peer answers
    /// whether that connection is stale.
    Alive,
}

impl AcceptDecision {
    /// OTP's rule for a simultaneous connect: the node whose name compares
    /// greater (as atom text) keeps its own attempt.
    pub fn for_simultaneous(ours: &NodeName, theirs: &NodeName) -> AcceptDecision {
        if ours.as_str() > theirs.as_str() { AcceptDecision::Reject } else { AcceptDecision::AcceptSimultaneous }
    }

    /// Whether the handshake goes on after this answer (`ok`,
    /// `ok_simultaneous`, `alive`).
    pub fn continues(self) -> bool {
        matches!(self, AcceptDecision::Accept | AcceptDecision::AcceptSimultaneous | AcceptDecision::Alive)
    }
}

/// What the acceptor learned from a message.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptorEvent {
    /// Keep going.
    Continue,
    /// The initiator introduced itself: call [`Acceptor::decide`].
    Decide(PeerHello),
    /// The handshake is complete (the final `challenge_ack` is queued).
    Established(Established),
}

#[derive(Debug)]
enum State {
    ExpectName,
    /// A version 5 name arrived; its complement follows the challenge.
    Decide {
        hello: PeerHello,
        legacy: bool,
    },
    ExpectAliveAnswer {
        hello: PeerHello,
        legacy: bool,
    },
    ExpectComplement {
        hello: PeerHello,
        challenge: u32,
    },
    ExpectReply {
        hello: PeerHello,
        challenge: u32,
    },
    Done,
}

/// The side that listens: checks the initiator, issues the challenge, checks
/// the answer, answers the initiator's challenge.
#[derive(Debug)]
pub struct Acceptor {
    config: Arc<HandshakeConfig>,
    state: State,
    outbox: Outbox,
    issued: Option<u32>,
}

impl Acceptor {
    /// Waits for an initiator's `send_name`.
    pub fn new(config: Arc<HandshakeConfig>) -> Acceptor {
        Acceptor { config, state: State::ExpectName, outbox: Outbox::default(), issued: None }
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop()
    }

    /// Handles one received message.
    pub fn handle(&mut self, msg: &[u8]) -> Result<AcceptorEvent, HandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::ExpectName => self.on_name(msg),
            State::ExpectAliveAnswer { hello, legacy } => {
                if decode_alive_answer(msg)? {
                    self.send_challenge(hello, legacy);
                    Ok(AcceptorEvent::Continue)
                } else {
                    Err(HandshakeError::PeerKeepsOld { peer: hello.name })
                }
            }
            State::ExpectComplement { mut hello, challenge } => {
                let c = Complement::decode(msg)?;
                hello.flags = (hello.flags | c.flags_high).expand_digest();
                hello.creation = c.creation;
                self.state = State::ExpectReply { hello, challenge };
                Ok(AcceptorEvent::Continue)
            }
            State::ExpectReply { hello, challenge } => self.on_reply(msg, hello, challenge),
            State::Decide { hello, legacy } => {
                self.state = State::Decide { hello, legacy };
                Err(HandshakeError::OutOfTurn("the node has not decided on the status yet"))
            }
            State::Done => Err(HandshakeError::OutOfTurn("the handshake is over")),
        }
    }

    /// Gives the node's decision on the initiator: queues the status and,
    /// when accepted, the challenge. Refusals end the handshake with an error
    /// (the status is still queued for sending).
    pub fn decide(&mut self, decision: AcceptDecision) -> Result<(), HandshakeError> {
        let State::Decide { hello, legacy } = std::mem::replace(&mut self.state, State::Done) else {
            return Err(HandshakeError::OutOfTurn("no decision is pending"));
        };
        let status = match decision {
            AcceptDecision::Accept => Status::Ok,
            AcceptDecision::AcceptSimultaneous => Status::OkSimultaneous,
            AcceptDecision::Reject => Status::Nok,
            AcceptDecision::NotAllowed => Status::NotAllowed,
            AcceptDecision::Alive => Status::Alive,
        };
        self.outbox.push(status.encode());
        match decision {
            AcceptDecision::Accept | AcceptDecision::AcceptSimultaneous => {
                self.send_challenge(hello, legacy);
                Ok(())
            }
            AcceptDecision::Alive => {
                self.state = State::ExpectAliveAnswer { hello, legacy };
                Ok(())
            }
            AcceptDecision::Reject => Err(HandshakeError::Nok { peer: hello.name }),
            AcceptDecision::NotAllowed => Err(HandshakeError::NotAllowed { peer: hello.name }),
        }
    }

    fn on_name(&mut self, msg: &[u8]) -> Result<AcceptorEvent, HandshakeError> {
        let (name, flags, creation, legacy) = match msg.first() {
            Some(b'n') => {
                let m = SendNameV5::decode(msg)?;
                (m.name, m.flags, None, true)
            }
            _ => {
                let m = SendName::decode(msg)?;
                (m.name, m.flags, Some(m.creation), false)
            }
        };
        let text = std::str::from_utf8(&name).map_err(|_| HandshakeError::NameNotUtf8)?;
        let name = NodeName::new(text)?;
        let flags = flags.expand_digest();
        // A version 5 initiator sends its high flags and creation later, in
        // the complement; only the flags it has sent so far can be checked now.
        let required =
            if legacy { self.config.required & DistFlags::from_bits(u32::MAX as u64) } else { self.config.required };
        let missing = flags.missing(required);
        if !missing.is_empty() {
            self.outbox.push(Status::NotAllowed.encode());
            return Err(HandshakeError::MissingFlags { peer: name.to_string(), missing });
        }
        if creation == Some(0) {
            return Err(HandshakeError::ZeroCreation { peer: name.to_string() });
        }
        let hello = PeerHello { name, flags, creation: creation.unwrap_or(0) };
        self.state = State::Decide { hello: hello.clone(), legacy };
        Ok(AcceptorEvent::Decide(hello))
    }

    fn send_challenge(&mut self, hello: PeerHello, legacy: bool) {
        let challenge = digest::new_challenge();
        self.config.outstanding.insert(challenge);
        self.issued = Some(challenge);
        let msg = Challenge {
            flags: self.config.flags,
            challenge,
            creation: self.config.creation,
            name: self.config.name.as_str().as_bytes().to_vec(),
        };
        self.outbox.push(msg.encode());
        self.state =
            if legacy { State::ExpectComplement { hello, challenge } } else { State::ExpectReply { hello, challenge } };
    }

    fn on_reply(&mut self, msg: &[u8], hello: PeerHello, challenge: u32) -> Result<AcceptorEvent, HandshakeError> {
        let reply = ChallengeReply::decode(msg)?;
        let peer = hello.name.as_str();
        if !digest::verify(challenge, &self.config.cookie, &reply.digest) {
            return Err(HandshakeError::BadCookie { peer: peer.to_string() });
        }
        if reply.challenge == challenge || self.config.outstanding.contains(reply.challenge) {
            return Err(HandshakeError::ReflectedChallenge { peer: peer.to_string() });
        }
        if hello.creation == 0 {
            return Err(HandshakeError::ZeroCreation { peer: peer.to_string() });
        }
        let flags = negotiate(&self.config, peer, hello.flags)?;
        self.outbox.push(ChallengeAck { digest: digest::digest(reply.challenge, &self.config.cookie) }.encode());
        Ok(AcceptorEvent::Established(Established {
            peer: hello.name,
            peer_creation: hello.creation,
            flags,
            peer_flags: hello.flags,
        }))
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        if let Some(challenge) = self.issued.take() {
            self.config.outstanding.remove(challenge);
        }
    }
}
