//! The handshake messages on the wire (without their length prefix).
//!
//! See [the distribution handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake).

use super::HandshakeError;
use super::digest::Digest;
use crate::proto::DistFlags;

/// `send_name` ('N', version 6): the initiator introduces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendName {
    /// The initiator's flags.
    pub flags: DistFlags,
    /// The initiator's creation.
    pub creation: u32,
    /// The initiator's node name (bytes as sent).
    pub name: Vec<u8>,
}

/// The legacy version 5 `send_name` ('n'), sent by OTP 23/24 to peers it
/// believes may only speak version 5; followed by a [`Complement`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendNameV5 {
    /// The low 32 flag bits.
    pub flags: DistFlags,
    /// The node name.
    pub name: Vec<u8>,
}

/// `complement` ('c'): the high flag bits and creation after a v5 `send_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complement {
    /// The high 32 flag bits, shifted into place.
    pub flags_high: DistFlags,
    /// The initiator's creation.
    pub creation: u32,
}

/// The acceptor's status reply ('s').
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Go on.
    Ok,
    /// Go on; the acceptor dropped its own simultaneous attempt.
    OkSimultaneous,
    /// Stop; the acceptor's own simultaneous attempt wins.
    Nok,
    /// Stop; the acceptor refuses this node.
    NotAllowed,
    /// The acceptor already has a connection to this node; the initiator
    /// must answer whether it wants to replace it.
    Alive,
    /// A dynamic name was assigned (answer to a NAME_ME request).
    Named {
        /// The full name assigned.
        name: Vec<u8>,
        /// The creation assigned.
        creation: u32,
    },
}

/// `challenge` ('N', version 6): the acceptor's flags, challenge and identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The acceptor's flags.
    pub flags: DistFlags,
    /// The challenge the initiator must answer.
    pub challenge: u32,
    /// The acceptor's creation.
    pub creation: u32,
    /// The acceptor's node name.
    pub name: Vec<u8>,
}

/// `challenge_reply` ('r'): the initiator's answer and its own challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeReply {
    /// The initiator's challenge to the acceptor.
    pub challenge: u32,
    /// The digest answering the acceptor's challenge.
    pub digest: Digest,
}

/// `challenge_ack` ('a'): the acceptor's answer to the initiator's challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeAck {
    /// The digest answering the initiator's challenge.
    pub digest: Digest,
}

/// A reader over one message body that turns running short into a typed error.
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HandshakeError> {
        if self.buf.len() < n {
            return Err(HandshakeError::Truncated { message: self.message });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, HandshakeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, HandshakeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, HandshakeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn digest(&mut self) -> Result<Digest, HandshakeError> {
        let b = self.take(16)?;
        let mut d = [0u8; 16];
        d.copy_from_slice(b);
        Ok(d)
    }

    fn rest(self) -> &'a [u8] {
        self.buf
    }
}

/// Checks a message's tag byte and returns the body after it.
fn body<'a>(msg: &'a [u8], tag: u8, message: &'static str) -> Result<&'a [u8], HandshakeError> {
    match msg.split_first() {
        Some((&t, rest)) if t == tag => Ok(rest),
        Some((&t, _)) => Err(HandshakeError::Unexpected { expected: message, tag: t }),
        None => Err(HandshakeError::Truncated { message }),
    }
}

impl SendName {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(15 + self.name.len());
        out.push(b'N');
        out.extend_from_slice(&self.flags.bits().to_be_bytes());
        out.extend_from_slice(&self.creation.to_be_bytes());
        out.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.name);
        out
    }

    /// Decodes the message; bytes after the name are ignored, as OTP does.
    pub fn decode(msg: &[u8]) -> Result<SendName, HandshakeError> {
        let mut r = Reader::new(body(msg, b'N', "send_name")?, "send_name");
        let flags = DistFlags::from_bits(r.u64()?);
        let creation = r.u32()?;
        let len = r.u16()? as usize;
        let name = r.take(len)?.to_vec();
        Ok(SendName { flags, creation, name })
    }
}

