//! The initiating side (OTP's `handshake_we_started`).

use std::sync::Arc;

use super::digest::{self, Digest};
use super::messages::{Challenge, ChallengeAck, ChallengeReply, SendName, Status, encode_alive_answer};
use super::{Established, HandshakeConfig, HandshakeError, Outbox, negotiate};
use crate::proto::NodeName;

/// What the initiator learned from a message.
#[derive(Debug, PartialEq, Eq)]
pub enum InitiatorEvent {
    /// Keep going: send what `poll_transmit` yields and wait for the next message.
    Continue,
    /// The peer already has a connection to this node (`alive`). Call
    /// [`Initiator::answer_alive`]: `true` when this node has no live
    /// connection to the peer (so the peer's is stale), `false` otherwise.
    AliveQuestion,
    /// The handshake is complete.
    Established(Established),
}

#[derive(Debug)]
enum State {
    ExpectStatus,
    ExpectAliveAnswer,
    ExpectChallenge,
    ExpectAck { our_challenge: u32, negotiated: Established },
    Done,
}

/// The side that dials: sends its name, answers the peer's challenge, checks
/// the peer's answer to its own.
#[derive(Debug)]
pub struct Initiator {
    config: Arc<HandshakeConfig>,
    peer: NodeName,
    state: State,
    outbox: Outbox,
}

impl Initiator {
    /// Starts a handshake towards `peer` (the name exactly as dialled); the
    /// first message (`send_name`) is ready in `poll_transmit`.
    pub fn new(config: Arc<HandshakeConfig>, peer: NodeName) -> Initiator {
        let mut outbox = Outbox::default();
        outbox.push(
            SendName { flags: config.flags, creation: config.creation, name: config.name.as_str().as_bytes().to_vec() }
                .encode(),
        );
        Initiator { config, peer, state: State::ExpectStatus, outbox }
    }

    /// Whether our answer to the peer's challenge is out and its verdict pending.
    pub fn awaiting_ack(&self) -> bool {
        matches!(self.state, State::ExpectAck { .. })
    }

    /// The peer this handshake dials.
    pub fn peer(&self) -> &NodeName {
        &self.peer
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop()
    }

    /// Handles one received message.
    pub fn handle(&mut self, msg: &[u8]) -> Result<InitiatorEvent, HandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::ExpectStatus => self.on_status(msg),
            State::ExpectChallenge => self.on_challenge(msg),
            State::ExpectAck { our_challenge, negotiated } => self.on_ack(msg, our_challenge, negotiated),
            State::ExpectAliveAnswer => {
                self.state = State::ExpectAliveAnswer;
                Err(HandshakeError::OutOfTurn("an answer to `alive` is pending"))
            }
            State::Done => Err(HandshakeError::OutOfTurn("the handshake is over")),
        }
    }

    /// Answers the peer's `alive` status: `true` continues (the peer will drop
    /// its old connection), `false` ends the handshake.
    pub fn answer_alive(&mut self, proceed: bool) -> Result<(), HandshakeError> {
        if !matches!(self.state, State::ExpectAliveAnswer) {
            return Err(HandshakeError::OutOfTurn("no `alive` question is pending"));
        }
        self.outbox.push(encode_alive_answer(proceed));
        if proceed {
            self.state = State::ExpectChallenge;
            Ok(())
        } else {
            self.state = State::Done;
            Err(HandshakeError::AlreadyConnected { peer: self.peer.clone() })
        }
    }

    fn on_status(&mut self, msg: &[u8]) -> Result<InitiatorEvent, HandshakeError> {
        match Status::decode(msg)? {
            Status::Ok | Status::OkSimultaneous => {
                self.state = State::ExpectChallenge;
                Ok(InitiatorEvent::Continue)
            }
            Status::Alive => {
                self.state = State::ExpectAliveAnswer;
                Ok(InitiatorEvent::AliveQuestion)
            }
            Status::Nok => Err(HandshakeError::Nok { peer: self.peer.clone() }),
            Status::NotAllowed => Err(HandshakeError::NotAllowed { peer: self.peer.clone() }),
            Status::Named { .. } => Err(HandshakeError::UnexpectedNamed),
        }
    }

    fn on_challenge(&mut self, msg: &[u8]) -> Result<InitiatorEvent, HandshakeError> {
        let challenge = Challenge::decode(msg)?;
        if challenge.name != self.peer.as_str().as_bytes() {
            return Err(HandshakeError::NameMismatch {
                dialled: self.peer.clone(),
                answered: String::from_utf8_lossy(&challenge.name).into_owned(),
            });
        }
        let peer = self.peer.as_str();
        if challenge.creation == 0 {
            return Err(HandshakeError::ZeroCreation { peer: peer.to_string() });
        }
        if self.config.outstanding.contains(challenge.challenge) {
            return Err(HandshakeError::ReflectedChallenge { peer: peer.to_string() });
        }
        let peer_flags = challenge.flags.expand_digest();
        let flags = negotiate(&self.config, peer, peer_flags)?;
        let our_challenge = digest::new_challenge();
        let reply = ChallengeReply {
            challenge: our_challenge,
            digest: digest::digest(challenge.challenge, &self.config.cookie),
        };
        self.outbox.push(reply.encode());
        let negotiated = Established { peer: self.peer.clone(), peer_creation: challenge.creation, flags, peer_flags };
        self.state = State::ExpectAck { our_challenge, negotiated };
        Ok(InitiatorEvent::Continue)
    }

    fn on_ack(
        &mut self,
        msg: &[u8],
        our_challenge: u32,
        negotiated: Established,
    ) -> Result<InitiatorEvent, HandshakeError> {
        let ack = ChallengeAck::decode(msg)?;
        let expected: &Digest = &ack.digest;
        if !digest::verify(our_challenge, &self.config.cookie, expected) {
            return Err(HandshakeError::BadCookie { peer: self.peer.to_string() });
        }
        Ok(InitiatorEvent::Established(negotiated))
    }
}