impl SendNameV5 {
    /// Encodes the message (version field 5).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![b'n', 0, 5];
        out.extend_from_slice(&(self.flags.bits() as u32).to_be_bytes());
        out.extend_from_slice(&self.name);
        out
    }

    /// Decodes the message; the name runs to the end of the packet.
    pub fn decode(msg: &[u8]) -> Result<SendNameV5, HandshakeError> {
        let mut r = Reader::new(body(msg, b'n', "send_name (v5)")?, "send_name (v5)");
        let _version = r.u16()?;
        let flags = DistFlags::from_bits(r.u32()? as u64);
        Ok(SendNameV5 { flags, name: r.rest().to_vec() })
    }
}

impl Complement {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![b'c'];
        out.extend_from_slice(&((self.flags_high.bits() >> 32) as u32).to_be_bytes());
        out.extend_from_slice(&self.creation.to_be_bytes());
        out
    }

    /// Decodes the message.
    pub fn decode(msg: &[u8]) -> Result<Complement, HandshakeError> {
        let mut r = Reader::new(body(msg, b'c', "complement")?, "complement");
        let high = r.u32()? as u64;
        let creation = r.u32()?;
        Ok(Complement { flags_high: DistFlags::from_bits(high << 32), creation })
    }
}

impl Status {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let text: &[u8] = match self {
            Status::Ok => b"ok",
            Status::OkSimultaneous => b"ok_simultaneous",
            Status::Nok => b"nok",
            Status::NotAllowed => b"not_allowed",
            Status::Alive => b"alive",
            Status::Named { name, creation } => {
                let mut out = b"snamed:".to_vec();
                out.extend_from_slice(&(name.len() as u16).to_be_bytes());
                out.extend_from_slice(name);
                out.extend_from_slice(&creation.to_be_bytes());
                return out;
            }
        };
        let mut out = vec![b's'];
        out.extend_from_slice(text);
        out
    }

    /// Decodes the message.
    pub fn decode(msg: &[u8]) -> Result<Status, HandshakeError> {
        let text = body(msg, b's', "status")?;
        Ok(match text {
            b"ok" => Status::Ok,
            b"ok_simultaneous" => Status::OkSimultaneous,
            b"nok" => Status::Nok,
            b"not_allowed" => Status::NotAllowed,
            b"alive" => Status::Alive,
            _ if text.starts_with(b"named:") => {
                let mut r = Reader::new(&text[6..], "status named");
                let len = r.u16()? as usize;
                let name = r.take(len)?.to_vec();
                let creation = r.u32()?;
                Status::Named { name, creation }
            }
            other => return Err(HandshakeError::UnknownStatus(String::from_utf8_lossy(other).into_owned())),
        })
    }
}

/// Encodes the initiator's answer to an `alive` status: `strue` or `sfalse`.
pub fn encode_alive_answer(proceed: bool) -> Vec<u8> {
    if proceed { b"strue".to_vec() } else { b"sfalse".to_vec() }
}

/// Decodes the initiator's answer to an `alive` status.
pub fn decode_alive_answer(msg: &[u8]) -> Result<bool, HandshakeError> {
    match body(msg, b's', "alive answer")? {
        b"true" => Ok(true),
        b"false" => Ok(false),
        other => Err(HandshakeError::UnknownStatus(String::from_utf8_lossy(other).into_owned())),
    }
}

impl Challenge {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(19 + self.name.len());
        out.push(b'N');
        out.extend_from_slice(&self.flags.bits().to_be_bytes());
        out.extend_from_slice(&self.challenge.to_be_bytes());
        out.extend_from_slice(&self.creation.to_be_bytes());
        out.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.name);
        out
    }

    /// Decodes the message.
    pub fn decode(msg: &[u8]) -> Result<Challenge, HandshakeError> {
        if msg.first() == Some(&b'n') {
            return Err(HandshakeError::LegacyChallenge);
        }
        let mut r = Reader::new(body(msg, b'N', "challenge")?, "challenge");
        let flags = DistFlags::from_bits(r.u64()?);
        let challenge = r.u32()?;
        let creation = r.u32()?;
        let len = r.u16()? as usize;
        let name = r.take(len)?.to_vec();
        Ok(Challenge { flags, challenge, creation, name })
    }
}

impl ChallengeReply {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21);
        out.push(b'r');
        out.extend_from_slice(&self.challenge.to_be_bytes());
        out.extend_from_slice(&self.digest);
        out
    }

    /// Decodes the message; it must be exactly 21 bytes, as OTP requires.
    pub fn decode(msg: &[u8]) -> Result<ChallengeReply, HandshakeError> {
        let mut r = Reader::new(body(msg, b'r', "challenge_reply")?, "challenge_reply");
        let challenge = r.u32()?;
        let digest = r.digest()?;
        if !r.rest().is_empty() {
            return Err(HandshakeError::TrailingBytes { message: "challenge_reply" });
        }
        Ok(ChallengeReply { challenge, digest })
    }
}

impl ChallengeAck {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        out.push(b'a');
        out.extend_from_slice(&self.digest);
        out
    }

    /// Decodes the message; it must be exactly 17 bytes, as OTP requires.
    pub fn decode(msg: &[u8]) -> Result<ChallengeAck, HandshakeError> {
        let mut r = Reader::new(body(msg, b'a', "challenge_ack")?, "challenge_ack");
        let digest = r.digest()?;
        if !r.rest().is_empty() {
            return Err(HandshakeError::TrailingBytes { message: "challenge_ack" });
        }
        Ok(ChallengeAck { digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_name_matches_otp_capture() {
        // OTP 25.2.3 send_name captured on the wire.
        let wire = b"\x4e\x00\x00\x00\x0d\x07\xdf\x7f\xbd\x6b\x06\x06\x57\x00\x0ce1@localhost";
        let m = SendName::decode(wire).unwrap();
        assert_eq!(m.flags.bits(), 0x0000_000D_07DF_7FBD);
        assert_eq!(m.creation, 0x6B06_0657);
        assert_eq!(m.name, b"e1@localhost");
        assert_eq!(m.encode(), wire);
    }

    #[test]
    fn round_trips() {
        let c = Challenge { flags: DistFlags::DEFAULT, challenge: 7, creation: 9, name: b"a@b".to_vec() };
        assert_eq!(Challenge::decode(&c.encode()).unwrap(), c);
        let r = ChallengeReply { challenge: 1, digest: [3; 16] };
        assert_eq!(ChallengeReply::decode(&r.encode()).unwrap(), r);
        let a = ChallengeAck { digest: [4; 16] };
        assert_eq!(ChallengeAck::decode(&a.encode()).unwrap(), a);
        for s in [
            Status::Ok,
            Status::OkSimultaneous,
            Status::Nok,
            Status::NotAllowed,
            Status::Alive,
            Status::Named { name: b"x@y".to_vec(), creation: 5 },
        ] {
            assert_eq!(Status::decode(&s.encode()).unwrap(), s);
        }
        let v5 = SendNameV5 { flags: DistFlags::MANDATORY_25, name: b"a@b".to_vec() };
        assert_eq!(SendNameV5::decode(&v5.encode()).unwrap(), v5);
        let c = Complement { flags_high: DistFlags::V4_NC | DistFlags::SPAWN, creation: 3 };
        assert_eq!(Complement::decode(&c.encode()).unwrap(), c);
        assert!(decode_alive_answer(&encode_alive_answer(true)).unwrap());
        assert!(!decode_alive_answer(&encode_alive_answer(false)).unwrap());
    }

    #[test]
    fn truncation_and_wrong_tags_are_errors() {
        let good = SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@b".to_vec() }.encode();
        for cut in 0..good.len() {
            assert!(SendName::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(ChallengeAck::decode(b"r"), Err(HandshakeError::Unexpected { tag: b'r', .. })));
        let mut long = ChallengeAck { digest: [0; 16] }.encode();
        long.push(0);
        assert!(matches!(ChallengeAck::decode(&long), Err(HandshakeError::TrailingBytes { .. })));
        assert!(matches!(Status::decode(b"swhat"), Err(HandshakeError::UnknownStatus(_))));
    }
}
